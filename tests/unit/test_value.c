/* test_value.c -- pw_value helpers: number parsing, present(), label text.
 *
 * pw_value_parse_num is checked three ways: a table of must-accept rows with
 * their exact double (compared bit for bit, so -0 and the last ulp count), a
 * table of must-reject rows, and randomized agreement with strtod (the
 * reference for correct rounding) on short, long and very long numbers, so the
 * exact fast path and the canonicalisation of > 1 KiB numbers are both covered.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- parse_num: must accept -------------------------------------------------- */

static const struct {
    const char *text;
    double want;
} must_parse[] = {
    {"0", 0.0},
    {"-0", -0.0},
    {"7", 7.0},
    {"-7", -7.0},
    {"1234.50", 1234.5},
    {"0.1", 0.1},
    {"-0.0", -0.0},
    {"1E2", 100.0},
    {"1e2", 100.0},
    {"1e+2", 100.0},
    {"1e-2", 0.01},
    {"1E-0", 1.0},
    {"-12.5e3", -12500.0},
    {"0e400", 0.0},
    {"-0e-400", -0.0},
    {"0.000001", 0.000001},
    {"123456789012345", 123456789012345.0},
    {"9007199254740992", 9007199254740992.0},
    {"9007199254740993", 9007199254740992.0},  /* halfway: round to even */
    {"9007199254740995", 9007199254740996.0},
    {"18446744073709551616", 18446744073709551616.0},
    {"123456789012345678901234567890", 123456789012345678901234567890.0},
    {"1e22", 1e22},
    {"1e23", 1e23},                            /* outside the exact fast path */
    {"8.98846567431158e307", 8.98846567431158e307},
    {"1.7976931348623157e308", 1.7976931348623157e308},
    {"2.2250738585072011e-308", 2.2250738585072011e-308},
    {"2.2250738585072012e-308", 2.2250738585072012e-308},
    {"4.9e-324", 4.9e-324},
    {"2.4703282292062327e-324", 0.0},          /* just below half the smallest subnormal */
    {"2.4703282292062328e-324", 4.9e-324},
    {"1e-400", 0.0},                           /* underflow is accepted, as strtod does */
    {"0.30000000000000004", 0.30000000000000004},
    {"3.141592653589793238462643383279", 3.141592653589793238462643383279},
};

Test(value, parse_num_must_accept) {
    for (size_t i = 0; i < sizeof must_parse / sizeof must_parse[0]; i++) {
        double got = 12345.0;
        int ok = pw_value_parse_num(must_parse[i].text, strlen(must_parse[i].text), &got);
        cr_expect(ok == 1, "row %zu: '%s' must parse", i, must_parse[i].text);
        cr_expect(same_bits(got, must_parse[i].want), "row %zu: '%s' -> %.17g, want %.17g", i,
                  must_parse[i].text, got, must_parse[i].want);
    }
}

/* ---- parse_num: must reject -------------------------------------------------- */

static const char *const must_reject[] = {
    "",      "-",        "+1",       ".5",         "-.5",     "5.",   "5.e3", "01",    "-01",
    "00",    "1e",       "1e+",      "1E-",        "e5",      " 7",   "7 ",   "\t7",   "7\n",
    "1,5",   "1_000",    "0x10",     "NaN",        "nan",     "Infinity",     "-Infinity",
    "inf",   "1e400",    "-1e400",   "1.8e308",    "--1",     "1-",   "1e5.5", "1.2.3", "abc",
    "\"1\"", "true",     "1e+-5",    "٣",
};

Test(value, parse_num_must_reject) {
    for (size_t i = 0; i < sizeof must_reject / sizeof must_reject[0]; i++) {
        double got = 42.0;
        int ok = pw_value_parse_num(must_reject[i], strlen(must_reject[i]), &got);
        cr_expect(ok == 0, "row %zu: '%s' must be rejected", i, must_reject[i]);
        cr_expect(got == 42.0, "row %zu: '%s' must leave *out alone", i, must_reject[i]);
    }
}

Test(value, parse_num_is_length_delimited) {
    double v = 0;
    /* digits beyond len must not be read; an embedded NUL is not a number */
    cr_expect(pw_value_parse_num("12345", 2, &v) == 1 && v == 12.0);
    cr_expect(pw_value_parse_num("1\0" "5", 3, &v) == 0);
    cr_expect(pw_value_parse_num(NULL, 0, &v) == 0);
}

