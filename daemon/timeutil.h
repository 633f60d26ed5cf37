/* timeutil.h -- event times and durations, all in integer milliseconds.
 *
 * Time in pipewatch is int64 milliseconds since the Unix epoch (UTC); durations
 * are int64 milliseconds. Pure functions, no I/O, no locale, no TZ: the process
 * timezone never changes a result.
 */
#ifndef PW_TIMEUTIL_H
#define PW_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PW_MS_PER_S 1000LL
#define PW_MS_PER_M 60000LL
#define PW_MS_PER_H 3600000LL
#define PW_MS_PER_D 86400000LL
#define PW_MS_PER_W 604800000LL

/* Parse an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM);
 * 't'/' ' accepted for 'T', 'z' for 'Z'. Fractions below 1 ms are truncated.
 * The UTC instant must be in years 0000..9999 (after applying the offset).
 * Returns 0 and *out_ms on success, -1 if malformed or out of range. */
int pw_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);

/* Epoch number as sent in events: >= 1e11 means milliseconds, else seconds
 * (fractional seconds kept to the millisecond). -1 if not finite or out of the
 * years 0..9999. */
int pw_time_from_number(double v, int64_t *out_ms);

/* Format as RFC 3339 UTC: "2026-11-27T10:00:00Z", or with ".123" when the
 * millisecond part is not zero. */
void pw_time_format(int64_t ms, pw_buf *out);
/* Same into a caller buffer of at least 32 bytes; returns buf. */
char *pw_time_format_s(int64_t ms, char *buf, size_t n);

/* Duration: a number followed by a unit, ms|s|m|h|d|w, or several concatenated
 * ("1h30m"). A leading '-' is reported as negative (returns -2) so callers can
 * say "negative duration". Returns 0 and *out_ms, -1 malformed, -2 negative. */
int pw_duration_parse(const char *s, int64_t *out_ms);
/* Shortest exact text of a duration: 90000 -> "1m30s", 0 -> "0s". */
char *pw_duration_format(int64_t ms, char *buf, size_t n);

/* Floor division toward -inf (bucket index of a time), for any sign of t. */
static inline int64_t pw_floordiv(int64_t t, int64_t r) {
    int64_t q = t / r;
    if ((t % r != 0) && ((t < 0) != (r < 0))) q--;
    return q;
}

/* Wall clock now, ms (CLOCK_REALTIME). The only impure function here. */
int64_t pw_time_now_ms(void);
/* Monotonic clock, ms (CLOCK_MONOTONIC). */
int64_t pw_time_mono_ms(void);

#endif
