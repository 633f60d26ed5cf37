/* buf.c -- growable output buffer and JSON string/number writers.
 *
 * Design: geometric growth (x2), NUL kept after the data. JSON numbers are
 * printed with the fewest digits (up to 17) that read back to the same double,
 * so values such as 0.1 print as "0.1" and not "0.10000000000000001".
 * Limits: no streaming; the whole output lives in memory.
 */
#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pw_buf_init(pw_buf *b) { b->data = NULL; b->len = 0; b->cap = 0; }

void pw_buf_free(pw_buf *b) { free(b->data); pw_buf_init(b); }

void pw_buf_reset(pw_buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }

void pw_buf_reserve(pw_buf *b, size_t extra) {
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) { fputs("pipewatch: out of memory (pw_buf)\n", stderr); abort(); }
    b->data = p;
    b->cap = cap;
}

void pw_buf_append(pw_buf *b, const void *p, size_t n) {
    pw_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void pw_buf_puts(pw_buf *b, const char *s) { pw_buf_append(b, s, strlen(s)); }

void pw_buf_putc(pw_buf *b, char c) { pw_buf_append(b, &c, 1); }

void pw_buf_vprintf(pw_buf *b, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return;
    pw_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void pw_buf_printf(pw_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pw_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void pw_buf_json_str(pw_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    pw_buf_reserve(b, n + 2);
    pw_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; pw_buf_append(b, e, 2); i++; }
        else if (c == '\n') { pw_buf_append(b, "\\n", 2); i++; }
        else if (c == '\r') { pw_buf_append(b, "\\r", 2); i++; }
        else if (c == '\t') { pw_buf_append(b, "\\t", 2); i++; }
        else if (c < 0x20 || c == 0x7F) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            pw_buf_append(b, e, 6);
            i++;
        } else if (c < 0x80) {
            /* copy a run of plain ASCII at once */
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7F && p[j] != '"' && p[j] != '\\') j++;
            pw_buf_append(b, p + i, j - i);
            i = j;
        } else {
            size_t l = utf8_seq(p + i, n - i);
            if (l) { pw_buf_append(b, p + i, l); i += l; }
            else { pw_buf_append(b, "\xEF\xBF\xBD", 3); i++; }
        }
    }
    pw_buf_putc(b, '"');
}

void pw_buf_json_num(pw_buf *b, double v) {
    if (!isfinite(v)) { pw_buf_puts(b, "null"); return; }
    if (v == 0) { pw_buf_putc(b, '0'); return; }
    if (v == (double)(long long)v && fabs(v) < 1e15) { pw_buf_printf(b, "%lld", (long long)v); return; }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    pw_buf_puts(b, tmp);
}
