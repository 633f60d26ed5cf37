/* cmd_test.c -- `pipewatch test FILE...`: rule unit tests, like `promtool test rules`.
 *
 * A test file names rule files and holds test cases. Each case feeds events to
 * a fresh engine (the same decoder + engine flow as `pipewatch replay`),
 * optionally advances stream time to an end time, and compares what came out
 * with what the case expects: the exact ordered list of notifications and/or
 * the values of chosen series at the final stream time.
 *
 * Test file format
 *
 *   rule_files: [rules/conversion.yaml, rules/]  # relative to this file; files or directories
 *   tests:
 *     - name: paid search conversion falls under 5%
 *       order: written            # or `time`: apply all events of the case (inline, repeated,
 *                                 # file) sorted by event time, ties in written order
 *       events:                   # applied in order
 *         - {type: lead.created, ts: "2026-11-01T00:00:00Z", origin: paid_search, lead_id: a1}
 *         - repeat: {type: lead.created, origin: paid_search}   # a repeat block
 *           every: 10m            # > 0
 *           from: "2026-11-01T00:00:00Z"
 *           for: 6h               # events at from + k*every while < from + for ...
 *           count: 36             # ... or exactly this many (one of for / count)
 *           vary: {lead_id: "l-{i}", amount: "{i%3}"}   # optional: fields set per event
 *       events_file: events.jsonl # JSON lines, relative to this file, applied after `events`
 *       until: "2026-11-02T00:00:00Z"   # stream time is advanced to this at the end (boundary
 *                                 # evaluations on the way); ignored, with a warning, if before
 *                                 # the last event; nothing happens if no event was applied
 *       notifications:            # the exact ordered list expected; omit = not checked, [] = none
 *         - {rule: conversion_low, state: firing, at: "2026-11-01T06:00:00Z",
 *            labels: {origin: paid_search}, value: 0.03}
 *       metrics:                  # series at the final stream time; only the listed ones are checked
 *         - {metric: conversion, labels: {origin: paid_search}, value: 0.05, count: 36}
 *         - {metric: leads, labels: {origin: social}, exists: false}      # forgotten / never created
 *       counters:                 # engine counters per metric at the end (pw_metric_stats), listed ones
 *         - {metric: leads, late: 1, filtered: 0}   # events filtered unevaluable late overflow pair_starts
 *                                 # pair_unmatched pair_expired series pending series_forgotten
 *
 * Inline events. A YAML mapping becomes a JSON object: quoted scalars are
 * strings; plain scalars are numbers when they are JSON numbers (12, -3.5,
 * 1e3), booleans for true/false (any case), null for null/~/empty, strings
 * otherwise; lists become arrays and nested mappings objects. An item with a
 * `repeat` key is a repeat block (so an inline event cannot have a top-level
 * field named `repeat`; put such events in an events_file). In a repeat
 * block, every string value of the template and of `vary` has `{i}` replaced
 * by the event's index (0, 1, 2...) and `{i%N}` by the index modulo N; vary
 * sets or replaces top-level fields; every event gets `ts` = from + i*every
 * (RFC 3339) unless the template or vary gives one.
 *
 * Matching. Notifications: count and order must match, and every field an
 * expected entry lists must equal: rule, state (firing|resolved), severity,
 * metric, fingerprint (16 hex digits) as text; labels and annotations: each
 * listed key must be present with that value (others are ignored); value and
 * threshold as numbers within a relative `tolerance` (default 1e-9; null =
 * undefined); at and active_since as instants (any RFC 3339 offset). Metrics:
 * `labels` must give every `by` label of the metric; value (null = undefined)
 * and count as above; `exists: false` expects no live series with these
 * labels. Counters: each listed one must be equal.
 *
 * Output. Nothing for a passing case (with -v: "ok FILE:LINE NAME"); a failing
 * one prints "FAIL FILE:LINE NAME" and a diff: expected entries as "- {...}"
 * (only the listed fields), produced ones as "+ {...}" (the full notification
 * JSON), matching ones as context, and under each replaced pair the fields
 * that differ. Last comes "N passed, M failed" (plus "K files with errors");
 * exit 0 when all passed, else 1 (2 for a usage error). Problems in the test
 * file itself (unknown keys, bad times or durations, missing or invalid rule
 * files, unknown rule, metric or label names) are FILE:LINE:COL messages on
 * stderr and none of the file's cases runs. An event the decoder rejects
 * (no type, no time, bad JSON in an events_file) is reported the same way
 * when its case runs, and fails that case.
 *
 * Design: parse -> validate -> run, per file. The rule set is loaded first
 * (expectations are checked against its rule, metric and label names), then
 * the whole test file is checked and every problem reported; only a clean
 * file runs, each case on a fresh engine with the file's decoder. Strings of
 * expectations are borrowed from the YAML document, which lives until the
 * file is done.
 * Repeat blocks are compiled once into a pattern (literal JSON text with holes
 * for the index and the time) and rendered per event, so a block of a million
 * events costs no YAML walking and no allocation per event; `order: time`
 * keeps the rendered events of a case in memory to sort them.
 *
 * Limits: at most 10,000,000 events per repeat block and 5,000,000 events per
 * case with `order: time`; inline events nest at most 32 levels; the diff of
 * one case stops after 100 lines; out of memory aborts the command (this is
 * a developer tool, not the daemon).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "commands.h"
#include "diag.h"
#include "engine.h"
#include "event.h"
#include "lines.h"
#include "ruleset.h"
#include "template.h"
#include "timeutil.h"
#include "yamlnode.h"

#define MAX_EVENT_DEPTH 32
#define MAX_REPEAT 10000000LL
#define MAX_SORTED 5000000LL
#define MAX_EVENT_SIZE (1u << 20)
#define MAX_TIME_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define DIFF_MAX_LINES 100
#define LCS_MAX_CELLS 4000000
#define DEFAULT_TOL 1e-9

/* ---------- small helpers ---------- */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fputs("pipewatch test: out of memory\n", stderr); abort(); }
    return p;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) { fputs("pipewatch test: out of memory\n", stderr); abort(); }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) { fputs("pipewatch test: out of memory\n", stderr); abort(); }
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Grow *v (of *cap elements of size sz) to hold at least n. */
static void grow(void *v, int *cap, int n, size_t sz) {
    if (n <= *cap) return;
    int c = *cap ? *cap : 4;
    while (c < n) c *= 2;
    *(void **)v = xrealloc(*(void **)v, (size_t)c * sz);
    *cap = c;
}

static int num_close(double want, double got, double tol) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    if (want == got) return 1;
    double scale = fabs(want) > fabs(got) ? fabs(want) : fabs(got);
    return fabs(want - got) <= tol * scale;
}

/* ---------- event patterns: JSON text with holes ---------- */

typedef enum seg_kind { SEG_LIT = 0, SEG_I, SEG_IMOD, SEG_TS } seg_kind;

typedef struct seg {
    seg_kind kind;
    size_t off, len;   /* SEG_LIT: bytes of pattern.lit */
    int64_t mod;       /* SEG_IMOD */
} seg;

typedef struct pattern {
    pw_buf lit;        /* literal JSON pieces, back to back */
    seg *v;
    int n, cap;
} pattern;

static void pat_lit(pattern *p, const char *s, size_t n) {
    if (!n) return;
    if (p->n && p->v[p->n - 1].kind == SEG_LIT && p->v[p->n - 1].off + p->v[p->n - 1].len == p->lit.len) {
        p->v[p->n - 1].len += n;
    } else {
        grow(&p->v, &p->cap, p->n + 1, sizeof *p->v);
        p->v[p->n++] = (seg){SEG_LIT, p->lit.len, n, 0};
    }
    pw_buf_append(&p->lit, s, n);
}

static void pat_hole(pattern *p, seg_kind k, int64_t mod) {
    grow(&p->v, &p->cap, p->n + 1, sizeof *p->v);
    p->v[p->n++] = (seg){k, 0, 0, mod};
}

/* Append s[0..n) JSON-escaped without the surrounding quotes. */
static void pat_escaped(pattern *p, const char *s, size_t n) {
    if (!n) return;
    pw_buf tmp;
    pw_buf_init(&tmp);
    pw_buf_json_str(&tmp, s, n);
    pat_lit(p, tmp.data + 1, tmp.len - 2);
    pw_buf_free(&tmp);
}

/* A JSON string; with subst, {i} and {i%N} become holes. */
static void pat_str(pattern *p, const char *s, size_t n, int subst) {
    size_t start = 0;
    pat_lit(p, "\"", 1);
    for (size_t k = 0; subst && k + 2 < n; k++) {
        if (s[k] != '{' || s[k + 1] != 'i') continue;
        if (s[k + 2] == '}') {
            pat_escaped(p, s + start, k - start);
            pat_hole(p, SEG_I, 0);
            start = k + 3;
            k += 2;
        } else if (s[k + 2] == '%') {
            size_t j = k + 3;
            int64_t mod = 0;
            while (j < n && s[j] >= '0' && s[j] <= '9' && mod <= 1000000000) mod = mod * 10 + (s[j++] - '0');
            if (j == k + 3 || j >= n || s[j] != '}' || mod < 1 || mod > 1000000000) continue;
            pat_escaped(p, s + start, k - start);
            pat_hole(p, SEG_IMOD, mod);
            start = j + 1;
            k = j;
        }
    }
    pat_escaped(p, s + start, n - start);
    pat_lit(p, "\"", 1);
}

