/* test_template.c -- annotation and sink-body templates: must-accept /
 * must-reject tables for pw_template_check and pw_template_check_body (with the
 * byte offset of the bad placeholder) and expansion tables for
 * pw_template_expand and pw_template_expand_json.
 *
 * Build (from the repo root):
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Idaemon daemon/template.c daemon/diag.c daemon/buf.c \
 *      tests/unit/test_template.c -lcriterion -lm
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "template.h"

static const char *const labels[] = {"origin", "customer.region", "team"};

typedef struct accept_row {
    const char *src;
} accept_row;

static const accept_row must_accept[] = {
    {""},
    {"no placeholders at all"},
    {"{{ value }}"},
    {"{{value}}{{threshold}}{{rule}}{{metric}}{{severity}}{{state}}"},
    {"{{   value\t}}"},
    {"Conversion from {{ labels.origin }} is {{ value }} (limit {{ threshold }})"},
    {"{{ labels.customer.region }} / {{ labels.team }}"},
    {"a lone }} is literal text, as is a single { brace"},
    {"{ {value} }"},
    {"multi\nline {{ value }}\n"},
    {"unicode \xC3\xA9 {{ state }} \xE2\x82\xAC"},
};

Test(template, must_accept) {
    for (size_t i = 0; i < sizeof must_accept / sizeof must_accept[0]; i++) {
        size_t off = 777;
        char err[256];
        int rc = pw_template_check(must_accept[i].src, labels, 3, &off, err, sizeof err);
        cr_expect_eq(rc, 0, "'%s' must pass: %s", must_accept[i].src, err);
        cr_expect_eq(off, 777, "err_off is only written on failure");
    }
}

typedef struct reject_row {
    const char *src;
    int nlabels;     /* how many of `labels` are known */
    size_t off;      /* byte offset of the bad placeholder's "{{" */
    const char *msg; /* substring of the message */
} reject_row;

static const reject_row must_reject[] = {
    {"{{ valeu }}", 3, 0, "unknown placeholder 'valeu' ("},
    {"x {{ vlue }}", 3, 2, "unknown placeholder 'vlue' (did you mean 'value'?)"},
    {"{{ treshold }}", 3, 0, "did you mean 'threshold'?"},
    {"{{ summary }}", 3, 0,
     "unknown placeholder 'summary' (expected value, threshold, rule, metric, severity, "
     "state or labels.NAME)"},
    {"{{ origin }}", 3, 0, "unknown placeholder 'origin' (did you mean 'labels.origin'?)"},
    {"ok {{ value }} then {{ labels.orign }}", 3, 20,
     "unknown label 'orign' (did you mean 'labels.origin'?)"},
    {"{{ labels.campaign }}", 3, 0, "unknown label 'campaign' (labels here: origin, customer.region, team)"},
    {"{{ labels.origin }}", 0, 0, "unknown label 'origin' (this rule's notifications carry no labels)"},
    {"{{ labels. }}", 3, 0, "unknown placeholder 'labels.'"},
    {"{{ labels }}", 3, 0, "unknown placeholder 'labels'"},
    {"{{ Value }}", 3, 0, "did you mean 'value'?"},
    {"limit {{ threshold", 3, 6, "unterminated '{{' (a placeholder ends with '}}')"},
    {"{{ value }} and {{", 3, 16, "unterminated '{{'"},
    {"{{}}", 3, 0, "empty placeholder '{{ }}'"},
    {"{{  }}", 3, 0, "empty placeholder"},
    {"{{ value | upper }}", 3, 0, "unknown placeholder 'value | upper'"},
    {"{{ {{ value }}", 3, 0, "unknown placeholder '{{ value'"},
    {"{{ a\x01"
     "b }}",
     3, 0, "unknown placeholder 'a?b'"},
    /* body-only placeholders are not for annotations */
    {"at {{ at }}", 3, 3, "placeholder 'at' is only available in sink body templates"},
    {"{{ annotations.summary }}", 3, 0, "placeholder 'annotations.summary' is only available in sink body"},
    {"{{ json }}", 3, 0, "only available in sink body templates"},
    {"{{ fingerprint }}", 3, 0, "only available in sink body templates"},
};

Test(template, must_reject) {
    for (size_t i = 0; i < sizeof must_reject / sizeof must_reject[0]; i++) {
        const reject_row *r = &must_reject[i];
        size_t off = 999;
        char err[256];
        int rc = pw_template_check(r->src, labels, r->nlabels, &off, err, sizeof err);
        cr_expect_eq(rc, -1, "'%s' must fail", r->src);
        cr_expect_eq(off, r->off, "'%s': offset %zu, expected %zu", r->src, off, r->off);
        cr_expect(strstr(err, r->msg) != NULL, "'%s': message \"%s\" lacks \"%s\"", r->src, err, r->msg);
    }
}

