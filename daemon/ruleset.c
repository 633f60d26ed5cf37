/* ruleset.c -- YAML rule files -> an immutable, validated pw_ruleset.
 *
 * Design: parse -> validate -> build, reporting every problem.
 *   1. Paths are expanded (a directory gives its *.yaml / *.yml files, sorted,
 *      not recursive; hidden files skipped; a file named twice is read once)
 *      and every file is loaded with yamlnode (located, typed access). All
 *      documents stay loaded until the end, so later passes can still point
 *      at nodes of any file.
 *   2. The top level of every file is read, collecting the items of
 *      `metrics:` and `rules:` in file order.
 *   3. Every metric is parsed and checked on its own (keys, types, durations,
 *      aggregate/field/value/q, by, window/resolution, pair). Names are checked
 *      for uniqueness in that order, so "first defined at" is the earliest.
 *   4. Ratios are resolved by name (forward references across files work
 *      because all metrics are known by now) and their parts compared; then
 *      metrics[] is reordered so that each ratio follows both of its parts
 *      (an O(n) stable placement: a ratio moves only as far as it must).
 *   5. Rules are parsed and checked against their metric (match/labels
 *      against its `by`, annotation templates against its labels).
 *   6. def_hash of every metric, then of every rule; per-metric rule lists.
 *   The diag entries added by one load are finally sorted by file, line and
 *   column (stable), so output reads top to bottom whatever pass found them.
 *
 * Cascades are avoided on purpose: a metric with a broken window or `by` is
 * marked so that ratios and rules on it do not report follow-on mismatches;
 * a metric whose name is valid text is registered even when other keys are
 * broken, so rules on it do not report "unknown metric".
 *
 * Limits: PW_RULES_MAX_BY group-by fields, PW_RULES_MAX_BUCKETS buckets per
 * series (warning above PW_RULES_WARN_BUCKETS), names up to
 * PW_RULES_MAX_NAME bytes. Path-level problems (cannot open, empty directory)
 * are reported at line 0, column 0. did-you-mean hints over metric names stop
 * after a fixed amount of work, so a hostile file with thousands of unknown
 * references stays fast.
 *
 * def_hash is FNV-1a 64 over a canonical, length-prefixed text. A metric's
 * covers what defines its state: kind, events (sorted), the source text of
 * where/value, aggregate, field path, q, by (in order), window, resolution,
 * the parts' hashes (ratio) and start/end/key/timeout/unit (pair) -- not its
 * name, help or file, so a moved or re-documented metric keeps its state.
 * Reformatting a `where` does change it (the source text is hashed). A rule's
 * covers everything it says (name, match, condition, thresholds, clear, for,
 * min_count, severity, labels, annotations, repeat, notify) except its
 * description, plus its metric's hash.
 */
#include "ruleset.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "template.h"
#include "timeutil.h"
#include "yamlnode.h"

#define PW_RULES_MAX_BY 8
#define PW_RULES_MAX_BUCKETS 10000
#define PW_RULES_WARN_BUCKETS 1440
#define PW_RULES_DEFAULT_BUCKETS 60
#define PW_RULES_MAX_NAME 128
#define SUGGEST_BUDGET 200000L /* candidate comparisons for did-you-mean per load */

static const char *const agg_names[] = {"count",    "sum",      "avg",  "min", "max",
                                        "distinct", "quantile", "last", NULL};
static const char *const sev_names[] = {"info", "warning", "critical", NULL};
#define AGG_LIST "count, sum, avg, min, max, distinct, quantile, last"

const char *pw_agg_name(pw_agg a) { return a >= 0 && a < PW_AGG__COUNT ? agg_names[a] : "?"; }

const char *pw_severity_name(pw_severity s) {
    return s >= PW_SEV_INFO && s <= PW_SEV_CRITICAL ? sev_names[s] : "?";
}

/* ---- key tables (enum order == table order) ----------------------------- */

enum { TK_METRICS, TK_RULES, TK__COUNT };
static const char *const top_keys[] = {"metrics", "rules", NULL};

enum {
    MK_NAME,
    MK_HELP,
    MK_EVENTS,
    MK_WHERE,
    MK_AGGREGATE,
    MK_FIELD,
    MK_VALUE,
    MK_Q,
    MK_BY,
    MK_WINDOW,
    MK_RESOLUTION,
    MK_RATIO,
    MK_PAIR,
    MK_UNIT,
    MK__COUNT
};
static const char *const metric_keys[] = {"name",       "help",  "events", "where", "aggregate",
                                          "field",      "value", "q",      "by",    "window",
                                          "resolution", "ratio", "pair",   "unit",  NULL};

enum { RA_NUMERATOR, RA_DENOMINATOR, RA__COUNT };
static const char *const ratio_keys[] = {"numerator", "denominator", NULL};

enum { PK_START, PK_END, PK_KEY, PK_TIMEOUT, PK__COUNT };
static const char *const pair_keys[] = {"start", "end", "key", "timeout", NULL};

enum {
    RK_NAME,
    RK_METRIC,
    RK_MATCH,
    RK_ABOVE,
    RK_BELOW,
    RK_ABSENT,
    RK_OUTSIDE,
    RK_FOR,
    RK_MIN_COUNT,
    RK_CLEAR,
    RK_SEVERITY,
    RK_LABELS,
    RK_ANNOTATIONS,
    RK_REPEAT,
    RK_NOTIFY,
    RK_DESCRIPTION,
    RK__COUNT
};
static const char *const rule_keys[] = {
    "name",  "metric",   "match",  "above",       "below",  "absent", "outside",     "for", "min_count",
    "clear", "severity", "labels", "annotations", "repeat", "notify", "description", NULL};

/* ---- loader state -------------------------------------------------------- */

typedef struct item {
    int doc;
    yaml_node_t *node;
} item;

typedef struct mwork {
    int doc;
    yaml_node_t *node;       /* the metric's mapping */
    yaml_node_t *ratio_node; /* RATIO: the ratio: value */
    yaml_node_t *num_node, *den_node;
    const char *num_name, *den_name;  /* borrowed from the document */
    yaml_node_t *win_node, *res_node; /* as written, for messages */
    int by_ok;                        /* by[] is complete (rules may check labels against it) */
    int shape_ok;                     /* window, resolution and by are valid (ratios may compare them) */
} mwork;

/* name -> index, open addressing; names are borrowed from the defs */
typedef struct nametab {
    const char **names;
    int *idx;
    size_t cap, n;
} nametab;

typedef struct loader {
    pw_ruleset *rs;
    pw_diag *diag;
    pw_ydoc *docs;
    int ndocs;
    int capm, capr;
    mwork *mw; /* parallel to rs->metrics */
    nametab mnames, rnames;
    const char **mcands; /* registered metric names, NULL-terminated (for did-you-mean) */
    long suggest_work;
} loader;

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void *xrealloc_arr(void *p, int *cap, int need, size_t elem) {
    if (need <= *cap) return p;
    int nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *np = realloc(p, (size_t)nc * elem);
    if (!np) return NULL;
    memset((char *)np + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *cap = nc;
    return np;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d) memcpy(d, s ? s : "", n + 1);
    return d;
}

static int nametab_find(const nametab *t, const char *s) {
    if (!t->cap) return -1;
    size_t h = (size_t)fnv1a(s, strlen(s)) & (t->cap - 1);
    while (t->names[h]) {
        if (!strcmp(t->names[h], s)) return t->idx[h];
        h = (h + 1) & (t->cap - 1);
    }
    return -1;
}

static int nametab_add(nametab *t, const char *s, int idx) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        const char **nn = calloc(nc, sizeof *nn);
        int *ni = calloc(nc, sizeof *ni);
        if (!nn || !ni) {
            free(nn);
            free(ni);
            return -1;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->names[i]) continue;
            size_t h = (size_t)fnv1a(t->names[i], strlen(t->names[i])) & (nc - 1);
            while (nn[h]) h = (h + 1) & (nc - 1);
            nn[h] = t->names[i];
            ni[h] = t->idx[i];
        }
        free(t->names);
        free(t->idx);
        t->names = nn;
        t->idx = ni;
        t->cap = nc;
    }
    size_t h = (size_t)fnv1a(s, strlen(s)) & (t->cap - 1);
    while (t->names[h]) h = (h + 1) & (t->cap - 1);
    t->names[h] = s;
    t->idx[h] = idx;
    t->n++;
    return 0;
}

static void nametab_free(nametab *t) {
    free(t->names);
    free(t->idx);
    memset(t, 0, sizeof *t);
}

/* did-you-mean with a work budget (see the limits above) */
static const char *suggest(loader *L, const char *word, const char *const *cands) {
    if (!cands || L->diag->n >= PW_DIAG_MAX) return NULL; /* the entry would be dropped anyway */
    long n = 0;
    while (cands[n]) n++;
    if (L->suggest_work + n > SUGGEST_BUDGET) return NULL;
    L->suggest_work += n;
    return pw_diag_suggest(word, cands);
}

/* ---- small validators --------------------------------------------------- */

static int is_name(const char *s) { /* [a-z_][a-z0-9_]* */
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z'))) return 0;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) return 0;
    return 1;
}

