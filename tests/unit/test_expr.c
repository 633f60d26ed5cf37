/* test_expr.c -- the filter/value expression language (daemon/expr.c).
 *
 * Tables that read like the spec in expr.h:
 *   - must_parse:  expressions that compile;
 *   - must_reject: expressions that do not, with the byte offset of the
 *                  offending token and a piece of the message;
 *   - eval:        (expression, event fields, expected result) where the fields
 *                  are written as a tiny spec, e.g. "a=1; s='x'; n=null; l=[]"
 *                  (numbers, 'strings', true/false/null, [..]/{..} for arrays
 *                  and objects); fields not listed are missing.
 * Plus the nesting/length limits and a seeded fuzz loop over compile and eval.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "fieldset.h"
#include "value.h"

#define MAXF 64

static pw_expr *compile(const char *src, pw_fieldset *fs, size_t *off, char *err, size_t errlen) {
    *off = (size_t)-1;
    err[0] = 0;
    return pw_expr_compile(src, fs, off, err, errlen);
}

/* ---- must parse ---------------------------------------------------------- */

static const char *const must_parse[] = {
    "a", "a.b.c", "_a1.b_2", "1", "0", "1.5e3", "2E-3", "-1", "'x'", "\"x\"", "''", "true", "false", "null",
    "present(a)", "present( a.b )", "a == 1", "a != 'x'", "a<=b", "a>=-1", "a < b", "a > b",
    "a in []", "a in ['x', \"y\", 1, -2.5, true, false, null]", "a in [ 'x' ]",
    "not not a", "(((a)))", "a and b or c and not d", "a + b * c / d - e", "-(a + 1)", "- a", "--1",
    "origin != \"test\"", "present(name) + present(email) + present(phone)",
    "amount > 100 and origin in [\"paid_search\", \"social\"]",
    "x.in == 1", "x.not", "presentx", "  a  ", "a\n==\n1", "a\t==\r\n1", "'a\\'b\\\"c\\\\d\\n\\t'",
    "'\"'", "\"'\"", "'5' + 1", "- '5'", "(a == 1) == (b == 2)", "not (a and b)",
    "a == 1 and (b == 2 or c == 3)", "'caf\xc3\xa9' == a",
};

Test(expr, must_parse) {
    for (size_t i = 0; i < sizeof must_parse / sizeof must_parse[0]; i++) {
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(must_parse[i], fs, &off, err, sizeof err);
        cr_expect(e != NULL, "must parse: [%s] but got offset %zu: %s", must_parse[i], off, err);
        if (e) cr_expect_str_eq(pw_expr_source(e), must_parse[i]);
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
    }
}

/* ---- must reject --------------------------------------------------------- */

