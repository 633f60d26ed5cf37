/* value.c -- number parsing and the small helpers over pw_value.
 *
 * pw_value_parse_num() is the one place that turns number text into a double,
 * for JSON numbers in events (event.c calls it for every field it keeps) and
 * for numeric strings ("1234.50"). It must be exact: a sum over a million
 * amounts must not depend on whether a producer sent 0.1 or "0.1".
 *
 * Design:
 *   1. Validate the JSON number grammar in one pass,
 *        -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 *      while accumulating up to 19 significant digits and the decimal exponent.
 *   2. Exact fast path (Clinger 1990): when the significand is below 2^53 and
 *      the power of ten is at most 10^22, both are exact doubles and a single
 *      IEEE multiply or divide is correctly rounded. This covers plain integers
 *      up to 2^53 and the usual "1234.50" amounts, without libc.
 *   3. Otherwise strtod on a bounded, NUL-terminated copy on the stack, under
 *      the "C" locale (strtod_l on glibc, so a process-wide setlocale() cannot
 *      turn '.' into a syntax error). A number longer than the copy buffer
 *      (hostile input: thousands of digits) is rewritten as its first 800
 *      significant digits, a sticky '1' when any dropped digit is non-zero, and
 *      an adjusted exponent. Deciding the rounding of a decimal to a double never
 *      needs more than 767 significant digits, so the result is still the
 *      correctly rounded one that strtod gives on the full text.
 *   Results that are not finite (1e400) are refused: pipewatch has no use for
 *   infinities and they would poison sums. Underflow (1e-400) gives 0 or a
 *   subnormal, as strtod does, and is accepted.
 *
 * Limits: only the JSON grammar is accepted (no '+', no ".5", no "5.", no hex,
 * no "NaN"/"Infinity", no surrounding spaces). The fast path relies on
 * FLT_EVAL_METHOD == 0 (SSE2 on x86-64, AArch64); elsewhere strtod does all.
 */
#include "value.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GLIBC__)
#include <locale.h>
#include <pthread.h>
#define PW_HAVE_STRTOD_L 1
#endif

#define COPY_MAX 1024      /* longer numbers are canonicalised before strtod */
#define KEEP_DIGITS 800    /* > 767: enough to round any decimal correctly */
#define TWO53 9007199254740992ULL

#ifdef PW_HAVE_STRTOD_L
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) { c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }
#endif

static double c_strtod(const char *s) {
#ifdef PW_HAVE_STRTOD_L
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale) return strtod_l(s, NULL, c_locale);
#endif
    return strtod(s, NULL);
}

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10; }

/* Rewrite a (grammar-checked) number that is too long for the stack copy as
 * "[-]D{<=800}[1]e<exp>" with the same correctly rounded double value. */
static void canonicalise(const char *s, size_t len, char *out) {
    size_t i = 0, o = 0;
    int64_t point = 0;      /* decimal exponent adjustment for kept digits */
    int ndig = 0, sticky = 0, seen_nonzero = 0;
    if (s[i] == '-') out[o++] = s[i++];
    /* integer part */
    for (; i < len && is_digit((unsigned char)s[i]); i++) {
        if (!seen_nonzero && s[i] == '0') continue;
        seen_nonzero = 1;
        if (ndig < KEEP_DIGITS) {
            out[o++] = s[i];
            ndig++;
        } else {
            point++;        /* dropped integer digit: scale up */
            if (s[i] != '0') sticky = 1;
        }
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit((unsigned char)s[i]); i++) {
            if (!seen_nonzero && s[i] == '0') {
                point--;
                continue;
            }
            seen_nonzero = 1;
            if (ndig < KEEP_DIGITS) {
                out[o++] = s[i];
                ndig++;
                point--;
            } else if (s[i] != '0') {
                sticky = 1;
            }
        }
    }
    int64_t e = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int neg = 0;
        i++;
        if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
        for (; i < len; i++) {
            if (e < 1000000000) e = e * 10 + (s[i] - '0');
        }
        if (neg) e = -e;
    }
    if (!ndig) {            /* all zeros: keep the sign */
        out[o++] = '0';
        out[o] = 0;
        return;
    }
    if (sticky) {
        out[o++] = '1';
        point--;
    }
    e += point;
    /* Past +-1e7 the value is 0 or inf whatever the digits; keep it printable. */
    if (e > 10000000) e = 10000000;
    if (e < -10000000) e = -10000000;
    out[o++] = 'e';
    if (e < 0) {
        out[o++] = '-';
        e = -e;
    }
    char tmp[24];
    int t = 0;
    do {
        tmp[t++] = (char)('0' + e % 10);
        e /= 10;
    } while (e);
    while (t) out[o++] = tmp[--t];
    out[o] = 0;
}

int pw_value_parse_num(const char *s, size_t len, double *out) {
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (!s || len == 0) return 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    int neg = 0, exact = 1;
    uint64_t m = 0;
    int64_t e10 = 0;
    if (*p == '-') {
        neg = 1;
        if (++p == end) return 0;
    }
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        for (; p < end && is_digit(*p); p++) {
            if (m < TWO53 / 10) m = m * 10 + (uint64_t)(*p - '0');
            else exact = 0;
        }
    } else {
        return 0;
    }
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p)) return 0;
        for (; p < end && is_digit(*p); p++) {
            if (m < TWO53 / 10) {
                m = m * 10 + (uint64_t)(*p - '0');
                e10--;
            } else {
                exact = 0;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        int64_t ev = 0;
        if (++p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == end || !is_digit(*p)) return 0;
        for (; p < end && is_digit(*p); p++)
            if (ev < 100000) ev = ev * 10 + (*p - '0');
        e10 += eneg ? -ev : ev;
    }
    if (p != end) return 0;

    double v;
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    if (exact && m < TWO53 && e10 >= -22 && e10 <= 22) {
        v = (double)m;
        if (e10 < 0) v /= pow10[-e10];
        else v *= pow10[e10];
        *out = neg ? -v : v;
        return 1;
    }
#else
    (void)pow10;
    (void)exact;
#endif
    char buf[COPY_MAX + 32];
    if (len < COPY_MAX) {
        memcpy(buf, s, len);
        buf[len] = 0;
    } else {
        canonicalise(s, len, buf);
    }
    v = c_strtod(buf);
    if (!isfinite(v)) return 0;
    *out = v;
    return 1;
}

int pw_value_present(const pw_value *v) {
    switch (v->type) {
    case PW_V_NULL: return 0;
    case PW_V_STR: return v->len > 0;
    case PW_V_RAW: return v->num > 0;
    default: return 1;
    }
}