/* ---- parse_num agrees with strtod to the last bit ---------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Build a random number in JSON grammar into buf (digits up to maxdig). */
static size_t random_number(char *buf, int maxdig) {
    size_t n = 0;
    if (rnd() % 2) buf[n++] = '-';
    int idig = 1 + (int)(rnd() % (uint64_t)maxdig);
    if (rnd() % 5 == 0) {
        buf[n++] = '0';
    } else {
        buf[n++] = (char)('1' + rnd() % 9);
        for (int i = 1; i < idig; i++) buf[n++] = (char)('0' + rnd() % 10);
    }
    if (rnd() % 2) {
        int fdig = 1 + (int)(rnd() % (uint64_t)maxdig);
        buf[n++] = '.';
        for (int i = 0; i < fdig; i++) buf[n++] = (char)('0' + rnd() % 10);
    }
    if (rnd() % 2) {
        buf[n++] = rnd() % 2 ? 'e' : 'E';
        if (rnd() % 3 == 0) buf[n++] = rnd() % 2 ? '+' : '-';
        n += (size_t)sprintf(buf + n, "%d", (int)(rnd() % 330));
    }
    buf[n] = 0;
    return n;
}

static void check_against_strtod(const char *s, size_t n) {
    double want = strtod(s, NULL), got = 0;
    int ok = pw_value_parse_num(s, n, &got);
    if (!isfinite(want)) {
        cr_assert(ok == 0, "'%.80s' overflows, must be rejected", s);
        return;
    }
    cr_assert(ok == 1, "'%.80s' (len %zu) must parse", s, n);
    cr_assert(same_bits(got, want), "'%.80s' (len %zu): got %.17g, strtod %.17g", s, n, got, want);
}

Test(value, parse_num_matches_strtod_short) {
    char buf[128];
    for (int i = 0; i < 200000; i++) {
        size_t n = random_number(buf, i % 2 ? 8 : 20);
        check_against_strtod(buf, n);
    }
    /* shortest round-trip texts of random doubles */
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = rnd();
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) continue;
        snprintf(buf, sizeof buf, i % 2 ? "%.17g" : "%.15g", x);
        check_against_strtod(buf, strlen(buf));
    }
}

Test(value, parse_num_matches_strtod_long) {
    /* > 1 KiB numbers take the canonicalisation path: 800 kept digits + sticky */
    static char buf[8192];
    for (int i = 0; i < 400; i++) {
        size_t n = random_number(buf, 1000 + (int)(rnd() % 2500));
        check_against_strtod(buf, n);
    }
    /* long integer parts with compensating exponents (dropped integer digits
     * must scale the kept ones) and long fractions with large exponents */
    for (int i = 0; i < 400; i++) {
        size_t o = 0;
        int idig = 900 + (int)(rnd() % 2000), fdig = (int)(rnd() % 3) ? 0 : 1 + (int)(rnd() % 1500);
        if (rnd() % 2) buf[o++] = '-';
        buf[o++] = (char)('1' + rnd() % 9);
        for (int k = 1; k < idig; k++) buf[o++] = (char)(rnd() % 4 ? '0' + rnd() % 10 : '0');
        if (fdig) {
            buf[o++] = '.';
            for (int k = 0; k < fdig; k++) buf[o++] = (char)('0' + rnd() % 10);
        }
        o += (size_t)sprintf(buf + o, "e-%d", idig - 300 + (int)(rnd() % 600));
        buf[o] = 0;
        check_against_strtod(buf, o);
    }
    for (int i = 0; i < 200; i++) {
        size_t o = (size_t)sprintf(buf, "0.");
        int zeros = (int)(rnd() % 1500), fdig = 1 + (int)(rnd() % 1500);
        memset(buf + o, '0', (size_t)zeros);
        o += (size_t)zeros;
        for (int k = 0; k < fdig; k++) buf[o++] = (char)('0' + rnd() % 10);
        o += (size_t)sprintf(buf + o, "e%d", zeros - 300 + (int)(rnd() % 600));
        buf[o] = 0;
        check_against_strtod(buf, o);
    }
    /* halfway cases decided only by a digit far beyond 800 digits:
     * 2^53 + 1 (exactly halfway) followed by zeros and a final 1 rounds up. */
    size_t n = (size_t)sprintf(buf, "9007199254740993.");
    memset(buf + n, '0', 3000);
    n += 3000;
    buf[n++] = '1';
    buf[n] = 0;
    double v = 0;
    cr_assert(pw_value_parse_num(buf, n, &v) == 1);
    cr_assert(same_bits(v, 9007199254740994.0), "got %.17g", v);
    buf[n - 1] = '0'; /* exactly halfway: ties to even */
    cr_assert(pw_value_parse_num(buf, n, &v) == 1);
    cr_assert(same_bits(v, 9007199254740992.0), "got %.17g", v);
    /* long leading zeros before the significant digits */
    n = (size_t)sprintf(buf, "0.");
    memset(buf + n, '0', 2000);
    n += 2000;
    n += (size_t)sprintf(buf + n, "15e2001");
    cr_assert(pw_value_parse_num(buf, n, &v) == 1);
    cr_assert(same_bits(v, 1.5), "got %.17g", v);
    /* a 2000-digit integer overflows */
    buf[0] = '9';
    memset(buf + 1, '0', 1999);
    cr_assert(pw_value_parse_num(buf, 2000, &v) == 0);
}

