/* timeutil.c -- RFC 3339 and duration parsing/formatting in integer ms.
 *
 * Civil-date conversion uses Howard Hinnant's days-from-civil algorithm, which
 * is exact for the proleptic Gregorian calendar and needs no timegm()/TZ.
 * Limits: leap seconds (":60") are rejected; years outside 0000..9999 too.
 */
#include "timeutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* 0000-01-01 and 10000-01-01 in ms: accepted event times are in [PW_MIN_MS, PW_MAX_MS) */
#define PW_MIN_MS (-62167219200000LL)
#define PW_MAX_MS (253402300800000LL)

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int pw_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ms) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, mi, sec;
    if (len < 20) return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return -1;
    if (digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1) return -1;
    int dim = mdays[M - 1] + (M == 2 && is_leap(Y));
    if (D > dim || h > 23 || mi > 59 || sec > 59) return -1;
    size_t i = 19;
    int ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        int scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start) return -1;
    }
    if (i >= len) return -1;
    int64_t off_min = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (len - i < 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || digits(s + i + 4, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
        off_min = oh * 60 + om;
        if (s[i] == '-') off_min = -off_min;
        i += 6;
    } else {
        return -1;
    }
    if (i != len) return -1;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + sec;
    t -= off_min * 60;
    int64_t out = t * 1000 + ms;
    /* the range applies to the UTC instant: 9999-12-31T23:59:59-10:00 is in year 10000 */
    if (out < PW_MIN_MS || out >= PW_MAX_MS) return -1;
    *out_ms = out;
    return 0;
}

int pw_time_from_number(double v, int64_t *out_ms) {
    if (!isfinite(v)) return -1;
    double ms = fabs(v) >= 1e11 ? v : v * 1000.0;
    if (ms < (double)PW_MIN_MS || ms >= (double)PW_MAX_MS) return -1;
    *out_ms = (int64_t)floor(ms);
    return 0;
}

char *pw_time_format_s(int64_t ms, char *buf, size_t n) {
    int64_t secs = pw_floordiv(ms, 1000);
    int msr = (int)(ms - secs * 1000);
    int64_t days = pw_floordiv(secs, 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600), mm = (int)(rem / 60 % 60), ss = (int)(rem % 60);
    if (msr)
        snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, hh, mm, ss, msr);
    else
        snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, hh, mm, ss);
    return buf;
}

void pw_time_format(int64_t ms, pw_buf *out) {
    char tmp[40];
    pw_buf_puts(out, pw_time_format_s(ms, tmp, sizeof tmp));
}

int pw_duration_parse(const char *s, int64_t *out_ms) {
    if (!s || !*s) return -1;
    while (*s == ' ') s++;
    if (*s == '-') {
        int64_t tmp;
        return pw_duration_parse(s + 1, &tmp) == 0 ? -2 : -1;
    }
    int64_t total = 0;
    int parts = 0;
    while (*s) {
        if (*s < '0' || *s > '9') return -1;
        int64_t n = 0;
        while (*s >= '0' && *s <= '9') {
            if (n > 100000000000LL) return -1;
            n = n * 10 + (*s++ - '0');
        }
        int64_t unit;
        if (s[0] == 'm' && s[1] == 's') { unit = 1; s += 2; }
        else if (*s == 's') { unit = PW_MS_PER_S; s++; }
        else if (*s == 'm') { unit = PW_MS_PER_M; s++; }
        else if (*s == 'h') { unit = PW_MS_PER_H; s++; }
        else if (*s == 'd') { unit = PW_MS_PER_D; s++; }
        else if (*s == 'w') { unit = PW_MS_PER_W; s++; }
        else return -1;
        if (n > INT64_MAX / unit / 4) return -1;
        total += n * unit;
        parts++;
    }
    if (!parts) return -1;
    *out_ms = total;
    return 0;
}

char *pw_duration_format(int64_t ms, char *buf, size_t n) {
    static const struct { int64_t ms; const char *u; } units[] = {
        {PW_MS_PER_W, "w"}, {PW_MS_PER_D, "d"}, {PW_MS_PER_H, "h"},
        {PW_MS_PER_M, "m"}, {PW_MS_PER_S, "s"}, {1, "ms"}};
    size_t off = 0;
    if (ms == 0) { snprintf(buf, n, "0s"); return buf; }
    if (ms < 0) { off += (size_t)snprintf(buf, n, "-"); ms = -ms; }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && off < n; i++) {
        if (ms >= units[i].ms) {
            off += (size_t)snprintf(buf + off, n - off, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
            ms %= units[i].ms;
        }
    }
    return buf;
}

int64_t pw_time_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pw_time_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
