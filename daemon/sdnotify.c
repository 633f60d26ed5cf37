/* sdnotify.c -- systemd readiness, reload, stop, status and watchdog notifications.
 *
 * Design: each function formats one notification state and hands it to
 * libsystemd's sd_notify(), which sends a datagram to $NOTIFY_SOCKET and
 * returns 0 when the variable is unset (not started by systemd, or
 * NotifyAccess denies us). We keep $NOTIFY_SOCKET in the environment
 * (unset_environment = 0) because we notify many times over the process's
 * life; pipewatch starts no child that could misuse it.
 *
 * The watchdog interval comes from sd_watchdog_enabled(), which also checks
 * $WATCHDOG_PID so that a child process would not ping on our behalf.
 *
 * Limits: a lost notification is not retried (systemd's socket is local and
 * datagrams to it do not get lost in practice; a failed READY=1 shows up as a
 * start timeout, which is the right outcome). Without libsystemd at build
 * time everything is a no-op: pipewatch then runs fine as Type=simple, not as
 * Type=notify.
 */
#include "sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef PW_HAVE_LIBSYSTEMD
#include <errno.h>
#include <systemd/sd-daemon.h>

static int send_state(const char *state) {
    int r = sd_notify(0, state);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

uint64_t pw_sd_watchdog_usec(void) {
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
#else
static int send_state(const char *state) {
    (void)state;
    return 0;
}

uint64_t pw_sd_watchdog_usec(void) { return 0; }
#endif

int pw_sd_ready(void) { return send_state("READY=1"); }

int pw_sd_reloading(void) {
    struct timespec ts;
    char msg[64];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
    return send_state(msg);
}

int pw_sd_stopping(void) { return send_state("STOPPING=1"); }

int pw_sd_watchdog_ping(void) { return send_state("WATCHDOG=1"); }

int pw_sd_status(const char *fmt, ...) {
    char msg[7 + 256] = "STATUS=";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + 7, sizeof msg - 7, fmt, ap);
    va_end(ap);
    for (char *p = msg + 7; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return send_state(msg);
}