static int is_ident(const char *s, size_t n) { /* [A-Za-z_][A-Za-z0-9_]* */
    if (!n) return 0;
    if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

static int is_path(const char *s) {
    const char *seg = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == 0) {
            if (!is_ident(seg, (size_t)(p - seg))) return 0;
            if (*p == 0) return 1;
            seg = p + 1;
        }
    }
}

/* The error location of a definition as a whole: its name value if any. */
static pw_loc item_loc(pw_ydoc *d, yaml_node_t *node, yaml_node_t *name) {
    return pw_yloc(d, name ? name : node);
}

/* Which of two key nodes comes later in the file. */
static yaml_node_t *later(yaml_node_t *a, yaml_node_t *b) {
    return a->start_mark.index > b->start_mark.index ? a : b;
}

static const char *show(const char *s, char *buf, size_t n) { return pw_yshow(s, buf, n); }

/* Read a metric's or rule's name: a string, [a-z_][a-z0-9_]*, unique among
 * metrics (rules). Returns the name (borrowed from the document) when it may
 * be registered for references, NULL when it is missing, not text, or a
 * duplicate; *ok_text is 1 when the value was text at all. */
static const char *read_name(loader *L, pw_ydoc *d, yaml_node_t *n, int is_rule, int *ok_text) {
    const char *what = is_rule ? "rule" : "metric";
    nametab *tab = is_rule ? &L->rnames : &L->mnames;
    const char *s;
    char tmp[72];
    *ok_text = 0;
    if (pw_yget_str(d, n, "a name", &s) < 0) return NULL;
    *ok_text = 1;
    if (strlen(s) > PW_RULES_MAX_NAME) {
        pw_diag_error(L->diag, pw_yloc(d, n), "%s name is longer than %d characters", what,
                      PW_RULES_MAX_NAME);
    } else if (!is_name(s)) {
        pw_diag_error(L->diag, pw_yloc(d, n),
                      "bad %s name '%s' (use lowercase letters, digits and _, not starting with a digit)",
                      what, show(s, tmp, sizeof tmp));
    }
    int prev = nametab_find(tab, s);
    if (prev >= 0) {
        const pw_loc *fl = is_rule ? &L->rs->rules[prev].loc : &L->rs->metrics[prev].loc;
        pw_diag_error(L->diag, pw_yloc(d, n), "duplicate %s '%s' (first defined at %s:%d:%d)", what,
                      show(s, tmp, sizeof tmp), fl->file, fl->line, fl->col);
        return NULL;
    }
    return s;
}

static pw_expr *compile(loader *L, pw_ydoc *d, yaml_node_t *n, const char *what) {
    const char *s;
    if (pw_yget_str(d, n, "an expression string", &s) < 0) return NULL;
    size_t off = 0;
    char err[256];
    pw_expr *e = pw_expr_compile(s, L->rs->fields, &off, err, sizeof err);
    if (!e) pw_diag_error(L->diag, pw_yloc_in(d, n, off), "bad %s expression: %s", what, err);
    return e;
}

/* A field path value -> fieldset slot, or -1 after an error. */
static int read_path(loader *L, pw_ydoc *d, yaml_node_t *n, const char *what) {
    const char *s;
    char tmp[72];
    if (pw_yget_str(d, n, "a field path", &s) < 0) return -1;
    if (!is_path(s)) {
        pw_diag_error(
            L->diag, pw_yloc(d, n),
            "bad %s '%s' (expected field names of letters, digits and _ joined by '.', like amount or "
            "customer.region)",
            what, show(s, tmp, sizeof tmp));
        return -1;
    }
    int slot = pw_fieldset_intern(L->rs->fields, s, (int)strlen(s));
    if (slot < 0) pw_diag_error(L->diag, pw_yloc(d, n), "out of memory");
    return slot;
}

/* A duration > 0 (zero_ok: >= 0). Returns 0 and *out, or -1 after an error. */
static int read_duration(loader *L, pw_ydoc *d, yaml_node_t *n, const char *key, int zero_ok, int64_t *out) {
    if (pw_yget_duration(d, n, "a duration string like 7d", out) < 0) return -1;
    if (!zero_ok && *out == 0) {
        pw_diag_error(L->diag, pw_yloc(d, n), "%s must be greater than 0", key);
        return -1;
    }
    return 0;
}

static const char *dur_text(int64_t ms, char *buf, size_t n) { return pw_duration_format(ms, buf, n); }

/* "[a, b]" of a by list, bounded */
static void by_text(const pw_metric_def *m, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    int w = snprintf(buf, n, "[");
    if (w > 0) used = (size_t)w;
    for (int i = 0; i < m->nby && used + 8 < n; i++) {
        w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", m->by[i]);
        if (w < 0) break;
        used += (size_t)w;
        if (used >= n) {
            used = n - 1;
            break;
        }
    }
    if (used + 2 <= n) snprintf(buf + used, n - used, "]");
}

/* ---- metrics ------------------------------------------------------------ */

static void disallow(loader *L, pw_ydoc *d, yaml_node_t *const *keys, const int *which, int n,
                     const char *why) {
    for (int i = 0; i < n; i++)
        if (keys[which[i]])
            pw_diag_error(L->diag, pw_yloc(d, keys[which[i]]), "'%s' is not allowed in %s",
                          metric_keys[which[i]], why);
}

static void parse_events(loader *L, pw_ydoc *d, yaml_node_t *n, pw_metric_def *m) {
    int count = n->type == YAML_SEQUENCE_NODE ? pw_yseq_len(n) : 1;
    if (n->type != YAML_SEQUENCE_NODE && n->type != YAML_SCALAR_NODE) {
        pw_yget_seq(d, n, "a list of event types");
        return;
    }
    if (count == 0) {
        pw_diag_error(L->diag, pw_yloc(d, n), "events is empty (list the event types this metric consumes)");
        return;
    }
    m->events = calloc((size_t)count, sizeof *m->events);
    if (!m->events) return;
    for (int i = 0; i < count; i++) {
        yaml_node_t *e = n->type == YAML_SEQUENCE_NODE ? pw_yseq_at(d, n, i) : n;
        const char *s;
        if (!e || pw_yget_str(d, e, "an event type", &s) < 0) continue;
        if (!*s) {
            pw_diag_error(L->diag, pw_yloc(d, e), "empty event type");
            continue;
        }
        int dup = 0;
        for (int j = 0; j < m->nevents; j++) dup |= !strcmp(m->events[j], s);
        char tmp[72];
        if (dup) {
            pw_diag_warn(L->diag, pw_yloc(d, e), "event type '%s' is listed twice", show(s, tmp, sizeof tmp));
            continue;
        }
        if ((m->events[m->nevents] = xstrdup(s)) != NULL) m->nevents++;
    }
}

static void parse_by(loader *L, pw_ydoc *d, yaml_node_t *n, pw_metric_def *m, mwork *w) {
    if (pw_yget_seq(d, n, "a list of field paths, like [origin, customer.region]") < 0) return;
    int count = pw_yseq_len(n), ok = 1;
    if (count > PW_RULES_MAX_BY) {
        yaml_node_t *extra = pw_yseq_at(d, n, PW_RULES_MAX_BY);
        pw_diag_error(L->diag, pw_yloc(d, extra ? extra : n), "by has %d fields; at most %d are allowed",
                      count, PW_RULES_MAX_BY);
        return;
    }
    m->by = calloc((size_t)(count ? count : 1), sizeof *m->by);
    m->by_slots = calloc((size_t)(count ? count : 1), sizeof *m->by_slots);
    if (!m->by || !m->by_slots) return;
    for (int i = 0; i < count; i++) {
        yaml_node_t *e = pw_yseq_at(d, n, i);
        if (!e) {
            ok = 0;
            break;
        }
        int slot = read_path(L, d, e, "by field");
        if (slot < 0) {
            ok = 0;
            continue;
        }
        const char *s = pw_fieldset_path(L->rs->fields, slot);
        int dup = 0;
        for (int j = 0; j < m->nby; j++) dup |= !strcmp(m->by[j], s);
        if (dup) {
            char tmp[72];
            pw_diag_error(L->diag, pw_yloc(d, e), "duplicate field '%s' in by", show(s, tmp, sizeof tmp));
            ok = 0;
            continue;
        }
        m->by[m->nby] = xstrdup(s);
        m->by_slots[m->nby] = slot;
        m->nby++;
    }
    w->by_ok = ok;
}

