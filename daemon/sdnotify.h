/* sdnotify.h -- tell systemd how the daemon is doing (Type=notify units).
 *
 * A thin wrapper over libsystemd's sd_notify(3) and sd_watchdog_enabled(3).
 * Outside systemd (no $NOTIFY_SOCKET: a terminal, docker, the tests) every
 * call is a no-op that returns 0, so the server loop calls them
 * unconditionally. Built without libsystemd (PW_HAVE_LIBSYSTEMD undefined),
 * they are no-ops too.
 *
 * Threads: call from the server thread only (the one that owns the loop).
 * Cost: one datagram per call (socket + sendmsg, a few microseconds), so
 * never call them per event: at start, on reload and stop, on the periodic
 * tick for the watchdog, and on the stats tick for the status line.
 */
#ifndef PW_SDNOTIFY_H
#define PW_SDNOTIFY_H

#include <stdint.h>

/* READY=1: start-up finished (config and rules loaded, sinks and consumer
 * set up). Also sent after a reload (success or failure) to end RELOADING.
 * Returns 0 when sent or not under systemd, -1 on error (errno set). */
int pw_sd_ready(void);

/* RELOADING=1 (with MONOTONIC_USEC, which systemd >= 253 requires for
 * Type=notify-reload and older versions ignore): a reload has begun; systemd
 * shows the unit as "reloading" until the next pw_sd_ready(). */
int pw_sd_reloading(void);

/* STOPPING=1: an orderly stop has begun (offsets, sink flush). */
int pw_sd_stopping(void);

/* STATUS=...: one line shown by `systemctl status`. printf-style; the text is
 * truncated to 255 bytes and any newline becomes a space, so a value taken
 * from the configuration cannot inject another assignment (say READY=1)
 * into the message. */
int pw_sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval in microseconds when systemd expects pings from this
 * process (WatchdogSec= and $WATCHDOG_PID is us), else 0. Read once at
 * start-up; ping at least every half of it (the usual convention). */
uint64_t pw_sd_watchdog_usec(void);

/* WATCHDOG=1: "the loop is alive". Send it from the loop itself (not from a
 * helper thread), so that a stuck loop stops the pings and systemd restarts
 * the service. */
int pw_sd_watchdog_ping(void);

#endif