Test(template, check_is_safe_with_small_or_no_buffers) {
    char tiny[8];
    size_t off;
    cr_assert_eq(pw_template_check("{{ nope }}", labels, 3, &off, tiny, sizeof tiny), -1);
    cr_assert_eq(strlen(tiny), 7);
    cr_assert_eq(pw_template_check("{{ nope }}", labels, 3, NULL, NULL, 0), -1);
    cr_assert_eq(pw_template_check(NULL, labels, 3, NULL, NULL, 0), 0);
    /* a very long placeholder name is cut in the message */
    char big[400];
    memset(big, 'x', sizeof big);
    memcpy(big, "{{ ", 3);
    memcpy(big + sizeof big - 4, " }}", 4);
    char err[256];
    cr_assert_eq(pw_template_check(big, labels, 3, &off, err, sizeof err), -1);
    cr_assert(strstr(err, "...") != NULL, "%s", err);
}

typedef struct expand_row {
    const char *src;
    double value, threshold;
    const char *want;
} expand_row;

static const expand_row expand_rows[] = {
    {"", 1, 2, ""},
    {"plain", 1, 2, "plain"},
    {"{{ value }}", 0.05, 0, "0.05"},
    {"{{value}}/{{ threshold }}", 1250, 1000, "1250/1000"},
    {"{{ value }}", 0.1 + 0.2, 0, "0.30000000000000004"},
    {"{{ value }}", -3.5, 0, "-3.5"},
    {"{{ value }}", 1e21, 0, "1e+21"},
    {"{{ value }}", NAN, 0, "undefined"},
    {"{{ value }}", INFINITY, 0, "+Inf"},
    {"{{ value }}", 0, 0, "0"},
    {"{{ rule }} on {{ metric }} is {{ state }} ({{ severity }})", 1, 1,
     "conversion_low on conversion is firing (warning)"},
    {"Conversion from {{ labels.origin }} is {{ value }} (limit {{ threshold }})", 0.031, 0.05,
     "Conversion from paid_search is 0.031 (limit 0.05)"},
    {"{{ labels.customer.region }}|{{ labels.team }}|{{ labels.origin }}", 0, 0, "EMEA|growth|paid_search"},
    {"a }} b {{ value }}{{ value }} c", 7, 0, "a }} b 77 c"},
    {"\xC3\xA9 {{ value }} \xE2\x82\xAC", 2, 0, "\xC3\xA9 2 \xE2\x82\xAC"},
};

Test(template, expand) {
    const char *names[] = {"origin", "customer.region", "team"};
    const char *values[] = {"paid_search", "EMEA", "growth"};
    for (size_t i = 0; i < sizeof expand_rows / sizeof expand_rows[0]; i++) {
        const expand_row *r = &expand_rows[i];
        cr_assert_eq(pw_template_check(r->src, names, 3, NULL, NULL, 0), 0, "%s", r->src);
        pw_template_vars v = {.rule = "conversion_low",
                              .metric = "conversion",
                              .severity = "warning",
                              .state = "firing",
                              .value = r->value,
                              .threshold = r->threshold,
                              .label_names = names,
                              .label_values = values,
                              .nlabels = 3};
        pw_buf out;
        pw_buf_init(&out);
        pw_buf_puts(&out, ">"); /* expansion appends */
        pw_template_expand(r->src, &v, &out);
        cr_expect_str_eq(out.data + 1, r->want, "'%s' expanded to '%s'", r->src, out.data + 1);
        cr_expect_eq(out.data[0], '>');
        pw_buf_free(&out);
    }
}

Test(template, expand_never_fails_on_unchecked_input) {
    /* not what callers do, but expansion must stay safe and keep text as written */
    const char *names[] = {"origin"};
    const char *values[] = {"x"};
    pw_template_vars v = {.rule = "r",
                          .metric = "m",
                          .severity = "info",
                          .state = "resolved",
                          .value = 1,
                          .threshold = 2,
                          .label_names = names,
                          .label_values = values,
                          .nlabels = 1};
    pw_buf out;
    pw_buf_init(&out);
    pw_template_expand("{{ nope }} {{ labels.missing }}[{{ labels.origin }}] {{ open", &v, &out);
    cr_assert_str_eq(out.data, "{{ nope }} [x] {{ open");
    pw_buf_free(&out);
}

/* ---- sink body templates ------------------------------------------------ */

