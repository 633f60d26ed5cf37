/* sink_log.c -- notifications as JSON lines on stdout or appended to a file.
 *
 * Design: each notification is rendered on the main thread as
 * pw_notification_json + '\n' and written by the sink thread with write(2)
 * on a descriptor opened O_APPEND, so lines from one sink are whole and in
 * order, and a log shipper can tail the file. The file is opened in
 * pw_sink_new, so a bad path stops start-up with the reason; pw_sink_reopen
 * (SIGHUP) makes the thread open the path again before its next write, which
 * is what logrotate's `create` mode expects. If reopening fails the old
 * descriptor is kept and the failure logged.
 *
 * A write error (ENOSPC on a full disk, EIO, EPIPE on a closed stdout) makes
 * that notification failed, logged rate-limited; there are no retries (a full
 * disk does not empty itself in 30 s, and retrying would stall the queue).
 * When a line was cut short by an error, the next line starts with '\n' so
 * that the file stays one JSON object per line apart from the torn one.
 *
 * Limits: no fsync (a crash can lose what the page cache held), no size-based
 * rotation of our own (that is logrotate's job).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink_int.h"

typedef struct log_sink {
    int fd;            /* STDOUT_FILENO (not owned) or an owned file */
    int owned;
    int torn;          /* the last line was cut short by a write error */
    const char *shown; /* the path as shown in messages ("stdout") */
} log_sink;

static int is_stdout(const char *path) { return !path || !path[0] || !strcmp(path, "-"); }

static int open_path(const char *path) {
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

static int log_init(pw_sink *s, pw_buf *err) {
    log_sink *L = calloc(1, sizeof *L);
    if (!L) return -1;
    s->impl = L;
    L->fd = -1;
    if (is_stdout(s->conf.path)) {
        L->fd = STDOUT_FILENO;
        L->shown = "stdout";
        return 0;
    }
    L->shown = s->conf.path;
    L->fd = open_path(s->conf.path);
    if (L->fd < 0) {
        int e = errno;
        if (err->len) pw_buf_puts(err, "; ");
        pw_buf_printf(err, "cannot open %s for appending: %s", s->conf.path, strerror(e));
        return -1;
    }
    L->owned = 1;
    return 0;
}

static void log_fini(pw_sink *s) {
    log_sink *L = s->impl;
    if (!L) return;
    if (L->owned && L->fd >= 0) close(L->fd);
    free(L);
    s->impl = NULL;
}

static void log_render(pw_sink *s, const pw_notification *n, pw_buf *out) {
    (void)s;
    pw_notification_json(n, out);
    pw_buf_putc(out, '\n');
}

/* Write all of p, retrying short writes and EINTR. 0, or -1 with errno and
 * *wrote set to what did reach the file. */
static int write_all(int fd, const char *p, size_t n, size_t *wrote) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            *wrote = done;
            return -1;
        }
        if (w == 0) { errno = EIO; *wrote = done; return -1; }
        done += (size_t)w;
    }
    *wrote = done;
    return 0;
}

static pw_sink_result log_deliver(pw_sink *s, pw_sink_item *it, int n, pw_sink_attempt *a) {
    log_sink *L = s->impl;
    (void)n; /* batch_max is 1 */
    size_t wrote = 0;
    if (L->torn) {
        if (write_all(L->fd, "\n", 1, &wrote) < 0) {
            snprintf(a->why, sizeof a->why, "write %s: %s", L->shown, strerror(errno));
            return PW_SINK_FAILED;
        }
        L->torn = 0;
    }
    if (write_all(L->fd, it->data, it->len, &wrote) < 0) {
        int e = errno;
        if (wrote > 0) L->torn = 1;
        snprintf(a->why, sizeof a->why, "write %s: %s", L->shown, strerror(e));
        return PW_SINK_FAILED;
    }
    return PW_SINK_SENT;
}

static void log_reopen(pw_sink *s) {
    log_sink *L = s->impl;
    if (!L || !L->owned) return;
    int fd = open_path(s->conf.path);
    if (fd < 0) {
        int e = errno;
        pw_warn("sink", "log %s: cannot reopen %s (keeping the old file): %s", s->conf.name, s->conf.path,
                strerror(e));
        return;
    }
    close(L->fd);
    L->fd = fd;
    L->torn = 0;
}

const pw_sink_ops pw_sink_log_ops = {
    .kind = PW_SINK_LOG,
    .batch_max = 1,
    .init = log_init,
    .render = log_render,
    .deliver = log_deliver,
    .reopen = log_reopen,
    .fini = log_fini,
};
