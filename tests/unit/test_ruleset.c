/* test_ruleset.c -- the rule loader: must-accept / must-reject tables with the
 * exact LINE:COL of every expected problem, the tests/rules/ corpus, what a
 * loaded set contains, def_hash, and hostile input (alias bombs, huge and
 * deep files, binary garbage, 2,000 seeded mutations of a valid file).
 *
 * Build (from the repo root):
 *   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Idaemon -DPW_SOURCE_DIR=\"$PWD\" \
 *      daemon/ruleset.c daemon/yamlnode.c daemon/template.c daemon/diag.c daemon/buf.c \
 *      daemon/timeutil.c daemon/fieldset.c daemon/expr.c daemon/value.c \
 *      tests/unit/test_ruleset.c -lyaml -lcriterion -lm
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ruleset.h"
#include "timeutil.h"
#include "yamlnode.h"

#ifndef PW_SOURCE_DIR
#define PW_SOURCE_DIR "."
#endif

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[256];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pw_test_ruleset_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *de;
    char p[600];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *s = opendir(p);
            struct dirent *se;
            char q[900];
            while (s && (se = readdir(s)) != NULL) {
                if (se->d_name[0] == '.' && (!se->d_name[1] || !strcmp(se->d_name, ".."))) continue;
                snprintf(q, sizeof q, "%s/%s", p, se->d_name);
                unlink(q);
            }
            if (s) closedir(s);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(tmpdir);
}

static void write_bytes(const char *name, const char *data, size_t len, char *path, size_t plen) {
    snprintf(path, plen, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    if (len) cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_file(const char *name, const char *text, char *path, size_t plen) {
    write_bytes(name, text, strlen(text), path, plen);
}

/* Is there an entry (error or warning per `warning`) whose text is
 * "<file>:<loc>: ..." and contains `sub`? */
static int has_entry(const pw_diag *d, const char *file, const char *loc, const char *sub, int warning) {
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s:%s: ", file, loc);
    for (int i = 0; i < d->n; i++) {
        if (d->v[i].is_warning != warning) continue;
        if (strncmp(d->v[i].text, prefix, strlen(prefix)) != 0) continue;
        if (strstr(d->v[i].text + strlen(prefix), sub)) return 1;
    }
    return 0;
}

static void dump(const pw_diag *d) {
    for (int i = 0; i < d->n; i++) fprintf(stderr, "    | %s\n", d->v[i].text);
}

/* On failure: each entry of a.yaml with its source line and a caret. */
static void dump_ctx(const pw_diag *d, const char *text) {
    for (int i = 0; i < d->n; i++) {
        const char *t = d->v[i].text, *p = strstr(t, "/a.yaml:");
        fprintf(stderr, "    | %s\n", t);
        int line = 0, col = 0;
        if (!p || sscanf(p + 8, "%d:%d", &line, &col) != 2 || line < 1) continue;
        const char *l = text;
        for (int k = 1; k < line && l; k++) {
            l = strchr(l, '\n');
            if (l) l++;
        }
        if (!l) continue;
        fprintf(stderr, "    |   %.*s\n    |   %*s^\n", (int)strcspn(l, "\n"), l, col - 1, "");
    }
}

/* One expectation: "[W ][FILE:]LINE:COL substring". FILE is a.yaml unless given. */
static void check_expect(const pw_diag *d, const char *rowname, const char *e, const char *text) {
    int warning = 0;
    if (!strncmp(e, "W ", 2)) {
        warning = 1;
        e += 2;
    }
    char file[64] = "a.yaml";
    const char *sp = strchr(e, ' ');
    cr_assert_not_null(sp, "row %s: malformed expectation '%s'", rowname, e);
    char loc[96];
    snprintf(loc, sizeof loc, "%.*s", (int)(sp - e), e);
    /* "b.yaml:3:5" -> file b.yaml, loc 3:5 */
    char *colon = strchr(loc, ':');
    if (colon && strchr(colon + 1, ':')) {
        snprintf(file, sizeof file, "%.*s", (int)(colon - loc), loc);
        memmove(loc, colon + 1, strlen(colon + 1) + 1);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, file);
    if (!has_entry(d, path, loc, sp + 1, warning)) {
        dump_ctx(d, text);
        cr_expect(0, "row '%s': no %s at %s:%s containing \"%s\"", rowname, warning ? "warning" : "error",
                  file, loc, sp + 1);
    }
}

typedef struct row {
    const char *name;
    const char *a;          /* a.yaml */
    const char *b;          /* b.yaml, optional (loaded after a.yaml) */
    const char *expect[10]; /* "[W ][FILE:]LINE:COL substring"; errors must be exactly these */
} row;

static void run_row(const row *r, int must_accept) {
    make_tmpdir();
    char pa[600], pb[600];
    const char *paths[2];
    int n = 0;
    write_file("a.yaml", r->a, pa, sizeof pa);
    paths[n++] = pa;
    if (r->b) {
        write_file("b.yaml", r->b, pb, sizeof pb);
        paths[n++] = pb;
    }
    pw_diag d;
    pw_diag_init(&d);
    pw_ruleset *rs = pw_ruleset_load(paths, n, NULL, &d);
    int nerr = 0, nwarn = 0;
    for (int i = 0; i < 10 && r->expect[i]; i++) {
        check_expect(&d, r->name, r->expect[i], r->a);
        if (!strncmp(r->expect[i], "W ", 2))
            nwarn++;
        else
            nerr++;
    }
    if (d.errors != nerr || d.warnings != nwarn) dump_ctx(&d, r->a);
    cr_expect_eq(d.errors, nerr, "row '%s': %d errors, expected %d", r->name, d.errors, nerr);
    cr_expect_eq(d.warnings, nwarn, "row '%s': %d warnings, expected %d", r->name, d.warnings, nwarn);
    if (must_accept)
        cr_expect_not_null(rs, "row '%s' must load", r->name);
    else
        cr_expect_null(rs, "row '%s' must not load", r->name);
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
    rm_tmpdir();
}

/* Load inline text as a.yaml (and b.yaml); the caller destroys. */
static pw_ruleset *load_text(const char *a, const char *b, const pw_rules_conf *conf, pw_diag *d) {
    make_tmpdir();
    char pa[600], pb[600];
    const char *paths[2];
    int n = 0;
    write_file("a.yaml", a, pa, sizeof pa);
    paths[n++] = pa;
    if (b) {
        write_file("b.yaml", b, pb, sizeof pb);
        paths[n++] = pb;
    }
    pw_diag_init(d);
    pw_ruleset *rs = pw_ruleset_load(paths, n, conf, d);
    rm_tmpdir();
    return rs;
}

/* A metric and the head of a rule on it: rule keys start on line 8. */
#define PRE                                                                                                  \
    "metrics:\n"                                                                                             \
    "  - name: leads\n"                                                                                      \
    "    events: [lead.created]\n"                                                                           \
    "    by: [origin, region]\n"                                                                             \
    "    window: 1h\n"                                                                                       \
    "rules:\n"                                                                                               \
    "  - name: r\n"

/* The example of issue 2, verbatim (comments trimmed). */
#define ISSUE_EXAMPLE                                                                                        \
    "metrics:\n"                                                                                             \
    "  - name: leads                  # [a-z_][a-z0-9_]*\n"                                                  \
    "    help: Marketing-qualified leads by channel\n"                                                       \
    "    events: [lead.created]\n"                                                                           \
    "    where: 'origin != \"test\"'\n"                                                                      \
    "    aggregate: count\n"                                                                                 \
    "    by: [origin]\n"                                                                                     \
    "    window: 7d\n"                                                                                       \
    "    resolution: 1d\n"                                                                                   \
    "  - name: won\n"                                                                                        \
    "    events: [deal.won]\n"                                                                               \
    "    by: [origin]\n"                                                                                     \
    "    window: 7d\n"                                                                                       \
    "    resolution: 1d\n"                                                                                   \
    "  - name: lead_quality\n"                                                                               \
    "    events: [lead.created]\n"                                                                           \
    "    aggregate: avg\n"                                                                                   \
    "    value: 'present(name) + present(email) + present(phone)'\n"                                         \
    "    window: 1d\n"                                                                                       \
    "  - name: conversion\n"                                                                                 \
    "    ratio: {numerator: won, denominator: leads}\n"                                                      \
    "  - name: sales_cycle_days\n"                                                                           \
    "    pair: {start: lead.created, end: deal.won, key: mql_id, timeout: 180d}\n"                           \
    "    unit: d\n"                                                                                          \
    "    aggregate: avg\n"                                                                                   \
    "    by: [sr_id]\n"                                                                                      \
    "    window: 90d\n"                                                                                      \
    "rules:\n"                                                                                               \
    "  - name: conversion_low\n"                                                                             \
    "    metric: conversion\n"                                                                               \
    "    match: {origin: paid_search}\n"                                                                     \
    "    below: 0.05\n"                                                                                      \
    "    for: 30m\n"                                                                                         \
    "    min_count: 20\n"                                                                                    \
    "    clear: 0.06\n"                                                                                      \
    "    severity: warning\n"                                                                                \
    "    labels: {team: growth}\n"                                                                           \
    "    annotations: {summary: 'Conversion from {{ labels.origin }} is {{ value }} (limit {{ threshold "    \
    "}})'}\n"                                                                                                \
    "    repeat: 4h\n"                                                                                       \
    "    notify: [ops-webhook]\n"

/* ---- must accept -------------------------------------------------------- */

