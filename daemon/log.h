/* log.h -- the daemon's own log: levels, text or JSON lines, rate limits.
 *
 * Everything goes to stderr (journald and docker pick it up there); pipewatch
 * never daemonizes or writes its own log files. Text format:
 *   2026-11-27T10:00:00.123Z warn  source: message
 * JSON format (log.format: json): {"ts":"...","level":"warn","module":"source","msg":"..."}
 * Thread-safe: one write(2) per line, so lines from several threads never
 * interleave. Never log secrets: callers pass redacted values.
 */
#ifndef PW_LOG_H
#define PW_LOG_H

#include <stdint.h>

typedef enum pw_log_level { PW_LOG_DEBUG = 0, PW_LOG_INFO, PW_LOG_WARN, PW_LOG_ERROR } pw_log_level;

void pw_log_setup(pw_log_level min, int json);
/* Map a syslog level (0 emerg .. 7 debug; librdkafka uses these) to ours. */
pw_log_level pw_log_level_from_syslog(int level);
/* Parse "debug|info|warn|error"; -1 if unknown. */
int pw_log_level_parse(const char *s);
void pw_log(pw_log_level lvl, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Log lines that could not be written to stderr (full disk, broken pipe) since start. Any thread. */
uint64_t pw_log_lines_lost(void);

/* Rate limiter for repeated messages (malformed events, full queues): allows
 * `burst` messages per `interval_ms`, then counts what it suppressed and
 * reports the count with the next allowed message. Not thread-safe: one per
 * call site and thread. */
typedef struct pw_ratelimit {
    int64_t interval_ms;
    int burst;
    int64_t window_start;
    int used;
    uint64_t suppressed;
} pw_ratelimit;

#define PW_RATELIMIT_INIT(interval, burst_) {(interval), (burst_), 0, 0, 0}
/* 1 if the caller may log now; *suppressed gets the count suppressed since the
 * last allowed message (and is reset). */
int pw_ratelimit_allow(pw_ratelimit *rl, uint64_t *suppressed);

#define pw_debug(mod, ...) pw_log(PW_LOG_DEBUG, mod, __VA_ARGS__)
#define pw_info(mod, ...) pw_log(PW_LOG_INFO, mod, __VA_ARGS__)
#define pw_warn(mod, ...) pw_log(PW_LOG_WARN, mod, __VA_ARGS__)
#define pw_error(mod, ...) pw_log(PW_LOG_ERROR, mod, __VA_ARGS__)

#endif