static void pat_render(const pattern *p, int64_t i, int64_t ts, pw_buf *out) {
    pw_buf_reset(out);
    for (int k = 0; k < p->n; k++) {
        const seg *s = &p->v[k];
        switch (s->kind) {
        case SEG_LIT: pw_buf_append(out, p->lit.data + s->off, s->len); break;
        case SEG_I: pw_buf_printf(out, "%lld", (long long)i); break;
        case SEG_IMOD: pw_buf_printf(out, "%lld", (long long)(i % s->mod)); break;
        case SEG_TS: pw_time_format(ts, out); break;
        }
    }
}

static void pat_free(pattern *p) {
    pw_buf_free(&p->lit);
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* ---------- the parsed test file ---------- */

typedef enum src_kind { SRC_GEN = 0, SRC_FILE } src_kind;

typedef struct evsrc {
    src_kind kind;
    pw_loc loc;            /* the list item or the events_file value */
    int is_repeat;
    pattern pat;           /* GEN */
    int64_t from, every;   /* GEN: event k at from + k*every (its `ts` hole, if any) */
    int64_t count;         /* GEN: inline events are 1 */
    char *path;            /* FILE: resolved path, owned */
} evsrc;

typedef struct kv {
    const char *k, *v;     /* borrowed from the document */
} kv;

enum {
    F_RULE = 1 << 0, F_STATE = 1 << 1, F_SEVERITY = 1 << 2, F_METRIC = 1 << 3, F_LABELS = 1 << 4,
    F_VALUE = 1 << 5, F_THRESHOLD = 1 << 6, F_AT = 1 << 7, F_SINCE = 1 << 8, F_ANN = 1 << 9, F_FP = 1 << 10
};

typedef struct exp_notif {
    int line;
    unsigned has;          /* F_* of the fields given */
    const char *rule, *severity, *metric, *fingerprint;
    int firing;
    kv *labels;
    int nlabels;
    kv *ann;
    int nann;
    double value, threshold; /* NaN = null (undefined) */
    int64_t at, since;
    double tol;
} exp_notif;

typedef struct exp_metric {
    int line;
    int midx;              /* -1 when the rule set did not load */
    const char *mname;
    const char **lvals;    /* by order, borrowed */
    int exists;
    int has_value, has_count;
    double value;          /* NaN = null */
    uint64_t count;
    double tol;
} exp_metric;

/* Expected engine counters of one metric (pw_metric_stats). */
static const char *const counter_keys[] = {"metric", "events", "filtered", "unevaluable", "late",
                                           "overflow", "pair_starts", "pair_unmatched", "pair_expired",
                                           "series", "pending", "series_forgotten", NULL};
#define NCOUNTERS 11

typedef struct exp_counters {
    int line;
    int midx;
    unsigned has;              /* bit k: counter_keys[k + 1] is given */
    uint64_t want[NCOUNTERS];
} exp_counters;

static uint64_t counter_get(const pw_metric_stats *st, int k) {
    const uint64_t v[NCOUNTERS] = {st->events, st->filtered, st->unevaluable, st->late, st->overflow,
                                   st->pair_starts, st->pair_unmatched, st->pair_expired, st->series,
                                   st->pending, st->series_forgotten};
    return v[k];
}

typedef struct tcase {
    const char *name;
    int line;
    evsrc *src;
    int nsrc, capsrc;
    int by_time;           /* order: time */
    int has_until;
    int64_t until;
    pw_loc until_loc;
    int check_notifs;
    exp_notif *en;
    int nen;
    exp_metric *em;
    int nem;
    exp_counters *ec;
    int nec;
} tcase;

typedef struct tfile {
    const char *path;      /* as given on the command line */
    char *dir;             /* its directory, for relative paths */
    pw_ydoc doc;
    pw_diag diag;
    pw_ruleset *rs;
    const char **rule_names, **metric_names; /* NULL-terminated, for did-you-mean */
    tcase *t;
    int nt;
} tfile;

static const pw_rules_conf rules_conf = {"type", "ts", "id"};

static char *resolve(const tfile *f, const char *rel) {
    if (rel[0] == '/' || !f->dir) return xstrndup(rel, strlen(rel));
    size_t a = strlen(f->dir), b = strlen(rel);
    char *p = xmalloc(a + b + 2);
    memcpy(p, f->dir, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

static void err(tfile *f, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err(tfile *f, const yaml_node_t *n, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pw_diag_error(&f->diag, pw_yloc(&f->doc, n), "%s", msg);
}

static int get_time(tfile *f, const yaml_node_t *n, const char *what, int64_t *out) {
    const char *s = pw_yscalar(n);
    char show[80];
    if (!s || pw_yis_null(n)) {
        err(f, n, "%s: expected an RFC 3339 time like 2026-11-01T00:00:00Z, got %s", what, pw_ykind(n));
        return -1;
    }
    if (pw_time_parse_rfc3339(s, n->data.scalar.length, out) < 0) {
        err(f, n, "%s: '%s' is not an RFC 3339 time like 2026-11-01T00:00:00Z", what,
            pw_yshow(s, show, sizeof show));
        return -1;
    }
    return 0;
}

/* A number or null (NaN). */
static int get_num_or_null(tfile *f, const yaml_node_t *n, const char *what, double *out) {
    if (pw_yis_null(n)) { *out = NAN; return 0; }
    return pw_yget_num(&f->doc, n, what, out);
}

/* Label values: any scalar's text, null -> "". */
static int get_label_text(tfile *f, const yaml_node_t *n, const char **out) {
    if (pw_yis_null(n)) { *out = ""; return 0; }
    const char *s = pw_yscalar(n);
    if (!s) { err(f, n, "a label value must be a scalar, got %s", pw_ykind(n)); return -1; }
    *out = s;
    return 0;
}

/* A mapping of string keys to scalar texts (labels, annotations). */
static int get_kvs(tfile *f, yaml_node_t *n, const char *ctx, kv **out, int *nout) {
    char what[64];
    snprintf(what, sizeof what, "a mapping of %s (name: value)", ctx);
    *out = NULL;
    *nout = 0;
    if (pw_yget_map(&f->doc, n, what) < 0) return -1;
    if (pw_ymap_check_unique(&f->doc, n, ctx) > 0) return -1;
    int len = pw_ymap_len(n), bad = 0;
    kv *v = xcalloc((size_t)len, sizeof *v);
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *val;
        if (pw_ymap_at(&f->doc, n, i, &k, &val) < 0 || !k || !val) { bad = 1; break; }
        const char *ks = pw_yscalar(k);
        if (!ks || get_label_text(f, val, &v[i].v) < 0) { bad = 1; continue; }
        v[i].k = ks;
    }
    if (bad) { free(v); return -1; }
    *out = v;
    *nout = len;
    return 0;
}

/* ---------- YAML -> JSON for events ---------- */

static int is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int y2j(tfile *f, yaml_node_t *n, int depth, int subst, pattern *p);

static int y2j_map_pairs(tfile *f, yaml_node_t *n, int depth, int subst, pattern *p, int *first,
                         yaml_node_t *skip_keys_of) {
    int rc = 0, len = pw_ymap_len(n);
    if (pw_ymap_check_unique(&f->doc, n, "an event") > 0) rc = -1;
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *v;
        if (pw_ymap_at(&f->doc, n, i, &k, &v) < 0 || !k || !v) return -1;
        const char *ks = pw_yscalar(k);
        if (!ks) { /* pw_ymap_check_unique reported it */
            rc = -1;
            continue;
        }
        if (skip_keys_of) { /* vary replaces template fields of the same name */
            int dup = 0, m = pw_ymap_len(skip_keys_of);
            for (int j = 0; j < m && !dup; j++) {
                yaml_node_t *k2, *v2;
                if (pw_ymap_at(&f->doc, skip_keys_of, j, &k2, &v2) < 0 || !k2) return -1;
                const char *s2 = pw_yscalar(k2);
                dup = s2 && k2->data.scalar.length == k->data.scalar.length &&
                      memcmp(s2, ks, k->data.scalar.length) == 0;
            }
            if (dup) continue;
        }
        if (!*first) pat_lit(p, ",", 1);
        *first = 0;
        pat_str(p, ks, k->data.scalar.length, 0);
        pat_lit(p, ":", 1);
        if (y2j(f, v, depth + 1, subst, p) < 0) rc = -1;
    }
    return rc;
}

static int y2j(tfile *f, yaml_node_t *n, int depth, int subst, pattern *p) {
    if (depth > MAX_EVENT_DEPTH) {
        err(f, n, "an inline event nests deeper than %d levels", MAX_EVENT_DEPTH);
        return -1;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        double d;
        if (is_plain(n)) {
            if (pw_yis_null(n)) { pat_lit(p, "null", 4); return 0; }
            if (!strcasecmp(s, "true")) { pat_lit(p, "true", 4); return 0; }
            if (!strcasecmp(s, "false")) { pat_lit(p, "false", 5); return 0; }
            if (pw_value_parse_num(s, len, &d)) { pat_lit(p, s, len); return 0; }
        }
        pat_str(p, s, len, subst);
        return 0;
    }
    case YAML_SEQUENCE_NODE: {
        int rc = 0, len = pw_yseq_len(n);
        pat_lit(p, "[", 1);
        for (int i = 0; i < len; i++) {
            yaml_node_t *it = pw_yseq_at(&f->doc, n, i);
            if (!it) return -1;
            if (i) pat_lit(p, ",", 1);
            if (y2j(f, it, depth + 1, subst, p) < 0) rc = -1;
        }
        pat_lit(p, "]", 1);
        return rc;
    }
    case YAML_MAPPING_NODE: {
        int first = 1;
        pat_lit(p, "{", 1);
        int rc = y2j_map_pairs(f, n, depth, subst, p, &first, NULL);
        pat_lit(p, "}", 1);
        return rc;
    }
    default:
        err(f, n, "expected an event value, got %s", pw_ykind(n));
        return -1;
    }
}

static int map_has_key(tfile *f, yaml_node_t *n, const char *key) {
    if (!n) return 0;
    int len = pw_ymap_len(n);
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *v;
        if (pw_ymap_at(&f->doc, n, i, &k, &v) < 0 || !k) return 0;
        const char *ks = pw_yscalar(k);
        if (ks && !strcmp(ks, key)) return 1;
    }
    return 0;
}