/* window and resolution; returns 1 when both are valid */
static int parse_window(loader *L, pw_ydoc *d, yaml_node_t *const *v, pw_metric_def *m) {
    int64_t win = 0, res = 0;
    char t1[72], t2[72];
    if (!v[MK_WINDOW]) return 0; /* reported by the caller (it knows the metric's location) */
    int win_ok = read_duration(L, d, v[MK_WINDOW], "window", 0, &win) == 0;
    int res_ok = 0;
    if (v[MK_RESOLUTION]) {
        res_ok = read_duration(L, d, v[MK_RESOLUTION], "resolution", 0, &res) == 0;
    } else if (win_ok) {
        if (win % PW_RULES_DEFAULT_BUCKETS != 0) {
            pw_diag_error(L->diag, pw_yloc(d, v[MK_WINDOW]),
                          "window %s cannot be split into %d buckets of whole milliseconds; set resolution "
                          "explicitly",
                          show(pw_yscalar(v[MK_WINDOW]), t1, sizeof t1), PW_RULES_DEFAULT_BUCKETS);
            return 0;
        }
        res = win / PW_RULES_DEFAULT_BUCKETS;
        res_ok = 1;
    }
    if (!win_ok || !res_ok) return 0;
    yaml_node_t *at = v[MK_RESOLUTION] ? v[MK_RESOLUTION] : v[MK_WINDOW];
    const char *rtext =
        v[MK_RESOLUTION] ? show(pw_yscalar(v[MK_RESOLUTION]), t2, sizeof t2) : dur_text(res, t2, sizeof t2);
    show(pw_yscalar(v[MK_WINDOW]), t1, sizeof t1);
    if (win % res != 0) {
        pw_diag_error(L->diag, pw_yloc(d, at), "window %s is not a multiple of resolution %s", t1, rtext);
        return 0;
    }
    int64_t nb = win / res;
    if (nb > PW_RULES_MAX_BUCKETS) {
        pw_diag_error(L->diag, pw_yloc(d, at),
                      "window %s / resolution %s makes %lld buckets per series (at most %d; use a coarser "
                      "resolution)",
                      t1, rtext, (long long)nb, PW_RULES_MAX_BUCKETS);
        return 0;
    }
    if (nb > PW_RULES_WARN_BUCKETS)
        pw_diag_warn(L->diag, pw_yloc(d, at),
                     "window %s / resolution %s makes %lld buckets per series (more than %d costs memory in "
                     "every series)",
                     t1, rtext, (long long)nb, PW_RULES_WARN_BUCKETS);
    m->window_ms = win;
    m->res_ms = res;
    m->nbuckets = (int)nb;
    return 1;
}

static void parse_pair(loader *L, pw_ydoc *d, yaml_node_t *n, pw_metric_def *m, int have_window) {
    if (pw_yget_map(d, n, "a mapping {start: EVENT, end: EVENT, key: FIELD, timeout: DURATION}") < 0) return;
    yaml_node_t *v[PK__COUNT];
    pw_ymap_check(d, n, "pair", pair_keys, NULL, v);
    const char *s;
    if (!v[PK_START])
        pw_diag_error(L->diag, pw_yloc(d, n), "pair needs start (the event type that opens a pair)");
    else if (pw_yget_str(d, v[PK_START], "an event type", &s) == 0)
        m->pair_start = xstrdup(s);
    if (!v[PK_END])
        pw_diag_error(L->diag, pw_yloc(d, n), "pair needs end (the event type that closes a pair)");
    else if (pw_yget_str(d, v[PK_END], "an event type", &s) == 0)
        m->pair_end = xstrdup(s);
    if (m->pair_start && m->pair_end && !strcmp(m->pair_start, m->pair_end)) {
        char tmp[72];
        pw_diag_error(L->diag, pw_yloc(d, v[PK_END]), "pair start and end are the same event type '%s'",
                      show(m->pair_end, tmp, sizeof tmp));
    }
    if (m->pair_start && !*m->pair_start) pw_diag_error(L->diag, pw_yloc(d, v[PK_START]), "empty event type");
    if (m->pair_end && !*m->pair_end) pw_diag_error(L->diag, pw_yloc(d, v[PK_END]), "empty event type");
    if (!v[PK_KEY])
        pw_diag_error(L->diag, pw_yloc(d, n),
                      "pair needs key (the field that ties an end event to its start)");
    else
        m->pair_key_slot = read_path(L, d, v[PK_KEY], "pair key");
    if (v[PK_TIMEOUT])
        read_duration(L, d, v[PK_TIMEOUT], "timeout", 0, &m->pair_timeout_ms);
    else if (have_window)
        m->pair_timeout_ms = m->window_ms;
}

static int new_metric(loader *L) {
    pw_ruleset *rs = L->rs;
    int capm = L->capm;
    pw_metric_def *nm = xrealloc_arr(rs->metrics, &capm, rs->nmetrics + 1, sizeof *nm);
    if (!nm) return -1;
    rs->metrics = nm;
    int capw = L->capm;
    mwork *nw = xrealloc_arr(L->mw, &capw, rs->nmetrics + 1, sizeof *nw);
    if (!nw) return -1;
    L->mw = nw;
    L->capm = capm;
    int i = rs->nmetrics++;
    pw_metric_def *m = &rs->metrics[i];
    memset(m, 0, sizeof *m);
    m->field_slot = -1;
    m->num_idx = m->den_idx = -1;
    m->pair_key_slot = -1;
    memset(&L->mw[i], 0, sizeof L->mw[i]);
    return i;
}

