/* log.c -- levelled text/JSON log lines on stderr, plus a rate limiter.
 *
 * Design: each line is formatted into a stack buffer (lines longer than 4 KiB
 * are cut and marked with "...") and written with a single write(2), which
 * POSIX makes atomic for pipes up to PIPE_BUF and which in practice keeps
 * lines whole on journald's stream socket; no lock is taken. A write error
 * (EAGAIN on a full pipe, EPIPE, ENOSPC when stderr is a file on a full disk)
 * drops the line: logging must never block or kill the daemon. Dropped lines
 * are counted (pw_log_lines_lost, pipewatch_log_lines_lost_total in /metrics)
 * and the first line written after a loss says how many were lost and why.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "timeutil.h"

static pw_log_level g_min = PW_LOG_INFO;
static int g_json = 0;

static const char *const names[] = {"debug", "info", "warn", "error"};

static atomic_uint_fast64_t g_lost;       /* lines not (wholly) written, ever */
static atomic_uint_fast64_t g_unreported; /* of which not yet reported by a line that got through */
static atomic_int g_lost_errno;

uint64_t pw_log_lines_lost(void) { return (uint64_t)atomic_load(&g_lost); }

/* One line to stderr; counts it lost if it did not go through whole. 0 or -1. */
static int put_line(const char *line, size_t len) {
    ssize_t w = write(STDERR_FILENO, line, len);
    if (w == (ssize_t)len) return 0;
    atomic_store(&g_lost_errno, w < 0 ? errno : ENOSPC);
    atomic_fetch_add(&g_lost, 1);
    atomic_fetch_add(&g_unreported, 1);
    return -1;
}

void pw_log_setup(pw_log_level min, int json) {
    g_min = min;
    g_json = json;
}

pw_log_level pw_log_level_from_syslog(int level) {
    return level <= 3 ? PW_LOG_ERROR : level == 4 ? PW_LOG_WARN : level <= 6 ? PW_LOG_INFO : PW_LOG_DEBUG;
}

int pw_log_level_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) return i;
    if (!strcmp(s, "warning")) return PW_LOG_WARN;
    return -1;
}

void pw_log(pw_log_level lvl, const char *module, const char *fmt, ...) {
    if (lvl < g_min) return;
    char msg[4096], ts[40], line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof msg) memcpy(msg + sizeof msg - 4, "...", 4);
    pw_time_format_s(pw_time_now_ms(), ts, sizeof ts);
    size_t len;
    if (g_json) {
        /* escape into a pw_buf: rare enough (one per log line) to allocate */
        pw_buf b;
        pw_buf_init(&b);
        pw_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":", ts, names[lvl]);
        pw_buf_json_str(&b, module, strlen(module));
        pw_buf_puts(&b, ",\"msg\":");
        pw_buf_json_str(&b, msg, strlen(msg));
        pw_buf_puts(&b, "}\n");
        len = b.len < sizeof line ? b.len : sizeof line - 1;
        memcpy(line, b.data, len);
        if (len == sizeof line - 1) line[len - 1] = '\n';
        pw_buf_free(&b);
    } else {
        int k = snprintf(line, sizeof line, "%s %-5s %s: %s\n", ts, names[lvl], module, msg);
        len = k < (int)sizeof line ? (size_t)k : sizeof line - 1;
        if (len == sizeof line - 1) line[len - 1] = '\n';
    }
    uint64_t lost = atomic_exchange(&g_unreported, 0);
    if (lost) { /* say what was lost before the next line (a disk that was full has room again) */
        char note[256];
        int k = snprintf(note, sizeof note, "%s %-5s log: %llu log lines could not be written: %s\n", ts,
                         names[PW_LOG_WARN], (unsigned long long)lost, strerror(atomic_load(&g_lost_errno)));
        if (g_json)
            k = snprintf(note, sizeof note,
                         "{\"ts\":\"%s\",\"level\":\"warn\",\"module\":\"log\",\"msg\":\"%llu log lines "
                         "could not be written: %s\"}\n", ts, (unsigned long long)lost,
                         strerror(atomic_load(&g_lost_errno)));
        if (k <= 0 || k >= (int)sizeof note || write(STDERR_FILENO, note, (size_t)k) != (ssize_t)k)
            atomic_fetch_add(&g_unreported, lost); /* still failing: report them with a later line */
    }
    put_line(line, len);
}

int pw_ratelimit_allow(pw_ratelimit *rl, uint64_t *suppressed) {
    int64_t now = pw_time_mono_ms();
    if (now - rl->window_start >= rl->interval_ms) {
        rl->window_start = now;
        rl->used = 0;
    }
    if (rl->used < rl->burst) {
        rl->used++;
        *suppressed = rl->suppressed;
        rl->suppressed = 0;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