static const struct { const char *src; size_t off; const char *msg; } must_reject[] = {
    {"", 0, "empty expression"},
    {"   ", 3, "empty expression"},
    {"(a", 2, "expected ')' but found end of expression"},
    {"(a b", 3, "expected ')' but found 'b'"},
    {"(", 1, "expected a value but found end of expression"},
    {"a ==", 4, "expected a value but found end of expression"},
    {"a == 1 and", 10, "expected a value but found end of expression"},
    {"and", 0, "expected a value but found 'and'"},
    {"[1]", 0, "expected a value but found '['"},
    {"a b", 2, "expected an operator or end of expression but found 'b'"},
    {"a AND b", 2, "(keywords are lower case: 'and')"},
    {"a)", 1, "unmatched ')'"},
    {"presnt(a)", 0, "unknown function 'presnt' (did you mean 'present'?)"},
    {"a == Present (a)", 5, "unknown function 'Present' (did you mean 'present'?)"},
    {"foo(a)", 0, "unknown function 'foo' (the only function is present(path))"},
    {"a.b(c)", 0, "unknown function 'a.b'"},
    {"present", 7, "expected '(' after 'present' but found end of expression"},
    {"present == 1", 8, "expected '(' after 'present'"},
    {"present(1)", 8, "present() takes a field path"},
    {"present()", 8, "present() takes a field path"},
    {"present('a')", 8, "present() takes a field path"},
    {"present(a", 9, "expected ')' but found end of expression"},
    {"present(a == 1)", 10, "expected ')' but found '=='"},
    {"'abc", 0, "unterminated string"},
    {"a == \"abc", 5, "unterminated string"},
    {"a == 'ab\\", 5, "unterminated string"},
    {"'a\\q'", 2, "unknown escape '\\q'"},
    {"a # b", 2, "unexpected character '#'"},
    {"a\x01", 1, "unexpected character '\\x01'"},
    {"a == \xc3\xa9", 5, "unexpected character '\\xc3'"},
    {"a = 1", 2, "unexpected '=' (did you mean '=='?)"},
    {"a && b", 2, "unexpected '&&' (use 'and')"},
    {"a || b", 2, "unexpected '||' (use 'or')"},
    {"!a", 0, "unexpected '!' (use 'not' or '!=')"},
    {"a.", 2, "expected a field name after '.' but found end of expression"},
    {"a. b", 2, "expected a field name after '.'"},
    {"a.1", 2, "expected a field name after '.' but found '1'"},
    {"01", 0, "invalid number '01'"},
    {"1.5.2", 0, "invalid number '1.5.2'"},
    {"1.", 0, "invalid number '1.'"},
    {"1e", 0, "invalid number '1e'"},
    {"12abc", 0, "invalid number '12abc'"},
    {".5", 0, "invalid number '.5' (write 0.5)"},
    {"1e400", 0, "number '1e400' is out of range"},
    {"a in b", 5, "'in' needs a list like [\"a\", \"b\"]"},
    {"a in 'x'", 5, "'in' needs a list like"},
    {"a in [b]", 6, "'in' list items must be literals (strings, numbers, true, false or null) but found 'b'"},
    {"a in [1, 1 + 1]", 11, "expected ',' or ']' in the 'in' list but found '+'"},
    {"a in [-b]", 7, "'in' list items must be literals"},
    {"a in [1,]", 8, "'in' list items must be literals"},
    {"a in [1, 2", 10, "expected ',' or ']' in the 'in' list but found end of expression"},
    {"a in [1 2]", 8, "expected ',' or ']'"},
    {"a == 1 == 2", 7, "comparisons cannot be chained"},
    {"1 < a < 3", 6, "comparisons cannot be chained"},
    {"a in [1] in [2]", 9, "comparisons cannot be chained"},
    {"\"x\" * 2", 0, "'*' needs numbers but found a string"},
    {"2 * \"x\"", 4, "'*' needs numbers but found a string"},
    {"null + 1", 0, "'+' needs numbers but found null"},
    {"1 + (a == 1)", 4, "'+' needs numbers but found a condition (true/false)"},
    {"a - true", 4, "'-' needs numbers but found a condition"},
    {"-true", 1, "'-' needs numbers but found a condition"},
    {"-'abc'", 1, "'-' needs numbers but found a string"},
    {"not 5", 4, "'not' needs a condition (true/false) but found a number"},
    {"not null", 4, "'not' needs a condition (true/false) but found null"},
    {"present(a) and b", 0, "'and' needs a condition but present() gives a number (write present(x) == 1)"},
    {"a or 'x'", 5, "'or' needs a condition (true/false) but found a string"},
    {"a and 1 + 2", 6, "'and' needs a condition (true/false) but found a number"},
    {"a and (1 + 2)", 6, "'and' needs a condition (true/false) but found a number"},
};

Test(expr, must_reject) {
    for (size_t i = 0; i < sizeof must_reject / sizeof must_reject[0]; i++) {
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(must_reject[i].src, fs, &off, err, sizeof err);
        cr_expect(e == NULL, "must reject: [%s]", must_reject[i].src);
        cr_expect(off == must_reject[i].off, "[%s]: offset %zu, expected %zu (%s)", must_reject[i].src, off,
                  must_reject[i].off, err);
        cr_expect(strstr(err, must_reject[i].msg) != NULL, "[%s]: message \"%s\" lacks \"%s\"",
                  must_reject[i].src, err, must_reject[i].msg);
        /* a rejected expression leaves the fieldset as it was */
        cr_expect(pw_fieldset_count(fs) == 0, "[%s] interned %d paths", must_reject[i].src,
                  pw_fieldset_count(fs));
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
    }
}

Test(expr, error_buffer_optional_and_truncated) {
    pw_fieldset *fs = pw_fieldset_new();
    cr_assert_null(pw_expr_compile("(a", fs, NULL, NULL, 0));
    char small[8];
    size_t off = 0;
    cr_assert_null(pw_expr_compile("(a", fs, &off, small, sizeof small));
    cr_expect_eq(off, 2);
    cr_expect_str_eq(small, "expecte");
    pw_fieldset_destroy(fs);
}

/* ---- evaluation ---------------------------------------------------------- */

/* Parse one value of the field spec. */
static pw_value spec_value(const char *s, size_t n) {
    pw_value v;
    memset(&v, 0, sizeof v);
    if (n >= 2 && s[0] == '\'') {
        v.type = PW_V_STR;
        v.str = s + 1;
        v.len = (uint32_t)(n - 2);
        v.has_num = pw_value_parse_num(v.str, v.len, &v.num);
        if (!v.has_num) v.num = 0;
    } else if (n >= 2 && (s[0] == '[' || s[0] == '{')) {
        v.type = PW_V_RAW;
        v.str = s;
        v.len = (uint32_t)n;
        int members = 0, any = 0;
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == ',') members++;
            if (s[i] != ' ') any = 1;
        }
        v.num = any ? members + 1 : 0;
    } else if (n == 4 && memcmp(s, "null", 4) == 0) {
        v.type = PW_V_NULL;
    } else if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
        v.type = PW_V_BOOL;
        v.has_num = 1;
        v.num = n == 4;
        v.str = s;
        v.len = (uint32_t)n;
    } else {
        v.type = PW_V_NUM;
        v.has_num = 1;
        v.str = s;
        v.len = (uint32_t)n;
        cr_assert(pw_value_parse_num(s, n, &v.num), "bad number in field spec: %.*s", (int)n, s);
    }
    return v;
}