static const row accept_rows[] = {
    {"empty file", "", NULL, {NULL}},
    {"only comments", "# nothing yet\n# metrics: []\n", NULL, {NULL}},
    {"empty sections", "metrics:\nrules:\n", NULL, {NULL}},
    {"empty lists", "metrics: []\nrules: []\n", NULL, {NULL}},
    {"only a document marker", "---\n", NULL, {NULL}},
    {"the issue's example, as written", ISSUE_EXAMPLE, NULL, {NULL}},
    {"every aggregate",
     "metrics:\n"
     "  - {name: c, events: [x], window: 1h}\n"
     "  - {name: s, events: [x], aggregate: sum, field: amount, window: 1h}\n"
     "  - {name: a, events: [x], aggregate: avg, field: amount, window: 1h}\n"
     "  - {name: mi, events: [x], aggregate: min, field: amount, window: 1h}\n"
     "  - {name: ma, events: [x], aggregate: max, field: amount, window: 1h}\n"
     "  - {name: d, events: [x], aggregate: distinct, field: customer.id, window: 1h}\n"
     "  - {name: dv, events: [x], aggregate: distinct, value: 'a + 1', window: 1h}\n"
     "  - {name: q, events: [x], aggregate: quantile, field: amount, q: 0.99, window: 1h}\n"
     "  - {name: l, events: [x], aggregate: last, value: 'amount * 2', window: 1h}\n",
     NULL,
     {NULL}},
    {"events as a single string",
     "metrics:\n  - {name: a, events: lead.created, window: 1h}\n",
     NULL,
     {NULL}},
    {"durations in every unit and combined",
     "metrics:\n"
     "  - {name: a, events: [x], window: 600ms, resolution: 10ms}\n"
     "  - {name: b, events: [x], window: 90s}\n"
     "  - {name: c, events: [x], window: 1h30m}\n"
     "  - {name: d, events: [x], window: 2w, resolution: 1d}\n",
     NULL,
     {NULL}},
    {"window equal to resolution",
     "metrics:\n  - {name: a, events: [x], window: 1h, resolution: 1h}\n",
     NULL,
     {NULL}},
    {"10000 buckets is the limit, with a memory warning",
     "metrics:\n"
     "  - name: a\n"
     "    events: [x]\n"
     "    window: 10000m\n"
     "    resolution: 1m\n",
     NULL,
     {"W 5:17 10000 buckets per series (more than 1440 costs memory"}},
    {"1440 buckets: no warning",
     "metrics:\n  - {name: a, events: [x], window: 1d, resolution: 1m}\n",
     NULL,
     {NULL}},
    {"eight by fields, dotted paths",
     "metrics:\n  - {name: a, events: [x], window: 1h, by: [a, b, c, d, e, f, g.h, I_9.j]}\n",
     NULL,
     {NULL}},
    {"duplicate event type is a warning",
     "metrics:\n  - name: a\n    events: [x, y, x]\n    window: 1h\n",
     NULL,
     {"W 3:20 event type 'x' is listed twice"}},
    {"ratio before its parts, parts in another file (forward references)",
     "metrics:\n  - name: conv\n    ratio: {numerator: won, denominator: leads}\n",
     "metrics:\n"
     "  - {name: leads, events: [lead.created], window: 7d, by: [origin]}\n"
     "  - {name: won, events: [deal.won], window: 7d, by: [origin]}\n",
     {NULL}},
    {"ratio over pair metrics",
     "metrics:\n"
     "  - {name: p, pair: {start: a, end: b, key: k}, window: 1h}\n"
     "  - {name: q, pair: {start: a, end: c, key: k}, window: 1h, aggregate: count}\n"
     "  - {name: r, ratio: {numerator: p, denominator: q}}\n",
     NULL,
     {NULL}},
    {"pair with where, quantile, every unit",
     "metrics:\n"
     "  - {name: p1, pair: {start: a, end: b, key: k}, window: 1h, unit: s}\n"
     "  - {name: p2, pair: {start: a, end: b, key: k}, window: 1h, unit: m, where: 'x == 1'}\n"
     "  - {name: p3, pair: {start: a, end: b, key: k}, window: 1h, unit: h, aggregate: quantile, q: 0.5}\n"
     "  - {name: p4, pair: {start: a, end: b, key: k.id, timeout: 2h}, window: 1h, unit: d, aggregate: "
     "max}\n",
     NULL,
     {NULL}},
    {"every condition and option",
     PRE "    metric: leads\n"
         "    above: 10\n"
         "    clear: 10\n"
         "    for: 0s\n"
         "    repeat: 0s\n"
         "    min_count: 0\n"
         "    severity: critical\n"
         "    description: free text, kept nowhere\n"
         "  - {name: r2, metric: leads, below: -1.5, clear: 2e3, severity: info}\n"
         "  - {name: r3, metric: leads, absent: 15m, match: {origin: '', region: 42}}\n"
         "  - {name: r4, metric: leads, outside: [-1, 1e2], labels: {Team_1: x}, notify: []}\n"
         "  - name: r5\n"
         "    metric: leads\n"
         "    above: 1\n"
         "    labels: {team: growth}\n"
         "    annotations:\n"
         "      summary: '{{value}} {{ threshold }} {{rule}} {{ metric }} {{severity}} {{state}}'\n"
         "      detail: '{{ labels.origin }} {{ labels.region }} {{ labels.team }} }} literal'\n",
     NULL,
     {NULL}},
    {"anchors and aliases",
     "metrics:\n"
     "  - {name: a, events: &ev [x, y], window: &w 1h, by: &by [origin]}\n"
     "  - {name: b, events: *ev, window: *w, by: *by, where: &f 'origin != \"test\"'}\n"
     "  - {name: c, events: *ev, window: *w, where: *f}\n",
     NULL,
     {NULL}},
};

Test(ruleset, must_accept) {
    for (size_t i = 0; i < sizeof accept_rows / sizeof accept_rows[0]; i++) run_row(&accept_rows[i], 1);
}

/* ---- must reject -------------------------------------------------------- */