static void parse_metric(loader *L, int di, yaml_node_t *node) {
    pw_ydoc *d = &L->docs[di];
    char tmp[72];
    if (pw_yget_map(d, node, "a metric (a mapping with name:, events:, window: ...)") < 0) return;
    int idx = new_metric(L);
    if (idx < 0) {
        pw_diag_error(L->diag, pw_yloc(d, node), "out of memory");
        return;
    }
    pw_metric_def *m = &L->rs->metrics[idx];
    mwork *w = &L->mw[idx];
    w->doc = di;
    w->node = node;
    yaml_node_t *v[MK__COUNT], *k[MK__COUNT];
    pw_ymap_check(d, node, "metric", metric_keys, k, v);
    pw_loc mloc = item_loc(d, node, v[MK_NAME]);
    m->loc = mloc;

    /* name */
    const char *name = NULL;
    int ok_text = 0;
    if (!v[MK_NAME])
        pw_diag_error(L->diag, mloc, "metric has no name (add name: my_metric)");
    else
        name = read_name(L, d, v[MK_NAME], 0, &ok_text);
    m->name = xstrdup(ok_text ? pw_yscalar(v[MK_NAME]) : "");
    if (name && m->name && nametab_add(&L->mnames, m->name, idx) < 0)
        pw_diag_error(L->diag, mloc, "out of memory");
    const char *mname = show(m->name, tmp, sizeof tmp);
    char mn[80];
    snprintf(mn, sizeof mn, "%s", mname);

    const char *s;
    m->help = xstrdup(v[MK_HELP] && pw_yget_str(d, v[MK_HELP], "a help text", &s) == 0 ? s : "");

    /* kind */
    m->kind = PW_METRIC_PLAIN;
    if (v[MK_RATIO] && v[MK_PAIR]) {
        yaml_node_t *second = later(k[MK_RATIO], k[MK_PAIR]);
        pw_diag_error(L->diag, pw_yloc(d, second), "a metric is either a ratio or a pair, not both");
        m->kind = second == k[MK_PAIR] ? PW_METRIC_RATIO : PW_METRIC_PAIR;
    } else if (v[MK_RATIO]) {
        m->kind = PW_METRIC_RATIO;
    } else if (v[MK_PAIR]) {
        m->kind = PW_METRIC_PAIR;
    }

    if (m->kind == PW_METRIC_RATIO) {
        static const int no[] = {MK_EVENTS, MK_WHERE, MK_AGGREGATE, MK_FIELD,      MK_VALUE,
                                 MK_Q,      MK_BY,    MK_WINDOW,    MK_RESOLUTION, MK_UNIT};
        disallow(L, d, k, no, (int)(sizeof no / sizeof no[0]),
                 "a ratio (a ratio takes window, resolution and by from its parts)");
        yaml_node_t *r = v[MK_RATIO];
        w->ratio_node = r;
        if (pw_yget_map(d, r, "a mapping {numerator: METRIC, denominator: METRIC}") < 0) return;
        yaml_node_t *rv[RA__COUNT];
        pw_ymap_check(d, r, "ratio", ratio_keys, NULL, rv);
        if (!rv[RA_NUMERATOR])
            pw_diag_error(L->diag, pw_yloc(d, r), "ratio needs a numerator (the name of a metric)");
        else if (pw_yget_str(d, rv[RA_NUMERATOR], "a metric name", &w->num_name) == 0)
            w->num_node = rv[RA_NUMERATOR];
        if (!rv[RA_DENOMINATOR])
            pw_diag_error(L->diag, pw_yloc(d, r), "ratio needs a denominator (the name of a metric)");
        else if (pw_yget_str(d, rv[RA_DENOMINATOR], "a metric name", &w->den_name) == 0)
            w->den_node = rv[RA_DENOMINATOR];
        return;
    }

    int pair = m->kind == PW_METRIC_PAIR;
    if (pair) {
        static const int no[] = {MK_EVENTS, MK_FIELD, MK_VALUE};
        disallow(L, d, k, no, 3,
                 "a pair metric (it aggregates the durations between pair.start and pair.end)");
    }

    /* events */
    if (!pair) {
        if (!v[MK_EVENTS])
            pw_diag_error(L->diag, mloc,
                          "metric '%s' needs events (the event types it consumes, like "
                          "events: [lead.created])",
                          mn);
        else
            parse_events(L, d, v[MK_EVENTS], m);
    }

    if (v[MK_WHERE]) m->where = compile(L, d, v[MK_WHERE], "where");

    /* aggregate */
    int agg_ok = 1;
    m->agg = pair ? PW_AGG_AVG : PW_AGG_COUNT;
    if (v[MK_AGGREGATE]) {
        agg_ok = 0;
        if (pw_yget_str(d, v[MK_AGGREGATE], "an aggregate name", &s) == 0) {
            int a = -1;
            for (int i = 0; agg_names[i]; i++)
                if (!strcmp(s, agg_names[i])) a = i;
            if (a < 0) {
                const char *hint = pw_diag_suggest(s, agg_names);
                /* p50, p95, p999: a percentile written the Prometheus way */
                int pct = (s[0] == 'p' || s[0] == 'P') && s[1] >= '1' && s[1] <= '9' &&
                          strspn(s + 1, "0123456789") == strlen(s + 1) && strlen(s) <= 4 &&
                          strcmp(s + 1, "100") != 0;
                if (hint)
                    pw_diag_error(L->diag, pw_yloc(d, v[MK_AGGREGATE]),
                                  "unknown aggregate '%s' (did you mean '%s'? expected " AGG_LIST ")",
                                  show(s, tmp, sizeof tmp), hint);
                else if (pct)
                    pw_diag_error(L->diag, pw_yloc(d, v[MK_AGGREGATE]),
                                  "unknown aggregate '%s' (expected " AGG_LIST
                                  "; for a percentile write aggregate: quantile and q: 0.%s)",
                                  show(s, tmp, sizeof tmp), s + 1);
                else
                    pw_diag_error(L->diag, pw_yloc(d, v[MK_AGGREGATE]),
                                  "unknown aggregate '%s' (expected " AGG_LIST ")", show(s, tmp, sizeof tmp));
            } else if (pair && a == PW_AGG_DISTINCT) {
                pw_diag_error(L->diag, pw_yloc(d, v[MK_AGGREGATE]),
                              "aggregate distinct does not apply to a pair metric (its values are durations: "
                              "use count, sum, avg, min, max, quantile or last)");
            } else {
                m->agg = (pw_agg)a;
                agg_ok = 1;
            }
        }
    }

    /* field / value */
    if (!pair) {
        if (v[MK_FIELD] && v[MK_VALUE]) {
            pw_diag_error(L->diag, pw_yloc(d, later(k[MK_FIELD], k[MK_VALUE])),
                          "field and value are mutually exclusive (use one)");
        }
        if (v[MK_FIELD]) m->field_slot = read_path(L, d, v[MK_FIELD], "field path");
        if (v[MK_VALUE]) m->value = compile(L, d, v[MK_VALUE], "value");
        if (agg_ok && m->agg == PW_AGG_COUNT && (v[MK_FIELD] || v[MK_VALUE])) {
            int key = v[MK_FIELD] ? MK_FIELD : MK_VALUE;
            if (v[MK_AGGREGATE])
                pw_diag_error(L->diag, pw_yloc(d, k[key]),
                              "aggregate count takes no %s (it counts events; to count distinct values use "
                              "aggregate: distinct)",
                              metric_keys[key]);
            else
                pw_diag_error(L->diag, pw_yloc(d, k[key]),
                              "'%s' needs an aggregate: the default aggregate, count, takes no %s (add e.g. "
                              "aggregate: sum)",
                              metric_keys[key], metric_keys[key]);
        }
        if (agg_ok && m->agg != PW_AGG_COUNT && !v[MK_FIELD] && !v[MK_VALUE]) {
            pw_diag_error(L->diag, v[MK_AGGREGATE] ? pw_yloc(d, v[MK_AGGREGATE]) : mloc,
                          "aggregate %s needs a field or a value (what to %s)", agg_names[m->agg],
                          m->agg == PW_AGG_DISTINCT ? "count distinct values of" : "aggregate");
        }
    }

    /* q */
    if (agg_ok && m->agg == PW_AGG_QUANTILE) {
        if (!v[MK_Q]) {
            pw_diag_error(L->diag, pw_yloc(d, v[MK_AGGREGATE]),
                          "aggregate quantile needs q (like q: 0.9 for the 90th percentile)");
        } else if (pw_yget_num(d, v[MK_Q], "a number between 0 and 1", &m->q) == 0 &&
                   !(m->q > 0 && m->q < 1)) {
            if (m->q > 1 && m->q < 100)
                pw_diag_error(
                    L->diag, pw_yloc(d, v[MK_Q]),
                    "q must be between 0 and 1 (exclusive), got %s (for the %sth percentile write q: %g)",
                    show(pw_yscalar(v[MK_Q]), tmp, sizeof tmp), pw_yscalar(v[MK_Q]), m->q / 100);
            else
                pw_diag_error(L->diag, pw_yloc(d, v[MK_Q]), "q must be between 0 and 1 (exclusive), got %s",
                              show(pw_yscalar(v[MK_Q]), tmp, sizeof tmp));
        }
    } else if (agg_ok && v[MK_Q]) {
        pw_diag_error(L->diag, pw_yloc(d, k[MK_Q]), "q is only allowed with aggregate: quantile");
    }

    /* by */
    if (v[MK_BY])
        parse_by(L, d, v[MK_BY], m, w);
    else
        w->by_ok = 1;

    /* window, resolution */
    if (!v[MK_WINDOW]) {
        pw_diag_error(L->diag, mloc, "metric '%s' needs a window (like window: 1h)", mn);
        if (v[MK_RESOLUTION]) {
            int64_t r;
            read_duration(L, d, v[MK_RESOLUTION], "resolution", 0, &r);
        }
    }
    int win_ok = parse_window(L, d, v, m);
    w->win_node = v[MK_WINDOW];
    w->res_node = v[MK_RESOLUTION];
    w->shape_ok = win_ok && w->by_ok;

    /* pair, unit */
    if (pair) {
        parse_pair(L, d, v[MK_PAIR], m, win_ok);
        m->unit_ms = PW_MS_PER_S;
    }
    if (v[MK_UNIT]) {
        if (!pair) {
            pw_diag_error(L->diag, pw_yloc(d, k[MK_UNIT]),
                          "'unit' is only allowed in a pair metric (the unit of its durations)");
        } else if (pw_yget_str(d, v[MK_UNIT], "a unit (s, m, h or d)", &s) == 0) {
            if (!strcmp(s, "s"))
                m->unit_ms = PW_MS_PER_S;
            else if (!strcmp(s, "m"))
                m->unit_ms = PW_MS_PER_M;
            else if (!strcmp(s, "h"))
                m->unit_ms = PW_MS_PER_H;
            else if (!strcmp(s, "d"))
                m->unit_ms = PW_MS_PER_D;
            else
                pw_diag_error(L->diag, pw_yloc(d, v[MK_UNIT]), "unknown unit '%s' (expected s, m, h or d)",
                              show(s, tmp, sizeof tmp));
        }
    }
}

/* ---- ratios and ordering ------------------------------------------------ */

static int resolve_part(loader *L, pw_ydoc *d, yaml_node_t *n, const char *name, const char *role) {
    char tmp[72];
    int i = nametab_find(&L->mnames, name);
    if (i < 0) {
        const char *hint = suggest(L, name, L->mcands);
        if (hint)
            pw_diag_error(L->diag, pw_yloc(d, n), "unknown metric '%s' in ratio %s (did you mean '%s'?)",
                          show(name, tmp, sizeof tmp), role, hint);
        else
            pw_diag_error(L->diag, pw_yloc(d, n), "unknown metric '%s' in ratio %s",
                          show(name, tmp, sizeof tmp), role);
        return -1;
    }
    if (L->rs->metrics[i].kind == PW_METRIC_RATIO) {
        pw_diag_error(L->diag, pw_yloc(d, n),
                      "ratio %s '%s' is itself a ratio (the parts of a ratio must be plain or pair metrics)",
                      role, show(name, tmp, sizeof tmp));
        return -1;
    }
    return i;
}

/* A part's window or resolution as the user wrote it ("7d"), else formatted
 * with "(default)" for a resolution that was not written. */
static const char *shape_text(const loader *L, int i, int res, char *buf, size_t n) {
    const mwork *w = &L->mw[i];
    const yaml_node_t *node = res ? w->res_node : w->win_node;
    if (node) return pw_yshow(pw_yscalar(node), buf, n);
    char t[32];
    snprintf(buf, n, "%s (default)",
             dur_text(res ? L->rs->metrics[i].res_ms : L->rs->metrics[i].window_ms, t, sizeof t));
    return buf;
}

static int same_by(const pw_metric_def *a, const pw_metric_def *b) {
    if (a->nby != b->nby) return 0;
    for (int i = 0; i < a->nby; i++)
        if (strcmp(a->by[i], b->by[i]) != 0) return 0;
    return 1;
}

