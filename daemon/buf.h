/* buf.h -- a growable byte buffer for building output (JSON lines, messages).
 *
 * Meant to be reused: pw_buf_reset() keeps the allocation, so a hot path that
 * renders into the same buffer allocates only until it reaches its high-water
 * mark. Contents are always NUL-terminated (data[len] == 0) for convenience.
 * Allocation failure aborts (pw_buf is for output of bounded size; the
 * process cannot do anything useful without memory for its own messages).
 */
#ifndef PW_BUF_H
#define PW_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef struct pw_buf {
    char *data;   /* NUL-terminated contents, owned */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
} pw_buf;

void pw_buf_init(pw_buf *b);
void pw_buf_free(pw_buf *b);                 /* releases memory; b is reusable after init */
void pw_buf_reset(pw_buf *b);                /* len = 0, keeps the allocation */
void pw_buf_reserve(pw_buf *b, size_t extra);
void pw_buf_append(pw_buf *b, const void *p, size_t n);
void pw_buf_puts(pw_buf *b, const char *s);
void pw_buf_putc(pw_buf *b, char c);
void pw_buf_printf(pw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pw_buf_vprintf(pw_buf *b, const char *fmt, va_list ap);

/* JSON output helpers. */
void pw_buf_json_str(pw_buf *b, const char *s, size_t n); /* quoted, escaped; invalid UTF-8 -> U+FFFD */
void pw_buf_json_num(pw_buf *b, double v);                /* shortest round-trip-ish %.17g trimmed; non-finite -> null */

#endif