static const row reject_rows[] = {
    /* top level */
    {"unknown top-level key",
     "metric:\n  - name: a\n",
     NULL,
     {"1:1 unknown key 'metric' in the top level (did you mean 'metrics'?)"}},
    {"unknown top-level key, no suggestion",
     "alerts: []\n",
     NULL,
     {"1:1 unknown key 'alerts' in the top level (expected metrics, rules)"}},
    {"root is a list",
     "- name: a\n",
     NULL,
     {"1:1 expected a mapping with metrics: and/or rules:, got a list"}},
    {"metrics is a mapping",
     "metrics:\n  name: a\n",
     NULL,
     {"2:3 expected a list of metrics, got a mapping"}},
    {"a metric is a string",
     "metrics:\n  - leads\n",
     NULL,
     {"2:5 expected a metric (a mapping with name:, events:, window: ...), got a string 'leads'"}},
    {"a rule is a list", "rules:\n  - [a]\n", NULL, {"2:5 expected a rule (a mapping with name:"}},
    {"two documents", "metrics: []\n---\nrules: []\n", NULL, {"2:1 a second YAML document"}},

    /* YAML syntax */
    {"tab indentation",
     "metrics:\n  - name: a\n\tevents: [x]\n",
     NULL,
     {"3:1 YAML: found a tab character that violates indentation"}},
    {"key indented too far",
     "metrics:\n  - name: a\n    events: [x]\n     window: 1h\n",
     NULL,
     {"4:6 YAML: did not find expected key (while parsing a block mapping at 2:5); check the indentation"}},
    {"unclosed flow list",
     "metrics:\n  - name: a\n    events: [x\n    window: 1h\n",
     NULL,
     {"4:11 YAML: did not find expected ',' or ']'"}},
    {"unclosed quote", "metrics:\n  - name: 'a\n", NULL, {"3:1 YAML: found unexpected end of stream"}},
    {"colon in a plain value",
     "rules:\n  - name: a\n    description: note: this breaks\n",
     NULL,
     {"3:22 YAML: mapping values are not allowed in this context; quote values that contain ': '"}},
    {"backtick", "rules:\n  - name: `a`\n", NULL, {"2:11 YAML: found character that cannot start any token"}},
    {"undefined alias", "metrics: *nope\n", NULL, {"1:10 YAML: found undefined alias"}},
    {"merge key",
     "metrics:\n  - <<: {name: a}\n    events: [x]\n    window: 1h\n",
     NULL,
     {"2:5 YAML merge keys ('<<') are not supported", "2:5 metric has no name"}},

    /* names */
    {"missing metric name",
     "metrics:\n  - events: [x]\n    window: 1h\n",
     NULL,
     {"2:5 metric has no name (add name: my_metric)"}},
    {"bad metric names",
     "metrics:\n"
     "  - {name: Leads, events: [x], window: 1h}\n"
     "  - {name: 1leads, events: [x], window: 1h}\n"
     "  - {name: lead-count, events: [x], window: 1h}\n"
     "  - {name: [a], events: [x], window: 1h}\n",
     NULL,
     {"2:12 bad metric name 'Leads' (use lowercase letters, digits and _, not starting with a digit)",
      "3:12 bad metric name '1leads'", "4:12 bad metric name 'lead-count'",
      "5:12 expected a name, got a list"}},
    {"duplicate metric in one file",
     "metrics:\n"
     "  - {name: leads, events: [x], window: 1h}\n"
     "  - name: leads\n"
     "    events: [y]\n"
     "    window: 1h\n",
     NULL,
     {"3:11 duplicate metric 'leads' (first defined at "}},
    {"duplicate metric across files",
     "metrics:\n  - name: leads\n    events: [x]\n    window: 1h\n",
     "metrics:\n  - name: other\n    events: [x]\n    window: 1h\n  - name: leads\n    events: [x]\n    "
     "window: 1h\n",
     {"b.yaml:5:11 duplicate metric 'leads' (first defined at /tmp/pw_test_ruleset_"}},
    {"duplicate rule",
     PRE "    metric: leads\n    above: 1\n  - {name: r, metric: leads, above: 2}\n",
     NULL,
     {"10:12 duplicate rule 'r' (first defined at "}},
    {"bad rule name",
     PRE "    metric: leads\n    above: 1\n  - {name: Rule, metric: leads, above: 2}\n",
     NULL,
     {"10:12 bad rule name 'Rule'"}},
    {"a name too long",
     "metrics:\n  - {name: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, events: [x], window: 1h}\n",
     NULL,
     {"2:12 metric name is longer than 128 characters"}},

    /* metric keys */
    {"misspelt key",
     "metrics:\n  - name: a\n    events: [x]\n    windw: 1h\n    window: 1h\n",
     NULL,
     {"4:5 unknown key 'windw' in metric (did you mean 'window'?)"}},
    {"unknown key without a suggestion",
     "metrics:\n  - {name: a, events: [x], window: 1h, colour: red}\n",
     NULL,
     {"2:40 unknown key 'colour' in metric (expected name, help, events, where, aggregate, field, value, q, "
      "by, "
      "window, resolution, ratio, pair, unit)"}},
    {"duplicate key",
     "metrics:\n  - name: a\n    events: [x]\n    window: 1h\n    window: 2h\n",
     NULL,
     {"5:5 duplicate key 'window' in metric (first at 4:5)"}},
    {"a key that is a list",
     "metrics:\n  - name: a\n    events: [x]\n    window: 1h\n    ? [k]\n    : v\n",
     NULL,
     {"5:7 expected a key name in metric, got a list"}},
    {"help is a list",
     "metrics:\n  - {name: a, help: [x], events: [x], window: 1h}\n",
     NULL,
     {"2:21 expected a help text, got a list"}},

    /* events */
    {"missing events",
     "metrics:\n  - name: a\n    window: 1h\n",
     NULL,
     {"2:11 metric 'a' needs events (the event types it consumes"}},
    {"events is a mapping",
     "metrics:\n  - name: a\n    events: {x: 1}\n    window: 1h\n",
     NULL,
     {"3:13 expected a list of event types, got a mapping"}},
    {"events is empty",
     "metrics:\n  - name: a\n    events: []\n    window: 1h\n",
     NULL,
     {"3:13 events is empty"}},
    {"an event type is a list or empty",
     "metrics:\n  - name: a\n    events: [x, [y], '']\n    window: 1h\n",
     NULL,
     {"3:17 expected an event type, got a list", "3:22 empty event type"}},

    /* aggregate, field, value, q */
    {"unknown aggregate",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: p99\n    window: 1h\n",
     NULL,
     {"4:16 unknown aggregate 'p99' (expected count, sum, avg, min, max, distinct, quantile, last; for a "
      "percentile write aggregate: quantile and q: 0.99)"}},
    {"misspelt aggregate",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: summ\n    field: x\n"
     "    window: 1h\n",
     NULL,
     {"4:16 unknown aggregate 'summ' (did you mean 'sum'? expected count, sum, avg, min, max, distinct, "
      "quantile, "
      "last)"}},
    {"aggregate is a number",
     "metrics:\n  - {name: a, events: [x], aggregate: 5, window: 1h}\n",
     NULL,
     {"2:39 unknown aggregate '5'"}},
    {"sum without field",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: sum\n    window: 1h\n",
     NULL,
     {"4:16 aggregate sum needs a field or a value"}},
    {"every aggregate that needs a field",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1h, aggregate: avg}\n"
     "  - {name: b, events: [x], window: 1h, aggregate: min}\n"
     "  - {name: c, events: [x], window: 1h, aggregate: max}\n"
     "  - {name: d, events: [x], window: 1h, aggregate: last}\n"
     "  - {name: e, events: [x], window: 1h, aggregate: distinct}\n"
     "  - {name: f, events: [x], window: 1h, aggregate: quantile, q: 0.5}\n",
     NULL,
     {"2:51 aggregate avg needs a field or a value", "3:51 aggregate min needs", "4:51 aggregate max needs",
      "5:51 aggregate last needs",
      "6:51 aggregate distinct needs a field or a value (what to count distinct values",
      "7:51 aggregate quantile needs a field"}},
    {"count with a field",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: count\n    field: amount\n"
     "    window: 1h\n",
     NULL,
     {"5:5 aggregate count takes no field (it counts events; to count distinct values use aggregate: "
      "distinct)"}},
    {"default count with a value",
     "metrics:\n  - name: a\n    events: [x]\n    value: 'amount * 2'\n"
     "    window: 1h\n",
     NULL,
     {"4:5 'value' needs an aggregate: the default aggregate, count, takes no value (add e.g. aggregate: "
      "sum)"}},
    {"field and value together",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: sum\n    field: amount\n"
     "    value: 'amount * 2'\n    window: 1h\n",
     NULL,
     {"6:5 field and value are mutually exclusive (use one)"}},
    {"bad field paths",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1h, aggregate: sum, field: a..b}\n"
     "  - {name: b, events: [x], window: 1h, aggregate: sum, field: 'contact-email'}\n"
     "  - {name: c, events: [x], window: 1h, aggregate: sum, field: 1st}\n"
     "  - {name: d, events: [x], window: 1h, aggregate: sum, field: [a]}\n",
     NULL,
     {"2:63 bad field path 'a..b' (expected field names of letters, digits and _ joined by '.'",
      "3:63 bad field path 'contact-email'", "4:63 bad field path '1st'",
      "5:63 expected a field path, got a list"}},
    {"quantile without q",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: quantile\n    field: x\n"
     "    window: 1h\n",
     NULL,
     {"4:16 aggregate quantile needs q (like q: 0.9 for the 90th percentile)"}},
    {"q out of range",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1h, aggregate: quantile, field: x, q: 0}\n"
     "  - {name: b, events: [x], window: 1h, aggregate: quantile, field: x, q: 1}\n"
     "  - {name: c, events: [x], window: 1h, aggregate: quantile, field: x, q: -0.5}\n"
     "  - {name: d, events: [x], window: 1h, aggregate: quantile, field: x, q: 90}\n"
     "  - {name: e, events: [x], window: 1h, aggregate: quantile, field: x, q: '0.9'}\n"
     "  - {name: f, events: [x], window: 1h, aggregate: quantile, field: x, q: high}\n",
     NULL,
     {"2:74 q must be between 0 and 1 (exclusive), got 0",
      "3:74 q must be between 0 and 1 (exclusive), got 1", "4:74 got -0.5",
      "5:74 got 90 (for the 90th percentile write q: 0.9)",
      "6:74 expected a number between 0 and 1, got the quoted string \"0.9\" (write numbers without quotes)",
      "7:74 expected a number between 0 and 1, got a string 'high'"}},
    {"q without quantile",
     "metrics:\n  - {name: a, events: [x], window: 1h, aggregate: sum, field: x, q: 0.5}\n",
     NULL,
     {"2:66 q is only allowed with aggregate: quantile"}},

    /* where / value columns */
    {"where syntax error, plain scalar",
     "metrics:\n  - name: a\n    events: [x]\n    where: origin == == 1\n"
     "    window: 1h\n",
     NULL,
     {"4:22 bad where expression: "}},
    {"where syntax error, single quotes",
     "metrics:\n  - name: a\n    events: [x]\n"
     "    where: 'origin != \"test\" and #'\n    window: 1h\n",
     NULL,
     {"4:34 bad where expression: unexpected character '#'"}},
    {"where syntax error, double quotes with escapes",
     "metrics:\n  - name: a\n    events: [x]\n"
     "    where: \"a == \\\"b\\\" and #\"\n    window: 1h\n",
     NULL,
     {"4:28 bad where expression: unexpected character"}},
    {"where syntax error, '' inside single quotes",
     "metrics:\n  - name: a\n    events: [x]\n"
     "    where: 'a == ''x'' &&'\n    window: 1h\n",
     NULL,
     {"4:24 bad where expression: unexpected '&&'"}},
    {"where syntax error, block scalar",
     "metrics:\n  - name: a\n    events: [x]\n    where: |\n"
     "      origin != \"test\" and\n      amount > = 5\n    window: 1h\n",
     NULL,
     {"6:16 bad where expression"}},
    {"where syntax error, folded scalar",
     "metrics:\n  - name: a\n    events: [x]\n    where: >\n"
     "      origin != \"test\"\n      and amount ! 5\n    window: 1h\n",
     NULL,
     {"6:18 bad where expression: unexpected '!'"}},
    {"where syntax error in a flow mapping",
     "metrics:\n  - {name: a, events: [x], where: 'a = 1', window: 1h}\n",
     NULL,
     {"2:38 bad where expression: unexpected '=' (did you mean '=='?)"}},
    {"where with an anchor",
     "metrics:\n  - name: a\n    events: [x]\n    where: &f 'a == 1 +'\n    window: 1h\n",
     NULL,
     {"4:24 bad where expression"}},
    {"where is a list",
     "metrics:\n  - {name: a, events: [x], where: [a], window: 1h}\n",
     NULL,
     {"2:35 expected an expression string, got a list"}},
    {"empty where",
     "metrics:\n  - {name: a, events: [x], where: '', window: 1h}\n",
     NULL,
     {"2:36 bad where expression: empty expression"}},
    {"value syntax error",
     "metrics:\n  - name: a\n    events: [x]\n    aggregate: avg\n"
     "    value: 'present(name) + present(email'\n    window: 1h\n",
     NULL,
     {"5:42 bad value expression: expected ')'"}},

    /* by */
    {"nine by fields",
     "metrics:\n  - {name: a, events: [x], window: 1h, by: [a, b, c, d, e, f, g, h, i]}\n",
     NULL,
     {"2:69 by has 9 fields; at most 8 are allowed"}},
    {"duplicate and bad by fields",
     "metrics:\n  - {name: a, events: [x], window: 1h, by: [a, b, a, 'x y']}\n",
     NULL,
     {"2:51 duplicate field 'a' in by", "2:54 bad by field 'x y'"}},
    {"by is a string",
     "metrics:\n  - {name: a, events: [x], window: 1h, by: origin}\n",
     NULL,
     {"2:44 expected a list of field paths, like [origin, customer.region], got a string 'origin'"}},

    /* window, resolution */
    {"missing window",
     "metrics:\n  - name: a\n    events: [x]\n",
     NULL,
     {"2:11 metric 'a' needs a window (like window: 1h)"}},
    {"window not a multiple of resolution",
     "metrics:\n  - name: a\n    events: [x]\n    window: 7d\n"
     "    resolution: 5h\n",
     NULL,
     {"5:17 window 7d is not a multiple of resolution 5h"}},
    {"resolution bigger than window",
     "metrics:\n  - {name: a, events: [x], window: 1h, resolution: 2h}\n",
     NULL,
     {"2:52 window 1h is not a multiple of resolution 2h"}},
    {"default resolution not whole ms",
     "metrics:\n  - name: a\n    events: [x]\n    window: 1001ms\n",
     NULL,
     {"4:13 window 1001ms cannot be split into 60 buckets of whole milliseconds; set resolution explicitly"}},
    {"too many buckets",
     "metrics:\n  - name: a\n    events: [x]\n    window: 7d\n    resolution: 1m\n",
     NULL,
     {"5:17 window 7d / resolution 1m makes 10080 buckets per series (at most 10000"}},
    {"negative durations",
     "metrics:\n  - name: a\n    events: [x]\n    window: -7d\n    resolution: -1h\n",
     NULL,
     {"4:13 negative duration '-7d'", "5:17 negative duration '-1h'"}},
    {"zero durations",
     "metrics:\n  - {name: a, events: [x], window: 0s}\n"
     "  - {name: b, events: [x], window: 1h, resolution: 0m}\n",
     NULL,
     {"2:36 window must be greater than 0", "3:52 resolution must be greater than 0"}},
    {"bad durations",
     "metrics:\n"
     "  - {name: a, events: [x], window: 7}\n"
     "  - {name: b, events: [x], window: 7days}\n"
     "  - {name: c, events: [x], window: [7d]}\n"
     "  - {name: d, events: [x], window: ''}\n",
     NULL,
     {"2:36 duration '7' has no unit (write e.g. 7s, 7m, 7h or 7d)",
      "3:36 bad duration '7days' (expected a number and a unit: ms, s, m, h, d or w, like 30s, 1h30m, 7d)",
      "4:36 expected a duration string like 7d, got a list", "5:36 bad duration ''"}},
    {"resolution without window",
     "metrics:\n  - {name: a, events: [x], resolution: 1x}\n",
     NULL,
     {"2:12 metric 'a' needs a window", "2:40 bad duration '1x'"}},

    /* ratios */
    {"ratio part unknown",
     "metrics:\n"
     "  - {name: leads, events: [x], window: 1h}\n"
     "  - {name: won, events: [y], window: 1h}\n"
     "  - name: conv\n"
     "    ratio: {numerator: wonn, denominator: lead_count}\n",
     NULL,
     {"5:24 unknown metric 'wonn' in ratio numerator (did you mean 'won'?)",
      "5:43 unknown metric 'lead_count' in ratio denominator"}},
    {"ratio windows differ",
     "metrics:\n"
     "  - {name: leads, events: [x], window: 30d}\n"
     "  - {name: won, events: [y], window: 7d}\n"
     "  - name: conv\n"
     "    ratio: {numerator: won, denominator: leads}\n",
     NULL,
     {"5:12 ratio parts have different windows: numerator 'won' has 7d, denominator 'leads' has 30d"}},
    {"ratio resolutions differ",
     "metrics:\n"
     "  - {name: leads, events: [x], window: 1d, resolution: 1h}\n"
     "  - {name: won, events: [y], window: 1d}\n"
     "  - name: conv\n"
     "    ratio:\n"
     "      numerator: won\n"
     "      denominator: leads\n",
     NULL,
     {"6:7 ratio parts have different resolutions: numerator 'won' has 24m (default), denominator 'leads' "
      "has 1h"}},
    {"ratio by differs (order matters)",
     "metrics:\n"
     "  - {name: leads, events: [x], window: 1d, by: [origin, region]}\n"
     "  - {name: won, events: [y], window: 1d, by: [region, origin]}\n"
     "  - {name: conv, ratio: {numerator: won, denominator: leads}}\n",
     NULL,
     {"4:25 ratio parts have different by: numerator 'won' has [region, origin], denominator 'leads' has "
      "[origin, region]"}},
    {"ratio of a ratio",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1d}\n"
     "  - {name: b, ratio: {numerator: a, denominator: a}}\n"
     "  - {name: c, ratio: {numerator: b, denominator: a}}\n",
     NULL,
     {"4:34 ratio numerator 'b' is itself a ratio (the parts of a ratio must be plain or pair metrics)"}},
    {"ratio with its own window, by and events",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1d}\n"
     "  - name: b\n"
     "    ratio: {numerator: a, denominator: a}\n"
     "    window: 1d\n"
     "    by: [x]\n"
     "    events: [x]\n"
     "    aggregate: sum\n",
     NULL,
     {"5:5 'window' is not allowed in a ratio (a ratio takes window, resolution and by from its parts)",
      "6:5 'by' is not allowed in a ratio", "7:5 'events' is not allowed in a ratio",
      "8:5 'aggregate' is not allowed in a ratio"}},
    {"ratio shapes",
     "metrics:\n"
     "  - {name: a, ratio: [x]}\n"
     "  - {name: b, ratio: {numerator: a}}\n"
     "  - {name: c, ratio: {numerater: a, denominator: a}}\n",
     NULL,
     {"2:22 expected a mapping {numerator: METRIC, denominator: METRIC}, got a list",
      "3:22 ratio needs a denominator", "4:23 unknown key 'numerater' in ratio (did you mean 'numerator'?)",
      "4:22 ratio needs a numerator"}},
    {"ratio part broken elsewhere: no follow-on error",
     "metrics:\n"
     "  - {name: a, events: [x], window: 7x}\n"
     "  - {name: b, events: [x], window: 1d}\n"
     "  - {name: c, ratio: {numerator: a, denominator: b}}\n",
     NULL,
     {"2:36 bad duration '7x'"}},

    /* pairs */
    {"pair missing parts",
     "metrics:\n  - name: p\n    pair: {start: a}\n    window: 1h\n",
     NULL,
     {"3:11 pair needs end", "3:11 pair needs key"}},
    {"pair misspelt key and bad timeout",
     "metrics:\n"
     "  - name: p\n"
     "    pair: {start: a, end: b, key: k, timout: 1h}\n"
     "  - {name: q, pair: {start: a, end: b, key: k, timeout: -1h}, window: 1h}\n"
     "  - {name: r, pair: {start: a, end: a, key: 'k k'}, window: 1h}\n",
     NULL,
     {"2:11 metric 'p' needs a window", "3:38 unknown key 'timout' in pair (did you mean 'timeout'?)",
      "4:57 negative duration '-1h'", "5:37 pair start and end are the same event type 'a'",
      "5:45 bad pair key 'k k'"}},
    {"pair with events, field, distinct",
     "metrics:\n"
     "  - name: p\n"
     "    pair: {start: a, end: b, key: k}\n"
     "    events: [a]\n"
     "    field: x\n"
     "    aggregate: distinct\n"
     "    window: 1h\n",
     NULL,
     {"4:5 'events' is not allowed in a pair metric", "5:5 'field' is not allowed in a pair metric",
      "6:16 aggregate distinct does not apply to a pair metric"}},
    {"pair and ratio together",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1h}\n"
     "  - {name: p, ratio: {numerator: a, denominator: a}, pair: {start: a, end: b, key: k}}\n",
     NULL,
     {"3:54 a metric is either a ratio or a pair, not both"}},
    {"unit",
     "metrics:\n"
     "  - {name: a, events: [x], window: 1h, unit: s}\n"
     "  - {name: p, pair: {start: a, end: b, key: k}, window: 1h, unit: w}\n",
     NULL,
     {"2:40 'unit' is only allowed in a pair metric", "3:67 unknown unit 'w' (expected s, m, h or d)"}},
    {"pair is a list",
     "metrics:\n  - {name: p, pair: [a, b], window: 1h}\n",
     NULL,
     {"2:21 expected a mapping {start: EVENT, end: EVENT, key: FIELD, timeout: DURATION}, got a list"}},

    /* rules: metric, conditions */
    {"rule on a missing metric",
     PRE "    metric: lead\n    above: 5\n",
     NULL,
     {"8:13 unknown metric 'lead' (did you mean 'leads'?)"}},
    {"rule without metric", PRE "    above: 5\n", NULL, {"7:11 rule 'r' needs a metric"}},
    {"rule without a condition",
     PRE "    metric: leads\n    for: 5m\n",
     NULL,
     {"7:11 rule needs exactly one of above, below, absent, outside"}},
    {"rule without name or condition",
     "rules:\n  - metric: x\n",
     NULL,
     {"2:5 rule has no name", "2:5 rule needs exactly one of above", "2:13 unknown metric 'x'"}},
    {"two and three conditions",
     PRE "    metric: leads\n    above: 5\n    below: 1\n"
         "  - {name: r2, metric: leads, absent: 1h, outside: [1, 2], above: 3}\n",
     NULL,
     {"10:5 rule has more than one condition: 'below' besides 'above'",
      "11:43 rule has more than one condition: 'outside' besides 'absent'",
      "11:60 rule has more than one condition: 'above' besides 'absent'"}},
    {"thresholds that are not numbers",
     PRE "    metric: leads\n    above: '5'\n"
         "  - {name: r2, metric: leads, below: low}\n  - {name: r3, metric: leads, above: [1]}\n",
     NULL,
     {"9:12 expected a number, got the quoted string \"5\" (write numbers without quotes)",
      "10:38 expected a number, got a string 'low'", "11:38 expected a number, got a list"}},
    {"absent",
     PRE "    metric: leads\n    absent: 0s\n  - {name: r2, metric: leads, absent: 30}\n"
         "  - {name: r3, metric: leads, absent: -1m}\n",
     NULL,
     {"9:13 absent must be greater than 0", "10:39 duration '30' has no unit",
      "11:39 negative duration '-1m'"}},
    {"outside",
     PRE "    metric: leads\n    outside: [5, 1]\n"
         "  - {name: r2, metric: leads, outside: [1]}\n"
         "  - {name: r3, metric: leads, outside: 5}\n"
         "  - {name: r4, metric: leads, outside: [a, 1]}\n"
         "  - {name: r5, metric: leads, outside: [2, 2]}\n",
     NULL,
     {"9:18 outside [low, high] needs low < high, got [5, 1]",
      "10:40 outside needs two numbers [low, high], got 1 "
      "item",
      "11:40 expected a list of two numbers [low, high], got a number '5'",
      "12:41 expected a number, got a string 'a'", "13:44 outside [low, high] needs low < high, got [2, 2]"}},

    /* clear */
    {"clear on the wrong side",
     PRE "    metric: leads\n    above: 0.8\n    clear: 0.9\n"
         "  - {name: r2, metric: leads, below: 0.05, clear: 0.04}\n",
     NULL,
     {"10:12 clear 0.9 is above the threshold 0.8: an above rule resolves when the value falls to clear or "
      "lower, "
      "so clear must be <= 0.8",
      "11:51 clear 0.04 is below the threshold 0.05: a below rule resolves when the value rises to clear or "
      "higher, "
      "so clear must be >= 0.05"}},
    {"clear without above/below",
     PRE "    metric: leads\n    absent: 1h\n    clear: 1\n"
         "  - {name: r2, metric: leads, outside: [1, 2], clear: 1}\n",
     NULL,
     {"10:5 clear is only allowed with above or below", "11:48 clear is only allowed with above or below"}},
    {"clear not a number",
     PRE "    metric: leads\n    above: 1\n    clear: none\n",
     NULL,
     {"10:12 expected a number, got a string 'none'"}},

    /* for, repeat, min_count, severity */
    {"for and repeat",
     PRE "    metric: leads\n    above: 1\n    for: -5m\n    repeat: 4 hours\n",
     NULL,
     {"10:10 negative duration '-5m'", "11:13 bad duration '4 hours'"}},
    {"min_count",
     PRE "    metric: leads\n    above: 1\n    min_count: -1\n"
         "  - {name: r2, metric: leads, above: 1, min_count: 2.5}\n"
         "  - {name: r3, metric: leads, above: 1, min_count: many}\n",
     NULL,
     {"10:16 expected a whole number >= 0, got a number '-1'",
      "11:52 expected a whole number >= 0, got a number '2.5'",
      "12:52 expected a whole number >= 0, got a string 'many'"}},
    {"severity",
     PRE "    metric: leads\n    above: 1\n    severity: critcal\n"
         "  - {name: r2, metric: leads, above: 1, severity: page}\n",
     NULL,
     {"10:15 unknown severity 'critcal' (did you mean 'critical'?)",
      "11:51 unknown severity 'page' (expected info, warning or critical)"}},
    {"misspelt rule key",
     PRE "    metric: leads\n    above: 1\n    severty: info\n",
     NULL,
     {"10:5 unknown key 'severty' in rule (did you mean 'severity'?)"}},
    {"description is a mapping",
     PRE "    metric: leads\n    above: 1\n    description: {a: b}\n",
     NULL,
     {"10:18 expected a description text, got a mapping"}},

    /* match, labels, annotations, notify */
    {"match on an unknown label",
     PRE "    metric: leads\n    above: 1\n    match: {orign: x, region: EMEA}\n",
     NULL,
     {"10:13 match on unknown label 'orign' (did you mean 'origin'? metric 'leads' has by: origin, region)"}},
    {"match on an unrelated label",
     PRE "    metric: leads\n    above: 1\n    match: {campaign: x}\n",
     NULL,
     {"10:13 match on unknown label 'campaign' (metric 'leads' has by: origin, region)"}},
    {"match on a metric without by",
     "metrics:\n  - {name: a, events: [x], window: 1h}\n"
     "rules:\n  - {name: r, metric: a, above: 1, match: {origin: x}}\n",
     NULL,
     {"4:44 match on label 'origin', but metric 'a' has no labels (it has no by)"}},
    {"match shapes",
     PRE "    metric: leads\n    above: 1\n    match: [origin]\n"
         "  - {name: r2, metric: leads, above: 1, match: {origin: }}\n"
         "  - {name: r3, metric: leads, above: 1, match: {origin: [a]}}\n"
         "  - {name: r4, metric: leads, above: 1, match: {origin: a, origin: b}}\n",
     NULL,
     {"10:12 expected a mapping of label: value, got a list",
      "11:57 expected a string for 'origin' in match, got nothing (write \"\" to match a missing label)",
      "12:57 expected a string for 'origin' in match, got a list",
      "13:60 duplicate key 'origin' in match (first at 13:49)"}},
    {"labels",
     PRE "    metric: leads\n    above: 1\n    labels: {team-name: x, origin: y, team: [z]}\n",
     NULL,
     {"10:14 bad name 'team-name' in labels",
      "10:28 label 'origin' is already a series label of metric 'leads' "
      "(from its by); pick another name",
      "10:45 expected a string for 'team' in labels, got a list"}},
    {"annotations",
     PRE "    metric: leads\n    above: 1\n    labels: {team: growth}\n"
         "    annotations:\n"
         "      summary: 'Leads from {{ labels.orign }} at {{ value }}'\n"
         "      detail: \"{{ valeu }} for {{ labels.team }}\"\n"
         "      runbook: '{{ origin }}'\n"
         "      open: 'limit {{ threshold'\n"
         "      empty: '{{}}'\n"
         "      bad-name: x\n",
     NULL,
     {"12:28 in annotation 'summary': unknown label 'orign' (did you mean 'labels.origin'?)",
      "13:16 in annotation 'detail': unknown placeholder 'valeu'",
      "14:17 in annotation 'runbook': unknown placeholder 'origin' (did you mean 'labels.origin'?)",
      "15:20 in annotation 'open': unterminated '{{'", "16:15 in annotation 'empty': empty placeholder",
      "17:7 bad name 'bad-name' in annotations"}},
    {"annotation templates in block scalars",
     PRE "    metric: leads\n    above: 1\n"
         "    annotations:\n"
         "      summary: |\n"
         "        Leads are high.\n"
         "        Value: {{ value }} from {{ labels.nope }}\n",
     NULL,
     {"13:33 in annotation 'summary': unknown label 'nope' (labels here: origin, region)"}},
    {"notify",
     PRE "    metric: leads\n    above: 1\n    notify: ops-webhook\n"
         "  - {name: r2, metric: leads, above: 1, notify: [a, [b]]}\n",
     NULL,
     {"10:13 expected a list of sink names, like [ops-webhook], got a string 'ops-webhook'",
      "11:53 expected a sink name, got a list"}},

    /* several files, every problem */
    {"problems in two files are all reported",
     "metrics:\n  - name: a\n    events: [x]\n    window: 1x\n",
     "rules:\n  - name: r\n    metric: b\n    above: x\n",
     {"4:13 bad duration '1x'", "b.yaml:3:13 unknown metric 'b'",
      "b.yaml:4:12 expected a number, got a string 'x'"}},
    {"a rule in another file on an unknown metric",
     "metrics:\n  - {name: leads, events: [x], window: 1h}\n",
     "rules:\n  - {name: r, metric: leeds, above: 1}\n",
     {"b.yaml:2:23 unknown metric 'leeds' (did you mean 'leads'?)"}},
};