/* Fill fields[] from "name=value; name=value" (spec must outlive fields). */
static void build_fields(const pw_fieldset *fs, const char *spec, pw_value *fields) {
    memset(fields, 0, MAXF * sizeof *fields); /* PW_V_NULL: missing */
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == ';') p++;
        if (!*p) break;
        const char *eq = strchr(p, '=');
        cr_assert(eq, "bad field spec: %s", spec);
        const char *end = strchr(eq, ';');
        if (!end) end = eq + strlen(eq);
        const char *ve = end;
        while (ve > eq + 1 && ve[-1] == ' ') ve--;
        int slot = pw_fieldset_find(fs, p, (int)(eq - p));
        cr_assert(slot >= 0 && slot < MAXF, "field %.*s is not referenced by the expression",
                  (int)(eq - p), p);
        fields[slot] = spec_value(eq + 1, (size_t)(ve - eq - 1));
        p = end;
    }
}

#define UNEVAL "UNEVALUABLE"

/* expected: "true", "false", "null", "num:<n>", "str:<text>", or UNEVAL. */
static const struct { const char *src, *fields, *want; } eval_rows[] = {
    /* a missing field is null; == and != compare null like any value */
    {"missing != 'x'", "", "true"},
    {"missing == 'x'", "", "false"},
    {"missing == null", "", "true"},
    {"missing != null", "", "false"},
    {"x == null", "x=null", "true"},
    {"x == null", "x=0", "false"},
    {"x == null", "x=''", "false"},
    {"x == null", "x=[]", "false"},
    {"null == null", "", "true"},
    {"origin != 'test'", "", "true"},
    {"origin != 'test'", "origin='test'", "false"},
    {"origin != 'test'", "origin='paid_search'", "true"},
    /* == between a number and a numeric string compares numbers; else types must match */
    {"amount == 1234.5", "amount='1234.50'", "true"},
    {"amount == '1234.5'", "amount=1234.50", "true"},
    {"1 == 1.0", "", "true"},
    {"x == 1", "x=1e0", "true"},
    {"s == '1'", "s='1.0'", "false"},
    {"s == t", "s='007'; t='7'", "false"},
    {"x == 'abc'", "x=1", "false"},
    {"b == 1", "b=true", "false"},
    {"b == true", "b=true", "true"},
    {"b != false", "b=true", "true"},
    {"s == 'true'", "s=true", "false"},
    {"r == s", "r=[1,2]; s=[1,2]", "true"},
    {"r == s", "r=[1,2]; s={}", "false"},
    {"r == '[1,2]'", "r=[1,2]", "false"},
    /* ordering: two numbers (numeric strings count) or two strings; else false */
    {"amount > 1000", "amount='1234.50'", "true"},
    {"amount > 1000", "amount=999", "false"},
    {"amount <= 999", "amount=999", "true"},
    {"amount >= 1000", "amount=999", "false"},
    {"amount < 1000", "amount=-5", "true"},
    {"s > t", "s='10'; t='9'", "true"},
    {"'abc' < 'abd'", "", "true"},
    {"'ab' < 'abc'", "", "true"},
    {"'b' > 'abc'", "", "true"},
    {"'B' < 'a'", "", "true"},
    {"s >= 'm'", "s='zebra'", "true"},
    {"s <= 'm'", "s='zebra'", "false"},
    {"'abc' <= 'abc'", "", "true"},
    {"'abc' < 'abc'", "", "false"},
    {"missing < 1", "", "false"},
    {"missing > 1", "", "false"},
    {"missing <= 1", "", "false"},
    {"missing >= 1", "", "false"},
    {"x < null", "x=1", "false"},
    {"x >= null", "x=null", "false"},
    {"s < 1", "s='abc'", "false"},
    {"s > 1", "s='abc'", "false"},
    {"s >= 1", "s='abc'", "false"},
    {"b < 2", "b=true", "false"},
    {"b >= 0", "b=true", "false"},
    {"r > 0", "r=[1]", "false"},
    {"r > 'a'", "r=['b']", "false"},
    /* arithmetic needs numbers; numeric strings count */
    {"amount + 1", "amount='1234.5'", "num:1235.5"},
    {"amount * 2", "amount=21", "num:42"},
    {"'5' + 1", "", "num:6"},
    {"a + b", "a='1'; b='2'", "num:3"},
    {"mrr * 12 > 1000", "mrr='99.5'", "true"},
    {"a + 1", "", UNEVAL},
    {"a + 1", "a=null", UNEVAL},
    {"a + 1", "a='abc'", UNEVAL},
    {"a + 1", "a=''", UNEVAL},
    {"a + 1", "a=true", UNEVAL},
    {"a + 1", "a=[1]", UNEVAL},
    {"-a", "a='abc'", UNEVAL},
    {"-a", "", UNEVAL},
    {"1 / 0", "", UNEVAL},
    {"a / b", "a=1; b=0", UNEVAL},
    {"a / b", "a=1; b='0'", UNEVAL},
    {"a / b", "a=1; b=-0.0", UNEVAL},
    {"0 / 5", "", "num:0"},
    {"7 / 2", "", "num:3.5"},
    {"1e308 * 10", "", UNEVAL},
    {"a + 1 > 2", "", UNEVAL},
    {"a / 0 == 1", "a=1", UNEVAL},
    {"x in [1] ", "", "false"},
    {"x + 1 in [2]", "x=1", "true"},
    {"x + 1 in [2]", "", UNEVAL},
    /* precedence and associativity */
    {"1 + 2 * 3", "", "num:7"},
    {"(1 + 2) * 3", "", "num:9"},
    {"2 * 3 + 1", "", "num:7"},
    {"10 - 4 - 3", "", "num:3"},
    {"24 / 4 / 2", "", "num:3"},
    {"10 - 2 * 3 + 4 / 2", "", "num:6"},
    {"not a and b", "a=false; b=false", "false"},
    {"not a and b", "a=false; b=true", "true"},
    {"not (a and b)", "a=false; b=false", "true"},
    {"a or b and c", "a=true; b=false; c=false", "true"},
    {"(a or b) and c", "a=true; b=false; c=false", "false"},
    {"not a == 1", "a=1", "false"},
    {"not a == 1", "a=2", "true"},
    {"1 + 2 == 3", "", "true"},
    {"1 + 2 < 2 * 2 and 'a' != 'b'", "", "true"},
    /* unary minus */
    {"-2 * 3", "", "num:-6"},
    {"-a", "a='5'", "num:-5"},
    {"- a", "a=2.5", "num:-2.5"},
    {"--1", "", "num:1"},
    {"2 - -1", "", "num:3"},
    {"-(1 + 2)", "", "num:-3"},
    {"a > -1", "a=0", "true"},
    /* and/or/not need booleans; short-circuit left to right */
    {"a and true", "a=true", "true"},
    {"a and true", "a=false", "false"},
    {"a and true", "a=5", UNEVAL},
    {"a and true", "a='true'", UNEVAL},
    {"a and true", "", UNEVAL},
    {"true and a", "a=5", UNEVAL},
    {"a or false", "a=null", UNEVAL},
    {"not a", "", UNEVAL},
    {"not a", "a=0", UNEVAL},
    {"not a", "a=false", "true"},
    {"false and a", "", "false"},
    {"false and a + 1 > 0", "", "false"},
    {"true or a", "a='x'", "true"},
    {"true or 1 / 0 > 1", "", "true"},
    {"a or true", "", UNEVAL},
    {"a == 1 or b == 2 or c == 3", "c=3", "true"},
    {"a == 1 or b == 2 or c == 3", "", "false"},
    {"a == 1 and b == 2 and c == 3", "a=1; b=2; c=3", "true"},
    {"a == 1 and b == 2 and c == 3", "a=1; b=2; c=4", "false"},
    /* in-lists: x in [..] is x == a or x == b ... */
    {"origin in ['paid_search', 'social']", "origin='social'", "true"},
    {"origin in ['paid_search', 'social']", "origin='email'", "false"},
    {"origin in ['paid_search', 'social']", "", "false"},
    {"origin in []", "origin='social'", "false"},
    {"x in [null]", "", "true"},
    {"x in [null, 1]", "x=1", "true"},
    {"n in [1, 2, 3]", "n='2'", "true"},
    {"n in ['2']", "n=2", "true"},
    {"n in ['2.0']", "n='2'", "false"},
    {"n in [-1.5]", "n=-1.5", "true"},
    {"n in [- 1.5]", "n=-1.5", "true"},
    {"b in [true]", "b=true", "true"},
    {"b in [1]", "b=true", "false"},
    {"not origin in ['test']", "origin='test'", "false"},
    {"not origin in ['test']", "", "true"},
    /* present(): exists and not null, "", [] or {} */
    {"present(a)", "", "num:0"},
    {"present(a)", "a=null", "num:0"},
    {"present(a)", "a=''", "num:0"},
    {"present(a)", "a=[]", "num:0"},
    {"present(a)", "a={}", "num:0"},
    {"present(a)", "a='x'", "num:1"},
    {"present(a)", "a=' '", "num:1"},
    {"present(a)", "a=0", "num:1"},
    {"present(a)", "a=false", "num:1"},
    {"present(a)", "a=[0]", "num:1"},
    {"present(a)", "a={'k':1}", "num:1"},
    {"present(contact.name) + present(contact.email) + present(contact.phone)",
     "contact.name='Ann'; contact.email=''; contact.phone='+1 555'", "num:2"},
    {"present(a) == 1", "a='x'", "true"},
    {"present(a) == 0", "", "true"},
    /* nested paths */
    {"customer.region == 'EMEA'", "customer.region='EMEA'", "true"},
    {"customer.region == 'EMEA'", "", "false"},
    {"a.b.c + 1", "a.b.c=41", "num:42"},
    {"x.in == 1", "x.in=1", "true"},
    /* plain values */
    {"a", "a='x'", "str:x"},
    {"a", "a=7", "num:7"},
    {"a", "", "null"},
    {"a", "a=true", "true"},
    {"'abc'", "", "str:abc"},
    {"\"a\\'b\\\"c\\\\d\\ne\\tf\"", "", "str:a'b\"c\\d\ne\tf"},
    {"''", "", "str:"},
    {"1234.5", "", "num:1234.5"},
    {"null", "", "null"},
    {"true", "", "true"},
    {"false", "", "false"},
    {"'caf\xc3\xa9' == a", "a='caf\xc3\xa9'", "true"},
};

