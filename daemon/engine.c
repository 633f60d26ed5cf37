/* engine.c -- the metric engine: dispatch, series, pairs, boundaries, alerts.
 *
 * Design
 *   - Dispatch: at creation every event type named by a metric is put in a
 *     small hash table type -> list of (metric, role). Per event, only the
 *     metrics of its type are touched; stream time is checked against the
 *     earliest next boundary of all metrics (O(1)), and only when it crosses
 *     one are the metrics scanned.
 *   - Series: per metric, an open-addressing table (linear probing,
 *     backward-shift delete, no tombstones) of series keyed by a hash of the
 *     label values (hash.h, word at a time), plus an intrusive list in
 *     creation order so that output and evaluation order are deterministic. A
 *     series is one allocation holding its label strings (with an end pointer,
 *     so compares know lengths), plus its window (window.c). The bucket index
 *     of a time is memoised per metric (no 64-bit division per event).
 *   - Ratios have series of their own (for alert state and last event time);
 *     their value is read from the part series with the same labels. A part
 *     series that does not exist counts as an empty window (count/sum/distinct
 *     0, others undefined).
 *   - Pairs: pending starts in an open-addressing table keyed by a 64-bit hash
 *     of the key's text (FNV-1a, stored in snapshots; collisions between
 *     distinct keys are possible but at 2^-64 per pair negligible); the
 *     start's label values are kept, as a reference to an interned tuple (no
 *     allocation per start), so that `by` can fall back to them. The table is
 *     probed at random: the slot is prefetched before the event's other
 *     metrics are applied, and from 2 MiB on the table gets huge pages.
 *     Starts too old to pair with any end that is not late are swept once per
 *     window length (skipped when a lower bound of the start times shows that
 *     none is).
 *   - Stream time T only moves forward. Crossing resolution boundaries runs
 *     the boundary evaluations in time order (ties: metric order) before the
 *     event that moved T is applied.
 *   - Snapshots: pw_engine_save writes the exact state (raw windows, not
 *     their values) so that a restored engine continues bit for bit like the
 *     original; it never advances a window, so it is a pure read of memory
 *     (safe in a forked child). Each metric's body is length-prefixed, so a
 *     loader skips changed metrics without parsing them.
 * Limits
 *   - max_series per metric and max_pending per pair metric bound memory;
 *     what does not fit is counted (overflow, pair_expired), never silently.
 *   - Series with an `absent` rule that matches them are kept until the rule
 *     fires (otherwise forgetting would make `absent` impossible), so their
 *     number is bounded by max_series only.
 *   - A jump of T over a very long time with live series costs one evaluation
 *     per series per boundary crossed, by definition of the semantics.
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hash.h"
#include "snapshot.h"
#include "timeutil.h"
#include "window.h"

#define DEFAULT_MAX_SERIES 100000u
#define DEFAULT_MAX_PENDING 1000000u

typedef struct series {
    uint64_t hash;
    struct series *prev, *next; /* creation order */
    pw_window *win;             /* NULL for ratio series */
    int64_t last_ts;            /* INT64_MIN if none */
    pw_alert *alerts;           /* def->nrules states; NULL while all inactive and none ever notified
                                 * (kept once an alert has a seq, so seqs grow across episodes) */
    uint32_t nactive;           /* states not inactive */
    int nlabels;
    char *labels[];             /* nlabels pointers into this allocation, NUL-terminated strings back to
                                 * back, then one more: the end of the last one's NUL (so that the length
                                 * of label j is labels[j+1] - labels[j] - 1, without strlen) */
} series;

typedef struct pending {
    uint64_t key;               /* hash of the pair key text */
    int64_t ts;                 /* start time; INT64_MIN marks an empty slot */
    uint32_t lab;               /* interned label tuple (ltab), NO_LAB if the metric has no `by` */
} pending;

#define NO_LAB UINT32_MAX

/* The label tuples of pending starts, interned: starts share few distinct tuples (a region, a
 * channel), so a start costs a reference count, not an allocation. A tuple is freed with its
 * last pending start, so memory follows the live starts. */
typedef struct ltuple {
    char *packed;               /* nby NUL-terminated strings back to back; NULL if the entry is free */
    uint64_t hash;              /* hash_labels of the tuple */
    uint32_t refs;              /* pending starts using it; free entries: next free index */
    uint32_t bytes;             /* size of packed */
} ltuple;

typedef struct ltab {
    ltuple *t;                  /* entries, indexed by the pending starts */
    uint32_t n, cap, free;      /* entries used (incl. free ones), allocated, free-list head (NO_LAB) */
    uint32_t *idx;              /* open addressing over live entries: index + 1, 0 = empty */
    uint32_t icap, live;        /* power of two; live tuples */
} ltab;

typedef struct mstate {
    const pw_metric_def *def;
    series **tab;               /* open addressing, cap power of two */
    uint32_t cap, n;
    series *head, *tail;
    int64_t next_b;             /* next boundary instant to process */
    int64_t boundaries;         /* boundaries processed (for periodic sweeps) */
    pw_window_spec wspec;
    int has_absent;             /* some rule on it is `absent` */
    int *ratios;                /* ratio metrics using this one as a part */
    int nratios;
    int64_t memo_lo, memo_hi;   /* bucket_of's memo: times in [memo_lo, memo_hi) are bucket memo_k */
    int64_t memo_k;
    pending *pend;              /* pair metrics only */
    uint32_t pcap, pn;
    int64_t pmin;               /* a lower bound of the pending starts' times (INT64_MAX: none) */
    ltab lt;                    /* label tuples of the pending starts */
    pw_metric_stats st;
} mstate;

typedef struct route { int metric; int role; } route; /* role: 0 plain, 1 pair start, 2 pair end */

typedef struct tslot {
    const char *type;
    uint32_t len;
    route *routes;
    int nroutes;
} tslot;

struct pw_engine {
    const pw_ruleset *rs;
    pw_engine_opts o;
    pw_notify_fn fn;
    void *ud;
    mstate *m;
    tslot *types;               /* open addressing by type string */
    uint32_t tcap;
    int64_t T;
    int64_t next_min;           /* smallest next_b of all metrics: below it, advance_to is a no-op */
    uint64_t seq;
    pw_engine_stats st;
    /* per-event scratch, sized at creation */
    struct changed { series *s; int mi; } *changed;
    int nchanged, maxchanged;
    uint64_t *pkey;             /* per route of the event's type: its pair key hash (pair routes only) */
    const char **lab;           /* label texts of the event being applied */
    uint32_t *lablen;
    int maxby;
};

/* ---------- hashing ---------- */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ULL; }
    return h;
}

/* Series and label tuples: hash.h's word-at-a-time hash (never persisted; the length of each
 * label is mixed in, so ("ab","c") and ("a","bc") differ). */
static uint64_t hash_labels(const char *const *v, const uint32_t *len, int n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n; i++) h = pw_hash_bytes(v[i], len[i], h);
    return pw_hash_final(h);
}

/* Pair keys and distinct values: byte-wise FNV-1a with a finaliser. These hashes are SAVED in
 * snapshots (pending starts, distinct entries), so this function is part of the snapshot format:
 * changing it would make restored pair starts and distinct values unmatchable. Its cost (one
 * multiply per byte) is paid once per key, not per series or metric. */
static uint64_t hash_str(const char *s, size_t n) {
    uint64_t h = hash_bytes(14695981039346656037ULL, s, n);
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
    return h;
}

/* ---------- buckets ---------- */

/* floor(t / R) for metric m, remembered for the last bucket asked: the hot path asks it two or three
 * times per event for nearly the same instant, and a 64-bit division costs tens of cycles. The memo
 * is a pure cache (it only answers for times inside the bucket it computed). */
static inline int64_t bucket_of(mstate *m, int64_t t) {
    if (t >= m->memo_lo && t < m->memo_hi) return m->memo_k;
    const int64_t R = m->def->res_ms;
    int64_t k = pw_floordiv(t, R);
    if (t > -((int64_t)1 << 61) && t < ((int64_t)1 << 61)) { /* k * R + R cannot overflow */
        m->memo_k = k;
        m->memo_lo = k * R;
        m->memo_hi = m->memo_lo + R;
    }
    return k;
}

/* ---------- type dispatch ---------- */

static tslot *type_find(const pw_engine *e, const char *t, size_t n) {
    uint32_t mask = e->tcap - 1;
    uint32_t i = (uint32_t)pw_hash_bytes(t, n, 0) & mask;
    while (e->types[i].type) {
        if (e->types[i].len == n && pw_bytes_eq(e->types[i].type, t, n)) return &e->types[i];
        i = (i + 1) & mask;
    }
    return &e->types[i];
}

