/* log.c -- levelled text/JSON log lines on stderr, plus a rate limiter.
 *
 * Design: each line is formatted into a stack buffer (lines longer than 4 KiB
 * are cut and marked with "...") and written with a single write(2), which
 * POSIX makes atomic for pipes up to PIPE_BUF and which in practice keeps
 * lines whole on journald's stream socket; no lock is taken. A write error
 * (EAGAIN on a full pipe, EPIPE) drops the line: logging must never block or
 * kill the daemon.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "timeutil.h"

static pw_log_level g_min = PW_LOG_INFO;
static int g_json = 0;

static const char *const names[] = {"debug", "info", "warn", "error"};

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
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
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