static void check_result(const char *src, const char *fspec, int rc, const pw_value *v, const char *want) {
    if (strcmp(want, UNEVAL) == 0) {
        cr_expect(rc == -1, "[%s] {%s}: expected unevaluable, got type %d", src, fspec, v->type);
        return;
    }
    cr_expect(rc == 0, "[%s] {%s}: unevaluable, expected %s", src, fspec, want);
    if (rc != 0) return;
    if (strcmp(want, "true") == 0 || strcmp(want, "false") == 0) {
        int b = want[0] == 't';
        cr_expect(v->type == PW_V_BOOL && v->num == b && v->has_num == 1,
                  "[%s] {%s}: want %s, got type %d num %g", src, fspec, want, v->type, v->num);
        if (v->type == PW_V_BOOL) cr_expect(v->len == strlen(want) && memcmp(v->str, want, v->len) == 0);
    } else if (strcmp(want, "null") == 0) {
        cr_expect(v->type == PW_V_NULL, "[%s] {%s}: want null, got type %d", src, fspec, v->type);
    } else if (strncmp(want, "num:", 4) == 0) {
        double w = strtod(want + 4, NULL);
        cr_expect(v->type == PW_V_NUM && v->has_num && fabs(v->num - w) < 1e-9,
                  "[%s] {%s}: want %s, got type %d num %g", src, fspec, want, v->type, v->num);
    } else if (strncmp(want, "str:", 4) == 0) {
        size_t n = strlen(want + 4);
        cr_expect(v->type == PW_V_STR && v->len == n && (n == 0 || memcmp(v->str, want + 4, n) == 0),
                  "[%s] {%s}: want %s, got type %d \"%.*s\"", src, fspec, want, v->type, (int)v->len,
                  v->str ? v->str : "");
    } else {
        cr_assert_fail("bad expectation %s", want);
    }
}

