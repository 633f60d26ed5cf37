/* fuzz_expr.c -- libFuzzer target for the expression language (daemon/expr.c).
 *
 * Each input (up to the first NUL) is compiled as a `where:`/`value:`
 * expression into a fieldset that already holds a few paths. If it compiles,
 * it is evaluated against 17 field sets: every slot gets a value from a small
 * pool of awkward values (numbers at the edge of double, -0, numeric and
 * empty strings, a string with a NUL, booleans, {} and [], null), chosen by a
 * hash of the path plus a rotation, so the fuzzer can steer values by naming
 * fields; the 17th set is all null.
 * Invariants checked:
 *   - a rejected expression: error offset within the text, a non-empty
 *     NUL-terminated message, the fieldset untouched (expr.h), and the same
 *     verdict and offset with a tiny error buffer;
 *   - an accepted one: pw_expr_source() is the text; eval returns 0/-1 and is
 *     deterministic; a number result is finite (no NaN/inf may reach a
 *     window); booleans are 0/1; result strings are readable memory;
 *     pw_expr_test() and pw_expr_number() agree with pw_expr_eval().
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "fieldset.h"
#include "fuzz_common.h"
#include "value.h"

#define NUM(s, v) {PW_V_NUM, 1, v, s, sizeof s - 1}
#define STR(s) {PW_V_STR, 0, 0, s, sizeof s - 1}
#define NSTR(s, v) {PW_V_STR, 1, v, s, sizeof s - 1}

static const pw_value pool[] = {
    NUM("5", 5),
    STR("abc"),
    NSTR("10", 10),
    {PW_V_NULL, 0, 0, NULL, 0},
    {PW_V_BOOL, 1, 1, "true", 4},
    {PW_V_BOOL, 1, 0, "false", 5},
    {PW_V_RAW, 0, 1, "{\"x\":1}", 7},
    {PW_V_RAW, 0, 0, "[]", 2},
    NUM("1.7976931348623157e308", 1.7976931348623157e308),
    NUM("-0", -0.0),
    STR(""),
    NUM("0", 0),
    STR("EMEA"),
    NUM("5e-324", 5e-324),
    NSTR("-1e308", -1e308),
    STR("a\0b"),
};
#define NPOOL ((int)(sizeof pool / sizeof pool[0]))

static uint32_t path_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int is_number(const pw_value *v) {
    return v->type == PW_V_NUM || (v->type == PW_V_STR && v->has_num);
}

static int same(const pw_value *x, const pw_value *y) {
    return x->type == y->type && x->has_num == y->has_num && memcmp(&x->num, &y->num, sizeof x->num) == 0 &&
           x->str == y->str && x->len == y->len;
}

static void check_eval(const pw_expr *e, const pw_value *fields, int set) {
    pw_value out, again;
    memset(&out, 0xA5, sizeof out);
    int rc = pw_expr_eval(e, fields, &out);
    FUZZ_CHECK(rc == 0 || rc == -1, "set %d: eval returned %d", set, rc);
    int rc2 = pw_expr_eval(e, fields, &again);
    FUZZ_CHECK(rc2 == rc && (rc < 0 || same(&out, &again)), "set %d: eval is not deterministic", set);
    int t = pw_expr_test(e, fields);
    double num = 0;
    int nrc = pw_expr_number(e, fields, &num);
    if (rc < 0) {
        FUZZ_CHECK(t == -1 && nrc == -1, "set %d: unevaluable but test %d number %d", set, t, nrc);
        return;
    }
    FUZZ_CHECK(out.type >= PW_V_NULL && out.type <= PW_V_RAW, "set %d: type %d", set, (int)out.type);
    if (out.str) FUZZ_CHECK(fuzz_readable(out.str, out.len), "set %d: result string not readable", set);
    else FUZZ_CHECK(out.len == 0, "set %d: NULL str with len %u", set, out.len);
    if (out.type == PW_V_NUM) FUZZ_CHECK(out.has_num && isfinite(out.num), "set %d: number %g", set, out.num);
    if (out.type == PW_V_STR && out.has_num) FUZZ_CHECK(isfinite(out.num), "set %d: numeric string", set);
    if (out.type == PW_V_BOOL) FUZZ_CHECK(out.num == 0 || out.num == 1, "set %d: bool %g", set, out.num);
    int want_t = out.type == PW_V_BOOL ? (int)out.num : -1;
    FUZZ_CHECK(t == want_t, "set %d: pw_expr_test %d, eval says %d", set, t, want_t);
    if (is_number(&out)) {
        FUZZ_CHECK(nrc == 0 && memcmp(&num, &out.num, sizeof num) == 0 && isfinite(num),
                   "set %d: pw_expr_number %d %g vs eval %g", set, nrc, num, out.num);
    } else {
        FUZZ_CHECK(nrc == -1, "set %d: pw_expr_number accepted a non-number (type %d)", set, (int)out.type);
    }
}

static pw_fieldset *base_fs(void) {
    static const char *const pre[] = {"a", "b", "c.d", "amount"};
    pw_fieldset *fs = pw_fieldset_new();
    FUZZ_CHECK(fs != NULL, "pw_fieldset_new");
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        FUZZ_CHECK(pw_fieldset_intern(fs, pre[i], (int)strlen(pre[i])) >= 0, "intern");
    return fs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = malloc(size + 1);
    FUZZ_CHECK(src != NULL, "malloc");
    memcpy(src, data, size);
    src[size] = 0;
    size_t slen = strlen(src);

    pw_fieldset *fs = base_fs();
    int before = pw_fieldset_count(fs);
    size_t off = (size_t)-1;
    char err[256];
    memset(err, 'x', sizeof err);
    pw_expr *e = pw_expr_compile(src, fs, &off, err, sizeof err);

    /* same verdict with an error buffer too small for any message */
    pw_fieldset *fs2 = base_fs();
    size_t off2 = (size_t)-1;
    char small[8];
    pw_expr *e2 = pw_expr_compile(src, fs2, &off2, small, sizeof small);
    FUZZ_CHECK((e == NULL) == (e2 == NULL), "verdict depends on the error buffer");
    pw_expr_destroy(e2);
    pw_fieldset_destroy(fs2);

    if (!e) {
        FUZZ_CHECK(off <= slen, "error offset %zu past the text (%zu bytes)", off, slen);
        FUZZ_CHECK(off2 == off, "error offset %zu vs %zu with a small buffer", off, off2);
        FUZZ_CHECK(memchr(err, 0, sizeof err) != NULL && err[0] != 0, "error message missing or unterminated");
        FUZZ_CHECK(memchr(small, 0, sizeof small) != NULL, "small error buffer not terminated");
        FUZZ_CHECK(pw_fieldset_count(fs) == before, "a rejected expression changed the fieldset");
        pw_fieldset_destroy(fs);
        free(src);
        return 0;
    }
    FUZZ_CHECK(strcmp(pw_expr_source(e), src) == 0, "source text differs");
    int n = pw_fieldset_count(fs);
    FUZZ_CHECK(n >= before, "fieldset shrank");
    pw_value *fields = calloc((size_t)n, sizeof *fields);
    uint32_t *h = calloc((size_t)n, sizeof *h);
    FUZZ_CHECK(fields && h, "calloc");
    for (int i = 0; i < n; i++) h[i] = path_hash(pw_fieldset_path(fs, i));
    for (int set = 0; set < NPOOL; set++) {
        for (int i = 0; i < n; i++) fields[i] = pool[(h[i] + (uint32_t)set) % NPOOL];
        check_eval(e, fields, set);
    }
    memset(fields, 0, (size_t)n * sizeof *fields); /* all null */
    check_eval(e, fields, NPOOL);
    free(h);
    free(fields);
    pw_expr_destroy(e);
    pw_fieldset_destroy(fs);
    free(src);
    return 0;
}