Test(ruleset, must_reject) {
    for (size_t i = 0; i < sizeof reject_rows / sizeof reject_rows[0]; i++) run_row(&reject_rows[i], 0);
}

/* ---- what a loaded set holds -------------------------------------------- */

Test(ruleset, contents_of_the_issue_example) {
    pw_diag d;
    pw_ruleset *rs = load_text(ISSUE_EXAMPLE, NULL, NULL, &d);
    cr_assert_not_null(rs);
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(rs->nmetrics, 5);
    cr_assert_eq(rs->nrules, 1);
    cr_assert_eq(rs->nfiles, 1);

    int li = pw_ruleset_metric_index(rs, "leads");
    const pw_metric_def *leads = &rs->metrics[li];
    cr_assert_eq(leads->kind, PW_METRIC_PLAIN);
    cr_assert_str_eq(leads->help, "Marketing-qualified leads by channel");
    cr_assert_eq(leads->nevents, 1);
    cr_assert_str_eq(leads->events[0], "lead.created");
    cr_assert_not_null(leads->where);
    cr_assert_str_eq(pw_expr_source(leads->where), "origin != \"test\"");
    cr_assert_eq(leads->agg, PW_AGG_COUNT);
    cr_assert_eq(leads->field_slot, -1);
    cr_assert_eq(leads->nby, 1);
    cr_assert_str_eq(leads->by[0], "origin");
    cr_assert_str_eq(pw_fieldset_path(rs->fields, leads->by_slots[0]), "origin");
    cr_assert_eq(leads->window_ms, 7 * PW_MS_PER_D);
    cr_assert_eq(leads->res_ms, PW_MS_PER_D);
    cr_assert_eq(leads->nbuckets, 7);
    cr_assert_eq(leads->loc.line, 2);
    cr_assert_eq(leads->loc.col, 11);

    const pw_metric_def *q = &rs->metrics[pw_ruleset_metric_index(rs, "lead_quality")];
    cr_assert_eq(q->agg, PW_AGG_AVG);
    cr_assert_not_null(q->value);
    cr_assert_eq(q->res_ms, PW_MS_PER_D / 60); /* default: window / 60 */
    cr_assert_eq(q->nbuckets, 60);

    int ci = pw_ruleset_metric_index(rs, "conversion");
    const pw_metric_def *conv = &rs->metrics[ci];
    cr_assert_eq(conv->kind, PW_METRIC_RATIO);
    cr_assert_eq(conv->num_idx, pw_ruleset_metric_index(rs, "won"));
    cr_assert_eq(conv->den_idx, li);
    cr_assert_lt(conv->num_idx, ci);
    cr_assert_lt(conv->den_idx, ci);
    cr_assert_eq(conv->window_ms, 7 * PW_MS_PER_D); /* copied from the parts */
    cr_assert_eq(conv->res_ms, PW_MS_PER_D);
    cr_assert_eq(conv->nby, 1);
    cr_assert_str_eq(conv->by[0], "origin");

    const pw_metric_def *p = &rs->metrics[pw_ruleset_metric_index(rs, "sales_cycle_days")];
    cr_assert_eq(p->kind, PW_METRIC_PAIR);
    cr_assert_str_eq(p->pair_start, "lead.created");
    cr_assert_str_eq(p->pair_end, "deal.won");
    cr_assert_str_eq(pw_fieldset_path(rs->fields, p->pair_key_slot), "mql_id");
    cr_assert_eq(p->pair_timeout_ms, 180 * PW_MS_PER_D);
    cr_assert_eq(p->unit_ms, PW_MS_PER_D);
    cr_assert_eq(p->agg, PW_AGG_AVG);
    cr_assert_eq(p->window_ms, 90 * PW_MS_PER_D);
    cr_assert_eq(p->res_ms, 90 * PW_MS_PER_D / 60);

    const pw_rule_def *r = &rs->rules[0];
    cr_assert_str_eq(r->name, "conversion_low");
    cr_assert_eq(r->metric_idx, ci);
    cr_assert_eq(r->nmatch, 1);
    cr_assert_str_eq(r->match[0].key, "origin");
    cr_assert_str_eq(r->match[0].val, "paid_search");
    cr_assert_eq(r->match_by[0], 0);
    cr_assert_eq(r->cond, PW_COND_BELOW);
    cr_assert_float_eq(r->threshold, 0.05, 1e-12);
    cr_assert_eq(r->for_ms, 30 * PW_MS_PER_M);
    cr_assert_eq(r->min_count, 20);
    cr_assert(r->has_clear);
    cr_assert_float_eq(r->clear, 0.06, 1e-12);
    cr_assert_eq(r->severity, PW_SEV_WARNING);
    cr_assert_eq(r->nlabels, 1);
    cr_assert_str_eq(r->labels[0].key, "team");
    cr_assert_str_eq(r->labels[0].val, "growth");
    cr_assert_eq(r->nannotations, 1);
    cr_assert_str_eq(r->annotations[0].key, "summary");
    cr_assert_str_eq(r->annotations[0].val,
                     "Conversion from {{ labels.origin }} is {{ value }} (limit {{ threshold }})");
    cr_assert_eq(r->repeat_ms, 4 * PW_MS_PER_H);
    cr_assert_eq(r->nnotify, 1);
    cr_assert_str_eq(r->notify[0], "ops-webhook");
    cr_assert_eq(conv->nrules, 1);
    cr_assert_eq(conv->rules[0], 0);
    cr_assert_eq(rs->metrics[li].nrules, 0);
    cr_assert_eq(pw_ruleset_rule_index(rs, "conversion_low"), 0);
    cr_assert_eq(pw_ruleset_rule_index(rs, "nope"), -1);
    cr_assert_eq(pw_ruleset_metric_index(rs, "nope"), -1);

    /* type/time/id and every path are interned */
    cr_assert_str_eq(pw_fieldset_path(rs->fields, rs->type_slot), "type");
    cr_assert_str_eq(pw_fieldset_path(rs->fields, rs->time_slot), "ts");
    cr_assert_str_eq(pw_fieldset_path(rs->fields, rs->id_slot), "id");
    const char *paths[] = {"origin", "name", "email", "phone", "mql_id", "sr_id"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        cr_assert_geq(pw_fieldset_find(rs->fields, paths[i], (int)strlen(paths[i])), 0, "%s", paths[i]);
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
}

Test(ruleset, defaults_and_conditions) {
    pw_diag d;
    pw_ruleset *rs =
        load_text("metrics:\n"
                  "  - {name: a, events: [x, y], window: 1h, aggregate: sum, field: deal.amount}\n"
                  "  - {name: p, pair: {start: s, end: e, key: k}, window: 2h}\n"
                  "rules:\n"
                  "  - {name: r1, metric: a, above: 5}\n"
                  "  - {name: r2, metric: a, absent: 15m, severity: critical}\n"
                  "  - {name: r3, metric: p, outside: [-1, 2.5], severity: info}\n",
                  NULL, NULL, &d);
    cr_assert_not_null(rs);
    const pw_metric_def *a = &rs->metrics[0], *p = &rs->metrics[1];
    cr_assert_eq(a->nevents, 2);
    cr_assert_str_eq(pw_fieldset_path(rs->fields, a->field_slot), "deal.amount");
    cr_assert_eq(a->nby, 0);
    cr_assert_eq(a->res_ms, PW_MS_PER_M);
    cr_assert_eq(a->num_idx, -1);
    cr_assert_eq(p->agg, PW_AGG_AVG);                  /* pair default */
    cr_assert_eq(p->unit_ms, PW_MS_PER_S);             /* unit default s */
    cr_assert_eq(p->pair_timeout_ms, 2 * PW_MS_PER_H); /* timeout default = window */
    cr_assert_eq(a->nrules, 2);
    cr_assert_eq(p->nrules, 1);
    const pw_rule_def *r1 = &rs->rules[0], *r2 = &rs->rules[1], *r3 = &rs->rules[2];
    cr_assert_eq(r1->cond, PW_COND_ABOVE);
    cr_assert_eq(r1->severity, PW_SEV_WARNING);
    cr_assert_eq(r1->for_ms, 0);
    cr_assert_eq(r1->repeat_ms, 0);
    cr_assert_eq(r1->min_count, 0);
    cr_assert_eq(r1->has_clear, 0);
    cr_assert_eq(r1->loc.line, 5);
    cr_assert_eq(r1->loc.col, 12);
    cr_assert_eq(r2->cond, PW_COND_ABSENT);
    cr_assert_eq(r2->absent_ms, 15 * PW_MS_PER_M);
    cr_assert_eq(r2->severity, PW_SEV_CRITICAL);
    cr_assert_eq(r3->cond, PW_COND_OUTSIDE);
    cr_assert_float_eq(r3->lo, -1, 1e-12);
    cr_assert_float_eq(r3->hi, 2.5, 1e-12);
    cr_assert_eq(r3->severity, PW_SEV_INFO);
    cr_assert_str_eq(pw_agg_name(PW_AGG_QUANTILE), "quantile");
    cr_assert_str_eq(pw_severity_name(PW_SEV_CRITICAL), "critical");
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
}

Test(ruleset, custom_type_time_id_fields) {
    pw_diag d;
    pw_rules_conf conf = {"meta.kind", "meta.at", "event_id"};
    pw_ruleset *rs =
        load_text("metrics:\n  - {name: a, events: [x], window: 1h, by: [meta.kind]}\n", NULL, &conf, &d);
    cr_assert_not_null(rs);
    cr_assert_str_eq(pw_fieldset_path(rs->fields, rs->type_slot), "meta.kind");
    cr_assert_str_eq(pw_fieldset_path(rs->fields, rs->time_slot), "meta.at");
    cr_assert_str_eq(pw_fieldset_path(rs->fields, rs->id_slot), "event_id");
    cr_assert_eq(rs->metrics[0].by_slots[0], rs->type_slot); /* one slot per path */
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
}

Test(ruleset, ratios_follow_their_parts) {
    pw_diag d;
    pw_ruleset *rs = load_text("metrics:\n"
                               "  - {name: r1, ratio: {numerator: b, denominator: a}}\n"
                               "  - {name: a, events: [x], window: 1h}\n"
                               "  - {name: r2, ratio: {numerator: a, denominator: a}}\n"
                               "  - {name: b, events: [y], window: 1h}\n"
                               "  - {name: c, events: [z], window: 1h}\n",
                               NULL, NULL, &d);
    cr_assert_not_null(rs);
    /* a, r2 (its part a is placed), b, r1 (after its later part b), c */
    const char *want[] = {"a", "r2", "b", "r1", "c"};
    for (int i = 0; i < 5; i++) cr_assert_str_eq(rs->metrics[i].name, want[i]);
    cr_assert_eq(rs->metrics[3].num_idx, 2);
    cr_assert_eq(rs->metrics[3].den_idx, 0);
    cr_assert_eq(rs->metrics[1].num_idx, 0);
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
}

static uint64_t metric_hash(const char *yaml, const char *name, uint64_t *rule_hash) {
    pw_diag d;
    pw_ruleset *rs = load_text(yaml, NULL, NULL, &d);
    cr_assert_not_null(rs, "must load: %s", yaml);
    uint64_t h = rs->metrics[pw_ruleset_metric_index(rs, name)].def_hash;
    if (rule_hash) *rule_hash = rs->nrules ? rs->rules[0].def_hash : 0;
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
    return h;
}

Test(ruleset, def_hash) {
    const char *base = "metrics:\n  - {name: a, help: one, events: [x, y], window: 1h, by: [o]}\n"
                       "rules:\n  - {name: r, metric: a, above: 1, description: one}\n";
    uint64_t rb, rh;
    uint64_t hb = metric_hash(base, "a", &rb);
    /* help, description, event order, a comment and flow/block style are not state */
    cr_assert_eq(
        metric_hash("metrics:\n  - name: a  # note\n    help: two\n    events: [y, x]\n    window: 60m\n"
                    "    by: [o]\nrules:\n  - {name: r, metric: a, above: 1.0, description: two}\n",
                    "a", &rh),
        hb);
    cr_assert_eq(rh, rb);
    /* ...and a second file or another place in the list does not matter either */
    cr_assert_eq(metric_hash("metrics:\n  - {name: z, events: [q], window: 1d}\n"
                             "  - {name: a, events: [x, y], window: 1h, by: [o], resolution: 1m}\n",
                             "a", NULL),
                 hb);
    /* everything that defines the state does */
    const char *differ[] = {
        "metrics:\n  - {name: a, events: [x], window: 1h, by: [o]}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 2h, by: [o]}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 1h, by: [o], resolution: 2m}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 1h, by: [p]}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 1h}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 1h, by: [o], where: 'k == 1'}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 1h, by: [o], aggregate: distinct, field: k}\n",
        "metrics:\n  - {name: a, events: [x, y], window: 1h, by: [o], aggregate: distinct, value: k}\n",
    };
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++)
        cr_assert_neq(metric_hash(differ[i], "a", NULL), hb, "%s", differ[i]);
    uint64_t q1 =
        metric_hash("metrics:\n  - {name: a, events: [x], window: 1h, aggregate: quantile, field: v, "
                    "q: 0.9}\n",
                    "a", NULL);
    uint64_t q2 =
        metric_hash("metrics:\n  - {name: a, events: [x], window: 1h, aggregate: quantile, field: v, "
                    "q: 0.95}\n",
                    "a", NULL);
    cr_assert_neq(q1, q2);
    /* a ratio's hash follows its parts */
    const char *ratio =
        "metrics:\n  - {name: n, events: [x], window: 1h}\n  - {name: d, events: [y], window: 1h}\n"
        "  - {name: c, ratio: {numerator: n, denominator: d}}\n";
    const char *ratio2 =
        "metrics:\n  - {name: n, events: [x], window: 1h, where: 'a == 1'}\n"
        "  - {name: d, events: [y], window: 1h}\n  - {name: c, ratio: {numerator: n, denominator: d}}\n";
    cr_assert_neq(metric_hash(ratio, "c", NULL), metric_hash(ratio2, "c", NULL));
    /* rules: their own settings and their metric's hash */
    uint64_t r2;
    metric_hash("metrics:\n  - {name: a, help: one, events: [x, y], window: 1h, by: [o]}\n"
                "rules:\n  - {name: r, metric: a, above: 2}\n",
                "a", &r2);
    cr_assert_neq(r2, rb);
    metric_hash("metrics:\n  - {name: a, events: [x, y], window: 2h, by: [o]}\n"
                "rules:\n  - {name: r, metric: a, above: 1}\n",
                "a", &r2);
    cr_assert_neq(r2, rb);
}