Test(expr, eval_table) {
    for (size_t i = 0; i < sizeof eval_rows / sizeof eval_rows[0]; i++) {
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(eval_rows[i].src, fs, &off, err, sizeof err);
        cr_assert(e, "[%s] does not compile: %zu: %s", eval_rows[i].src, off, err);
        pw_value fields[MAXF], out;
        build_fields(fs, eval_rows[i].fields, fields);
        memset(&out, 0xab, sizeof out);
        int rc = pw_expr_eval(e, fields, &out);
        check_result(eval_rows[i].src, eval_rows[i].fields, rc, &out, eval_rows[i].want);
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
    }
}

/* pw_expr_test: 1/0 for booleans, -1 for unevaluable or non-boolean. */
static const struct { const char *src, *fields; int want; } test_rows[] = {
    {"a == 1", "a=1", 1}, {"a == 1", "a=2", 0}, {"a == 1", "", 0}, {"a + 1 > 0", "", -1},
    {"a", "a=true", 1}, {"a", "a=false", 0}, {"a", "a=1", -1}, {"a", "a='true'", -1}, {"a", "", -1},
    {"1 + 1", "", -1}, {"present(a)", "a='x'", -1}, {"'x'", "", -1},
};

Test(expr, test_convenience) {
    for (size_t i = 0; i < sizeof test_rows / sizeof test_rows[0]; i++) {
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(test_rows[i].src, fs, &off, err, sizeof err);
        cr_assert(e, "[%s]: %s", test_rows[i].src, err);
        pw_value fields[MAXF];
        build_fields(fs, test_rows[i].fields, fields);
        cr_expect_eq(pw_expr_test(e, fields), test_rows[i].want, "[%s] {%s}", test_rows[i].src,
                     test_rows[i].fields);
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
    }
}