static void resolve_ratios(loader *L) {
    pw_ruleset *rs = L->rs;
    for (int i = 0; i < rs->nmetrics; i++) {
        pw_metric_def *m = &rs->metrics[i];
        mwork *w = &L->mw[i];
        if (m->kind != PW_METRIC_RATIO || !w->num_node || !w->den_node) continue;
        pw_ydoc *d = &L->docs[w->doc];
        int ni = resolve_part(L, d, w->num_node, w->num_name, "numerator");
        int di = resolve_part(L, d, w->den_node, w->den_name, "denominator");
        if (ni < 0 || di < 0) continue;
        m->num_idx = ni;
        m->den_idx = di;
        pw_metric_def *a = &rs->metrics[ni], *b = &rs->metrics[di];
        if (!L->mw[ni].shape_ok || !L->mw[di].shape_ok) continue; /* already reported at the part */
        char an[72], bn[72], t1[72], t2[72];
        show(a->name, an, sizeof an);
        show(b->name, bn, sizeof bn);
        int ok = 1;
        pw_loc at = pw_yloc(d, w->ratio_node);
        if (a->window_ms != b->window_ms) {
            pw_diag_error(L->diag, at,
                          "ratio parts have different windows: numerator '%s' has %s, denominator "
                          "'%s' has %s",
                          an, shape_text(L, ni, 0, t1, sizeof t1), bn, shape_text(L, di, 0, t2, sizeof t2));
            ok = 0;
        } else if (a->res_ms != b->res_ms) {
            pw_diag_error(L->diag, at,
                          "ratio parts have different resolutions: numerator '%s' has %s, "
                          "denominator '%s' has %s",
                          an, shape_text(L, ni, 1, t1, sizeof t1), bn, shape_text(L, di, 1, t2, sizeof t2));
            ok = 0;
        }
        if (!same_by(a, b)) {
            char ba[200], bb[200];
            by_text(a, ba, sizeof ba);
            by_text(b, bb, sizeof bb);
            pw_diag_error(L->diag, at,
                          "ratio parts have different by: numerator '%s' has %s, denominator '%s' "
                          "has %s (the same fields in the same order are required)",
                          an, ba, bn, bb);
            ok = 0;
        }
        if (!ok) continue;
        m->window_ms = a->window_ms;
        m->res_ms = a->res_ms;
        m->nbuckets = a->nbuckets;
        m->by = calloc((size_t)(a->nby ? a->nby : 1), sizeof *m->by);
        m->by_slots = calloc((size_t)(a->nby ? a->nby : 1), sizeof *m->by_slots);
        if (!m->by || !m->by_slots) continue;
        for (int j = 0; j < a->nby; j++) {
            m->by[j] = xstrdup(a->by[j]);
            m->by_slots[j] = a->by_slots[j];
        }
        m->nby = a->nby;
        w->by_ok = w->shape_ok = 1;
    }
}

/* Reorder metrics[] so that every ratio follows both of its parts, moving
 * each ratio no further than needed. Parts are never ratios, so placing
 * non-ratios in file order and each ratio right after its later part works. */
static int order_metrics(loader *L) {
    pw_ruleset *rs = L->rs;
    int n = rs->nmetrics;
    if (n == 0) return 0;
    int *order = malloc((size_t)n * sizeof *order);
    int *head = malloc((size_t)n * sizeof *head), *next = malloc((size_t)n * sizeof *next);
    int *tail = malloc((size_t)n * sizeof *tail), *newidx = malloc((size_t)n * sizeof *newidx);
    pw_metric_def *nm = malloc((size_t)n * sizeof *nm);
    mwork *nw = malloc((size_t)n * sizeof *nw);
    int rc = -1;
    if (!order || !head || !next || !tail || !newidx || !nm || !nw) goto out;
    for (int i = 0; i < n; i++) head[i] = tail[i] = next[i] = -1;
    int out = 0;
    for (int i = 0; i < n; i++) {
        pw_metric_def *m = &rs->metrics[i];
        if (m->kind == PW_METRIC_RATIO && m->num_idx >= 0 && m->den_idx >= 0) {
            int key = m->num_idx > m->den_idx ? m->num_idx : m->den_idx;
            if (key > i) { /* defer until its later part is placed */
                if (tail[key] < 0)
                    head[key] = i;
                else
                    next[tail[key]] = i;
                tail[key] = i;
                continue;
            }
        }
        order[out++] = i;
        for (int r = head[i]; r >= 0; r = next[r]) order[out++] = r;
    }
    for (int i = 0; i < n; i++) newidx[order[i]] = i;
    for (int i = 0; i < n; i++) {
        nm[i] = rs->metrics[order[i]];
        nw[i] = L->mw[order[i]];
        if (nm[i].num_idx >= 0) nm[i].num_idx = newidx[nm[i].num_idx];
        if (nm[i].den_idx >= 0) nm[i].den_idx = newidx[nm[i].den_idx];
    }
    memcpy(rs->metrics, nm, (size_t)n * sizeof *nm);
    memcpy(L->mw, nw, (size_t)n * sizeof *nw);
    /* registered names now live at new indexes */
    for (size_t h = 0; h < L->mnames.cap; h++)
        if (L->mnames.names[h]) L->mnames.idx[h] = newidx[L->mnames.idx[h]];
    rc = 0;
out:
    free(order);
    free(head);
    free(next);
    free(tail);
    free(newidx);
    free(nm);
    free(nw);
    return rc;
}

/* ---- rules -------------------------------------------------------------- */

static int new_rule(loader *L) {
    pw_ruleset *rs = L->rs;
    pw_rule_def *nr = xrealloc_arr(rs->rules, &L->capr, rs->nrules + 1, sizeof *nr);
    if (!nr) return -1;
    rs->rules = nr;
    int i = rs->nrules++;
    memset(&rs->rules[i], 0, sizeof rs->rules[i]);
    rs->rules[i].metric_idx = -1;
    rs->rules[i].severity = PW_SEV_WARNING;
    return i;
}

static int key_index(const char *const *labels, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(labels[i], s)) return i;
    return -1;
}

/* "origin, region" */
static void list_text(char *const *v, int n, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used + 8 < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", v[i]);
        if (w < 0) break;
        used += (size_t)w;
        if (used >= len) break;
    }
}

/* A mapping name -> string into kv[]; returns the count stored. */
static int read_kvs(loader *L, pw_ydoc *d, yaml_node_t *n, const char *ctx, const char *what, int ident_keys,
                    pw_kv **out, yaml_node_t ***keynodes, yaml_node_t ***valnodes) {
    *out = NULL;
    if (keynodes) *keynodes = NULL;
    if (valnodes) *valnodes = NULL;
    char buf[96];
    snprintf(buf, sizeof buf, "a mapping of %s", what);
    if (pw_yget_map(d, n, buf) < 0) return 0;
    pw_ymap_check_unique(d, n, ctx);
    int len = pw_ymap_len(n), cnt = 0;
    pw_kv *kv = calloc((size_t)(len ? len : 1), sizeof *kv);
    yaml_node_t **kn = calloc((size_t)(len ? len : 1), sizeof *kn);
    yaml_node_t **vn = calloc((size_t)(len ? len : 1), sizeof *vn);
    if (!kv || !kn || !vn) {
        free(kv);
        free(kn);
        free(vn);
        return 0;
    }
    for (int i = 0; i < len; i++) {
        yaml_node_t *k, *v;
        if (pw_ymap_at(d, n, i, &k, &v) < 0) break;
        const char *ks = pw_yscalar(k), *vs;
        if (!ks) continue; /* reported by pw_ymap_check_unique */
        int dup = 0;
        for (int j = 0; j < cnt; j++) dup |= !strcmp(kv[j].key, ks);
        if (dup) continue; /* reported too; keep the first */
        char tmp[72];
        if (ident_keys && !is_ident(ks, strlen(ks))) {
            pw_diag_error(L->diag, pw_yloc(d, k),
                          "bad name '%s' in %s (use letters, digits and _, not starting with a digit)",
                          show(ks, tmp, sizeof tmp), ctx);
            continue;
        }
        if (pw_yis_null(v)) {
            pw_diag_error(L->diag, pw_yloc(d, v), "expected a string for '%s' in %s, got nothing%s",
                          show(ks, tmp, sizeof tmp), ctx,
                          strcmp(ctx, "match") == 0 ? " (write \"\" to match a missing label)" : "");
            continue;
        }
        char wbuf[96];
        snprintf(wbuf, sizeof wbuf, "a string for '%s' in %s", show(ks, tmp, sizeof tmp), ctx);
        if (pw_yget_str(d, v, wbuf, &vs) < 0) continue;
        kv[cnt].key = xstrdup(ks);
        kv[cnt].val = xstrdup(vs);
        kn[cnt] = k;
        vn[cnt] = v;
        cnt++;
    }
    *out = kv;
    if (keynodes)
        *keynodes = kn;
    else
        free(kn);
    if (valnodes)
        *valnodes = vn;
    else
        free(vn);
    return cnt;
}