/* ---- paths -------------------------------------------------------------- */

Test(ruleset, directories) {
    make_tmpdir();
    char p[600], sub[600];
    write_file("20_rules.yaml", "rules:\n  - {name: r, metric: b, above: 1}\n", p, sizeof p);
    write_file("10_metrics.yml", "metrics:\n  - {name: b, events: [x], window: 1h}\n", p, sizeof p);
    write_file("README.md", "not a rule file: ignored\n", p, sizeof p);
    write_file(".hidden.yaml", "garbage: [\n", p, sizeof p);
    snprintf(sub, sizeof sub, "%s/nested", tmpdir);
    mkdir(sub, 0755);
    write_file("nested/x.yaml", "garbage: [\n", p, sizeof p); /* not recursive */
    pw_diag d;
    pw_diag_init(&d);
    const char *paths[] = {tmpdir, p /* a file inside, named again: read once */};
    char again[700];
    snprintf(again, sizeof again, "%s/10_metrics.yml", tmpdir);
    paths[1] = again;
    pw_ruleset *rs = pw_ruleset_load(paths, 2, NULL, &d);
    if (!rs) dump(&d);
    cr_assert_not_null(rs);
    cr_assert_eq(rs->nfiles, 2);
    cr_assert(strstr(rs->files[0], "10_metrics.yml") != NULL, "sorted by name: %s", rs->files[0]);
    cr_assert(strstr(rs->files[1], "20_rules.yaml") != NULL);
    cr_assert_eq(rs->metrics[0].loc.file, rs->files[0]);
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);

    /* a directory without rule files, a missing path, an unreadable file */
    char empty[600], missing[600];
    snprintf(empty, sizeof empty, "%s/empty", tmpdir);
    mkdir(empty, 0755);
    snprintf(missing, sizeof missing, "%s/missing.yaml", tmpdir);
    const char *bad[] = {empty, missing};
    pw_diag_init(&d);
    cr_assert_null(pw_ruleset_load(bad, 2, NULL, &d));
    cr_assert_eq(d.errors, 2);
    cr_assert(has_entry(&d, empty, "0:0", "no *.yaml or *.yml files in directory", 0));
    cr_assert(has_entry(&d, missing, "0:0", "cannot open: No such file or directory", 0));
    pw_diag_free(&d);
    rmdir(empty);
    rm_tmpdir();
}