static const char *const body_accept[] = {
    "",
    "{\"text\": \"plain\"}",
    "{\"text\": \"{{ annotations.summary }}\", \"at\": \"{{ at }}\", \"id\": \"{{ fingerprint }}\"}",
    "{\"alert\": {{ json }}}",
    "{\"who\": \"{{ labels.anything.at.all }}\", \"v\": \"{{ value }}/{{ threshold }}\"}",
    "{\"s\": \"{{rule}} {{metric}} {{severity}} {{state}}\"}",
};

Test(template, body_must_accept) {
    for (size_t i = 0; i < sizeof body_accept / sizeof body_accept[0]; i++) {
        char err[256];
        size_t off = 5;
        cr_expect_eq(pw_template_check_body(body_accept[i], &off, err, sizeof err), 0, "'%s': %s",
                     body_accept[i], err);
        cr_expect_eq(off, 5);
    }
}

static const reject_row body_reject[] = {
    {"{\"t\": \"{{ vaule }}\"}", 0, 7, "unknown placeholder 'vaule'"},
    {"{\"t\": \"{{ fingerprnt }}\"}", 0, 7, "did you mean 'fingerprint'?"},
    {"{\"t\": \"{{ summary }}\"}", 0, 7,
     "(expected value, threshold, rule, metric, severity, state, at, "
     "fingerprint, json, labels.NAME or annotations.NAME)"},
    {"{\"t\": \"{{ annotations. }}\"}", 0, 7, "unknown placeholder 'annotations.'"},
    {"{\"t\": \"{{ }}\"}", 0, 7, "empty placeholder"},
    {"{\"t\": \"{{ value \"}", 0, 7, "unterminated '{{'"},
};

Test(template, body_must_reject) {
    for (size_t i = 0; i < sizeof body_reject / sizeof body_reject[0]; i++) {
        const reject_row *r = &body_reject[i];
        size_t off = 999;
        char err[256];
        cr_expect_eq(pw_template_check_body(r->src, &off, err, sizeof err), -1, "'%s' must fail", r->src);
        cr_expect_eq(off, r->off, "'%s': offset %zu, expected %zu", r->src, off, r->off);
        cr_expect(strstr(err, r->msg) != NULL, "'%s': message \"%s\" lacks \"%s\"", r->src, err, r->msg);
    }
}

Test(template, expand_json) {
    const char *lnames[] = {"origin", "team"};
    const char *lvalues[] = {"say \"hi\"\n", "growth"};
    const char *anames[] = {"summary"};
    const char *avalues[] = {"Conversion is 0.03 \\ low\t!"};
    pw_template_vars v = {.rule = "conversion_low",
                          .metric = "conversion",
                          .severity = "critical",
                          .state = "firing",
                          .value = 0.031,
                          .threshold = NAN,
                          .label_names = lnames,
                          .label_values = lvalues,
                          .nlabels = 2,
                          .annotation_names = anames,
                          .annotation_values = avalues,
                          .nannotations = 1,
                          .at = "2026-11-27T10:00:00Z",
                          .fingerprint = "3f2a",
                          .json = "{\"rule\":\"x\",\"value\":1}"};
    static const struct {
        const char *src, *want;
    } rows[] = {
        {"{\"text\": \"{{ annotations.summary }}\"}", "{\"text\": \"Conversion is 0.03 \\\\ low\\t!\"}"},
        {"{\"o\": \"{{ labels.origin }}\"}", "{\"o\": \"say \\\"hi\\\"\\n\"}"},
        {"{\"t\": \"{{ labels.team }}/{{ labels.nope }}/{{ annotations.nope }}\"}", "{\"t\": \"growth//\"}"},
        {"{\"at\": \"{{ at }}\", \"fp\": \"{{ fingerprint }}\"}",
         "{\"at\": \"2026-11-27T10:00:00Z\", \"fp\": \"3f2a\"}"},
        {"{\"v\": \"{{ value }} vs {{ threshold }}\"}", "{\"v\": \"0.031 vs undefined\"}"},
        {"{\"alert\": {{ json }}}", "{\"alert\": {\"rule\":\"x\",\"value\":1}}"},
        {"{{ rule }} {{ metric }} {{ severity }} {{ state }}", "conversion_low conversion critical firing"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cr_assert_eq(pw_template_check_body(rows[i].src, NULL, NULL, 0), 0, "%s", rows[i].src);
        pw_buf out;
        pw_buf_init(&out);
        pw_template_expand_json(rows[i].src, &v, &out);
        cr_expect_str_eq(out.data, rows[i].want);
        cr_expect_eq(out.len, strlen(rows[i].want));
        pw_buf_free(&out);
    }
    /* no notification JSON: null keeps the document valid */
    v.json = NULL;
    pw_buf out;
    pw_buf_init(&out);
    pw_template_expand_json("{\"a\": {{ json }}}", &v, &out);
    cr_assert_str_eq(out.data, "{\"a\": null}");
    pw_buf_free(&out);
}