/* The top-level event object of an inline event (tmpl only) or of a repeat
 * block (tmpl + vary, time hole unless given). */
static int build_event(tfile *f, yaml_node_t *tmpl, yaml_node_t *vary, int repeat, pattern *p) {
    int first = 1, rc = 0;
    pat_lit(p, "{", 1);
    if (y2j_map_pairs(f, tmpl, 1, repeat, p, &first, vary) < 0) rc = -1;
    if (vary && y2j_map_pairs(f, vary, 1, repeat, p, &first, NULL) < 0) rc = -1;
    const char *tf = rules_conf.time_field;
    if (repeat && !map_has_key(f, tmpl, tf) && !map_has_key(f, vary, tf)) {
        if (!first) pat_lit(p, ",", 1);
        pat_str(p, rules_conf.time_field, strlen(rules_conf.time_field), 0);
        pat_lit(p, ":\"", 2);
        pat_hole(p, SEG_TS, 0);
        pat_lit(p, "\"", 1);
    }
    pat_lit(p, "}", 1);
    return rc;
}

static evsrc *add_src(tcase *t) {
    grow(&t->src, &t->capsrc, t->nsrc + 1, sizeof *t->src);
    evsrc *s = &t->src[t->nsrc++];
    memset(s, 0, sizeof *s);
    return s;
}

static const char *const repeat_keys[] = {"repeat", "every", "from", "for", "count", "vary", NULL};
enum { RK_REPEAT, RK_EVERY, RK_FROM, RK_FOR, RK_COUNT, RK_VARY, RK__COUNT };

static int parse_repeat(tfile *f, yaml_node_t *item, tcase *t) {
    yaml_node_t *keys[RK__COUNT], *v[RK__COUNT];
    int rc = pw_ymap_check(&f->doc, item, "repeat block", repeat_keys, keys, v) ? -1 : 0;
    evsrc *s = add_src(t);
    s->kind = SRC_GEN;
    s->is_repeat = 1;
    s->loc = pw_yloc(&f->doc, item);
    if (!v[RK_REPEAT] || pw_yget_map(&f->doc, v[RK_REPEAT], "an event template (a mapping)") < 0) rc = -1;
    if (v[RK_VARY] && pw_yget_map(&f->doc, v[RK_VARY], "a mapping of fields to vary") < 0) {
        rc = -1;
        v[RK_VARY] = NULL;
    }
    if (!v[RK_EVERY]) {
        err(f, item, "repeat block needs `every` (a duration like 10m)");
        rc = -1;
    } else if (pw_yget_duration(&f->doc, v[RK_EVERY], "a duration like 10m", &s->every) < 0) {
        rc = -1;
    } else if (s->every <= 0) {
        err(f, v[RK_EVERY], "`every` must be longer than 0");
        rc = -1;
    }
    if (!v[RK_FROM]) {
        err(f, item, "repeat block needs `from` (the time of its first event)");
        rc = -1;
    } else if (get_time(f, v[RK_FROM], "from", &s->from) < 0) {
        rc = -1;
    }
    if (!!v[RK_FOR] == !!v[RK_COUNT]) {
        err(f, item, "repeat block needs exactly one of `for` (a duration) and `count` (a number of events)");
        rc = -1;
    } else if (v[RK_FOR]) {
        int64_t dur;
        if (pw_yget_duration(&f->doc, v[RK_FOR], "a duration like 6h", &dur) < 0) rc = -1;
        else if (rc == 0) s->count = dur / s->every + (dur % s->every != 0);
    } else if (pw_yget_int(&f->doc, v[RK_COUNT], "a number of events", 0, MAX_REPEAT, &s->count) < 0) {
        rc = -1;
    }
    if (rc == 0 && s->count > MAX_REPEAT) {
        err(f, v[RK_FOR], "repeat block makes %lld events, more than %lld", (long long)s->count,
            (long long)MAX_REPEAT);
        rc = -1;
    }
    if (rc == 0 && s->count > 0 && (MAX_TIME_MS - s->from) / s->every < s->count - 1) {
        err(f, item, "repeat block runs past the year 9999");
        rc = -1;
    }
    if (v[RK_REPEAT] && v[RK_REPEAT]->type == YAML_MAPPING_NODE &&
        build_event(f, v[RK_REPEAT], v[RK_VARY], 1, &s->pat) < 0)
        rc = -1;
    return rc;
}

static int parse_events(tfile *f, yaml_node_t *n, tcase *t) {
    if (pw_yget_seq(&f->doc, n, "a list of events") < 0) return -1;
    int rc = 0, len = pw_yseq_len(n);
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = pw_yseq_at(&f->doc, n, i);
        if (!it) return -1;
        if (pw_yget_map(&f->doc, it, "an event (a mapping) or a repeat block") < 0) { rc = -1; continue; }
        if (map_has_key(f, it, "repeat")) {
            if (parse_repeat(f, it, t) < 0) rc = -1;
            continue;
        }
        evsrc *s = add_src(t);
        s->kind = SRC_GEN;
        s->loc = pw_yloc(&f->doc, it);
        s->count = 1;
        if (build_event(f, it, NULL, 0, &s->pat) < 0) rc = -1;
    }
    return rc;
}

/* ---------- expectations ---------- */

static const char *const notif_keys[] = {"rule", "state", "severity", "metric", "labels", "value",
                                         "threshold", "at", "active_since", "annotations", "fingerprint",
                                         "tolerance", NULL};
enum { NK_RULE, NK_STATE, NK_SEVERITY, NK_METRIC, NK_LABELS, NK_VALUE, NK_THRESHOLD, NK_AT, NK_SINCE,
       NK_ANN, NK_FP, NK_TOL, NK__COUNT };