/* ---- present ----------------------------------------------------------------- */

static const struct {
    pw_value v;
    int want;
    const char *what;
} present_rows[] = {
    {{.type = PW_V_NULL}, 0, "null / missing"},
    {{.type = PW_V_STR, .str = "", .len = 0}, 0, "empty string"},
    {{.type = PW_V_STR, .str = "x", .len = 1}, 1, "string"},
    {{.type = PW_V_STR, .str = " ", .len = 1}, 1, "blank string is a value"},
    {{.type = PW_V_RAW, .str = "{}", .len = 2, .num = 0}, 0, "empty object"},
    {{.type = PW_V_RAW, .str = "[]", .len = 2, .num = 0}, 0, "empty array"},
    {{.type = PW_V_RAW, .str = "[1]", .len = 3, .num = 1}, 1, "array"},
    {{.type = PW_V_RAW, .str = "{\"a\":1}", .len = 7, .num = 1}, 1, "object"},
    {{.type = PW_V_BOOL, .has_num = 1, .num = 0, .str = "false", .len = 5}, 1, "false is present"},
    {{.type = PW_V_NUM, .has_num = 1, .num = 0, .str = "0", .len = 1}, 1, "zero is present"},
};

Test(value, present) {
    for (size_t i = 0; i < sizeof present_rows / sizeof present_rows[0]; i++)
        cr_expect(pw_value_present(&present_rows[i].v) == present_rows[i].want, "row %zu (%s)", i,
                  present_rows[i].what);
}

/* ---- label text and numeric view ---------------------------------------------- */

static const struct {
    pw_value v;
    const char *label;
    int has_num;
    double num;
} label_rows[] = {
    {{.type = PW_V_NULL}, "", 0, 0},
    {{.type = PW_V_STR, .str = "paid_search", .len = 11}, "paid_search", 0, 0},
    {{.type = PW_V_STR, .str = "1234.50", .len = 7, .has_num = 1, .num = 1234.5}, "1234.50", 1, 1234.5},
    {{.type = PW_V_NUM, .str = "1E2", .len = 3, .has_num = 1, .num = 100}, "1E2", 1, 100},
    {{.type = PW_V_NUM, .str = "-0", .len = 2, .has_num = 1, .num = -0.0}, "-0", 1, -0.0},
    {{.type = PW_V_BOOL, .str = "true", .len = 4, .has_num = 1, .num = 1}, "true", 1, 1},
    {{.type = PW_V_BOOL, .str = "false", .len = 5, .has_num = 1, .num = 0}, "false", 1, 0},
    {{.type = PW_V_RAW, .str = "[1, 2]", .len = 6, .num = 2}, "[1, 2]", 0, 0},
    {{.type = PW_V_NUM, .str = NULL, .len = 0, .has_num = 1, .num = 3}, "", 1, 3}, /* computed */
};

Test(value, label_and_number) {
    for (size_t i = 0; i < sizeof label_rows / sizeof label_rows[0]; i++) {
        const char *s = NULL;
        uint32_t len = 99;
        pw_value_label(&label_rows[i].v, &s, &len);
        cr_expect(s != NULL, "row %zu: label never NULL", i);
        cr_expect(len == strlen(label_rows[i].label) && memcmp(s, label_rows[i].label, len) == 0,
                  "row %zu: label '%.*s', want '%s'", i, (int)len, s ? s : "", label_rows[i].label);
        double n = -1;
        int ok = pw_value_number(&label_rows[i].v, &n);
        cr_expect(ok == label_rows[i].has_num, "row %zu: number() = %d", i, ok);
        if (ok) cr_expect(same_bits(n, label_rows[i].num), "row %zu: number %g", i, n);
        else cr_expect(n == -1, "row %zu: *out untouched", i);
    }
}