static void parse_rule(loader *L, int di, yaml_node_t *node, const char *const *mcands) {
    pw_ydoc *d = &L->docs[di];
    pw_ruleset *rs = L->rs;
    char tmp[72], tmp2[72];
    if (pw_yget_map(d, node, "a rule (a mapping with name:, metric: and a condition)") < 0) return;
    int idx = new_rule(L);
    if (idx < 0) {
        pw_diag_error(L->diag, pw_yloc(d, node), "out of memory");
        return;
    }
    pw_rule_def *r = &rs->rules[idx];
    yaml_node_t *v[RK__COUNT], *k[RK__COUNT];
    pw_ymap_check(d, node, "rule", rule_keys, k, v);
    pw_loc rloc = item_loc(d, node, v[RK_NAME]);
    r->loc = rloc;

    const char *name = NULL, *s;
    int ok_text = 0;
    if (!v[RK_NAME])
        pw_diag_error(L->diag, rloc, "rule has no name (add name: my_rule)");
    else
        name = read_name(L, d, v[RK_NAME], 1, &ok_text);
    r->name = xstrdup(ok_text ? pw_yscalar(v[RK_NAME]) : "");
    if (name && r->name && nametab_add(&L->rnames, r->name, idx) < 0)
        pw_diag_error(L->diag, rloc, "out of memory");
    if (v[RK_DESCRIPTION]) pw_yget_str(d, v[RK_DESCRIPTION], "a description text", &s);

    /* metric */
    const pw_metric_def *m = NULL;
    int by_known = 0;
    if (!v[RK_METRIC]) {
        pw_diag_error(L->diag, rloc, "rule '%s' needs a metric (the name of the metric it watches)",
                      show(r->name, tmp, sizeof tmp));
    } else if (pw_yget_str(d, v[RK_METRIC], "a metric name", &s) == 0) {
        int mi = nametab_find(&L->mnames, s);
        if (mi < 0) {
            const char *hint = suggest(L, s, mcands);
            if (hint)
                pw_diag_error(L->diag, pw_yloc(d, v[RK_METRIC]), "unknown metric '%s' (did you mean '%s'?)",
                              show(s, tmp, sizeof tmp), hint);
            else
                pw_diag_error(L->diag, pw_yloc(d, v[RK_METRIC]), "unknown metric '%s'",
                              show(s, tmp, sizeof tmp));
        } else {
            r->metric_idx = mi;
            m = &rs->metrics[mi];
            by_known = L->mw[mi].by_ok;
        }
    }

    /* condition: exactly one */
    static const int conds[] = {RK_ABOVE, RK_BELOW, RK_ABSENT, RK_OUTSIDE};
    int first = -1, nconds = 0;
    for (int i = 0; i < 4; i++) {
        if (!k[conds[i]]) continue;
        nconds++;
        if (first < 0 || k[conds[i]]->start_mark.index < k[first]->start_mark.index) first = conds[i];
    }
    if (nconds == 0) pw_diag_error(L->diag, rloc, "rule needs exactly one of above, below, absent, outside");
    for (int i = 0; i < 4 && nconds > 1; i++) {
        int c = conds[i];
        if (!k[c] || c == first) continue;
        pw_diag_error(
            L->diag, pw_yloc(d, k[c]),
            "rule has more than one condition: '%s' besides '%s' (a rule needs exactly one of above, "
            "below, absent, outside; write a second rule for the other)",
            rule_keys[c], rule_keys[first]);
    }
    int cond_ok = 0;
    if (first == RK_ABOVE || first == RK_BELOW) {
        r->cond = first == RK_ABOVE ? PW_COND_ABOVE : PW_COND_BELOW;
        cond_ok = pw_yget_num(d, v[first], "a number", &r->threshold) == 0;
    } else if (first == RK_ABSENT) {
        r->cond = PW_COND_ABSENT;
        cond_ok = read_duration(L, d, v[first], "absent", 0, &r->absent_ms) == 0;
    } else if (first == RK_OUTSIDE) {
        r->cond = PW_COND_OUTSIDE;
        yaml_node_t *o = v[first];
        if (pw_yget_seq(d, o, "a list of two numbers [low, high]") == 0) {
            if (pw_yseq_len(o) != 2) {
                pw_diag_error(L->diag, pw_yloc(d, o), "outside needs two numbers [low, high], got %d item%s",
                              pw_yseq_len(o), pw_yseq_len(o) == 1 ? "" : "s");
            } else {
                yaml_node_t *a = pw_yseq_at(d, o, 0), *b = pw_yseq_at(d, o, 1);
                int ok = a && b;
                ok = ok && pw_yget_num(d, a, "a number", &r->lo) == 0;
                ok = b && pw_yget_num(d, b, "a number", &r->hi) == 0 && ok;
                if (ok && !(r->lo < r->hi))
                    pw_diag_error(
                        L->diag, pw_yloc(d, b), "outside [low, high] needs low < high, got [%s, %s]",
                        show(pw_yscalar(a), tmp, sizeof tmp), show(pw_yscalar(b), tmp2, sizeof tmp2));
                cond_ok = ok;
            }
        }
    }

    if (v[RK_FOR]) read_duration(L, d, v[RK_FOR], "for", 1, &r->for_ms);
    if (v[RK_REPEAT]) read_duration(L, d, v[RK_REPEAT], "repeat", 1, &r->repeat_ms);
    if (v[RK_MIN_COUNT]) pw_yget_int(d, v[RK_MIN_COUNT], "a whole number >= 0", 0, INT64_MAX, &r->min_count);

    /* clear */
    if (v[RK_CLEAR]) {
        if (first >= 0 && first != RK_ABOVE && first != RK_BELOW) {
            pw_diag_error(L->diag, pw_yloc(d, k[RK_CLEAR]), "clear is only allowed with above or below");
        } else if (pw_yget_num(d, v[RK_CLEAR], "a number", &r->clear) == 0) {
            r->has_clear = 1;
            const char *ct = show(pw_yscalar(v[RK_CLEAR]), tmp, sizeof tmp);
            const char *tt = cond_ok ? show(pw_yscalar(v[first]), tmp2, sizeof tmp2) : "";
            if (cond_ok && first == RK_ABOVE && r->clear > r->threshold)
                pw_diag_error(
                    L->diag, pw_yloc(d, v[RK_CLEAR]),
                    "clear %s is above the threshold %s: an above rule resolves when the value falls to "
                    "clear or lower, so clear must be <= %s",
                    ct, tt, tt);
            if (cond_ok && first == RK_BELOW && r->clear < r->threshold)
                pw_diag_error(
                    L->diag, pw_yloc(d, v[RK_CLEAR]),
                    "clear %s is below the threshold %s: a below rule resolves when the value rises to "
                    "clear or higher, so clear must be >= %s",
                    ct, tt, tt);
        }
    }

    /* severity */
    if (v[RK_SEVERITY] && pw_yget_str(d, v[RK_SEVERITY], "a severity (info, warning or critical)", &s) == 0) {
        int sv = -1;
        for (int i = 0; sev_names[i]; i++)
            if (!strcmp(s, sev_names[i])) sv = i;
        if (sv >= 0) {
            r->severity = (pw_severity)sv;
        } else {
            const char *hint = pw_diag_suggest(s, sev_names);
            if (hint)
                pw_diag_error(L->diag, pw_yloc(d, v[RK_SEVERITY]),
                              "unknown severity '%s' (did you mean '%s'?)", show(s, tmp, sizeof tmp), hint);
            else
                pw_diag_error(L->diag, pw_yloc(d, v[RK_SEVERITY]),
                              "unknown severity '%s' (expected info, warning or critical)",
                              show(s, tmp, sizeof tmp));
        }
    }

    /* match */
    if (v[RK_MATCH]) {
        yaml_node_t **kn = NULL;
        r->nmatch = read_kvs(L, d, v[RK_MATCH], "match", "label: value", 0, &r->match, &kn, NULL);
        r->match_by = calloc((size_t)(r->nmatch ? r->nmatch : 1), sizeof *r->match_by);
        for (int i = 0; i < r->nmatch && r->match_by; i++) {
            r->match_by[i] = -1;
            if (!m || !by_known) continue;
            int bi = key_index((const char *const *)m->by, m->nby, r->match[i].key);
            r->match_by[i] = bi;
            if (bi >= 0) continue;
            char mn[72], list[200];
            show(m->name, mn, sizeof mn);
            show(r->match[i].key, tmp, sizeof tmp);
            if (m->nby == 0) {
                pw_diag_error(L->diag, pw_yloc(d, kn[i]),
                              "match on label '%s', but metric '%s' has no labels (it has no by)", tmp, mn);
                continue;
            }
            const char *cand[PW_RULES_MAX_BY + 1];
            for (int j = 0; j < m->nby; j++) cand[j] = m->by[j];
            cand[m->nby] = NULL;
            const char *hint = pw_diag_suggest(r->match[i].key, cand);
            list_text(m->by, m->nby, list, sizeof list);
            if (hint)
                pw_diag_error(L->diag, pw_yloc(d, kn[i]),
                              "match on unknown label '%s' (did you mean '%s'? metric '%s' has by: %s)", tmp,
                              hint, mn, list);
            else
                pw_diag_error(L->diag, pw_yloc(d, kn[i]),
                              "match on unknown label '%s' (metric '%s' has by: %s)", tmp, mn, list);
        }
        free(kn);
    }

    /* labels */
    if (v[RK_LABELS]) {
        yaml_node_t **kn = NULL;
        r->nlabels = read_kvs(L, d, v[RK_LABELS], "labels", "label: value", 1, &r->labels, &kn, NULL);
        for (int i = 0; i < r->nlabels && m && by_known; i++) {
            if (key_index((const char *const *)m->by, m->nby, r->labels[i].key) < 0) continue;
            char mn[72];
            pw_diag_error(
                L->diag, pw_yloc(d, kn[i]),
                "label '%s' is already a series label of metric '%s' (from its by); pick another name",
                show(r->labels[i].key, tmp, sizeof tmp), show(m->name, mn, sizeof mn));
        }
        free(kn);
    }

    /* annotations */
    if (v[RK_ANNOTATIONS]) {
        yaml_node_t **vn = NULL;
        r->nannotations =
            read_kvs(L, d, v[RK_ANNOTATIONS], "annotations", "name: template", 1, &r->annotations, NULL, &vn);
        if (m && by_known) {
            int nl = m->nby + r->nlabels;
            const char **names = calloc((size_t)(nl ? nl : 1), sizeof *names);
            for (int i = 0; names && i < m->nby; i++) names[i] = m->by[i];
            for (int i = 0; names && i < r->nlabels; i++) names[m->nby + i] = r->labels[i].key;
            for (int i = 0; names && i < r->nannotations; i++) {
                size_t off = 0;
                char err[256];
                if (pw_template_check(r->annotations[i].val, names, nl, &off, err, sizeof err) == 0) continue;
                pw_diag_error(L->diag, pw_yloc_in(d, vn[i], off), "in annotation '%s': %s",
                              show(r->annotations[i].key, tmp, sizeof tmp), err);
            }
            free(names);
        }
        free(vn);
    }

    /* notify */
    if (v[RK_NOTIFY] && pw_yget_seq(d, v[RK_NOTIFY], "a list of sink names, like [ops-webhook]") == 0) {
        int len = pw_yseq_len(v[RK_NOTIFY]);
        r->notify = calloc((size_t)(len ? len : 1), sizeof *r->notify);
        for (int i = 0; i < len && r->notify; i++) {
            yaml_node_t *e = pw_yseq_at(d, v[RK_NOTIFY], i);
            if (!e || pw_yget_str(d, e, "a sink name", &s) < 0) continue;
            r->notify[r->nnotify++] = xstrdup(s);
        }
    }
}