static int get_name(tfile *f, yaml_node_t *n, const char *noun, const char *const *known, const char **out) {
    char what[32];
    snprintf(what, sizeof what, "a %s name", noun);
    char show[80];
    if (pw_yget_str(&f->doc, n, what, out) < 0) return -1;
    if (!known) return 0;
    for (int i = 0; known[i]; i++)
        if (!strcmp(known[i], *out)) return 0;
    const char *sug = pw_diag_suggest(*out, known);
    err(f, n, "no %s named '%s' in the rule files%s%s%s", noun, pw_yshow(*out, show, sizeof show),
        sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
    return -1;
}

static int get_tol(tfile *f, yaml_node_t *n, double *out) {
    *out = DEFAULT_TOL;
    if (!n) return 0;
    if (pw_yget_num(&f->doc, n, "a relative tolerance like 0.001", out) < 0) return -1;
    if (!(*out >= 0)) { err(f, n, "tolerance must be 0 or more"); return -1; }
    return 0;
}

static int parse_notif(tfile *f, yaml_node_t *n, exp_notif *e) {
    yaml_node_t *v[NK__COUNT];
    int rc = 0;
    e->line = pw_yloc(&f->doc, n).line;
    if (pw_yget_map(&f->doc, n, "an expected notification (a mapping)") < 0) return -1;
    if (pw_ymap_check(&f->doc, n, "expected notification", notif_keys, NULL, v)) rc = -1;
    e->value = e->threshold = NAN;
    if (v[NK_RULE]) {
        e->has |= F_RULE;
        if (get_name(f, v[NK_RULE], "rule", f->rule_names, &e->rule) < 0) rc = -1;
    }
    if (v[NK_STATE]) {
        const char *s;
        e->has |= F_STATE;
        if (pw_yget_str(&f->doc, v[NK_STATE], "firing or resolved", &s) < 0) rc = -1;
        else if (!strcmp(s, "firing")) e->firing = 1;
        else if (!strcmp(s, "resolved")) e->firing = 0;
        else { err(f, v[NK_STATE], "state must be firing or resolved"); rc = -1; }
    }
    if (v[NK_SEVERITY]) {
        e->has |= F_SEVERITY;
        if (pw_yget_str(&f->doc, v[NK_SEVERITY], "info, warning or critical", &e->severity) < 0) rc = -1;
        else if (strcmp(e->severity, "info") && strcmp(e->severity, "warning") &&
                 strcmp(e->severity, "critical")) {
            err(f, v[NK_SEVERITY], "severity must be info, warning or critical");
            rc = -1;
        }
    }
    if (v[NK_METRIC]) {
        e->has |= F_METRIC;
        if (get_name(f, v[NK_METRIC], "metric", f->metric_names, &e->metric) < 0) rc = -1;
    }
    if (v[NK_LABELS]) {
        e->has |= F_LABELS;
        if (get_kvs(f, v[NK_LABELS], "labels", &e->labels, &e->nlabels) < 0) rc = -1;
    }
    if (v[NK_ANN]) {
        e->has |= F_ANN;
        if (get_kvs(f, v[NK_ANN], "annotations", &e->ann, &e->nann) < 0) rc = -1;
    }
    if (v[NK_VALUE]) {
        e->has |= F_VALUE;
        if (get_num_or_null(f, v[NK_VALUE], "a number or null", &e->value) < 0) rc = -1;
    }
    if (v[NK_THRESHOLD]) {
        e->has |= F_THRESHOLD;
        if (get_num_or_null(f, v[NK_THRESHOLD], "a number or null", &e->threshold) < 0) rc = -1;
    }
    if (v[NK_AT]) {
        e->has |= F_AT;
        if (get_time(f, v[NK_AT], "at", &e->at) < 0) rc = -1;
    }
    if (v[NK_SINCE]) {
        e->has |= F_SINCE;
        if (get_time(f, v[NK_SINCE], "active_since", &e->since) < 0) rc = -1;
    }
    if (v[NK_FP]) {
        const char *s = pw_yscalar(v[NK_FP]);
        size_t i = 0;
        e->has |= F_FP;
        while (s && i < 16 && strchr("0123456789abcdefABCDEF", s[i]) && s[i]) i++;
        if (!s || i != 16 || s[16]) {
            err(f, v[NK_FP], "fingerprint must be 16 hex digits, as in notifications");
            rc = -1;
        } else {
            e->fingerprint = s;
        }
    }
    if (get_tol(f, v[NK_TOL], &e->tol) < 0) rc = -1;
    return rc;
}

static const char *const metric_keys[] = {"metric", "labels", "value", "count", "exists", "tolerance", NULL};
enum { MK_METRIC, MK_LABELS, MK_VALUE, MK_COUNT, MK_EXISTS, MK_TOL, MK__COUNT };

static int parse_metric(tfile *f, yaml_node_t *n, exp_metric *e) {
    yaml_node_t *v[MK__COUNT];
    int rc = 0;
    char show[80];
    e->midx = -1;
    e->exists = 1;
    e->line = pw_yloc(&f->doc, n).line;
    if (pw_yget_map(&f->doc, n, "an expected series (a mapping)") < 0) return -1;
    if (pw_ymap_check(&f->doc, n, "expected series", metric_keys, NULL, v)) rc = -1;
    if (!v[MK_METRIC]) {
        err(f, n, "an expected series needs `metric`");
        return -1;
    }
    if (get_name(f, v[MK_METRIC], "metric", f->metric_names, &e->mname) < 0) return -1;
    kv *labels = NULL;
    int nlabels = 0;
    if (v[MK_LABELS] && get_kvs(f, v[MK_LABELS], "labels", &labels, &nlabels) < 0) rc = -1;
    if (f->rs) {
        e->midx = pw_ruleset_metric_index(f->rs, e->mname);
        const pw_metric_def *d = &f->rs->metrics[e->midx];
        e->lvals = xcalloc((size_t)d->nby + 1, sizeof *e->lvals);
        for (int i = 0; i < nlabels; i++) {
            int j = 0;
            while (j < d->nby && strcmp(d->by[j], labels[i].k)) j++;
            if (j == d->nby) {
                err(f, v[MK_LABELS], "metric '%s' has no label '%s' (its labels are its `by` fields)",
                    d->name, pw_yshow(labels[i].k, show, sizeof show));
                rc = -1;
            } else {
                e->lvals[j] = labels[i].v;
            }
        }
        for (int j = 0; j < d->nby && rc == 0; j++) {
            if (e->lvals[j]) continue;
            err(f, v[MK_LABELS] ? v[MK_LABELS] : n,
                "labels must give every label of metric '%s' (missing: %s)", d->name, d->by[j]);
            rc = -1;
        }
    }
    free(labels);
    if (v[MK_EXISTS] && pw_yget_bool(&f->doc, v[MK_EXISTS], "true or false", &e->exists) < 0) rc = -1;
    if (v[MK_VALUE]) {
        e->has_value = 1;
        if (get_num_or_null(f, v[MK_VALUE], "a number or null", &e->value) < 0) rc = -1;
    }
    if (v[MK_COUNT]) {
        int64_t c;
        e->has_count = 1;
        if (pw_yget_int(&f->doc, v[MK_COUNT], "a number of events", 0, INT64_MAX, &c) < 0) rc = -1;
        else e->count = (uint64_t)c;
    }
    if (!e->exists && (v[MK_VALUE] || v[MK_COUNT])) {
        err(f, v[MK_EXISTS], "`exists: false` cannot go with value or count");
        rc = -1;
    }
    if (get_tol(f, v[MK_TOL], &e->tol) < 0) rc = -1;
    return rc;
}

static int parse_counters(tfile *f, yaml_node_t *n, exp_counters *e) {
    yaml_node_t *v[NCOUNTERS + 1];
    int rc = 0;
    const char *name;
    e->midx = -1;
    e->line = pw_yloc(&f->doc, n).line;
    if (pw_yget_map(&f->doc, n, "expected counters (a mapping)") < 0) return -1;
    if (pw_ymap_check(&f->doc, n, "counters", counter_keys, NULL, v)) rc = -1;
    if (!v[0]) {
        err(f, n, "expected counters need `metric`");
        return -1;
    }
    if (get_name(f, v[0], "metric", f->metric_names, &name) < 0) return -1;
    if (f->rs) e->midx = pw_ruleset_metric_index(f->rs, name);
    for (int k = 0; k < NCOUNTERS; k++) {
        int64_t x;
        if (!v[k + 1]) continue;
        e->has |= 1u << k;
        if (pw_yget_int(&f->doc, v[k + 1], "a count", 0, INT64_MAX, &x) < 0) rc = -1;
        else e->want[k] = (uint64_t)x;
    }
    return rc;
}

static const char *const test_keys[] = {"name", "events", "events_file", "order", "until", "notifications",
                                        "metrics", "counters", NULL};
enum { TK_NAME, TK_EVENTS, TK_FILE, TK_ORDER, TK_UNTIL, TK_NOTIFS, TK_METRICS, TK_COUNTERS, TK__COUNT };

static int parse_test(tfile *f, yaml_node_t *n, tcase *t) {
    yaml_node_t *v[TK__COUNT];
    int rc = 0;
    t->line = pw_yloc(&f->doc, n).line;
    t->name = "";
    if (pw_yget_map(&f->doc, n, "a test case (a mapping)") < 0) return -1;
    if (pw_ymap_check(&f->doc, n, "test case", test_keys, NULL, v)) rc = -1;
    if (!v[TK_NOTIFS] && !v[TK_METRICS] && !v[TK_COUNTERS])
        pw_diag_warn(&f->diag, pw_yloc(&f->doc, n),
                     "test case checks nothing (no `notifications`, `metrics` or `counters`)");
    if (!v[TK_NAME]) { err(f, n, "a test case needs `name`"); rc = -1; }
    else if (pw_yget_str(&f->doc, v[TK_NAME], "a test name", &t->name) < 0) rc = -1;
    if (v[TK_ORDER]) {
        const char *s;
        if (pw_yget_str(&f->doc, v[TK_ORDER], "written or time", &s) < 0) rc = -1;
        else if (!strcmp(s, "time")) t->by_time = 1;
        else if (strcmp(s, "written")) { err(f, v[TK_ORDER], "order must be written or time"); rc = -1; }
    }
    if (v[TK_EVENTS] && parse_events(f, v[TK_EVENTS], t) < 0) rc = -1;
    if (v[TK_FILE]) {
        const char *p;
        if (pw_yget_str(&f->doc, v[TK_FILE], "a JSON-lines file name", &p) < 0) {
            rc = -1;
        } else {
            evsrc *s = add_src(t);
            s->kind = SRC_FILE;
            s->loc = pw_yloc(&f->doc, v[TK_FILE]);
            s->path = resolve(f, p);
            struct stat st;
            if (stat(s->path, &st) < 0) {
                err(f, v[TK_FILE], "events_file '%s': %s", s->path, strerror(errno));
                rc = -1;
            } else if (!S_ISREG(st.st_mode)) {
                err(f, v[TK_FILE], "events_file '%s' is not a regular file", s->path);
                rc = -1;
            }
        }
    }
    if (!v[TK_EVENTS] && !v[TK_FILE]) {
        err(f, n, "a test case needs `events` and/or `events_file`");
        rc = -1;
    }
    if (v[TK_UNTIL]) {
        t->has_until = 1;
        t->until_loc = pw_yloc(&f->doc, v[TK_UNTIL]);
        if (get_time(f, v[TK_UNTIL], "until", &t->until) < 0) rc = -1;
    }
    if (v[TK_NOTIFS]) {
        t->check_notifs = 1;
        if (pw_yget_seq(&f->doc, v[TK_NOTIFS], "a list of notifications ([] for none)") < 0) {
            rc = -1;
        } else {
            int len = pw_yseq_len(v[TK_NOTIFS]);
            t->en = xcalloc((size_t)len, sizeof *t->en);
            for (int i = 0; i < len; i++) {
                yaml_node_t *it = pw_yseq_at(&f->doc, v[TK_NOTIFS], i);
                if (!it) return -1;
                t->nen++;
                if (parse_notif(f, it, &t->en[i]) < 0) rc = -1;
            }
        }
    }
    if (v[TK_METRICS]) {
        if (pw_yget_seq(&f->doc, v[TK_METRICS], "a list of expected series") < 0) {
            rc = -1;
        } else {
            int len = pw_yseq_len(v[TK_METRICS]);
            t->em = xcalloc((size_t)len, sizeof *t->em);
            for (int i = 0; i < len; i++) {
                yaml_node_t *it = pw_yseq_at(&f->doc, v[TK_METRICS], i);
                if (!it) return -1;
                t->nem++;
                if (parse_metric(f, it, &t->em[i]) < 0) rc = -1;
            }
        }
    }
    if (v[TK_COUNTERS]) {
        if (pw_yget_seq(&f->doc, v[TK_COUNTERS], "a list of expected counters") < 0) {
            rc = -1;
        } else {
            int len = pw_yseq_len(v[TK_COUNTERS]);
            t->ec = xcalloc((size_t)len, sizeof *t->ec);
            for (int i = 0; i < len; i++) {
                yaml_node_t *it = pw_yseq_at(&f->doc, v[TK_COUNTERS], i);
                if (!it) return -1;
                t->nec++;
                if (parse_counters(f, it, &t->ec[i]) < 0) rc = -1;
            }
        }
    }
    return rc;
}

static void free_test(tcase *t) {
    for (int i = 0; i < t->nsrc; i++) {
        pat_free(&t->src[i].pat);
        free(t->src[i].path);
    }
    free(t->src);
    for (int i = 0; i < t->nen; i++) {
        free(t->en[i].labels);
        free(t->en[i].ann);
    }
    free(t->en);
    for (int i = 0; i < t->nem; i++) free(t->em[i].lvals);
    free(t->em);
    free(t->ec);
}

static const char *const top_keys[] = {"rule_files", "tests", NULL};
enum { TOP_RULES, TOP_TESTS, TOP__COUNT };

/* Load rule files named by the test file. 0 if the rule set loaded. */
static int load_rules(tfile *f, yaml_node_t *n) {
    int npaths = 0, bad = 0;
    yaml_node_t **items;
    if (n->type == YAML_SCALAR_NODE && !pw_yis_null(n)) {
        items = xmalloc(sizeof *items);
        items[npaths++] = n;
    } else {
        if (pw_yget_seq(&f->doc, n, "a list of rule files or directories") < 0) return -1;
        int len = pw_yseq_len(n);
        if (!len) { err(f, n, "rule_files is empty"); return -1; }
        items = xcalloc((size_t)len, sizeof *items);
        for (int i = 0; i < len; i++)
            if (!(items[npaths++] = pw_yseq_at(&f->doc, n, i))) { free(items); return -1; }
    }
    char **paths = xcalloc((size_t)npaths, sizeof *paths);
    int nok = 0;
    for (int i = 0; i < npaths; i++) {
        const char *s;
        if (pw_yget_str(&f->doc, items[i], "a rule file or directory", &s) < 0) { bad = 1; continue; }
        char *p = resolve(f, s);
        struct stat st;
        if (stat(p, &st) < 0) {
            err(f, items[i], "rule file '%s': %s", p, strerror(errno));
            free(p);
            bad = 1;
            continue;
        }
        paths[nok++] = p;
    }
    /* the files that exist are loaded even when others are missing, to report their problems too;
     * the set is then dropped, as names would be checked against an incomplete set */
    if (nok) f->rs = pw_ruleset_load((const char *const *)paths, nok, &rules_conf, &f->diag);
    if (bad) {
        pw_ruleset_destroy(f->rs);
        f->rs = NULL;
    }
    for (int i = 0; i < nok; i++) free(paths[i]);
    free(paths);
    free(items);
    if (!f->rs) return -1;
    f->rule_names = xcalloc((size_t)f->rs->nrules + 1, sizeof *f->rule_names);
    for (int i = 0; i < f->rs->nrules; i++) f->rule_names[i] = f->rs->rules[i].name;
    f->metric_names = xcalloc((size_t)f->rs->nmetrics + 1, sizeof *f->metric_names);
    for (int i = 0; i < f->rs->nmetrics; i++) f->metric_names[i] = f->rs->metrics[i].name;
    return 0;
}

typedef struct dkey {
    int line, col, seq;
    pw_diag_entry e;
} dkey;

static int dkey_cmp(const void *a, const void *b) {
    const dkey *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Put the test file's own diag entries in line and column order (stably, in the slots they
 * occupy), so that the report reads top to bottom whichever check found each problem; the
 * rule files' entries, already sorted by the loader, stay where they are. */
static void sort_diag(tfile *f) {
    size_t pl = strlen(f->path);
    int n = 0;
    dkey *k = xcalloc((size_t)f->diag.n, sizeof *k);
    int *slot = xcalloc((size_t)f->diag.n, sizeof *slot);
    for (int i = 0; i < f->diag.n; i++) {
        const char *t = f->diag.v[i].text;
        if (strncmp(t, f->path, pl) || t[pl] != ':') continue;
        char *end;
        k[n].line = (int)strtol(t + pl + 1, &end, 10);
        k[n].col = *end == ':' ? (int)strtol(end + 1, NULL, 10) : 0;
        k[n].seq = n;
        k[n].e = f->diag.v[i];
        slot[n++] = i;
    }
    qsort(k, (size_t)n, sizeof *k, dkey_cmp);
    for (int i = 0; i < n; i++) f->diag.v[slot[i]] = k[i].e;
    free(k);
    free(slot);
}

/* Parse and validate the whole file; 0 if it is runnable. */
static int parse_file(tfile *f) {
    if (pw_ydoc_load_file(&f->doc, f->path, &f->diag) < 0) return -1;
    yaml_node_t *root = pw_ydoc_root(&f->doc);
    if (!root) {
        pw_diag_error(&f->diag, (pw_loc){f->path, 1, 1}, "empty test file (expected rule_files and tests)");
        return -1;
    }
    if (pw_yget_map(&f->doc, root, "a mapping with rule_files and tests") < 0) return -1;
    yaml_node_t *v[TOP__COUNT];
    int rc = pw_ymap_check(&f->doc, root, "test file", top_keys, NULL, v) ? -1 : 0;
    if (!v[TOP_RULES]) { err(f, root, "a test file needs `rule_files`"); rc = -1; }
    else if (load_rules(f, v[TOP_RULES]) < 0) rc = -1;
    if (!v[TOP_TESTS]) { err(f, root, "a test file needs `tests`"); return -1; }
    if (pw_yget_seq(&f->doc, v[TOP_TESTS], "a list of test cases") < 0) return -1;
    int len = pw_yseq_len(v[TOP_TESTS]);
    f->t = xcalloc((size_t)len, sizeof *f->t);
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = pw_yseq_at(&f->doc, v[TOP_TESTS], i);
        if (!it) return -1;
        f->nt++;
        if (parse_test(f, it, &f->t[i]) < 0) rc = -1;
    }
    return rc || f->diag.errors ? -1 : 0;
}