/* pw_expr_number: numbers and numeric strings; booleans, strings, null: -1. */
static const struct { const char *src, *fields; int rc; double want; } number_rows[] = {
    {"a", "a=2.5", 0, 2.5}, {"a", "a='2.5'", 0, 2.5}, {"a", "a='x'", -1, 0}, {"a", "a=true", -1, 0},
    {"a", "", -1, 0}, {"a", "a=[1]", -1, 0}, {"a * 2", "a='3'", 0, 6}, {"a * 2", "a='x'", -1, 0},
    {"present(a) + present(b)", "a='x'; b=1", 0, 2}, {"a == 1", "a=1", -1, 0}, {"'7'", "", 0, 7},
    {"-1.5e2", "", 0, -150},
};

Test(expr, number_convenience) {
    for (size_t i = 0; i < sizeof number_rows / sizeof number_rows[0]; i++) {
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(number_rows[i].src, fs, &off, err, sizeof err);
        cr_assert(e, "[%s]: %s", number_rows[i].src, err);
        pw_value fields[MAXF];
        build_fields(fs, number_rows[i].fields, fields);
        double got = -12345;
        int rc = pw_expr_number(e, fields, &got);
        cr_expect_eq(rc, number_rows[i].rc, "[%s] {%s}: rc %d", number_rows[i].src, number_rows[i].fields,
                     rc);
        if (rc == 0)
            cr_expect(fabs(got - number_rows[i].want) < 1e-9, "[%s]: got %g", number_rows[i].src, got);
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
    }
}

/* ---- result representation ----------------------------------------------- */

Test(expr, result_strings) {
    pw_fieldset *fs = pw_fieldset_new();
    size_t off;
    char err[256];
    pw_value out, fields[MAXF];
    memset(fields, 0, sizeof fields);

    /* a number literal keeps its source text, arithmetic has none */
    pw_expr *e = compile("1234.50", fs, &off, err, sizeof err);
    cr_assert(e);
    cr_assert_eq(pw_expr_eval(e, fields, &out), 0);
    cr_expect(out.type == PW_V_NUM && out.len == 7 && memcmp(out.str, "1234.50", 7) == 0);
    pw_expr_destroy(e);
    e = compile("-5", fs, &off, err, sizeof err);
    cr_assert(e);
    cr_assert_eq(pw_expr_eval(e, fields, &out), 0);
    cr_expect(out.type == PW_V_NUM && out.num == -5 && out.len == 2 && memcmp(out.str, "-5", 2) == 0);
    pw_expr_destroy(e);
    e = compile("1 + 1", fs, &off, err, sizeof err);
    cr_assert(e);
    cr_assert_eq(pw_expr_eval(e, fields, &out), 0);
    cr_expect(out.type == PW_V_NUM && out.num == 2 && out.str == NULL && out.len == 0);
    pw_expr_destroy(e);

    /* string literals point into the compiled expression and know whether they are numeric */
    e = compile("'42'", fs, &off, err, sizeof err);
    cr_assert(e);
    cr_assert_eq(pw_expr_eval(e, fields, &out), 0);
    cr_expect(out.type == PW_V_STR && out.has_num == 1 && out.num == 42);
    pw_expr_destroy(e);

    /* present() is a number 1/0 */
    e = compile("present(a)", fs, &off, err, sizeof err);
    cr_assert(e);
    cr_assert_eq(pw_expr_eval(e, fields, &out), 0);
    cr_expect(out.type == PW_V_NUM && out.num == 0 && out.has_num == 1);
    pw_expr_destroy(e);
    pw_fieldset_destroy(fs);
}

Test(expr, paths_interned_once_in_order) {
    pw_fieldset *fs = pw_fieldset_new();
    int pre = pw_fieldset_intern(fs, "type", 4);
    size_t off;
    char err[256];
    pw_expr *e = compile("b.c == 1 and present(a) == 1 or b.c > type", fs, &off, err, sizeof err);
    cr_assert(e, "%s", err);
    cr_expect_eq(pre, 0);
    cr_expect_eq(pw_fieldset_count(fs), 3);
    cr_expect_str_eq(pw_fieldset_path(fs, 1), "b.c");
    cr_expect_str_eq(pw_fieldset_path(fs, 2), "a");
    pw_expr_destroy(e);
    pw_expr_destroy(NULL);
    pw_fieldset_destroy(fs);
}

/* One compiled expression, one fields array per "event": evaluation only reads. */
Test(expr, reusable_across_events) {
    pw_fieldset *fs = pw_fieldset_new();
    size_t off;
    char err[256];
    pw_expr *e = compile("amount > 100 and origin in ['paid_search', 'social']", fs, &off, err, sizeof err);
    cr_assert(e);
    pw_value f1[MAXF], f2[MAXF];
    build_fields(fs, "amount=150; origin='social'", f1);
    build_fields(fs, "amount='99'; origin='social'", f2);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(pw_expr_test(e, f1), 1);
        cr_expect_eq(pw_expr_test(e, f2), 0);
    }
    pw_expr_destroy(e);
    pw_fieldset_destroy(fs);
}