static int type_add(pw_engine *e, const char *t, int metric, int role) {
    tslot *s = type_find(e, t, strlen(t));
    if (!s->type) {
        s->type = t;
        s->len = (uint32_t)strlen(t);
    }
    for (int i = 0; i < s->nroutes; i++) /* `events: [a, a]` must not count twice */
        if (s->routes[i].metric == metric && s->routes[i].role == role) return 0;
    route *r = realloc(s->routes, (size_t)(s->nroutes + 1) * sizeof *r);
    if (!r) return -1;
    s->routes = r;
    s->routes[s->nroutes].metric = metric;
    s->routes[s->nroutes].role = role;
    s->nroutes++;
    return 0;
}

/* ---------- series table ---------- */

static series *series_find(const mstate *m, uint64_t h, const char *const *v, const uint32_t *len) {
    if (!m->cap) return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        series *s = m->tab[i];
        if (!s) return NULL;
        if (s->hash != h) continue;
        int eq = 1; /* lengths from the label pointers first: the compare never reads past a label */
        for (int j = 0; j < s->nlabels && eq; j++)
            eq = (size_t)(s->labels[j + 1] - s->labels[j]) == (size_t)len[j] + 1 &&
                 pw_bytes_eq(s->labels[j], v[j], len[j]);
        if (eq) return s;
    }
}

/* The series of metric m with the same labels as series o of another metric with the same `by`
 * (a ratio and its parts): same hash, labels compared as strings. */
static series *series_find_same(const mstate *m, const series *o) {
    if (!m->cap) return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)o->hash & mask;; i = (i + 1) & mask) {
        series *s = m->tab[i];
        if (!s) return NULL;
        if (s->hash != o->hash) continue;
        int eq = 1;
        for (int j = 0; j < s->nlabels && eq; j++) {
            size_t l = (size_t)(s->labels[j + 1] - s->labels[j]);
            eq = l == (size_t)(o->labels[j + 1] - o->labels[j]) && pw_bytes_eq(s->labels[j], o->labels[j], l);
        }
        if (eq) return s;
    }
}

static int table_grow(mstate *m) {
    uint32_t ncap = m->cap ? m->cap * 2 : 16;
    series **nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (uint32_t i = 0; i < m->cap; i++) {
        series *s = m->tab[i];
        if (!s) continue;
        uint32_t j = (uint32_t)s->hash & (ncap - 1);
        while (nt[j]) j = (j + 1) & (ncap - 1);
        nt[j] = s;
    }
    free(m->tab);
    m->tab = nt;
    m->cap = ncap;
    return 0;
}

static void table_remove(mstate *m, series *s) {
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)s->hash & mask;
    while (m->tab[i] != s) i = (i + 1) & mask;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    uint32_t j = i;
    for (;;) {
        m->tab[i] = NULL;
        for (;;) {
            j = (j + 1) & mask;
            if (!m->tab[j]) return;
            uint32_t k = (uint32_t)m->tab[j]->hash & mask;
            /* move tab[j] to i unless its home k lies cyclically in (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        m->tab[i] = m->tab[j];
        i = j;
    }
}

static series *series_create(pw_engine *e, mstate *m, uint64_t h, const char *const *v, const uint32_t *len) {
    const pw_metric_def *d = m->def;
    if (m->n >= e->o.max_series) { m->st.overflow++; return NULL; }
    if ((m->n + 1) * 10 > m->cap * 7 && table_grow(m) < 0) { m->st.overflow++; return NULL; }
    size_t bytes = sizeof(series) + ((size_t)d->nby + 1) * sizeof(char *);
    for (int i = 0; i < d->nby; i++) bytes += len[i] + 1;
    series *s = calloc(1, bytes);
    if (!s) { m->st.overflow++; return NULL; }
    s->hash = h;
    s->last_ts = INT64_MIN;
    s->nlabels = d->nby;
    char *p = (char *)(s->labels + d->nby + 1);
    for (int i = 0; i < d->nby; i++) {
        memcpy(p, v[i], len[i]);
        p[len[i]] = 0;
        s->labels[i] = p;
        p += len[i] + 1;
    }
    s->labels[d->nby] = p;
    if (d->kind != PW_METRIC_RATIO) {
        int64_t head = e->T == INT64_MIN ? 0 : bucket_of(m, e->T);
        s->win = pw_window_new(&m->wspec, head);
        if (!s->win) { free(s); m->st.overflow++; return NULL; }
    }
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (m->tab[i]) i = (i + 1) & mask;
    m->tab[i] = s;
    m->n++;
    s->prev = m->tail;
    if (m->tail) m->tail->next = s; else m->head = s;
    m->tail = s;
    m->st.series = m->n;
    return s;
}

static void series_free(pw_engine *e, mstate *m, series *s) {
    (void)e;
    table_remove(m, s);
    if (s->prev) s->prev->next = s->next; else m->head = s->next;
    if (s->next) s->next->prev = s->prev; else m->tail = s->prev;
    m->n--;
    m->st.series = m->n;
    m->st.series_forgotten++;
    pw_window_destroy(s->win);
    free(s->alerts);
    free(s);
}

/* ---------- values ---------- */

static int agg_zero_when_empty(pw_agg a) {
    return a == PW_AGG_COUNT || a == PW_AGG_SUM || a == PW_AGG_DISTINCT;
}

/* Value of a plain/pair series (may be NULL = unknown/empty) at head h. */
static void part_value(const mstate *pm, series *s, int64_t h, int *def, double *v, uint64_t *cnt) {
    if (!s) {
        *def = agg_zero_when_empty(pm->def->agg);
        *v = 0;
        *cnt = 0;
        return;
    }
    pw_window_advance(s->win, h);
    *def = pw_window_value(s->win, v);
    *cnt = pw_window_count(s->win);
}

static void series_input(pw_engine *e, mstate *m, series *s, int64_t t, pw_alert_input *in) {
    const pw_metric_def *d = m->def;
    int64_t h = bucket_of(m, t);
    in->has_last = s->last_ts != INT64_MIN;
    in->last_ts = s->last_ts;
    if (d->kind != PW_METRIC_RATIO) {
        pw_window_advance(s->win, h);
        in->defined = pw_window_value(s->win, &in->value);
        in->count = pw_window_count(s->win);
        return;
    }
    mstate *nm = &e->m[d->num_idx], *dm = &e->m[d->den_idx];
    series *ns = series_find_same(nm, s);
    series *ds = series_find_same(dm, s);
    int ndef, ddef;
    double nv, dv;
    uint64_t nc, dc;
    part_value(nm, ns, h, &ndef, &nv, &nc);
    part_value(dm, ds, h, &ddef, &dv, &dc);
    in->count = dc;
    in->defined = ndef && ddef && dv != 0;
    in->value = in->defined ? nv / dv : NAN;
}

/* ---------- alerts ---------- */

static int rule_matches(const pw_rule_def *r, const series *s) {
    for (int i = 0; i < r->nmatch; i++)
        if (strcmp(s->labels[r->match_by[i]], r->match[i].val) != 0) return 0;
    return 1;
}

static void notify(pw_engine *e, const pw_rule_def *r, const pw_metric_def *d, const series *s,
                   const pw_alert *a, const pw_alert_input *in, int64_t t, int firing, int repeat) {
    pw_notification n;
    n.rule = r;
    n.metric = d;
    n.firing = firing;
    n.repeat = repeat;
    n.label_vals = (const char *const *)s->labels;
    n.at = t;
    n.active_since = a->since;
    n.fingerprint = pw_alert_fingerprint(r, d, n.label_vals);
    n.seq = a->seq;
    n.born = a->born;
    switch (r->cond) {
    case PW_COND_ABSENT:
        n.value = in->has_last ? (double)(t - in->last_ts) / 1000.0 : NAN;
        n.threshold = (double)r->absent_ms / 1000.0;
        break;
    case PW_COND_OUTSIDE:
        n.value = in->defined ? in->value : NAN;
        /* the bound crossed; when resolving (value inside), the nearer bound */
        n.threshold = !in->defined ? r->lo
                      : in->value > r->hi ? r->hi
                      : in->value < r->lo ? r->lo
                      : (in->value - r->lo <= r->hi - in->value ? r->lo : r->hi);
        break;
    default:
        n.value = in->defined ? in->value : NAN;
        n.threshold = r->threshold;
    }
    e->st.notifications++;
    if (e->fn) e->fn(&n, e->ud);
}

/* Whether a series must keep its alert states: one is not inactive, or one has notified (its seq). */
static int alerts_keep(const series *s, int nrules) {
    if (s->nactive) return 1;
    for (int i = 0; s->alerts && i < nrules; i++)
        if (s->alerts[i].seq) return 1;
    return 0;
}

static void evaluate_series(pw_engine *e, mstate *m, series *s, int64_t t) {
    const pw_metric_def *d = m->def;
    if (!d->nrules) return;
    pw_alert_input in;
    series_input(e, m, s, t, &in);
    for (int i = 0; i < d->nrules; i++) {
        const pw_rule_def *r = &e->rs->rules[d->rules[i]];
        if (!rule_matches(r, s)) continue;
        e->st.evaluations++;
        pw_alert zero = {0};
        pw_alert *a = s->alerts ? &s->alerts[i] : &zero;
        uint8_t before = a->state;
        pw_alert_action act = pw_alert_step(a, r, &in, t);
        if (act == PW_ALERT_FIRE) notify(e, r, d, s, a, &in, t, 1, 0);
        else if (act == PW_ALERT_REPEAT) notify(e, r, d, s, a, &in, t, 1, 1);
        else if (act == PW_ALERT_RESOLVE) {
            notify(e, r, d, s, a, &in, t, 0, 0);
            uint32_t seq = a->seq;
            int64_t born = a->born;
            memset(a, 0, sizeof *a);
            a->seq = seq;
            a->born = born;
        }
        uint8_t after = a->state;
        if (before == after) continue;
        if (a == &zero) { /* first non-inactive state: give the series its state array */
            s->alerts = calloc((size_t)d->nrules, sizeof *s->alerts);
            if (!s->alerts) continue; /* out of memory: the alert is lost, state stays inactive */
            s->alerts[i] = zero;
        }
        if (before == PW_ALERT_INACTIVE) s->nactive++;
        if (after == PW_ALERT_INACTIVE) s->nactive--;
        if (before == PW_ALERT_FIRING) e->st.firing--;
        if (before == PW_ALERT_PENDING) e->st.pending--;
        if (after == PW_ALERT_FIRING) e->st.firing++;
        if (after == PW_ALERT_PENDING) e->st.pending++;
        if (!alerts_keep(s, d->nrules)) { free(s->alerts); s->alerts = NULL; }
    }
}

/* An absent rule that matches s and has not fired yet could still fire. */
static int absent_could_fire(const pw_engine *e, const mstate *m, const series *s) {
    if (!m->has_absent || s->last_ts == INT64_MIN) return 0;
    for (int i = 0; i < m->def->nrules; i++) {
        const pw_rule_def *r = &e->rs->rules[m->def->rules[i]];
        if (r->cond == PW_COND_ABSENT && rule_matches(r, s)) return 1;
    }
    return 0;
}

static int series_idle(pw_engine *e, mstate *m, series *s, int64_t h) {
    if (s->nactive) return 0;
    if (m->def->kind == PW_METRIC_RATIO) {
        const pw_metric_def *d = m->def;
        if (series_find_same(&e->m[d->num_idx], s)) return 0;
        if (series_find_same(&e->m[d->den_idx], s)) return 0;
    } else {
        pw_window_advance(s->win, h);
        if (!pw_window_empty(s->win)) return 0;
    }
    return !absent_could_fire(e, m, s);
}

/* ---------- pairs ---------- */

/* ---------- label tuples of pending starts ---------- */

static int ltab_grow_idx(ltab *lt) {
    uint32_t ncap = lt->icap ? lt->icap * 2 : 16;
    uint32_t *ni = calloc(ncap, sizeof *ni);
    if (!ni) return -1;
    for (uint32_t i = 0; i < lt->icap; i++) {
        uint32_t e = lt->idx[i];
        if (!e) continue;
        uint32_t j = (uint32_t)lt->t[e - 1].hash & (ncap - 1);
        while (ni[j]) j = (j + 1) & (ncap - 1);
        ni[j] = e;
    }
    free(lt->idx);
    lt->idx = ni;
    lt->icap = ncap;
    return 0;
}

/* packed (of `bytes` bytes) holds exactly the labels (v, len)? The sizes are compared first, so no
 * read goes past the packed area. */
static int packed_eq(const char *p, size_t bytes, const char *const *v, const uint32_t *len, int n) {
    size_t want = 0;
    for (int i = 0; i < n; i++) want += (size_t)len[i] + 1;
    if (want != bytes) return 0;
    for (int i = 0; i < n; i++) {
        if (p[len[i]] != 0 || !pw_bytes_eq(p, v[i], len[i])) return 0;
        p += len[i] + 1;
    }
    return 1;
}

/* The tuple (v, len) with one more reference: found or added. NO_LAB on allocation failure. */
static uint32_t ltab_ref(ltab *lt, const char *const *v, const uint32_t *len, int n) {
    uint64_t h = hash_labels(v, len, n);
    if (lt->icap) {
        uint32_t mask = lt->icap - 1;
        for (uint32_t i = (uint32_t)h & mask; lt->idx[i]; i = (i + 1) & mask) {
            ltuple *t = &lt->t[lt->idx[i] - 1];
            if (t->hash == h && packed_eq(t->packed, t->bytes, v, len, n)) {
                t->refs++;
                return lt->idx[i] - 1;
            }
        }
    }
    if ((lt->live + 1) * 4 > lt->icap * 3 && ltab_grow_idx(lt) < 0) return NO_LAB;
    uint32_t k;
    if (lt->free != NO_LAB) {
        k = lt->free;
    } else {
        if (lt->n == lt->cap) {
            uint32_t ncap = lt->cap ? lt->cap * 2 : 8;
            ltuple *nt = realloc(lt->t, (size_t)ncap * sizeof *nt);
            if (!nt) return NO_LAB;
            lt->t = nt;
            lt->cap = ncap;
        }
        k = lt->n;
    }
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += len[i] + 1;
    char *pk = malloc(bytes), *q = pk;
    if (!pk) return NO_LAB;
    for (int i = 0; i < n; i++) {
        memcpy(q, v[i], len[i]);
        q[len[i]] = 0;
        q += len[i] + 1;
    }
    if (k == lt->free) lt->free = lt->t[k].refs; else lt->n++;
    lt->t[k].packed = pk;
    lt->t[k].bytes = (uint32_t)bytes;
    lt->t[k].hash = h;
    lt->t[k].refs = 1;
    uint32_t mask = lt->icap - 1, i = (uint32_t)h & mask;
    while (lt->idx[i]) i = (i + 1) & mask;
    lt->idx[i] = k + 1;
    lt->live++;
    return k;
}

/* Drop one reference; the last one frees the tuple. */
static void ltab_unref(ltab *lt, uint32_t k) {
    if (k == NO_LAB || --lt->t[k].refs) return;
    uint32_t mask = lt->icap - 1, i = (uint32_t)lt->t[k].hash & mask;
    while (lt->idx[i] != k + 1) i = (i + 1) & mask;
    for (uint32_t j = i;;) { /* backward-shift deletion, as in table_remove */
        lt->idx[i] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!lt->idx[j]) goto removed;
            uint32_t h = (uint32_t)lt->t[lt->idx[j] - 1].hash & mask;
            if (i <= j ? (i < h && h <= j) : (i < h || h <= j)) continue;
            break;
        }
        lt->idx[i] = lt->idx[j];
        i = j;
    }
removed:
    free(lt->t[k].packed);
    lt->t[k].packed = NULL;
    lt->t[k].refs = lt->free;
    lt->free = k;
    lt->live--;
}