static void free_file(tfile *f) {
    for (int i = 0; i < f->nt; i++) free_test(&f->t[i]);
    free(f->t);
    free(f->rule_names);
    free(f->metric_names);
    pw_ruleset_destroy(f->rs);
    pw_ydoc_free(&f->doc);
    pw_diag_free(&f->diag);
    free(f->dir);
}

/* ---------- running a case ---------- */

typedef struct got_notif {
    const pw_rule_def *rule;
    const pw_metric_def *metric;
    int firing;
    char **lvals;          /* metric nby label values, owned */
    char **ann;            /* expanded annotations, owned */
    double value, threshold;
    int64_t at, since;
    char fp[17];
    char *json;            /* the notification as sinks get it, owned */
} got_notif;

typedef struct got_series {
    int midx;
    char **lvals;          /* owned */
    int defined;
    double value;
    uint64_t count;
} got_series;

typedef struct run {
    tfile *f;
    got_notif *gn;
    int ngn, capgn;
    got_series *gs;
    int ngs, capgs;
    pw_buf buf, tmp;
} run;

static char **copy_strs(const char *const *v, int n) {
    char **out = xcalloc((size_t)n + 1, sizeof *out);
    for (int i = 0; i < n; i++) out[i] = xstrndup(v[i], strlen(v[i]));
    return out;
}