/* ---- the corpus: tests/rules/bad and tests/rules/good -------------------- */

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

Test(ruleset, corpus_bad) {
    const char *dir = PW_SOURCE_DIR "/tests/rules/bad";
    DIR *dd = opendir(dir);
    cr_assert_not_null(dd, "cannot open %s", dir);
    char *names[512];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dd)) != NULL && n < 512) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) names[n++] = strdup(de->d_name);
    }
    closedir(dd);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    cr_assert_geq(n, 30, "the corpus has %d files; at least 30 expected", n);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f);
        char line[512];
        char *exp[32];
        int ne = 0;
        while (fgets(line, sizeof line, f) && !strncmp(line, "# expect: ", 10) && ne < 32) {
            line[strcspn(line, "\n")] = 0;
            exp[ne++] = strdup(line + 10);
        }
        fclose(f);
        cr_assert_gt(ne, 0, "%s: no '# expect: LINE:COL substring' header", names[i]);
        pw_diag d;
        pw_diag_init(&d);
        const char *paths[] = {path};
        pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &d);
        cr_assert_null(rs, "%s must not load", names[i]);
        for (int k = 0; k < ne; k++) {
            char *sp = strchr(exp[k], ' ');
            cr_assert_not_null(sp, "%s: malformed expectation '%s'", names[i], exp[k]);
            *sp = 0;
            if (!has_entry(&d, path, exp[k], sp + 1, 0)) {
                dump(&d);
                cr_assert(0, "%s: no error at %s containing \"%s\"", names[i], exp[k], sp + 1);
            }
            free(exp[k]);
        }
        if (d.errors != ne) dump(&d);
        cr_assert_eq(d.errors, ne, "%s: %d errors, %d expected", names[i], d.errors, ne);
        pw_diag_free(&d);
        free(names[i]);
    }
}