static void ltab_free(ltab *lt) {
    for (uint32_t i = 0; i < lt->n; i++) free(lt->t[i].packed);
    free(lt->t);
    free(lt->idx);
    memset(lt, 0, sizeof *lt);
    lt->free = NO_LAB;
}

static const char *pend_labels(const mstate *m, const pending *p) {
    return p->lab == NO_LAB ? NULL : m->lt.t[p->lab].packed;
}

/* The pending-start table is the engine's one large, randomly probed block (hundreds of thousands of
 * starts: megabytes). From 2 MiB on it is mapped on its own and offered transparent huge pages
 * (MADV_HUGEPAGE; a no-op where THP is off): with 4 KiB pages nearly every probe also misses the
 * TLB, and a software prefetch that misses the TLB may be dropped. */
#define PEND_BIG ((size_t)2 << 20)

static pending *pend_alloc(uint32_t cap) {
    size_t bytes = (size_t)cap * sizeof(pending);
    if (bytes < PEND_BIG) return malloc(bytes);
    bytes = (bytes + PEND_BIG - 1) & ~(PEND_BIG - 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void pend_release(pending *t, uint32_t cap) {
    size_t bytes = (size_t)cap * sizeof(pending);
    if (!t) return;
    if (bytes < PEND_BIG) free(t);
    else munmap(t, (bytes + PEND_BIG - 1) & ~(PEND_BIG - 1));
}

static void pend_free_all(mstate *m) {
    pend_release(m->pend, m->pcap);
    m->pend = NULL;
    m->pcap = m->pn = 0;
    ltab_free(&m->lt);
}

static pending *pend_find(mstate *m, uint64_t key) {
    if (!m->pcap) return NULL;
    uint32_t mask = m->pcap - 1;
    for (uint32_t i = (uint32_t)key & mask;; i = (i + 1) & mask) {
        pending *p = &m->pend[i];
        if (p->ts == INT64_MIN) return NULL;
        if (p->key == key) return p;
    }
}

static void pend_remove(mstate *m, pending *p) {
    uint32_t mask = m->pcap - 1;
    uint32_t i = (uint32_t)(p - m->pend), j = i;
    ltab_unref(&m->lt, p->lab);
    for (;;) {
        m->pend[i].ts = INT64_MIN;
        for (;;) {
            j = (j + 1) & mask;
            if (m->pend[j].ts == INT64_MIN) goto done;
            uint32_t k = (uint32_t)m->pend[j].key & mask;
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        m->pend[i] = m->pend[j];
        i = j;
    }
done:
    m->pn--;
    m->st.pending = m->pn;
}

static int pend_grow(mstate *m) {
    uint32_t ncap = m->pcap ? m->pcap * 2 : 64;
    pending *np = pend_alloc(ncap);
    if (!np) return -1;
    for (uint32_t i = 0; i < ncap; i++) np[i].ts = INT64_MIN;
    for (uint32_t i = 0; i < m->pcap; i++) {
        if (m->pend[i].ts == INT64_MIN) continue;
        uint32_t j = (uint32_t)m->pend[i].key & (ncap - 1);
        while (np[j].ts != INT64_MIN) j = (j + 1) & (ncap - 1);
        np[j] = m->pend[i];
    }
    pend_release(m->pend, m->pcap);
    m->pend = np;
    m->pcap = ncap;
    return 0;
}

/* Forget starts that no end which is not late could pair with. */
static void pend_sweep(pw_engine *e, mstate *m) {
    const pw_metric_def *d = m->def;
    if (!m->pn || e->T == INT64_MIN) return;
    int64_t oldest_end = (pw_floordiv(e->T, d->res_ms) - d->nbuckets + 1) * d->res_ms;
    int64_t limit = oldest_end - d->pair_timeout_ms;
    if (limit <= m->pmin) return; /* no start is that old: skip the walk over the whole table */
    int64_t mn = INT64_MAX;
    for (uint32_t i = 0; i < m->pcap;) {
        pending *p = &m->pend[i];
        if (p->ts != INT64_MIN && p->ts < limit) {
            pend_remove(m, p); /* shifts a later entry into i: look at i again */
            m->st.pair_expired++;
        } else {
            if (p->ts != INT64_MIN && p->ts < mn) mn = p->ts;
            i++;
        }
    }
    /* exact: every survivor was seen (an entry only shifts backwards into the hole at i; one that
     * wraps from the table's start to its end was seen at the start and is seen again) */
    m->pmin = mn;
}

/* ---------- applying events ---------- */

static void mark_changed(pw_engine *e, series *s, int mi) {
    for (int i = 0; i < e->nchanged; i++)
        if (e->changed[i].s == s) return;
    if (e->nchanged < e->maxchanged) {
        e->changed[e->nchanged].s = s;
        e->changed[e->nchanged].mi = mi;
        e->nchanged++;
    }
}

static int passes_where(mstate *m, const pw_event *ev) {
    if (!m->def->where) return 1;
    int r = pw_expr_test(m->def->where, ev->fields);
    if (r == 1) return 1;
    if (r == 0) m->st.filtered++;
    else m->st.unevaluable++;
    return 0;
}

/* Record x (or the distinct key) in the series with labels e->lab for event time ts. */
static void record(pw_engine *e, int mi, int64_t ts, double x, int is_key, uint64_t key) {
    mstate *m = &e->m[mi];
    const pw_metric_def *d = m->def;
    int64_t head = bucket_of(m, e->T);
    int64_t k = bucket_of(m, ts);
    if (k <= head - d->nbuckets) { m->st.late++; return; }
    uint64_t h = hash_labels(e->lab, e->lablen, d->nby);
    series *s = series_find(m, h, e->lab, e->lablen);
    if (!s && !(s = series_create(e, m, h, e->lab, e->lablen))) return;
    pw_window_advance(s->win, head);
    e->seq++;
    if (is_key) pw_window_add_key(s->win, k, key);
    else pw_window_add(s->win, k, x, ts, e->seq);
    if (ts > s->last_ts) s->last_ts = ts;
    m->st.events++;
    mark_changed(e, s, mi);
    /* ratio series built on this one exist from now on and carry its last event time */
    for (int i = 0; i < m->nratios; i++) {
        mstate *rm = &e->m[m->ratios[i]];
        series *rs = series_find(rm, h, e->lab, e->lablen);
        if (!rs) rs = series_create(e, rm, h, e->lab, e->lablen);
        if (!rs) continue;
        if (ts > rs->last_ts) rs->last_ts = ts;
        mark_changed(e, rs, m->ratios[i]);
    }
}

static void labels_from_event(pw_engine *e, const pw_metric_def *d, const pw_event *ev) {
    for (int i = 0; i < d->nby; i++) pw_value_label(&ev->fields[d->by_slots[i]], &e->lab[i], &e->lablen[i]);
}

static void apply_plain(pw_engine *e, int mi, const pw_event *ev) {
    mstate *m = &e->m[mi];
    const pw_metric_def *d = m->def;
    if (!passes_where(m, ev)) return;
    double x = 0;
    uint64_t key = 0;
    int is_key = d->agg == PW_AGG_DISTINCT;
    if (d->agg != PW_AGG_COUNT) {
        if (is_key) {
            pw_value v;
            if (d->value) {
                if (pw_expr_eval(d->value, ev->fields, &v) < 0) { m->st.unevaluable++; return; }
            } else {
                v = ev->fields[d->field_slot];
            }
            if (v.type == PW_V_NULL) { m->st.unevaluable++; return; } /* events without it do not count */
            const char *s;
            uint32_t l;
            pw_value_label(&v, &s, &l);
            key = hash_str(s, l);
        } else if (d->value) {
            if (pw_expr_number(d->value, ev->fields, &x) < 0) { m->st.unevaluable++; return; }
        } else if (!pw_value_number(&ev->fields[d->field_slot], &x) || ev->fields[d->field_slot].type == PW_V_BOOL) {
            m->st.unevaluable++;
            return;
        }
    }
    labels_from_event(e, d, ev);
    record(e, mi, ev->ts, x, is_key, key);
}

/* The hash of the pair key of ev for metric m (its text; "" when the field is missing: such events
 * are refused by pair_usable, the hash is then unused). */
static uint64_t pair_key_hash(const mstate *m, const pw_event *ev) {
    const char *ks;
    uint32_t kl;
    pw_value_label(&ev->fields[m->def->pair_key_slot], &ks, &kl);
    return hash_str(ks, kl);
}

/* 1 if ev passes `where` and has a pair key, else 0 (counted). */
static int pair_usable(mstate *m, const pw_event *ev) {
    if (!passes_where(m, ev)) return 0;
    if (ev->fields[m->def->pair_key_slot].type == PW_V_NULL) { m->st.unevaluable++; return 0; }
    return 1;
}

static void apply_pair_start(pw_engine *e, int mi, const pw_event *ev, uint64_t key) {
    mstate *m = &e->m[mi];
    const pw_metric_def *d = m->def;
    if (!pair_usable(m, ev)) return;
    pending *old = pend_find(m, key);
    if (old) {
        /* the first start of a key is the one that pairs, unless it is already more than `timeout`
         * before this start: then no end after this start could pair with it, and this one replaces it */
        if (ev->ts - old->ts <= d->pair_timeout_ms) { m->st.pair_duplicates++; return; }
        pend_remove(m, old);
        m->st.pair_expired++;
    }
    if (m->pn >= e->o.max_pending) { m->st.pair_expired++; return; }
    if ((m->pn + 1) * 10 > m->pcap * 7 && pend_grow(m) < 0) { m->st.pair_expired++; return; }
    uint32_t lab = NO_LAB;
    if (d->nby) {
        labels_from_event(e, d, ev);
        lab = ltab_ref(&m->lt, e->lab, e->lablen, d->nby);
        if (lab == NO_LAB) { m->st.pair_expired++; return; }
    }
    uint32_t mask = m->pcap - 1;
    uint32_t i = (uint32_t)key & mask;
    while (m->pend[i].ts != INT64_MIN) i = (i + 1) & mask;
    m->pend[i].key = key;
    m->pend[i].ts = ev->ts;
    if (ev->ts < m->pmin) m->pmin = ev->ts;
    m->pend[i].lab = lab;
    m->pn++;
    m->st.pending = m->pn;
    m->st.pair_starts++;
}

static void apply_pair_end(pw_engine *e, int mi, const pw_event *ev, uint64_t key) {
    mstate *m = &e->m[mi];
    const pw_metric_def *d = m->def;
    if (!pair_usable(m, ev)) return;
    pending *p = pend_find(m, key);
    if (!p || p->ts > ev->ts || ev->ts - p->ts > d->pair_timeout_ms) { m->st.pair_unmatched++; return; }
    double dur = (double)(ev->ts - p->ts) / (double)d->unit_ms;
    const char *sp = pend_labels(m, p);
    for (int i = 0; i < d->nby; i++) {
        const pw_value *v = &ev->fields[d->by_slots[i]];
        if (v->type != PW_V_NULL) {
            pw_value_label(v, &e->lab[i], &e->lablen[i]);
        } else {
            e->lab[i] = sp;
            e->lablen[i] = (uint32_t)strlen(sp);
        }
        sp += strlen(sp) + 1;
    }
    /* labels may point into the start's label tuple: record before removing the start */
    record(e, mi, ev->ts, dur, 0, 0);
    pend_remove(m, p);
}

/* ---------- time ---------- */

static void boundary(pw_engine *e, int mi, int64_t b) {
    mstate *m = &e->m[mi];
    const pw_metric_def *d = m->def;
    int64_t h = bucket_of(m, b);
    m->boundaries++;
    int sweep = d->nrules > 0 || m->boundaries % d->nbuckets == 0;
    if (d->kind == PW_METRIC_PAIR && m->boundaries % d->nbuckets == 0) pend_sweep(e, m);
    if (!sweep) return;
    for (series *s = m->head, *next; s; s = next) {
        next = s->next;
        evaluate_series(e, m, s, b);
        if (series_idle(e, m, s, h)) series_free(e, m, s);
    }
}

static int64_t ceil_boundary(int64_t x, int64_t R) { return -pw_floordiv(-x, R) * R; }

/* For long jumps of stream time: the first boundary >= b at which evaluating
 * metric m could change anything, given that nothing is applied meanwhile.
 * Returns b itself unless every series of m has an empty window (then values
 * are constant and only `for`, `absent` and `repeat` timers can act). */
static int64_t quiet_until(pw_engine *e, mstate *m, int64_t b) {
    const pw_metric_def *d = m->def;
    const int64_t R = d->res_ms;
    int64_t h = pw_floordiv(b, R), next = INT64_MAX;
    for (series *s = m->head; s; s = s->next) {
        if (d->kind != PW_METRIC_RATIO) {
            pw_window_advance(s->win, h);
            if (!pw_window_empty(s->win)) return b;
        } else {
            series *parts[2] = {series_find_same(&e->m[d->num_idx], s), series_find_same(&e->m[d->den_idx], s)};
            for (int i = 0; i < 2; i++) {
                if (!parts[i]) continue;
                pw_window_advance(parts[i]->win, h); /* same resolution as the ratio */
                if (!pw_window_empty(parts[i]->win)) return b;
            }
        }
        if (s->nactive == 0 && !absent_could_fire(e, m, s) && !d->nrules) continue;
        pw_alert_input in;
        series_input(e, m, s, b, &in);
        for (int i = 0; i < d->nrules; i++) {
            const pw_rule_def *r = &e->rs->rules[d->rules[i]];
            if (!rule_matches(r, s)) continue;
            const pw_alert *a = s->alerts ? &s->alerts[i] : NULL;
            uint8_t st = a ? a->state : PW_ALERT_INACTIVE;
            int64_t when = INT64_MAX;
            if (st == PW_ALERT_INACTIVE) {
                if (r->cond == PW_COND_ABSENT) {
                    if (in.has_last) when = ceil_boundary(in.last_ts + r->absent_ms, R);
                } else if (pw_alert_condition(r, &in, b, 0)) {
                    return b;
                }
            } else if (st == PW_ALERT_PENDING) {
                if (!pw_alert_condition(r, &in, b, 0)) return b;
                when = ceil_boundary(a->since + r->for_ms, R);
            } else {
                if (!pw_alert_condition(r, &in, b, 1)) return b;
                if (r->repeat_ms > 0) when = ceil_boundary(a->last_notified + r->repeat_ms, R);
            }
            if (when < next) next = when;
        }
    }
    return next < b ? b : next;
}

static void update_next_min(pw_engine *e) {
    int64_t mn = INT64_MAX;
    for (int i = 0; i < e->rs->nmetrics; i++)
        if (e->m[i].next_b < mn) mn = e->m[i].next_b;
    e->next_min = mn;
}

static void advance_to(pw_engine *e, int64_t t) {
    if (e->T == INT64_MIN) {
        e->T = t;
        for (int i = 0; i < e->rs->nmetrics; i++)
            e->m[i].next_b = (pw_floordiv(t, e->m[i].def->res_ms) + 1) * e->m[i].def->res_ms;
        update_next_min(e);
        return;
    }
    if (t <= e->T) return;
    if (t < e->next_min) { /* no metric has a boundary in (T, t]: the common case, O(1) per event */
        e->T = t;
        return;
    }
    for (;;) {
        int best = -1;
        for (int i = 0; i < e->rs->nmetrics; i++) {
            mstate *m = &e->m[i];
            if (m->next_b > t) continue;
            if (!m->head && !m->pn) { /* nothing lives here: skip the empty boundaries at once */
                int64_t R = m->def->res_ms;
                int64_t skipped = (pw_floordiv(t, R) + 1) * R - m->next_b;
                m->boundaries += skipped / R;
                m->next_b += skipped;
                continue;
            }
            if (best < 0 || m->next_b < e->m[best].next_b) best = i;
        }
        if (best < 0) break;
        mstate *m = &e->m[best];
        int64_t b = m->next_b;
        const int64_t R = m->def->res_ms;
        if (!e->o.no_skip && (t - b) / R > m->def->nbuckets + 2) {
            /* a long jump: skip the boundaries at which nothing can change */
            int64_t q = quiet_until(e, m, b);
            int64_t last = pw_floordiv(t, R) * R;
            if (q > b) {
                int64_t to = q < last ? q : last + R; /* beyond t: nothing to do until then */
                /* the sweeps of the skipped boundaries: forget what is idle now */
                for (series *s = m->head, *next; s; s = next) {
                    next = s->next;
                    if (series_idle(e, m, s, pw_floordiv(b, R))) series_free(e, m, s);
                }
                m->boundaries += (to - b) / R;
                m->next_b = to;
                if (m->def->kind == PW_METRIC_PAIR) {
                    int64_t saved = e->T;
                    e->T = to - R > e->T ? to - R : e->T;
                    pend_sweep(e, m);
                    e->T = saved;
                }
                continue;
            }
        }
        m->next_b += m->def->res_ms;
        e->T = b > e->T ? b : e->T;
        boundary(e, best, b);
    }
    e->T = t;
    update_next_min(e);
}

/* ---------- public ---------- */

pw_engine *pw_engine_new(const pw_ruleset *rs, const pw_engine_opts *opts, pw_notify_fn fn, void *ud) {
    pw_engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->rs = rs;
    if (opts) e->o = *opts;
    if (!e->o.max_series) e->o.max_series = DEFAULT_MAX_SERIES;
    if (!e->o.max_pending) e->o.max_pending = DEFAULT_MAX_PENDING;
    e->fn = fn;
    e->ud = ud;
    e->T = INT64_MIN;
    e->m = calloc((size_t)rs->nmetrics + 1, sizeof *e->m);
    int ntypes = 0;
    for (int i = 0; i < rs->nmetrics; i++) ntypes += rs->metrics[i].nevents + 2;
    e->tcap = 16;
    while (e->tcap < (uint32_t)ntypes * 2) e->tcap *= 2;
    e->types = calloc(e->tcap, sizeof *e->types);
    e->maxchanged = 2 * rs->nmetrics + 4;
    e->changed = calloc((size_t)e->maxchanged, sizeof *e->changed);
    if (!e->m || !e->types || !e->changed) goto fail;
    for (int i = 0; i < rs->nmetrics; i++) {
        const pw_metric_def *d = &rs->metrics[i];
        mstate *m = &e->m[i];
        m->def = d;
        m->lt.free = NO_LAB;
        m->pmin = INT64_MAX;
        m->wspec.agg = d->agg;
        m->wspec.nbuckets = d->nbuckets;
        m->wspec.q = d->q;
        m->wspec.distinct_max = e->o.distinct_max;
        if (d->nby > e->maxby) e->maxby = d->nby;
        for (int j = 0; j < d->nrules; j++)
            if (rs->rules[d->rules[j]].cond == PW_COND_ABSENT) m->has_absent = 1;
        if (d->kind == PW_METRIC_PLAIN) {
            for (int j = 0; j < d->nevents; j++)
                if (type_add(e, d->events[j], i, 0) < 0) goto fail;
        } else if (d->kind == PW_METRIC_PAIR) {
            if (type_add(e, d->pair_start, i, 1) < 0 || type_add(e, d->pair_end, i, 2) < 0) goto fail;
        } else {
            int parts[2] = {d->num_idx, d->den_idx};
            for (int j = 0; j < 2; j++) {
                if (j == 1 && parts[1] == parts[0]) break;
                mstate *pm = &e->m[parts[j]];
                int *r = realloc(pm->ratios, (size_t)(pm->nratios + 1) * sizeof *r);
                if (!r) goto fail;
                pm->ratios = r;
                pm->ratios[pm->nratios++] = i;
            }
        }
    }
    int maxroutes = 1;
    for (uint32_t i = 0; i < e->tcap; i++)
        if (e->types[i].nroutes > maxroutes) maxroutes = e->types[i].nroutes;
    e->pkey = calloc((size_t)maxroutes, sizeof *e->pkey);
    e->lab = calloc((size_t)e->maxby + 1, sizeof *e->lab);
    e->lablen = calloc((size_t)e->maxby + 1, sizeof *e->lablen);
    if (!e->lab || !e->lablen || !e->pkey) goto fail;
    return e;
fail:
    pw_engine_destroy(e);
    return NULL;
}

void pw_engine_destroy(pw_engine *e) {
    if (!e) return;
    if (e->m) {
        for (int i = 0; i < e->rs->nmetrics; i++) {
            mstate *m = &e->m[i];
            for (series *s = m->head, *next; s; s = next) {
                next = s->next;
                pw_window_destroy(s->win);
                free(s->alerts);
                free(s);
            }
            free(m->tab);
            free(m->ratios);
            pend_free_all(m);
        }
        free(e->m);
    }
    if (e->types)
        for (uint32_t i = 0; i < e->tcap; i++) free(e->types[i].routes);
    free(e->types);
    free(e->changed);
    free(e->pkey);
    free(e->lab);
    free(e->lablen);
    free(e);
}

void pw_engine_event(pw_engine *e, const pw_event *ev) {
    e->st.events++;
    tslot *ts = type_find(e, ev->type, ev->type_len);
    /* Pair metrics probe a table of up to max_pending starts at a random slot: hash their keys now and
     * ask the CPU to load those slots, so the load overlaps advancing time and the plain metrics of
     * this event (routes are in metric order; the pair's own work comes after). Measured: the probe
     * was ~10% of a replay's time, most of it waiting for memory. */
    for (int i = 0; i < ts->nroutes; i++) {
        if (ts->routes[i].role == 0) continue;
        const mstate *m = &e->m[ts->routes[i].metric];
        e->pkey[i] = pair_key_hash(m, ev);
#if defined(__GNUC__)
        if (m->pcap) __builtin_prefetch(&m->pend[(uint32_t)e->pkey[i] & (m->pcap - 1)]);
#endif
    }
    advance_to(e, ev->ts);
    if (!ts->type) { e->st.unmatched++; return; }
    e->nchanged = 0;
    for (int i = 0; i < ts->nroutes; i++) {
        int mi = ts->routes[i].metric;
        switch (ts->routes[i].role) {
        case 0: apply_plain(e, mi, ev); break;
        case 1: apply_pair_start(e, mi, ev, e->pkey[i]); break;
        default: apply_pair_end(e, mi, ev, e->pkey[i]); break;
        }
    }
    /* changed[] holds part series first, then the ratio series built on them */
    for (int i = 0; i < e->nchanged; i++)
        evaluate_series(e, &e->m[e->changed[i].mi], e->changed[i].s, e->T);
}

void pw_engine_advance(pw_engine *e, int64_t t) {
    if (e->T == INT64_MIN) return; /* no event yet: nothing to evaluate, no time origin */
    advance_to(e, t);
}

void pw_engine_evaluate_all(pw_engine *e) {
    if (e->T == INT64_MIN) return;
    for (int i = 0; i < e->rs->nmetrics; i++) {
        mstate *m = &e->m[i];
        if (!m->def->nrules) continue;
        for (series *s = m->head; s; s = s->next) evaluate_series(e, m, s, e->T);
    }
}

static void remap_alerts(pw_engine *e, mstate *m, const pw_engine *old, const pw_metric_def *od) {
    const pw_metric_def *d = m->def;
    int map[256];
    for (int k = 0; k < d->nrules && k < 256; k++) {
        const pw_rule_def *r = &e->rs->rules[d->rules[k]];
        map[k] = -1;
        for (int j = 0; j < od->nrules; j++) {
            const pw_rule_def *orr = &old->rs->rules[od->rules[j]];
            if (orr->def_hash == r->def_hash && !strcmp(orr->name, r->name)) { map[k] = j; break; }
        }
    }
    for (series *s = m->head; s; s = s->next) {
        if (!s->alerts) continue;
        pw_alert *na = d->nrules ? calloc((size_t)d->nrules, sizeof *na) : NULL;
        uint32_t active = 0, seqs = 0;
        for (int k = 0; na && k < d->nrules && k < 256; k++) {
            if (map[k] < 0) continue;
            na[k] = s->alerts[map[k]];
            if (na[k].state == PW_ALERT_PENDING) e->st.pending++;
            if (na[k].state == PW_ALERT_FIRING) e->st.firing++;
            if (na[k].state != PW_ALERT_INACTIVE) active++;
            seqs += na[k].seq != 0;
        }
        free(s->alerts);
        s->alerts = active || seqs ? na : NULL;
        if (!s->alerts) free(na);
        s->nactive = active;
    }
}

void pw_engine_adopt(pw_engine *e, pw_engine *old, void (*report)(const char *metric, int kept, void *ud),
                     void *ud) {
    e->next_min = INT64_MIN; /* next_b values change below: the next advance recomputes the minimum */
    e->T = old->T;
    e->seq = old->seq;
    e->st = old->st;
    e->st.firing = e->st.pending = 0;
    for (int i = 0; i < e->rs->nmetrics; i++) {
        mstate *m = &e->m[i];
        const pw_metric_def *d = m->def;
        int kept = 0;
        for (int j = 0; j < old->rs->nmetrics; j++) {
            mstate *om = &old->m[j];
            if (om->def->def_hash != d->def_hash || strcmp(om->def->name, d->name) != 0) continue;
            m->tab = om->tab; m->cap = om->cap; m->n = om->n;
            m->head = om->head; m->tail = om->tail;
            m->next_b = om->next_b; m->boundaries = om->boundaries;
            m->pend = om->pend; m->pcap = om->pcap; m->pn = om->pn; m->pmin = om->pmin;
            ltab_free(&m->lt);
            m->lt = om->lt;
            m->st = om->st;
            om->tab = NULL; om->cap = om->n = 0; om->head = om->tail = NULL;
            om->pend = NULL; om->pcap = om->pn = 0;
            memset(&om->lt, 0, sizeof om->lt);
            om->lt.free = NO_LAB;
            remap_alerts(e, m, old, om->def);
            kept = 1;
            break;
        }
        if (!kept && e->T != INT64_MIN) m->next_b = (pw_floordiv(e->T, d->res_ms) + 1) * d->res_ms;
        if (report) report(d->name, kept, ud);
    }
    pw_engine_destroy(old);
}

/* ---------- snapshots (format: engine.h, container: snapshot.h) ---------- */

#define SNAP_MAX_NAME 1024u
#define SNAP_MAX_LABEL (64u << 20) /* events.max_size's upper bound */

static void save_labels_packed(pw_buf *b, const char *p, int n) {
    for (int i = 0; i < n; i++) {
        size_t l = strlen(p);
        pw_snap_str(b, p, l);
        p += l + 1;
    }
}

static void save_metric(const pw_engine *e, const mstate *m, pw_snap_w *w) {
    const pw_metric_def *d = m->def;
    pw_buf *b = &w->b; /* the primitives append here; pw_snap_w_point may emit whole chunks of it */
    pw_snap_u8(b, (uint8_t)d->kind);
    pw_snap_u8(b, (uint8_t)d->agg);
    pw_snap_u32(b, (uint32_t)d->nbuckets);
    pw_snap_u32(b, (uint32_t)d->nby);
    pw_snap_i64(b, m->next_b);
    pw_snap_i64(b, m->boundaries);
    const uint64_t *st = &m->st.events;
    for (size_t i = 0; i < sizeof m->st / sizeof(uint64_t); i++) pw_snap_u64(b, st[i]);
    pw_snap_u32(b, (uint32_t)d->nrules);
    for (int i = 0; i < d->nrules; i++) {
        const pw_rule_def *r = &e->rs->rules[d->rules[i]];
        pw_snap_str(b, r->name, strlen(r->name));
        pw_snap_u64(b, r->def_hash);
    }
    pw_snap_u32(b, m->n);
    for (const series *s = m->head; s; s = s->next) {
        for (int i = 0; i < s->nlabels; i++) pw_snap_str(b, s->labels[i], strlen(s->labels[i]));
        pw_snap_i64(b, s->last_ts);
        if (s->win) pw_window_save(s->win, b);
        pw_snap_u8(b, s->alerts != NULL);
        for (int i = 0; s->alerts && i < d->nrules; i++) {
            pw_snap_u8(b, s->alerts[i].state);
            pw_snap_i64(b, s->alerts[i].since);
            pw_snap_i64(b, s->alerts[i].fired_at);
            pw_snap_i64(b, s->alerts[i].last_notified);
            pw_snap_u32(b, s->alerts[i].seq);
            pw_snap_i64(b, s->alerts[i].born);
        }
        pw_snap_w_point(w);
        if (w->failed) return; /* the snapshot is lost: stop encoding it */
    }
    pw_snap_u32(b, m->pn);
    for (uint32_t i = 0; i < m->pcap; i++) {
        const pending *p = &m->pend[i];
        if (p->ts == INT64_MIN) continue;
        pw_snap_u64(b, p->key);
        pw_snap_i64(b, p->ts);
        if (d->nby) save_labels_packed(b, pend_labels(m, p), d->nby);
        pw_snap_w_point(w);
    }
}

void pw_engine_save(const pw_engine *e, pw_snap_w *w) {
    pw_buf *out = &w->b;
    uint64_t *blen = calloc((size_t)e->rs->nmetrics + 1, sizeof *blen);
    if (!blen) { w->failed = 1; return; }
    pw_snap_i64(out, e->T);
    pw_snap_u64(out, e->seq);
    pw_snap_u64(out, e->st.events);
    pw_snap_u64(out, e->st.unmatched);
    pw_snap_u64(out, e->st.evaluations);
    pw_snap_u64(out, e->st.notifications);
    pw_snap_u32(out, (uint32_t)e->rs->nmetrics);
    for (int i = 0; i < e->rs->nmetrics; i++) {
        const mstate *m = &e->m[i];
        uint32_t firing = 0, pend = 0;
        for (const series *s = m->head; s; s = s->next)
            for (int k = 0; s->alerts && k < m->def->nrules; k++) {
                firing += s->alerts[k].state == PW_ALERT_FIRING;
                pend += s->alerts[k].state == PW_ALERT_PENDING;
            }
        pw_snap_str(out, m->def->name, strlen(m->def->name));
        pw_snap_u64(out, m->def->def_hash);
        pw_snap_u32(out, m->n);
        pw_snap_u32(out, m->pn);
        pw_snap_u32(out, firing);
        pw_snap_u32(out, pend);
        uint64_t start = pw_snap_w_pos(w);
        save_metric(e, m, w);
        blen[i] = pw_snap_w_pos(w) - start;
    }
    /* the bodies' lengths after them (format version 3): the writer never goes back to fill one in */
    for (int i = 0; i < e->rs->nmetrics; i++) pw_snap_u64(out, blen[i]);
    free(blen);
}

/* Format version 3 keeps the metric bodies' lengths in an index at the end of the section (nm u64s):
 * return it and shorten r to end before it; versions 1 and 2 (r->version < 3) put each length before its
 * body: NULL. */
static const unsigned char *body_index(pw_snap_r *r, uint32_t nm) {
    if (r->failed || (r->version && r->version < 3)) return NULL;
    if ((uint64_t)nm * 8 > r->len - r->off) {
        pw_snap_fail(r, "the index of %u metric bodies cannot fit in the %zu bytes left", nm, r->len - r->off);
        return NULL;
    }
    r->len -= (size_t)nm * 8;
    return r->p + r->len;
}
/* The length of body j: from the index (version 3) or in front of the body. */
static uint64_t body_len(pw_snap_r *r, const unsigned char *index, uint32_t j) {
    if (r->version && r->version < 3) return pw_snap_ru64(r);
    if (r->failed) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)index[8 * (size_t)j + (size_t)i] << (8 * i);
    return v;
}

/* Read nby label strings into e->lab/e->lablen (pointing into the input). */
static int load_labels(pw_engine *e, pw_snap_r *r, int nby) {
    for (int i = 0; i < nby; i++) {
        if (pw_snap_rstr(r, &e->lab[i], &e->lablen[i], SNAP_MAX_LABEL) < 0) return -1;
        if (memchr(e->lab[i], 0, e->lablen[i])) return pw_snap_fail(r, "label with a NUL byte");
    }
    return 0;
}

#define SNAP_MIN_T (-62167219200000LL) /* 0000-01-01T00:00:00Z */
#define SNAP_MAX_T 253402300799999LL   /* 9999-12-31T23:59:59.999Z */
/* Every time in the state is an event time or derived from one (or the wall clock): out of this range
 * it is corruption, and arithmetic on it (timers, boundaries) could overflow. */
static int snap_time_ok(int64_t t) { return t >= SNAP_MIN_T && t <= SNAP_MAX_T; }

static int load_metric(pw_engine *e, int mi, pw_snap_r *r) {
    mstate *m = &e->m[mi];
    const pw_metric_def *d = m->def;
    uint8_t kind = pw_snap_ru8(r), agg = pw_snap_ru8(r);
    uint32_t nb = pw_snap_ru32(r), nby = pw_snap_ru32(r);
    if (r->failed) return -1;
    if (kind != (uint8_t)d->kind || (d->kind != PW_METRIC_RATIO && agg != (uint8_t)d->agg) ||
        nb != (uint32_t)d->nbuckets || nby != (uint32_t)d->nby)
        return pw_snap_fail(r, "shape differs from the definition with the same hash");
    m->next_b = pw_snap_ri64(r);
    m->boundaries = pw_snap_ri64(r);
    /* after every call the next boundary is the first one after T (advance_to); another value would
     * make the next advance walk boundaries from wherever it points (found by fuzz_snapshot) */
    if (!r->failed && (m->boundaries < 0 || m->boundaries > (INT64_C(1) << 62)))
        return pw_snap_fail(r, "boundary count %lld out of range", (long long)m->boundaries);
    if (!r->failed && e->T != INT64_MIN && m->next_b != (pw_floordiv(e->T, d->res_ms) + 1) * d->res_ms)
        return pw_snap_fail(r, "next boundary %lld does not follow stream time %lld", (long long)m->next_b,
                            (long long)e->T);
    uint64_t *st = &m->st.events;
    for (size_t i = 0; i < sizeof m->st / sizeof(uint64_t); i++) st[i] = pw_snap_ru64(r);
    uint32_t onr = pw_snap_rcount(r, 4 + 8, "rules");
    if (r->failed) return -1;
    if (onr > 4096) return pw_snap_fail(r, "%u rules on one metric", onr);
    int map[4096]; /* saved rule index -> current index on this metric, -1 if gone or changed */
    for (uint32_t j = 0; j < onr; j++) {
        const char *name;
        uint32_t nl;
        pw_snap_rstr(r, &name, &nl, SNAP_MAX_NAME);
        uint64_t h = pw_snap_ru64(r);
        if (r->failed) return -1;
        map[j] = -1;
        for (int k = 0; k < d->nrules; k++) {
            const pw_rule_def *rr = &e->rs->rules[d->rules[k]];
            if (rr->def_hash == h && strlen(rr->name) == nl && !memcmp(rr->name, name, nl)) { map[j] = k; break; }
        }
    }
    uint32_t ns = pw_snap_rcount(r, 4 * nby + 8 + 1, "series");
    for (uint32_t j = 0; j < ns && !r->failed; j++) {
        if (load_labels(e, r, d->nby) < 0) return -1;
        uint64_t h = hash_labels(e->lab, e->lablen, d->nby);
        if (series_find(m, h, e->lab, e->lablen)) return pw_snap_fail(r, "duplicate series");
        series *s = series_create(e, m, h, e->lab, e->lablen);
        if (!s) return pw_snap_fail(r, "out of memory");
        s->last_ts = pw_snap_ri64(r);
        if (!r->failed && s->last_ts != INT64_MIN && !snap_time_ok(s->last_ts))
            return pw_snap_fail(r, "series time %lld out of range", (long long)s->last_ts);
        if (s->win) {
            pw_window_destroy(s->win);
            s->win = pw_window_load(&m->wspec, r);
            if (!s->win) return -1;
        }
        uint8_t has = pw_snap_ru8(r);
        if (has > 1) return pw_snap_fail(r, "bad alert flag");
        if (!has) continue;
        int v1 = r->version == 1; /* alert states without seq and born */
        if ((uint64_t)onr * (v1 ? 25 : 37) > r->len - r->off) return pw_snap_fail(r, "truncated alert states");
        if (d->nrules && !(s->alerts = calloc((size_t)d->nrules, sizeof *s->alerts)))
            return pw_snap_fail(r, "out of memory");
        for (uint32_t k = 0; k < onr; k++) {
            pw_alert a;
            uint8_t state = pw_snap_ru8(r);
            a.since = pw_snap_ri64(r);
            a.fired_at = pw_snap_ri64(r);
            a.last_notified = pw_snap_ri64(r);
            a.seq = v1 ? 0 : pw_snap_ru32(r);
            a.born = v1 ? a.since : pw_snap_ri64(r);
            if (r->failed) return -1;
            if (state > PW_ALERT_FIRING) return pw_snap_fail(r, "bad alert state %u", state);
            if ((a.seq || state != PW_ALERT_INACTIVE) && !snap_time_ok(a.born))
                return pw_snap_fail(r, "alert birth time out of range");
            if (!a.seq && state == PW_ALERT_INACTIVE) a.born = 0;
            if (state > PW_ALERT_FIRING) return pw_snap_fail(r, "bad alert state %u", state);
            if (state != PW_ALERT_INACTIVE &&
                (!snap_time_ok(a.since) || !snap_time_ok(a.fired_at) || !snap_time_ok(a.last_notified)))
                return pw_snap_fail(r, "alert times out of range");
            a.state = state;
            if (state == PW_ALERT_INACTIVE) a.since = a.fired_at = a.last_notified = 0; /* only its seq counts */
            if (map[k] < 0) continue;
            s->alerts[map[k]] = a;
            if (state == PW_ALERT_INACTIVE) continue;
            s->nactive++;
            if (state == PW_ALERT_FIRING) e->st.firing++;
            else e->st.pending++;
        }
        if (!alerts_keep(s, d->nrules)) { free(s->alerts); s->alerts = NULL; }
    }
    uint32_t np = pw_snap_rcount(r, 16 + 4 * nby, "pending starts");
    for (uint32_t j = 0; j < np && !r->failed; j++) {
        if (d->kind != PW_METRIC_PAIR) return pw_snap_fail(r, "pending starts on a metric that is not a pair");
        uint64_t key = pw_snap_ru64(r);
        int64_t ts = pw_snap_ri64(r);
        if (load_labels(e, r, d->nby) < 0) return -1;
        if (!snap_time_ok(ts)) return pw_snap_fail(r, "bad pending start time");
        if (pend_find(m, key)) return pw_snap_fail(r, "duplicate pending start");
        if ((m->pn + 1) * 10 > m->pcap * 7 && pend_grow(m) < 0) return pw_snap_fail(r, "out of memory");
        uint32_t lab = NO_LAB;
        if (d->nby && (lab = ltab_ref(&m->lt, e->lab, e->lablen, d->nby)) == NO_LAB)
            return pw_snap_fail(r, "out of memory");
        uint32_t mask = m->pcap - 1, i = (uint32_t)key & mask;
        while (m->pend[i].ts != INT64_MIN) i = (i + 1) & mask;
        m->pend[i].key = key;
        m->pend[i].ts = ts;
        if (ts < m->pmin) m->pmin = ts;
        m->pend[i].lab = lab;
        m->pn++;
    }
    if (r->failed) return -1;
    if (r->off != r->len) return pw_snap_fail(r, "%zu unexpected bytes after the metric", r->len - r->off);
    m->st.series = m->n;
    m->st.pending = m->pn;
    return 0;
}

int pw_engine_load(pw_engine *e, const void *p, size_t len, void (*report)(const char *metric, int kept, void *ud),
                   void *ud, char *err, size_t errlen) {
    return pw_engine_load_version(e, p, len, PW_SNAPSHOT_VERSION, report, ud, err, errlen);
}

int pw_engine_load_version(pw_engine *e, const void *p, size_t len, uint32_t version,
                           void (*report)(const char *metric, int kept, void *ud), void *ud, char *err, size_t errlen) {
    pw_snap_r r;
    pw_snap_r_init(&r, p, len);
    e->next_min = INT64_MIN; /* next_b values are restored below: the next advance recomputes the minimum */
    r.version = version;
    e->T = pw_snap_ri64(&r);
    /* stream time comes from event times (years 0000..9999, as the decoder accepts) or the wall clock */
    if (!r.failed && e->T != INT64_MIN && (e->T < SNAP_MIN_T || e->T > SNAP_MAX_T))
        pw_snap_fail(&r, "stream time %lld out of range", (long long)e->T);
    e->seq = pw_snap_ru64(&r);
    e->st.events = pw_snap_ru64(&r);
    e->st.unmatched = pw_snap_ru64(&r);
    e->st.evaluations = pw_snap_ru64(&r);
    e->st.notifications = pw_snap_ru64(&r);
    uint32_t nm = pw_snap_rcount(&r, 4 + 8 + 16 + 8, "metrics");
    const unsigned char *index = body_index(&r, nm);
    char *kept = calloc((size_t)e->rs->nmetrics + 1, 1);
    uint32_t saved_max = e->o.max_series;
    e->o.max_series = UINT32_MAX; /* restore every saved series, even if the limit was lowered */
    if (!kept) pw_snap_fail(&r, "out of memory");
    for (uint32_t j = 0; j < nm && !r.failed; j++) {
        const char *name;
        uint32_t nl;
        pw_snap_rstr(&r, &name, &nl, SNAP_MAX_NAME);
        uint64_t h = pw_snap_ru64(&r);
        for (int k = 0; k < 4; k++) (void)pw_snap_ru32(&r);
        uint64_t blen = body_len(&r, index, j);
        if (r.failed) break;
        if (blen > r.len - r.off) { pw_snap_fail(&r, "metric section longer than the snapshot"); break; }
        int mi = -1;
        for (int i = 0; i < e->rs->nmetrics; i++) {
            const pw_metric_def *d = &e->rs->metrics[i];
            if (d->def_hash == h && strlen(d->name) == nl && !memcmp(d->name, name, nl)) { mi = i; break; }
        }
        if (mi >= 0 && kept[mi]) { pw_snap_fail(&r, "metric %.*s saved twice", (int)nl, name); break; }
        if (mi >= 0) {
            pw_snap_r sub;
            pw_snap_r_init(&sub, r.p + r.off, (size_t)blen);
            sub.version = r.version;
            if (load_metric(e, mi, &sub) < 0) {
                pw_snap_fail(&r, "metric %.*s: %s", (int)nl, name, sub.err);
                break;
            }
            kept[mi] = 1;
        }
        pw_snap_rskip(&r, blen);
    }
    if (!r.failed && r.off != r.len) pw_snap_fail(&r, "%zu unexpected bytes after the metrics", r.len - r.off);
    e->o.max_series = saved_max;
    if (r.failed) {
        snprintf(err, errlen, "invalid snapshot: %s", r.err);
        free(kept);
        return -1;
    }
    for (int i = 0; i < e->rs->nmetrics; i++) {
        const pw_metric_def *d = &e->rs->metrics[i];
        if (!kept[i] && e->T != INT64_MIN) e->m[i].next_b = (pw_floordiv(e->T, d->res_ms) + 1) * d->res_ms;
        if (report) report(d->name, kept[i], ud);
    }
    free(kept);
    return 0;
}

int pw_engine_saved_metrics(const void *p, size_t len, uint32_t version,
                            void (*fn)(const pw_saved_metric *m, void *ud), void *ud, char *err, size_t errlen) {
    pw_snap_r r;
    pw_snap_r_init(&r, p, len);
    r.version = version;
    pw_snap_rskip(&r, 6 * 8);
    uint32_t nm = pw_snap_rcount(&r, 4 + 8 + 16 + 8, "metrics");
    const unsigned char *index = body_index(&r, nm);
    for (uint32_t j = 0; j < nm && !r.failed; j++) {
        const char *name;
        uint32_t nl;
        pw_snap_rstr(&r, &name, &nl, SNAP_MAX_NAME);
        char nbuf[SNAP_MAX_NAME + 1];
        memcpy(nbuf, name, nl);
        nbuf[nl] = 0;
        pw_saved_metric m = {nbuf, 0, 0, 0, 0, 0};
        m.def_hash = pw_snap_ru64(&r);
        m.series = pw_snap_ru32(&r);
        m.pair_pending = pw_snap_ru32(&r);
        m.firing = pw_snap_ru32(&r);
        m.pending = pw_snap_ru32(&r);
        uint64_t blen = body_len(&r, index, j);
        if (pw_snap_rskip(&r, blen) < 0) break;
        fn(&m, ud);
    }
    if (r.failed) {
        snprintf(err, errlen, "invalid snapshot: %s", r.err);
        return -1;
    }
    return 0;
}

int64_t pw_engine_time(const pw_engine *e) { return e->T; }

const pw_engine_stats *pw_engine_get_stats(const pw_engine *e) { return &e->st; }

const pw_metric_stats *pw_engine_metric_stats(const pw_engine *e, int metric_idx) {
    return &e->m[metric_idx].st;
}

void pw_engine_foreach_series(pw_engine *e, pw_series_fn fn, void *ud) {
    for (int i = 0; i < e->rs->nmetrics; i++) {
        mstate *m = &e->m[i];
        for (series *s = m->head; s; s = s->next) {
            pw_alert_input in;
            series_input(e, m, s, e->T == INT64_MIN ? 0 : e->T, &in);
            pw_series_view v;
            v.metric_idx = i;
            v.label_vals = (const char *const *)s->labels;
            v.defined = in.defined;
            v.value = in.value;
            v.count = in.count;
            v.last_ts = s->last_ts;
            v.alerts = s->alerts;
            v.win = s->win;
            v.num_win = v.den_win = NULL;
            if (m->def->kind == PW_METRIC_RATIO) {
                series *ns = series_find_same(&e->m[m->def->num_idx], s);
                series *ds = series_find_same(&e->m[m->def->den_idx], s);
                v.num_win = ns ? ns->win : NULL; /* advanced to the head by series_input above */
                v.den_win = ds ? ds->win : NULL;
            }
            fn(&v, ud);
        }
    }
}

void pw_engine_foreach_alert(const pw_engine *e, pw_alert_fn fn, void *ud) {
    for (int i = 0; i < e->rs->nmetrics; i++) {
        const mstate *m = &e->m[i];
        for (const series *s = m->head; s; s = s->next)
            for (int k = 0; s->alerts && k < m->def->nrules; k++)
                if (s->alerts[k].state != PW_ALERT_INACTIVE || s->alerts[k].seq)
                    fn(&e->rs->rules[m->def->rules[k]], m->def, (const char *const *)s->labels, &s->alerts[k], ud);
    }
}