static void free_strs(char **v) {
    for (int i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

static void on_notify(const pw_notification *n, void *ud) {
    run *r = ud;
    grow(&r->gn, &r->capgn, r->ngn + 1, sizeof *r->gn);
    got_notif *g = &r->gn[r->ngn++];
    memset(g, 0, sizeof *g);
    g->rule = n->rule;
    g->metric = n->metric;
    g->firing = n->firing;
    g->lvals = copy_strs(n->label_vals, n->metric->nby);
    g->value = n->value;
    g->threshold = n->threshold;
    g->at = n->at;
    g->since = n->active_since;
    snprintf(g->fp, sizeof g->fp, "%016llx", (unsigned long long)n->fingerprint);
    pw_buf_reset(&r->buf);
    pw_notification_json(n, &r->buf);
    g->json = xstrndup(r->buf.data, r->buf.len);
    /* annotations, expanded exactly as pw_notification_json does */
    const pw_rule_def *rd = n->rule;
    const pw_metric_def *md = n->metric;
    int nl = md->nby + rd->nlabels;
    const char **names = xcalloc((size_t)nl + 1, sizeof *names);
    const char **vals = xcalloc((size_t)nl + 1, sizeof *vals);
    for (int i = 0; i < md->nby; i++) {
        names[i] = md->by[i];
        vals[i] = n->label_vals[i];
    }
    for (int i = 0; i < rd->nlabels; i++) {
        names[md->nby + i] = rd->labels[i].key;
        vals[md->nby + i] = rd->labels[i].val;
    }
    pw_template_vars tv = {
        .rule = rd->name, .metric = md->name, .severity = pw_severity_name(rd->severity),
        .state = n->firing ? "firing" : "resolved", .value = n->value, .threshold = n->threshold,
        .label_names = names, .label_values = vals, .nlabels = nl,
    };
    g->ann = xcalloc((size_t)rd->nannotations + 1, sizeof *g->ann);
    for (int i = 0; i < rd->nannotations; i++) {
        pw_buf_reset(&r->tmp);
        pw_template_expand(rd->annotations[i].val, &tv, &r->tmp);
        g->ann[i] = xstrndup(r->tmp.data ? r->tmp.data : "", r->tmp.len);
    }
    free(names);
    free(vals);
}

static void on_series(const pw_series_view *s, void *ud) {
    run *r = ud;
    grow(&r->gs, &r->capgs, r->ngs + 1, sizeof *r->gs);
    got_series *g = &r->gs[r->ngs++];
    g->midx = s->metric_idx;
    g->lvals = copy_strs(s->label_vals, r->f->rs->metrics[s->metric_idx].nby);
    g->defined = s->defined;
    g->value = s->value;
    g->count = s->count;
}

static void run_free(run *r) {
    for (int i = 0; i < r->ngn; i++) {
        free_strs(r->gn[i].lvals);
        free_strs(r->gn[i].ann);
        free(r->gn[i].json);
    }
    free(r->gn);
    for (int i = 0; i < r->ngs; i++) free_strs(r->gs[i].lvals);
    free(r->gs);
    pw_buf_free(&r->buf);
    pw_buf_free(&r->tmp);
}

/* One event ready for the engine, or rejected by the decoder. */
typedef struct feeder {
    tfile *f;
    tcase *t;
    pw_decoder *dec;
    pw_engine *eng;
    int failed;            /* a decode or read error was reported */
    /* order: time */
    pw_buf arena;
    struct sorted_ev { int64_t ts; uint64_t seq; size_t off, len; } *sv;
    int64_t nsv, capsv;
} feeder;

static void reject(feeder *fd, pw_loc loc, const char *what, pw_ev_err e) {
    fd->failed = 1;
    fprintf(stderr, "%s:%d:%d: %s rejected by the decoder: %s\n", loc.file, loc.line, loc.col, what,
            pw_ev_err_name(e));
}

/* Decode and apply (or collect, for order: time) one event. -1 stops the case. */
static int feed(feeder *fd, const char *json, size_t len, pw_loc loc, const char *what) {
    pw_event ev;
    pw_ev_err e = len > MAX_EVENT_SIZE ? PW_EV_TOO_LARGE : pw_decoder_decode(fd->dec, json, len, &ev);
    if (e != PW_EV_OK) { reject(fd, loc, what, e); return -1; }
    if (!fd->t->by_time) {
        pw_engine_event(fd->eng, &ev);
        return 0;
    }
    if (fd->nsv == MAX_SORTED) {
        fd->failed = 1;
        fprintf(stderr, "%s:%d:%d: more than %lld events in a case with `order: time`\n", loc.file, loc.line,
                loc.col, (long long)MAX_SORTED);
        return -1;
    }
    if (fd->nsv == fd->capsv) {
        fd->capsv = fd->capsv ? fd->capsv * 2 : 1024;
        fd->sv = xrealloc(fd->sv, (size_t)fd->capsv * sizeof *fd->sv);
    }
    fd->sv[fd->nsv] = (struct sorted_ev){ev.ts, (uint64_t)fd->nsv, fd->arena.len, len};
    fd->nsv++;
    pw_buf_append(&fd->arena, json, len);
    return 0;
}

static int cmp_sorted(const void *a, const void *b) {
    const struct sorted_ev *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int feed_file(feeder *fd, evsrc *s) {
    FILE *in = fopen(s->path, "rb");
    if (!in) {
        fd->failed = 1;
        fprintf(stderr, "%s:%d:%d: cannot open events_file '%s': %s\n", s->loc.file, s->loc.line, s->loc.col,
                s->path, strerror(errno));
        return -1;
    }
    pw_lines *lr = pw_lines_new(in, MAX_EVENT_SIZE);
    if (!lr) { fputs("pipewatch test: out of memory\n", stderr); abort(); }
    const char *line;
    size_t len;
    int r, rc = 0;
    while ((r = pw_lines_next(lr, &line, &len)) > 0) {
        pw_loc loc = {s->path, (int)pw_lines_lineno(lr), 1};
        if (r == 2) { reject(fd, loc, "event", PW_EV_TOO_LARGE); rc = -1; break; }
        size_t j = 0;
        while (j < len && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r')) j++;
        if (j == len) continue;
        if (feed(fd, line, len, loc, "event") < 0) { rc = -1; break; }
    }
    if (r < 0) {
        fd->failed = 1;
        fprintf(stderr, "%s: read error: %s\n", s->path, strerror(errno));
        rc = -1;
    }
    pw_lines_destroy(lr);
    fclose(in);
    return rc;
}

static int feed_all(feeder *fd) {
    pw_buf b;
    pw_buf_init(&b);
    int rc = 0;
    for (int i = 0; i < fd->t->nsrc && rc == 0; i++) {
        evsrc *s = &fd->t->src[i];
        if (s->kind == SRC_FILE) { rc = feed_file(fd, s); continue; }
        for (int64_t k = 0; k < s->count && rc == 0; k++) {
            pat_render(&s->pat, k, s->from + k * s->every, &b);
            char what[64];
            if (s->is_repeat) snprintf(what, sizeof what, "event %lld of this repeat block", (long long)k);
            else snprintf(what, sizeof what, "event");
            rc = feed(fd, b.data, b.len, s->loc, what);
        }
    }
    pw_buf_free(&b);
    if (rc == 0 && fd->t->by_time) {
        qsort(fd->sv, (size_t)fd->nsv, sizeof *fd->sv, cmp_sorted);
        for (int64_t i = 0; i < fd->nsv; i++) {
            pw_event ev;
            if (pw_decoder_decode(fd->dec, fd->arena.data + fd->sv[i].off, fd->sv[i].len, &ev) == PW_EV_OK)
                pw_engine_event(fd->eng, &ev);
        }
    }
    return rc;
}

/* ---------- comparison and diff ---------- */

static const char *got_label(const got_notif *g, const char *name) {
    const char *v = NULL; /* the last one wins, as for a JSON object with repeated keys */
    for (int i = 0; i < g->metric->nby; i++)
        if (!strcmp(g->metric->by[i], name)) v = g->lvals[i];
    for (int i = 0; i < g->rule->nlabels; i++)
        if (!strcmp(g->rule->labels[i].key, name)) v = g->rule->labels[i].val;
    return v;
}

static const char *got_ann(const got_notif *g, const char *name) {
    for (int i = 0; i < g->rule->nannotations; i++)
        if (!strcmp(g->rule->annotations[i].key, name)) return g->ann[i];
    return NULL;
}

static void put_str(pw_buf *b, const char *s) { pw_buf_json_str(b, s, strlen(s)); }

static void put_time(pw_buf *b, int64_t t) {
    pw_buf_putc(b, '"');
    pw_time_format(t, b);
    pw_buf_putc(b, '"');
}

/* Fields of g that differ from e, appended to notes (one "field: expected X, got Y" each). Returns the
 * number of differences. */
static int notif_diff(const exp_notif *e, const got_notif *g, pw_buf *notes) {
    int nd = 0;
#define NOTE(...)                                                                                   \
    do {                                                                                            \
        nd++;                                                                                       \
        if (notes) pw_buf_printf(notes, __VA_ARGS__);                                               \
    } while (0)
    if ((e->has & F_RULE) && strcmp(e->rule, g->rule->name))
        NOTE("rule: expected %s, got %s\n", e->rule, g->rule->name);
    if ((e->has & F_STATE) && e->firing != g->firing)
        NOTE("state: expected %s, got %s\n", e->firing ? "firing" : "resolved",
             g->firing ? "firing" : "resolved");
    if ((e->has & F_SEVERITY) && strcmp(e->severity, pw_severity_name(g->rule->severity)))
        NOTE("severity: expected %s, got %s\n", e->severity, pw_severity_name(g->rule->severity));
    if ((e->has & F_METRIC) && strcmp(e->metric, g->metric->name))
        NOTE("metric: expected %s, got %s\n", e->metric, g->metric->name);
    for (int i = 0; i < e->nlabels; i++) {
        const char *gv = got_label(g, e->labels[i].k);
        if (!gv || strcmp(gv, e->labels[i].v))
            NOTE("labels.%s: expected \"%s\", got %s%s%s\n", e->labels[i].k, e->labels[i].v, gv ? "\"" : "",
                 gv ? gv : "no such label", gv ? "\"" : "");
    }
    if ((e->has & F_VALUE) && !num_close(e->value, g->value, e->tol)) {
        if (notes) {
            pw_buf_puts(notes, "value: expected ");
            pw_buf_json_num(notes, e->value);
            pw_buf_puts(notes, ", got ");
            pw_buf_json_num(notes, g->value);
            pw_buf_putc(notes, '\n');
        }
        nd++;
    }
    if ((e->has & F_THRESHOLD) && !num_close(e->threshold, g->threshold, e->tol)) {
        if (notes) {
            pw_buf_puts(notes, "threshold: expected ");
            pw_buf_json_num(notes, e->threshold);
            pw_buf_puts(notes, ", got ");
            pw_buf_json_num(notes, g->threshold);
            pw_buf_putc(notes, '\n');
        }
        nd++;
    }
    char t1[40], t2[40];
    if ((e->has & F_AT) && e->at != g->at)
        NOTE("at: expected %s, got %s\n", pw_time_format_s(e->at, t1, sizeof t1),
             pw_time_format_s(g->at, t2, sizeof t2));
    if ((e->has & F_SINCE) && e->since != g->since)
        NOTE("active_since: expected %s, got %s\n", pw_time_format_s(e->since, t1, sizeof t1),
             pw_time_format_s(g->since, t2, sizeof t2));
    for (int i = 0; i < e->nann; i++) {
        const char *gv = got_ann(g, e->ann[i].k);
        if (!gv || strcmp(gv, e->ann[i].v))
            NOTE("annotations.%s: expected \"%s\", got %s%s%s\n", e->ann[i].k, e->ann[i].v, gv ? "\"" : "",
                 gv ? gv : "no such annotation", gv ? "\"" : "");
    }
    if ((e->has & F_FP) && strcasecmp(e->fingerprint, g->fp))
        NOTE("fingerprint: expected %s, got %s\n", e->fingerprint, g->fp);
#undef NOTE
    return nd;
}

static void render_exp(const exp_notif *e, pw_buf *b) {
    int first = 1;
#define SEP() do { if (!first) pw_buf_putc(b, ','); first = 0; } while (0)
    pw_buf_putc(b, '{');
    if (e->has & F_RULE) { SEP(); pw_buf_puts(b, "\"rule\":"); put_str(b, e->rule); }
    if (e->has & F_STATE) {
        SEP();
        pw_buf_puts(b, "\"state\":");
        put_str(b, e->firing ? "firing" : "resolved");
    }
    if (e->has & F_SEVERITY) { SEP(); pw_buf_puts(b, "\"severity\":"); put_str(b, e->severity); }
    if (e->has & F_METRIC) { SEP(); pw_buf_puts(b, "\"metric\":"); put_str(b, e->metric); }
    if (e->has & F_LABELS) {
        SEP();
        pw_buf_puts(b, "\"labels\":{");
        for (int i = 0; i < e->nlabels; i++) {
            if (i) pw_buf_putc(b, ',');
            put_str(b, e->labels[i].k);
            pw_buf_putc(b, ':');
            put_str(b, e->labels[i].v);
        }
        pw_buf_putc(b, '}');
    }
    if (e->has & F_VALUE) { SEP(); pw_buf_puts(b, "\"value\":"); pw_buf_json_num(b, e->value); }
    if (e->has & F_THRESHOLD) { SEP(); pw_buf_puts(b, "\"threshold\":"); pw_buf_json_num(b, e->threshold); }
    if (e->has & F_AT) { SEP(); pw_buf_puts(b, "\"at\":"); put_time(b, e->at); }
    if (e->has & F_SINCE) { SEP(); pw_buf_puts(b, "\"active_since\":"); put_time(b, e->since); }
    if (e->has & F_ANN) {
        SEP();
        pw_buf_puts(b, "\"annotations\":{");
        for (int i = 0; i < e->nann; i++) {
            if (i) pw_buf_putc(b, ',');
            put_str(b, e->ann[i].k);
            pw_buf_putc(b, ':');
            put_str(b, e->ann[i].v);
        }
        pw_buf_putc(b, '}');
    }
    if (e->has & F_FP) { SEP(); pw_buf_puts(b, "\"fingerprint\":"); put_str(b, e->fingerprint); }
    pw_buf_putc(b, '}');
#undef SEP
}

/* Bounded report of one failing case. */
typedef struct report {
    pw_buf out;
    int lines, dropped;
} report;

static void rline(report *r, const char *prefix, const char *text, size_t len) {
    if (r->lines >= DIFF_MAX_LINES) { r->dropped++; return; }
    r->lines++;
    pw_buf_puts(&r->out, prefix);
    pw_buf_append(&r->out, text, len);
    pw_buf_putc(&r->out, '\n');
}

/* Each line of `notes` as an indented note. */
static void rnotes(report *r, const pw_buf *notes) {
    const char *p = notes->data, *end = p ? p + notes->len : p;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        rline(r, "      ", p, len);
        p += len + 1;
    }
}

typedef enum op { OP_SAME, OP_DEL, OP_INS } op;

/* Align expected and got notifications (longest common subsequence of
 * matching entries; positional when the table would be too big) and print
 * the diff. */
static void diff_notifs(const tcase *t, const run *rn, report *r) {
    int n = t->nen, m = rn->ngn;
    pw_buf line, notes;
    pw_buf_init(&line);
    pw_buf_init(&notes);
    op *ops = xcalloc((size_t)(n + m), sizeof *ops);
    int nops = 0;
    if ((int64_t)(n + 1) * (m + 1) <= LCS_MAX_CELLS) {
        int *L = xcalloc((size_t)(n + 1) * (size_t)(m + 1), sizeof *L);
        unsigned char *eq = xcalloc((size_t)n * (size_t)m, 1);
#define LL(i, j) L[(size_t)(i) * (size_t)(m + 1) + (size_t)(j)]
#define EQ(i, j) eq[(size_t)(i) * (size_t)m + (size_t)(j)]
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) EQ(i, j) = notif_diff(&t->en[i], &rn->gn[j], NULL) == 0;
        for (int i = n - 1; i >= 0; i--)
            for (int j = m - 1; j >= 0; j--) {
                int best = LL(i + 1, j) > LL(i, j + 1) ? LL(i + 1, j) : LL(i, j + 1);
                if (EQ(i, j) && LL(i + 1, j + 1) + 1 > best) best = LL(i + 1, j + 1) + 1;
                LL(i, j) = best;
            }
        int i = 0, j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && EQ(i, j) && LL(i, j) == LL(i + 1, j + 1) + 1) {
                ops[nops++] = OP_SAME; i++; j++;
            } else if (j == m || (i < n && LL(i + 1, j) >= LL(i, j + 1))) {
                ops[nops++] = OP_DEL; i++;
            } else {
                ops[nops++] = OP_INS; j++;
            }
        }
#undef LL
#undef EQ
        free(L);
        free(eq);
    } else {
        int k = 0;
        for (; k < n && k < m; k++) ops[nops++] = notif_diff(&t->en[k], &rn->gn[k], NULL) ? OP_DEL : OP_SAME;
        for (; k < n; k++) ops[nops++] = OP_DEL;
        /* positional: a mismatch at k is a DEL of expected k then an INS of got k */
        op *o2 = xcalloc((size_t)(2 * (n + m)), sizeof *o2);
        int n2 = 0, kk = 0;
        for (int q = 0; q < nops; q++) {
            o2[n2++] = ops[q];
            if (ops[q] == OP_DEL && kk < m) o2[n2++] = OP_INS;
            kk++;
        }
        for (; kk < m; kk++) o2[n2++] = OP_INS;
        free(ops);
        ops = o2;
        nops = n2;
    }
    pw_buf_reset(&line);
    pw_buf_printf(&line, "notifications: expected %d, got %d", n, m);
    rline(r, "  ", line.data, line.len);
    int i = 0, j = 0;
    for (int q = 0; q < nops;) {
        if (ops[q] == OP_SAME) {
            pw_buf_reset(&line);
            render_exp(&t->en[i], &line);
            rline(r, "    ", line.data, line.len);
            i++; j++; q++;
            continue;
        }
        int nd = 0, ni = 0;
        while (q + nd + ni < nops && ops[q + nd + ni] != OP_SAME) {
            if (ops[q + nd + ni] == OP_DEL) nd++; else ni++;
        }
        /* pair deletions with insertions, so each replaced entry shows what differs */
        int di = i, gj = j;
        for (int k = 0; k < nd || k < ni; k++) {
            if (k < nd) {
                pw_buf_reset(&line);
                render_exp(&t->en[di + k], &line);
                pw_buf_printf(&line, "   (line %d)", t->en[di + k].line);
                rline(r, "  - ", line.data, line.len);
            }
            if (k < ni) rline(r, "  + ", rn->gn[gj + k].json, strlen(rn->gn[gj + k].json));
            if (k < nd && k < ni) {
                pw_buf_reset(&notes);
                notif_diff(&t->en[di + k], &rn->gn[gj + k], &notes);
                rnotes(r, &notes);
            }
        }
        i += nd;
        j += ni;
        q += nd + ni;
    }
    free(ops);
    pw_buf_free(&line);
    pw_buf_free(&notes);
}