Test(ruleset, corpus_good) {
    const char *paths[] = {PW_SOURCE_DIR "/tests/rules/good"};
    pw_diag d;
    pw_diag_init(&d);
    pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &d);
    if (!rs) dump(&d);
    cr_assert_not_null(rs);
    cr_assert_geq(rs->nfiles, 3);
    cr_assert_gt(rs->nmetrics, 5);
    cr_assert_gt(rs->nrules, 3);
    cr_assert_eq(d.warnings, 0);
    for (int i = 0; i < rs->nmetrics; i++) {
        const pw_metric_def *m = &rs->metrics[i];
        if (m->kind != PW_METRIC_RATIO) continue;
        cr_assert_lt(m->num_idx, i);
        cr_assert_lt(m->den_idx, i);
    }
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
}

/* ---- hostile input ------------------------------------------------------ */

/* Every entry is "<file>:<line>:<col>: <message>" with a non-empty message. */
static void assert_well_formed(const pw_diag *d, const char *file) {
    size_t fl = strlen(file);
    for (int i = 0; i < d->n; i++) {
        const char *t = d->v[i].text;
        cr_assert(!strncmp(t, file, fl) && t[fl] == ':', "bad entry: %s", t);
        const char *p = t + fl + 1;
        cr_assert(*p >= '0' && *p <= '9', "bad line in: %s", t);
        while (*p >= '0' && *p <= '9') p++;
        cr_assert(*p == ':', "bad entry: %s", t);
        p++;
        cr_assert(*p >= '0' && *p <= '9', "bad col in: %s", t);
        while (*p >= '0' && *p <= '9') p++;
        cr_assert(p[0] == ':' && p[1] == ' ' && p[2] && p[2] != '\n', "bad entry: %s", t);
        cr_assert(strchr(t, '\n') == NULL, "entry spans lines: %s", t);
    }
}

static pw_ruleset *load_bytes(const char *data, size_t len, pw_diag *d, char *path, size_t plen) {
    write_bytes("h.yaml", data, len, path, plen);
    const char *paths[] = {path};
    pw_diag_init(d);
    return pw_ruleset_load(paths, 1, NULL, d);
}

Test(ruleset, alias_bombs) {
    make_tmpdir();
    char path[600];
    pw_diag d;
    /* billion laughs, shaped as metrics: a list of lists of lists ... */
    pw_buf b;
    pw_buf_init(&b);
    pw_buf_puts(&b, "x0: &a0 [a, a, a, a, a, a, a, a, a, a]\n");
    for (int i = 1; i < 9; i++) {
        pw_buf_printf(&b, "x%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++) pw_buf_printf(&b, "%s*a%d", k ? ", " : "", i - 1);
        pw_buf_puts(&b, "]\n");
    }
    pw_buf_puts(&b, "metrics: *a8\nrules: *a8\n");
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    assert_well_formed(&d, path);
    cr_assert_gt(d.errors, 0);
    pw_diag_free(&d);

    /* a long list repeated through aliases: the visit budget stops the walk,
     * and that is the only problem reported */
    pw_buf_reset(&b);
    pw_buf_puts(&b, "x: &e [");
    for (int k = 0; k < 1000; k++) pw_buf_printf(&b, "%se%d", k ? ", " : "", k);
    pw_buf_puts(&b, "]\nmetrics:\n");
    for (int k = 0; k < 2000; k++) pw_buf_printf(&b, "  - {name: m%d, events: *e, window: 1h}\n", k);
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    assert_well_formed(&d, path);
    cr_assert_eq(d.errors, 2, "the top-level key x, and the budget");
    int found = 0;
    for (int i = 0; i < d.n; i++)
        found |= strstr(d.v[i].text, "stopped after visiting 1000000 YAML nodes") != NULL;
    cr_assert(found, "the visit budget must stop a repeated list");
    pw_diag_free(&d);

    /* a wide mapping of unknown keys repeated through aliases: bounded work
     * although it makes millions of problems (only PW_DIAG_MAX are kept) */
    pw_buf_reset(&b);
    pw_buf_puts(&b, "m: &m {");
    for (int k = 0; k < 2000; k++) pw_buf_printf(&b, "%sk%d: 1", k ? ", " : "", k);
    pw_buf_puts(&b, "}\nl: &l [");
    for (int k = 0; k < 2000; k++) pw_buf_printf(&b, "%s*m", k ? ", " : "");
    pw_buf_puts(&b, "]\nmetrics: *l\n");
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    assert_well_formed(&d, path);
    cr_assert_eq(d.n, PW_DIAG_MAX);
    cr_assert_lt(d.errors, 1100000);
    pw_diag_free(&d);

    /* self-referencing nodes */
    const char *cyc = "metrics: &m [*m, {name: a, pair: &p {start: *p, end: *m, key: k}, window: 1h}]\n"
                      "rules: &r [{name: r, metric: a, above: 1, labels: &l {x: *l}, match: *r}]\n";
    cr_assert_null(load_bytes(cyc, strlen(cyc), &d, path, sizeof path));
    assert_well_formed(&d, path);
    pw_diag_free(&d);
    pw_buf_free(&b);
    rm_tmpdir();
}

Test(ruleset, huge_deep_and_binary_files) {
    make_tmpdir();
    char path[600];
    pw_diag d;
    /* too large */
    size_t big = PW_YAML_MAX_BYTES + 100;
    char *data = malloc(big);
    cr_assert_not_null(data);
    memset(data, '#', big);
    for (size_t i = 80; i < big; i += 81) data[i] = '\n';
    cr_assert_null(load_bytes(data, big, &d, path, sizeof path));
    cr_assert_eq(d.errors, 1);
    cr_assert(strstr(d.v[0].text, "file is too large") != NULL, "%s", d.v[0].text);
    pw_diag_free(&d);

    /* too many nodes */
    pw_buf b;
    pw_buf_init(&b);
    pw_buf_puts(&b, "metrics: [");
    for (int i = 0; i < PW_YAML_MAX_NODES + 10; i++) pw_buf_puts(&b, i ? ",1" : "1");
    pw_buf_puts(&b, "]\n");
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    cr_assert_eq(d.errors, 1);
    cr_assert(strstr(d.v[0].text, "YAML nodes") != NULL, "%s", d.v[0].text);
    pw_diag_free(&d);

    /* deep nesting, flow and block */
    pw_buf_reset(&b);
    pw_buf_puts(&b, "metrics: ");
    for (int i = 0; i < 100000; i++) pw_buf_putc(&b, '[');
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    assert_well_formed(&d, path);
    cr_assert(has_entry(&d, path, "1:73", "YAML nested deeper than 64 levels", 0));
    pw_diag_free(&d);
    pw_buf_reset(&b);
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < i; k++) pw_buf_putc(&b, ' ');
        pw_buf_printf(&b, "k%d:\n", i);
    }
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    assert_well_formed(&d, path);
    cr_assert_eq(d.errors, 1);
    pw_diag_free(&d);

    /* binary garbage and broken UTF-8, seeded */
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)(round * 37 % 3000);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            data[i] = (char)(s & 0xFF);
        }
        pw_ruleset *rs = load_bytes(data, n, &d, path, sizeof path);
        cr_assert_null(rs);
        assert_well_formed(&d, path);
        pw_diag_free(&d);
    }
    const char *bad_utf8 = "metrics:\n  - name: caf\xC3\n";
    cr_assert_null(load_bytes(bad_utf8, strlen(bad_utf8), &d, path, sizeof path));
    cr_assert(has_entry(&d, path, "2:14", "rule files must be UTF-8 text", 0) ||
              has_entry(&d, path, "2:15", "rule files must be UTF-8 text", 0));
    pw_diag_free(&d);
    const char nul[] = "metrics:\n  - name: a\0b\n";
    cr_assert_null(load_bytes(nul, sizeof nul - 1, &d, path, sizeof path));
    assert_well_formed(&d, path);
    cr_assert_eq(d.errors, 1);
    pw_diag_free(&d);
    /* an escaped NUL inside a string */
    const char *esc = "metrics:\n  - {name: \"a\\0b\", events: [x], window: 1h}\n";
    cr_assert_null(load_bytes(esc, strlen(esc), &d, path, sizeof path));
    cr_assert(has_entry(&d, path, "2:12", "NUL", 0));
    pw_diag_free(&d);

    /* many problems: entries are capped, errors counted */
    pw_buf_reset(&b);
    pw_buf_puts(&b, "metrics:\n");
    for (int i = 0; i < 3000; i++) pw_buf_printf(&b, "  - {name: m%d, events: [x], window: bad}\n", i);
    cr_assert_null(load_bytes(b.data, b.len, &d, path, sizeof path));
    cr_assert_eq(d.errors, 3000);
    cr_assert_eq(d.n, PW_DIAG_MAX);
    assert_well_formed(&d, path);
    pw_diag_free(&d);

    /* a large valid set loads */
    pw_buf_reset(&b);
    pw_buf_puts(&b, "metrics:\n");
    for (int i = 0; i < 3000; i++)
        pw_buf_printf(&b, "  - {name: m%d, events: [x], window: 1h, by: [a]}\n", i);
    pw_buf_puts(&b, "rules:\n");
    for (int i = 0; i < 3000; i++) pw_buf_printf(&b, "  - {name: r%d, metric: m%d, above: %d}\n", i, i, i);
    pw_ruleset *rs = load_bytes(b.data, b.len, &d, path, sizeof path);
    cr_assert_not_null(rs);
    cr_assert_eq(rs->nmetrics, 3000);
    cr_assert_eq(rs->rules[2999].metric_idx, 2999);
    pw_ruleset_destroy(rs);
    pw_diag_free(&d);
    pw_buf_free(&b);
    free(data);
    rm_tmpdir();
}

