/* test_sdnotify.c -- the systemd notifications, received on a real AF_UNIX datagram socket standing in for
 * systemd's $NOTIFY_SOCKET: exact message text for each call, newline injection through STATUS, the
 * watchdog interval only for our own pid, and silence (return 0, nothing sent) outside systemd. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

static int sock = -1;
static char path[108];

static void setup(void) {
    snprintf(path, sizeof path, "/tmp/pw-sdnotify-%d.sock", (int)getpid());
    unlink(path);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(sock >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    cr_assert(bind(sock, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", path, 1);
}

static void teardown(void) {
    if (sock >= 0) close(sock);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
}

/* The next datagram as a string, or "" when none arrives within 200 ms. */
static const char *next_msg(void) {
    static char buf[512];
    ssize_t n = recv(sock, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

#ifdef PW_HAVE_LIBSYSTEMD
TestSuite(sdnotify, .init = setup, .fini = teardown);

Test(sdnotify, each_call_sends_its_state) {
    static const struct {
        int (*fn)(void);
        const char *want;
    } rows[] = {
        {pw_sd_ready, "READY=1"},
        {pw_sd_stopping, "STOPPING=1"},
        {pw_sd_watchdog_ping, "WATCHDOG=1"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cr_assert_eq(rows[i].fn(), 0);
        cr_assert_str_eq(next_msg(), rows[i].want);
    }
}

Test(sdnotify, reloading_carries_monotonic_usec) {
    cr_assert_eq(pw_sd_reloading(), 0);
    const char *m = next_msg();
    unsigned long long usec = 0;
    cr_assert_eq(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1, "got '%s'", m);
    cr_assert_gt(usec, 0);
}

Test(sdnotify, status_is_formatted_and_cannot_inject_assignments) {
    static const struct {
        const char *arg, *want;
    } rows[] = {
        {"12 rules", "STATUS=consuming: 12 rules"},
        {"x\nREADY=1", "STATUS=consuming: x READY=1"},
        {"a\r\nb", "STATUS=consuming: a  b"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cr_assert_eq(pw_sd_status("consuming: %s", rows[i].arg), 0);
        cr_assert_str_eq(next_msg(), rows[i].want);
    }
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_assert_eq(pw_sd_status("%s", big), 0);
    cr_assert_eq(strlen(next_msg()), 7 + 255, "STATUS is truncated to 255 bytes");
}

Test(sdnotify, watchdog_interval_only_for_our_pid) {
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(pw_sd_watchdog_usec(), 30000000ULL);
    setenv("WATCHDOG_PID", "1", 1);
    cr_assert_eq(pw_sd_watchdog_usec(), 0, "another process's watchdog is not ours");
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    cr_assert_eq(pw_sd_watchdog_usec(), 0);
}
#endif

Test(sdnotify_outside, no_socket_means_silent_no_ops) {
    setup();
    unsetenv("NOTIFY_SOCKET");   /* the socket exists, but nobody told us about it */
    unsetenv("WATCHDOG_USEC");
    cr_assert_eq(pw_sd_ready(), 0);
    cr_assert_eq(pw_sd_reloading(), 0);
    cr_assert_eq(pw_sd_status("x"), 0);
    cr_assert_eq(pw_sd_watchdog_ping(), 0);
    cr_assert_eq(pw_sd_stopping(), 0);
    cr_assert_eq(pw_sd_watchdog_usec(), 0);
    cr_assert_str_eq(next_msg(), "", "nothing may be sent outside systemd");
    teardown();
}