/* ---- hashes ------------------------------------------------------------- */

static void h_str(pw_buf *b, const char *tag, const char *s) {
    if (!s) s = "";
    pw_buf_printf(b, "%s=%zu:", tag, strlen(s));
    pw_buf_puts(b, s);
    pw_buf_putc(b, ';');
}

static void h_i64(pw_buf *b, const char *tag, int64_t v) { pw_buf_printf(b, "%s=%lld;", tag, (long long)v); }
static void h_dbl(pw_buf *b, const char *tag, double v) { pw_buf_printf(b, "%s=%.17g;", tag, v); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void hash_metric(pw_ruleset *rs, pw_metric_def *m, pw_buf *b) {
    pw_buf_reset(b);
    h_i64(b, "kind", m->kind);
    if (m->kind == PW_METRIC_RATIO) {
        h_i64(b, "num", (int64_t)rs->metrics[m->num_idx].def_hash);
        h_i64(b, "den", (int64_t)rs->metrics[m->den_idx].def_hash);
    } else {
        /* event order does not change what a metric counts */
        char **ev = m->nevents ? malloc((size_t)m->nevents * sizeof *ev) : NULL;
        if (ev) {
            memcpy(ev, m->events, (size_t)m->nevents * sizeof *ev);
            qsort(ev, (size_t)m->nevents, sizeof *ev, cmp_str);
            for (int i = 0; i < m->nevents; i++) h_str(b, "event", ev[i]);
            free(ev);
        }
        h_str(b, "where", m->where ? pw_expr_source(m->where) : "");
        h_i64(b, "agg", m->agg);
        h_str(b, "field", m->field_slot >= 0 ? pw_fieldset_path(rs->fields, m->field_slot) : "");
        h_str(b, "value", m->value ? pw_expr_source(m->value) : "");
        if (m->agg == PW_AGG_QUANTILE) h_dbl(b, "q", m->q);
        if (m->kind == PW_METRIC_PAIR) {
            h_str(b, "start", m->pair_start);
            h_str(b, "end", m->pair_end);
            h_str(b, "key", pw_fieldset_path(rs->fields, m->pair_key_slot));
            h_i64(b, "timeout", m->pair_timeout_ms);
            h_i64(b, "unit", m->unit_ms);
        }
    }
    for (int i = 0; i < m->nby; i++) h_str(b, "by", m->by[i]);
    h_i64(b, "window", m->window_ms);
    h_i64(b, "res", m->res_ms);
    m->def_hash = fnv1a(b->data, b->len);
}

static void hash_rule(pw_ruleset *rs, pw_rule_def *r, pw_buf *b) {
    pw_buf_reset(b);
    h_str(b, "name", r->name);
    h_i64(b, "metric", (int64_t)rs->metrics[r->metric_idx].def_hash);
    for (int i = 0; i < r->nmatch; i++) {
        h_str(b, "mk", r->match[i].key);
        h_str(b, "mv", r->match[i].val);
    }
    h_i64(b, "cond", r->cond);
    h_dbl(b, "threshold", r->threshold);
    h_dbl(b, "lo", r->lo);
    h_dbl(b, "hi", r->hi);
    h_i64(b, "absent", r->absent_ms);
    h_i64(b, "has_clear", r->has_clear);
    if (r->has_clear) h_dbl(b, "clear", r->clear);
    h_i64(b, "for", r->for_ms);
    h_i64(b, "min_count", r->min_count);
    h_i64(b, "severity", r->severity);
    for (int i = 0; i < r->nlabels; i++) {
        h_str(b, "lk", r->labels[i].key);
        h_str(b, "lv", r->labels[i].val);
    }
    for (int i = 0; i < r->nannotations; i++) {
        h_str(b, "ak", r->annotations[i].key);
        h_str(b, "av", r->annotations[i].val);
    }
    h_i64(b, "repeat", r->repeat_ms);
    for (int i = 0; i < r->nnotify; i++) h_str(b, "notify", r->notify[i]);
    r->def_hash = fnv1a(b->data, b->len);
}

/* ---- paths -------------------------------------------------------------- */

typedef struct filelist {
    char **v;
    int n, cap;
    dev_t *dev;
    ino_t *ino;
} filelist;

static int has_rule_ext(const char *s) {
    size_t n = strlen(s);
    return (n > 5 && !strcmp(s + n - 5, ".yaml")) || (n > 4 && !strcmp(s + n - 4, ".yml"));
}

static void add_file(filelist *fl, const char *path, const struct stat *st) {
    for (int i = 0; i < fl->n; i++)
        if (fl->dev[i] == st->st_dev && fl->ino[i] == st->st_ino) return; /* named twice: read once */
    if (fl->n == fl->cap) {
        int cap = fl->cap ? fl->cap * 2 : 16;
        char **v = realloc(fl->v, (size_t)cap * sizeof *v);
        if (v) fl->v = v;
        dev_t *dv = realloc(fl->dev, (size_t)cap * sizeof *dv);
        if (dv) fl->dev = dv;
        ino_t *iv = realloc(fl->ino, (size_t)cap * sizeof *iv);
        if (iv) fl->ino = iv;
        if (!v || !dv || !iv) return;
        fl->cap = cap;
    }
    char *p = xstrdup(path);
    if (!p) return;
    fl->v[fl->n] = p;
    fl->dev[fl->n] = st->st_dev;
    fl->ino[fl->n] = st->st_ino;
    fl->n++;
}

static void expand_path(loader *L, const char *path, filelist *fl) {
    pw_loc none = {path, 0, 0};
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        pw_diag_error(L->diag, none, "cannot open: %s", strerror(e));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_file(fl, path, &st);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        int e = errno;
        pw_diag_error(L->diag, none, "cannot open directory: %s", strerror(e));
        return;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || !has_rule_ext(de->d_name)) continue;
        if (n == cap) {
            int nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, (size_t)nc * sizeof *nn);
            if (!nn) break;
            names = nn;
            cap = nc;
        }
        if ((names[n] = xstrdup(de->d_name)) != NULL) n++;
    }
    closedir(dir);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    size_t plen = strlen(path);
    int added = 0;
    for (int i = 0; i < n; i++) {
        pw_buf b;
        pw_buf_init(&b);
        pw_buf_puts(&b, path);
        if (plen && path[plen - 1] != '/') pw_buf_putc(&b, '/');
        pw_buf_puts(&b, names[i]);
        struct stat fs;
        if (stat(b.data, &fs) != 0) {
            /* a dangling symlink (diag formats the location at once, so a
             * temporary file name is fine here) */
            int e = errno;
            pw_loc l = {b.data, 0, 0};
            pw_diag_error(L->diag, l, "cannot open: %s", strerror(e));
            added++;
        } else if (S_ISREG(fs.st_mode)) {
            add_file(fl, b.data, &fs);
            added++;
        }
        pw_buf_free(&b);
        free(names[i]);
    }
    free(names);
    if (!added) pw_diag_error(L->diag, none, "no *.yaml or *.yml files in directory");
}

/* ---- diag ordering ------------------------------------------------------ */

typedef struct dkey {
    int file, line, col, seq;
    pw_diag_entry e;
} dkey;