/* 2,000 seeded mutations of a valid file: no crash (run under ASan), and
 * every problem is a well-formed FILE:LINE:COL: message. */
Test(ruleset, mutations, .timeout = 300) {
    const char *base = ISSUE_EXAMPLE;
    size_t blen = strlen(base);
    static const char alphabet[] = ":-[]{}#&*!|>'\"\t\n ,?%@`~0123456789abcxyz.\\";
    make_tmpdir();
    char path[600];
    char *buf = malloc(blen * 3 + 64);
    cr_assert_not_null(buf);
    uint64_t s = 42;
#define RND() (s ^= s << 13, s ^= s >> 7, s ^= s << 17, s)
    int loaded = 0;
    for (int round = 0; round < 2000; round++) {
        memcpy(buf, base, blen);
        size_t n = blen;
        int edits = 1 + (int)(RND() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(RND() % (n ? n : 1));
            switch (RND() % 6) {
            case 0: buf[at] = alphabet[RND() % (sizeof alphabet - 1)]; break; /* replace */
            case 1:                                                           /* insert */
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = alphabet[RND() % (sizeof alphabet - 1)];
                n++;
                break;
            case 2: { /* delete a span */
                size_t len = 1 + (size_t)(RND() % 12);
                if (at + len > n) len = n - at;
                memmove(buf + at, buf + at + len, n - at - len);
                n -= len;
                break;
            }
            case 3: { /* duplicate a span */
                size_t len = 1 + (size_t)(RND() % 40);
                if (at + len > n) len = n - at;
                if (n + len > blen * 3) break;
                memmove(buf + at + len, buf + at, n - at);
                n += len;
                break;
            }
            case 4: buf[at] = (char)(RND() & 0xFF); break; /* a random byte */
            case 5: {                                      /* swap two bytes */
                size_t b2 = (size_t)(RND() % (n ? n : 1));
                char t = buf[at];
                buf[at] = buf[b2];
                buf[b2] = t;
                break;
            }
            }
        }
        pw_diag d;
        pw_ruleset *rs = load_bytes(buf, n, &d, path, sizeof path);
        assert_well_formed(&d, path);
        if (rs) {
            loaded++;
            cr_assert_eq(d.errors, 0);
        } else {
            cr_assert_gt(d.errors, 0);
        }
        pw_ruleset_destroy(rs);
        pw_diag_free(&d);
    }
#undef RND
    /* the mutations must not be so wild that nothing ever parses */
    cr_assert_gt(loaded, 20, "only %d of 2000 mutations loaded", loaded);
    free(buf);
    rm_tmpdir();
}

/* ---- yamlnode: the typed, located layer (also used by the daemon config) -- */

Test(yamlnode, getters_and_locations) {
    const char *text = "s: hello\n"
                       "n: -2.5e3\n"
                       "qn: '42'\n"
                       "i: 17\n"
                       "b: true\n"
                       "d: 1h30m\n"
                       "l: [a, b]\n"
                       "m: {k: v}\n"
                       "z: ~\n"
                       "u: \"caf\\u00e9 \\x41 #\"\n";
    pw_diag d;
    pw_diag_init(&d);
    pw_ydoc y;
    cr_assert_eq(pw_ydoc_load_string(&y, "mem.yaml", text, strlen(text), &d), 0);
    yaml_node_t *root = pw_ydoc_root(&y);
    static const char *const keys[] = {"s", "n", "qn", "i", "b", "d", "l", "m", "z", "u", NULL};
    yaml_node_t *v[10], *k[10];
    cr_assert_eq(pw_ymap_check(&y, root, "test", keys, k, v), 0);
    const char *s;
    double num;
    int64_t i64;
    int b;
    cr_assert_eq(pw_yget_str(&y, v[0], "a string", &s), 0);
    cr_assert_str_eq(s, "hello");
    cr_assert_eq(pw_yget_num(&y, v[1], "a number", &num), 0);
    cr_assert_float_eq(num, -2500, 1e-9);
    cr_assert_eq(pw_yget_int(&y, v[3], "a port", 1, 65535, &i64), 0);
    cr_assert_eq(i64, 17);
    cr_assert_eq(pw_yget_bool(&y, v[4], "true or false", &b), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(pw_yget_duration(&y, v[5], "a duration", &i64), 0);
    cr_assert_eq(i64, 90 * 60000);
    cr_assert_eq(pw_yget_seq(&y, v[6], "a list"), 0);
    cr_assert_eq(pw_yseq_len(v[6]), 2);
    cr_assert_str_eq(pw_yscalar(pw_yseq_at(&y, v[6], 1)), "b");
    cr_assert_null(pw_yseq_at(&y, v[6], 2));
    cr_assert_eq(pw_yget_map(&y, v[7], "a mapping"), 0);
    cr_assert_eq(pw_ymap_len(v[7]), 1);
    cr_assert(pw_yis_null(v[8]));
    cr_assert_str_eq(pw_ykind(v[8]), "nothing");
    cr_assert_str_eq(pw_ykind(v[1]), "a number");
    cr_assert_str_eq(pw_ykind(v[2]), "a string");
    cr_assert_str_eq(pw_ykind(v[4]), "a boolean");
    cr_assert_str_eq(pw_ykind(v[6]), "a list");
    cr_assert_eq(d.errors, 0);

    /* wrong types, each located at the value */
    cr_assert_eq(pw_yget_num(&y, v[2], "a number", &num), -1); /* quoted */
    cr_assert_eq(pw_yget_int(&y, v[1], "a whole number", 0, 10, &i64), -1);
    cr_assert_eq(pw_yget_int(&y, v[3], "a number up to 10", 0, 10, &i64), -1); /* range */
    cr_assert_eq(pw_yget_bool(&y, v[0], "true or false", &b), -1);
    cr_assert_eq(pw_yget_str(&y, v[6], "a string", &s), -1);
    cr_assert_eq(pw_yget_str(&y, v[8], "a string", &s), -1);
    cr_assert_eq(pw_yget_duration(&y, v[7], "a duration string like 7d", &i64), -1);
    cr_assert_eq(pw_yget_map(&y, v[6], "a mapping"), -1);
    cr_assert_eq(pw_yget_seq(&y, v[7], "a list"), -1);
    cr_assert(has_entry(&d, "mem.yaml", "3:5", "expected a number, got the quoted string \"42\"", 0));
    cr_assert(has_entry(&d, "mem.yaml", "2:4", "expected a whole number, got a number '-2.5e3'", 0));
    cr_assert(has_entry(&d, "mem.yaml", "4:4", "expected a number up to 10, got a number '17'", 0));
    cr_assert(has_entry(&d, "mem.yaml", "1:4", "expected true or false, got a string 'hello'", 0));
    cr_assert(has_entry(&d, "mem.yaml", "7:4", "expected a string, got a list", 0));
    cr_assert(has_entry(&d, "mem.yaml", "9:4", "expected a string, got nothing", 0));
    cr_assert(has_entry(&d, "mem.yaml", "8:4", "expected a duration string like 7d, got a mapping", 0));
    cr_assert(has_entry(&d, "mem.yaml", "7:4", "expected a mapping, got a list", 0));
    cr_assert(has_entry(&d, "mem.yaml", "8:4", "expected a list, got a mapping", 0));
    cr_assert_eq(d.errors, 9);

    /* byte offsets inside a double-quoted value with escapes: "caf\u00e9 \x41 #"
     * value bytes: c a f <2 bytes é> ' ' A ' ' #  -> '#' is byte 8 */
    pw_loc l = pw_yloc_in(&y, v[9], 8);
    cr_assert_eq(l.line, 10);
    cr_assert_eq(l.col, 20, "col %d", l.col); /* u: "caf\u00e9 \x41 # -> the '#' */
    l = pw_yloc_in(&y, v[0], 3);              /* plain scalar: start + offset */
    cr_assert_eq(l.col, 7);
    char buf[16];
    cr_assert_str_eq(pw_yshow("a\x01"
                              "bcdefghijklmnopqrstuvwxyz",
                              buf, sizeof buf),
                     "a?bcdefghijk...");
    pw_ydoc_free(&y);
    pw_ydoc_free(&y); /* twice is harmless */
    pw_diag_free(&d);

    /* syntax errors carry libyaml's mark, 1-based */
    pw_diag_init(&d);
    cr_assert_eq(pw_ydoc_load_string(&y, "mem.yaml", "a: [1,\n", 7, &d), -1);
    cr_assert_eq(d.errors, 1);
    cr_assert(strncmp(d.v[0].text, "mem.yaml:2:1: YAML: ", 20) == 0, "%s", d.v[0].text);
    pw_ydoc_free(&y);
    pw_diag_free(&d);
}