/* ---- limits -------------------------------------------------------------- */

static char *repeat(const char *head, int n, const char *mid, const char *tail, int m) {
    size_t hl = strlen(head), tl = strlen(tail), ml = strlen(mid);
    char *s = malloc(hl * (size_t)n + ml + tl * (size_t)m + 1), *p = s;
    for (int i = 0; i < n; i++, p += hl) memcpy(p, head, hl);
    memcpy(p, mid, ml);
    p += ml;
    for (int i = 0; i < m; i++, p += tl) memcpy(p, tail, tl);
    *p = 0;
    return s;
}

static const struct { const char *head, *mid, *tail; int n, ok; size_t off; } depth_rows[] = {
    {"(", "1", ")", 64, 1, 0},
    {"(", "1", ")", 65, 0, 64},
    {"(", "1", ")", 2000, 0, 64},
    {"(", "", "", 4000, 0, 64},
    {"not ", "true", "", 64, 1, 0},
    {"not ", "true", "", 65, 0, 256},
    {"-", "1", "", 64, 1, 0},
    {"-", "1", "", 65, 0, 64},
    {"-(", "1", ")", 32, 1, 0},
    {"-(", "1", ")", 33, 0, 64},
    {"(not ", "true", ")", 32, 1, 0},
    {"(not ", "true", ")", 33, 0, 160},
    {"a == (", "1", ")", 64, 1, 0},
    {"a == (", "1", ")", 65, 0, 64 * 6 + 5},
};

Test(expr, nesting_limit) {
    for (size_t i = 0; i < sizeof depth_rows / sizeof depth_rows[0]; i++) {
        char *src = repeat(depth_rows[i].head, depth_rows[i].n, depth_rows[i].mid, depth_rows[i].tail,
                           depth_rows[i].n);
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(src, fs, &off, err, sizeof err);
        if (depth_rows[i].ok) {
            cr_expect(e != NULL, "row %zu: %s", i, err);
            pw_value fields[MAXF], out;
            memset(fields, 0, sizeof fields);
            if (e) cr_expect_eq(pw_expr_eval(e, fields, &out), 0, "row %zu", i);
        } else {
            cr_expect(e == NULL, "row %zu must be rejected", i);
            cr_expect_eq(off, depth_rows[i].off, "row %zu: offset %zu (%s)", i, off, err);
            cr_expect(strstr(err, "nested too deeply") != NULL, "row %zu: %s", i, err);
        }
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
        free(src);
    }
}

/* Long flat chains are not nesting: they compile and evaluate by iteration. */
Test(expr, long_chains) {
    pw_fieldset *fs = pw_fieldset_new();
    size_t off;
    char err[256];
    char *src = repeat("1+", 2047, "1", "", 0); /* 4095 bytes */
    pw_expr *e = compile(src, fs, &off, err, sizeof err);
    cr_assert(e, "%zu: %s", off, err);
    double v;
    cr_expect_eq(pw_expr_number(e, NULL, &v), 0);
    cr_expect_eq(v, 2048);
    pw_expr_destroy(e);
    free(src);

    src = repeat("a or ", 800, "true", "", 0);
    e = compile(src, fs, &off, err, sizeof err);
    cr_assert(e, "%zu: %s", off, err);
    pw_value fields[MAXF];
    memset(fields, 0, sizeof fields);
    fields[pw_fieldset_find(fs, "a", 1)] =
        (pw_value){.type = PW_V_BOOL, .has_num = 1, .num = 0, .str = "false", .len = 5};
    cr_expect_eq(pw_expr_test(e, fields), 1);
    pw_expr_destroy(e);
    free(src);

    src = repeat("a", 4096, "", "", 0);
    e = compile(src, fs, &off, err, sizeof err);
    cr_expect(e != NULL, "a 4096-byte path is within the limit: %s", err);
    pw_expr_destroy(e);
    free(src);
    pw_fieldset_destroy(fs);
}

Test(expr, length_limit) {
    pw_fieldset *fs = pw_fieldset_new();
    size_t off;
    char err[256];
    char *src = repeat("1+", 2048, "1", "", 0); /* 4097 bytes */
    pw_expr *e = compile(src, fs, &off, err, sizeof err);
    cr_expect_null(e);
    cr_expect_eq(off, 4096);
    cr_expect(strstr(err, "longer than 4096 bytes") != NULL, "%s", err);
    free(src);
    pw_fieldset_destroy(fs);
}