static int dkey_cmp(const void *a, const void *b) {
    const dkey *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sort the entries added since `from` by (file, line, column), stably. */
static void sort_diag(pw_diag *dg, int from, char *const *files, int nfiles) {
    int n = dg->n - from;
    if (n < 2) return;
    dkey *k = malloc((size_t)n * sizeof *k);
    if (!k) return;
    for (int i = 0; i < n; i++) {
        const char *t = dg->v[from + i].text;
        k[i].e = dg->v[from + i];
        k[i].seq = i;
        k[i].file = -1;
        k[i].line = k[i].col = 0;
        size_t best = 0;
        for (int f = 0; f < nfiles; f++) {
            size_t fl = strlen(files[f]);
            if (fl >= best && !strncmp(t, files[f], fl) && t[fl] == ':') {
                best = fl;
                k[i].file = f;
            }
        }
        if (k[i].file >= 0) {
            char *end;
            k[i].line = (int)strtol(t + best + 1, &end, 10);
            if (*end == ':') k[i].col = (int)strtol(end + 1, NULL, 10);
        }
    }
    qsort(k, (size_t)n, sizeof *k, dkey_cmp);
    for (int i = 0; i < n; i++) dg->v[from + i] = k[i].e;
    free(k);
}

/* ---- load --------------------------------------------------------------- */

void pw_ruleset_destroy(pw_ruleset *rs) {
    if (!rs) return;
    for (int i = 0; i < rs->nmetrics; i++) {
        pw_metric_def *m = &rs->metrics[i];
        free(m->name);
        free(m->help);
        for (int j = 0; j < m->nevents; j++) free(m->events[j]);
        free(m->events);
        pw_expr_destroy(m->where);
        pw_expr_destroy(m->value);
        for (int j = 0; j < m->nby; j++) free(m->by[j]);
        free(m->by);
        free(m->by_slots);
        free(m->pair_start);
        free(m->pair_end);
        free(m->rules);
    }
    free(rs->metrics);
    for (int i = 0; i < rs->nrules; i++) {
        pw_rule_def *r = &rs->rules[i];
        free(r->name);
        for (int j = 0; j < r->nmatch; j++) {
            free(r->match[j].key);
            free(r->match[j].val);
        }
        free(r->match);
        free(r->match_by);
        for (int j = 0; j < r->nlabels; j++) {
            free(r->labels[j].key);
            free(r->labels[j].val);
        }
        free(r->labels);
        for (int j = 0; j < r->nannotations; j++) {
            free(r->annotations[j].key);
            free(r->annotations[j].val);
        }
        free(r->annotations);
        for (int j = 0; j < r->nnotify; j++) free(r->notify[j]);
        free(r->notify);
    }
    free(rs->rules);
    pw_fieldset_destroy(rs->fields);
    for (int i = 0; i < rs->nfiles; i++) free(rs->files[i]);
    free(rs->files);
    free(rs);
}

/* Collect the items of one top-level list (metrics: or rules:). */
static void collect(loader *L, int di, yaml_node_t *n, const char *what, item **v, int *nv, int *cap) {
    pw_ydoc *d = &L->docs[di];
    if (pw_yis_null(n)) return; /* `metrics:` with everything commented out */
    if (pw_yget_seq(d, n, what) < 0) return;
    int len = pw_yseq_len(n);
    for (int i = 0; i < len; i++) {
        yaml_node_t *e = pw_yseq_at(d, n, i);
        if (!e) return;
        item *nw = xrealloc_arr(*v, cap, *nv + 1, sizeof **v);
        if (!nw) return;
        *v = nw;
        (*v)[*nv].doc = di;
        (*v)[*nv].node = e;
        (*nv)++;
    }
}

pw_ruleset *pw_ruleset_load(const char *const *paths, int npaths, const pw_rules_conf *conf, pw_diag *diag) {
    int errors0 = diag->errors, from = diag->n;
    loader L;
    memset(&L, 0, sizeof L);
    L.diag = diag;
    pw_ruleset *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->fields = pw_fieldset_new())) {
        pw_loc none = {"<rules>", 0, 0};
        pw_diag_error(diag, none, "out of memory");
        pw_ruleset_destroy(rs);
        return NULL;
    }
    L.rs = rs;
    const char *tf = conf && conf->type_field ? conf->type_field : "type";
    const char *mf = conf && conf->time_field ? conf->time_field : "ts";
    const char *idf = conf && conf->id_field ? conf->id_field : "id";
    rs->type_slot = pw_fieldset_intern(rs->fields, tf, (int)strlen(tf));
    rs->time_slot = pw_fieldset_intern(rs->fields, mf, (int)strlen(mf));
    rs->id_slot = pw_fieldset_intern(rs->fields, idf, (int)strlen(idf));

    /* 1. files */
    filelist fl;
    memset(&fl, 0, sizeof fl);
    for (int i = 0; i < npaths; i++) expand_path(&L, paths[i], &fl);
    rs->files = fl.v;
    rs->nfiles = fl.n;
    free(fl.dev);
    free(fl.ino);
    L.docs = calloc((size_t)(rs->nfiles ? rs->nfiles : 1), sizeof *L.docs);
    item *mi = NULL, *ri = NULL;
    int nmi = 0, nri = 0, capmi = 0, capri = 0;
    if (!L.docs) goto done;
    for (int i = 0; i < rs->nfiles; i++) {
        L.ndocs = i + 1;
        if (pw_ydoc_load_file(&L.docs[i], rs->files[i], diag) < 0) continue;
        /* 2. top level */
        pw_ydoc *d = &L.docs[i];
        yaml_node_t *root = pw_ydoc_root(d);
        if (!root || pw_yis_null(root)) continue; /* empty file: valid */
        if (pw_yget_map(d, root, "a mapping with metrics: and/or rules:") < 0) continue;
        yaml_node_t *tv[TK__COUNT];
        pw_ymap_check(d, root, "the top level", top_keys, NULL, tv);
        if (tv[TK_METRICS]) collect(&L, i, tv[TK_METRICS], "a list of metrics", &mi, &nmi, &capmi);
        if (tv[TK_RULES]) collect(&L, i, tv[TK_RULES], "a list of rules", &ri, &nri, &capri);
    }

    /* 3. metrics */
    for (int i = 0; i < nmi; i++)
        if (!L.docs[mi[i].doc].exhausted) parse_metric(&L, mi[i].doc, mi[i].node);
    L.mcands = calloc((size_t)rs->nmetrics + 1, sizeof *L.mcands);
    if (L.mcands) {
        int c = 0;
        for (int i = 0; i < rs->nmetrics; i++)
            if (nametab_find(&L.mnames, rs->metrics[i].name) == i) L.mcands[c++] = rs->metrics[i].name;
    }

    /* 4. ratios, order */
    resolve_ratios(&L);
    if (order_metrics(&L) < 0) {
        pw_loc none = {"<rules>", 0, 0};
        pw_diag_error(diag, none, "out of memory");
        goto done;
    }
    /* 5. rules */
    for (int i = 0; i < nri; i++)
        if (!L.docs[ri[i].doc].exhausted) parse_rule(&L, ri[i].doc, ri[i].node, L.mcands);

    /* 6. hashes and per-metric rule lists, only for a valid set */
    if (diag->errors == errors0) {
        pw_buf b;
        pw_buf_init(&b);
        for (int i = 0; i < rs->nmetrics; i++) hash_metric(rs, &rs->metrics[i], &b);
        for (int i = 0; i < rs->nrules; i++) hash_rule(rs, &rs->rules[i], &b);
        pw_buf_free(&b);
        for (int i = 0; i < rs->nrules; i++) rs->metrics[rs->rules[i].metric_idx].nrules++;
        for (int i = 0; i < rs->nmetrics; i++) {
            pw_metric_def *m = &rs->metrics[i];
            m->rules = calloc((size_t)(m->nrules ? m->nrules : 1), sizeof *m->rules);
            if (!m->rules) {
                pw_loc none = {"<rules>", 0, 0};
                pw_diag_error(diag, none, "out of memory");
                break;
            }
            m->nrules = 0;
        }
        for (int i = 0; i < rs->nrules && diag->errors == errors0; i++) {
            pw_metric_def *m = &rs->metrics[rs->rules[i].metric_idx];
            m->rules[m->nrules++] = i;
        }
    }

done:
    sort_diag(diag, from, rs->files, rs->nfiles);
    for (int i = 0; i < L.ndocs; i++) pw_ydoc_free(&L.docs[i]);
    free(L.docs);
    free(L.mw);
    free(L.mcands);
    free(mi);
    free(ri);
    nametab_free(&L.mnames);
    nametab_free(&L.rnames);
    if (diag->errors != errors0) {
        pw_ruleset_destroy(rs);
        return NULL;
    }
    return rs;
}

int pw_ruleset_metric_index(const pw_ruleset *rs, const char *name) {
    for (int i = 0; rs && name && i < rs->nmetrics; i++)
        if (!strcmp(rs->metrics[i].name, name)) return i;
    return -1;
}

int pw_ruleset_rule_index(const pw_ruleset *rs, const char *name) {
    for (int i = 0; rs && name && i < rs->nrules; i++)
        if (!strcmp(rs->rules[i].name, name)) return i;
    return -1;
}