static void render_series(const pw_metric_def *d, const char *const *lv, int has_v, int defined, double v,
                          int has_c, uint64_t c, pw_buf *b) {
    pw_buf_puts(b, "{\"metric\":");
    put_str(b, d->name);
    pw_buf_puts(b, ",\"labels\":{");
    for (int i = 0; i < d->nby; i++) {
        if (i) pw_buf_putc(b, ',');
        put_str(b, d->by[i]);
        pw_buf_putc(b, ':');
        put_str(b, lv[i]);
    }
    pw_buf_putc(b, '}');
    if (has_v) {
        pw_buf_puts(b, ",\"value\":");
        if (defined) pw_buf_json_num(b, v); else pw_buf_puts(b, "null");
    }
    if (has_c) pw_buf_printf(b, ",\"count\":%llu", (unsigned long long)c);
    pw_buf_putc(b, '}');
}

static const got_series *find_series(const run *rn, const exp_metric *e, int nby) {
    for (int i = 0; i < rn->ngs; i++) {
        const got_series *g = &rn->gs[i];
        if (g->midx != e->midx) continue;
        int k = 0;
        while (k < nby && !strcmp(g->lvals[k], e->lvals[k])) k++;
        if (k == nby) return g;
    }
    return NULL;
}

/* 0 if every listed series matches; else prints the differences. */
static int check_metrics(const tcase *t, const run *rn, report *r) {
    int bad = 0, header = 0;
    pw_buf line, notes;
    pw_buf_init(&line);
    pw_buf_init(&notes);
    for (int i = 0; i < t->nem; i++) {
        const exp_metric *e = &t->em[i];
        const pw_metric_def *d = &rn->f->rs->metrics[e->midx];
        const got_series *g = find_series(rn, e, d->nby);
        pw_buf_reset(&notes);
        int ok;
        if (!e->exists) {
            ok = g == NULL;
        } else if (!g) {
            ok = 0;
        } else {
            ok = 1;
            double gv = g->defined ? g->value : NAN;
            if (e->has_value && !num_close(e->value, gv, e->tol)) {
                ok = 0;
                pw_buf_puts(&notes, "value: expected ");
                pw_buf_json_num(&notes, e->value);
                pw_buf_puts(&notes, ", got ");
                pw_buf_json_num(&notes, gv);
                pw_buf_putc(&notes, '\n');
            }
            if (e->has_count && e->count != g->count) {
                ok = 0;
                pw_buf_printf(&notes, "count: expected %llu, got %llu\n", (unsigned long long)e->count,
                              (unsigned long long)g->count);
            }
        }
        if (ok) continue;
        bad++;
        if (!header++) rline(r, "  ", "metrics:", 8);
        pw_buf_reset(&line);
        if (e->exists) {
            render_series(d, e->lvals, e->has_value, !isnan(e->value), e->value, e->has_count, e->count,
                          &line);
        } else {
            pw_buf_puts(&line, "no live series ");
            render_series(d, e->lvals, 0, 0, 0, 0, 0, &line);
        }
        pw_buf_printf(&line, "   (line %d)", e->line);
        rline(r, "  - ", line.data, line.len);
        pw_buf_reset(&line);
        if (g) render_series(d, (const char *const *)g->lvals, 1, g->defined, g->value, 1, g->count, &line);
        else { pw_buf_puts(&line, "no live series "); render_series(d, e->lvals, 0, 0, 0, 0, 0, &line); }
        rline(r, "  + ", line.data, line.len);
        rnotes(r, &notes);
    }
    pw_buf_free(&line);
    pw_buf_free(&notes);
    return bad;
}