/* ---- fuzz ---------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static void put(char *s, size_t *n, size_t cap, const char *str) {
    size_t l = strlen(str);
    if (*n + l < cap) {
        memcpy(s + *n, str, l);
        *n += l;
    }
}

/* Append a random, mostly well-formed expression of at most `depth` levels. */
static void gen(char *s, size_t *n, size_t cap, int depth) {
    static const char *const leaf[] = {"a", "b.c", "x", "1", "0", "2.5", "-3", "'s'", "'7'", "''", "true",
                                       "false", "null", "present(a)", "present(b.c)"};
    static const char *const op[] = {" + ", " - ", " * ", " / ", " == ", " != ", " < ", " <= ", " > ",
                                     " >= ", " and ", " or "};
    char tmp[64];
    const char *piece = NULL;
    int choice = depth <= 0 ? 0 : (int)(rnd() % 6);
    switch (choice) {
    case 0: piece = leaf[rnd() % (sizeof leaf / sizeof leaf[0])]; break;
    case 1: piece = "("; break;
    case 2: piece = rnd() % 2 ? "not " : "-"; break;
    case 3: case 4: break;
    default:
        snprintf(tmp, sizeof tmp, " in [%s, %s]", leaf[rnd() % 13], leaf[rnd() % 13]);
        break;
    }
#define PUT(str) put(s, n, cap, (str))
    if (choice == 0) {
        PUT(piece);
    } else if (choice == 1) {
        PUT("(");
        gen(s, n, cap, depth - 1);
        PUT(")");
    } else if (choice == 2) {
        PUT(piece);
        gen(s, n, cap, depth - 1);
    } else if (choice <= 4) {
        gen(s, n, cap, depth - 1);
        PUT(op[rnd() % (sizeof op / sizeof op[0])]);
        gen(s, n, cap, depth - 1);
    } else {
        gen(s, n, cap, depth - 1);
        PUT(tmp);
    }
#undef PUT
}

/* Random inputs, compiled and, when they compile, evaluated against random
 * field values: a third raw bytes, a third language fragments in any order, a
 * third generated from the grammar with one byte sometimes mutated (so the
 * evaluator sees many valid trees). Run under ASan+UBSan. */
Test(expr, fuzz_compile_and_eval) {
    static const char *const frag[] = {
        "a", "b.c", "x", "1", "0", "2.5", "1e3", "'s'", "\"7\"", "''", "true", "false", "null", "present",
        "(", ")", "[", "]", ",", "+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "not",
        "in", " ", ".", "'", "\"", "\\", "=", "!", "#", "presnt", "1e999", "\n",
    };
    static const char *const vals[] = {"1",    "0",     "'1.5'", "'x'", "''", "null",
                                       "true", "false", "[]",    "{}",  "[1]"};
    rng_state = 0x9e3779b97f4a7c15ULL;
    char src[128];
    int compiled = 0, evaluated = 0;
    for (int it = 0; it < 100000; it++) {
        size_t n = 0;
        if (it % 3 == 2) {
            gen(src, &n, sizeof src - 1, 1 + (int)(rnd() % 6));
            if (n && rnd() % 2) src[rnd() % n] = (char)(1 + rnd() % 255);
        } else if (it % 3 == 1) {
            size_t len = rnd() % 64;
            for (; n < len; n++) {
                src[n] = (char)(rnd() % 256);
                if (!src[n]) src[n] = ' ';
            }
        } else {
            int parts = (int)(rnd() % 16);
            for (int k = 0; k < parts; k++) {
                const char *f = frag[rnd() % (sizeof frag / sizeof frag[0])];
                size_t fl = strlen(f);
                if (n + fl >= sizeof src) break;
                memcpy(src + n, f, fl);
                n += fl;
            }
        }
        src[n] = 0;
        pw_fieldset *fs = pw_fieldset_new();
        size_t off;
        char err[256];
        pw_expr *e = compile(src, fs, &off, err, sizeof err);
        if (!e) {
            cr_assert(off <= n, "offset %zu past the end of [%s]", off, src);
            cr_assert(err[0], "no message for [%s]", src);
        } else {
            compiled++;
            pw_value fields[MAXF], out;
            memset(fields, 0, sizeof fields);
            cr_assert(pw_fieldset_count(fs) <= MAXF);
            for (int s = 0; s < pw_fieldset_count(fs); s++) {
                const char *v = vals[rnd() % (sizeof vals / sizeof vals[0])];
                if (rnd() % 4) fields[s] = spec_value(v, strlen(v));
            }
            if (pw_expr_eval(e, fields, &out) == 0) evaluated++;
            (void)pw_expr_test(e, fields);
            double d;
            (void)pw_expr_number(e, fields, &d);
        }
        pw_expr_destroy(e);
        pw_fieldset_destroy(fs);
    }
    /* the generator must exercise evaluation, not only the error paths */
    cr_expect(compiled > 5000, "only %d of 100000 compiled", compiled);
    cr_expect(evaluated > 4000, "only %d evaluated", evaluated);
}