/* 0 if every listed counter matches; else prints the differences. */
static int check_counters(const tcase *t, pw_engine *eng, const pw_ruleset *rs, report *r) {
    int bad = 0;
    pw_buf line;
    pw_buf_init(&line);
    for (int i = 0; i < t->nec; i++) {
        const exp_counters *e = &t->ec[i];
        const pw_metric_stats *st = pw_engine_metric_stats(eng, e->midx);
        for (int k = 0; k < NCOUNTERS; k++) {
            if (!(e->has & (1u << k)) || counter_get(st, k) == e->want[k]) continue;
            if (!bad++) rline(r, "  ", "counters:", 9);
            pw_buf_reset(&line);
            pw_buf_printf(&line, "%s %s: expected %llu, got %llu   (line %d)", rs->metrics[e->midx].name,
                          counter_keys[k + 1], (unsigned long long)e->want[k],
                          (unsigned long long)counter_get(st, k), e->line);
            rline(r, "  ", line.data, line.len);
        }
    }
    pw_buf_free(&line);
    return bad;
}

static int notifs_equal(const tcase *t, const run *rn) {
    if (t->nen != rn->ngn) return 0;
    for (int i = 0; i < t->nen; i++)
        if (notif_diff(&t->en[i], &rn->gn[i], NULL)) return 0;
    return 1;
}

/* Run one case; 1 passed, 0 failed. */
static int run_case(tfile *f, tcase *t, pw_decoder *dec, int verbose) {
    run rn;
    memset(&rn, 0, sizeof rn);
    rn.f = f;
    pw_buf_init(&rn.buf);
    pw_buf_init(&rn.tmp);
    feeder fd;
    memset(&fd, 0, sizeof fd);
    fd.f = f;
    fd.t = t;
    fd.dec = dec;
    pw_buf_init(&fd.arena);
    fd.eng = pw_engine_new(f->rs, NULL, on_notify, &rn);
    if (!fd.eng) { fputs("pipewatch test: out of memory\n", stderr); abort(); }
    int ok = feed_all(&fd) == 0;
    if (ok && t->has_until) {
        int64_t T = pw_engine_time(fd.eng);
        if (T != INT64_MIN && t->until < T) {
            char b1[40], b2[40];
            fprintf(stderr, "%s:%d:%d: warning: until %s is before the last event time %s: ignored\n",
                    t->until_loc.file, t->until_loc.line, t->until_loc.col,
                    pw_time_format_s(t->until, b1, sizeof b1), pw_time_format_s(T, b2, sizeof b2));
        }
        pw_engine_advance(fd.eng, t->until);
    }
    pw_engine_foreach_series(fd.eng, on_series, &rn);
    report r;
    memset(&r, 0, sizeof r);
    pw_buf_init(&r.out);
    if (ok) {
        if (t->check_notifs && !notifs_equal(t, &rn)) {
            ok = 0;
            diff_notifs(t, &rn, &r);
        }
        if (check_metrics(t, &rn, &r)) ok = 0;
        if (check_counters(t, fd.eng, f->rs, &r)) ok = 0;
    }
    if (!ok) {
        printf("FAIL %s:%d %s\n", f->path, t->line, t->name);
        if (fd.failed) printf("  the case could not run: its events are invalid (see above)\n");
        fwrite(r.out.data ? r.out.data : "", 1, r.out.len, stdout);
        if (r.dropped) printf("  ... %d more lines\n", r.dropped);
    } else if (verbose) {
        printf("ok   %s:%d %s\n", f->path, t->line, t->name);
    }
    fflush(stdout);
    pw_buf_free(&r.out);
    pw_engine_destroy(fd.eng);
    pw_buf_free(&fd.arena);
    free(fd.sv);
    run_free(&rn);
    return ok;
}

/* ---------- the command ---------- */

static void usage(FILE *out) {
    fprintf(out, "usage: pipewatch test [-v] FILE...\n"
                 "Runs the rule unit tests in each YAML test FILE (format: README \"Rule unit tests\").\n"
                 "Exit 0 when every test passed, 1 when one failed or a file has errors,\n"
                 "2 on usage errors.\n");
}

int pw_cmd_test(int argc, char **argv) {
    int verbose = 0, nfiles = 0, passed = 0, failed = 0, bad_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) { verbose = 1; continue; }
        if (!strcmp(argv[i], "--")) { nfiles += argc - i - 1; break; }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "pipewatch test: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        nfiles++;
    }
    if (!nfiles) { usage(stderr); return 2; }
    int opts_done = 0;
    for (int i = 1; i < argc; i++) {
        if (!opts_done && !strcmp(argv[i], "--")) { opts_done = 1; continue; }
        if (!opts_done && argv[i][0] == '-' && argv[i][1]) continue;
        tfile f;
        memset(&f, 0, sizeof f);
        f.path = argv[i];
        pw_diag_init(&f.diag);
        const char *slash = strrchr(f.path, '/');
        if (slash) f.dir = xstrndup(f.path, slash == f.path ? 1 : (size_t)(slash - f.path));
        int rc = parse_file(&f);
        sort_diag(&f);
        pw_diag_print(&f.diag, stderr);
        if (rc < 0) {
            bad_files++;
            fprintf(stderr, "%s: not run (%d error%s)\n", f.path, f.diag.errors,
                    f.diag.errors == 1 ? "" : "s");
        } else {
            pw_decoder_conf dc = {f.rs->type_slot, f.rs->time_slot, f.rs->id_slot, MAX_EVENT_SIZE, 64};
            pw_decoder *dec = pw_decoder_new(f.rs->fields, &dc);
            if (!dec) { fputs("pipewatch test: out of memory\n", stderr); abort(); }
            for (int k = 0; k < f.nt; k++) {
                if (run_case(&f, &f.t[k], dec, verbose)) passed++; else failed++;
            }
            pw_decoder_destroy(dec);
        }
        free_file(&f);
    }
    fflush(stderr);
    if (bad_files) printf("%d passed, %d failed, %d file%s with errors\n", passed, failed, bad_files,
                          bad_files == 1 ? "" : "s");
    else printf("%d passed, %d failed\n", passed, failed);
    return failed || bad_files ? 1 : 0;
}
