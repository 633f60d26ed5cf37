/* test_window.c -- the sliding window of one series, every aggregate.
 *
 * Tables first: each row is one call (add, add_key or advance) and what the
 * window must report right after it (count, defined, value). Then randomized
 * runs against a reference model that keeps every event, for all kinds, and
 * the accuracy, drift, memory and steady-state checks.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

/* ---- tables that read like the spec -------------------------------------- */

typedef struct row_step {
    char op;          /* 'a' pw_window_add, 'h' pw_window_add_key, 'v' pw_window_advance */
    int64_t k;        /* bucket; the new head for 'v' */
    double x;         /* value ('a'), or the hash ('h') */
    int64_t ts;       /* 'a': event time (ms) */
    uint64_t seq;     /* 'a': arrival order */
    int rc;           /* expected return of an add */
    uint64_t count;   /* then: pw_window_count() */
    int defined;      /* pw_window_value() returns this */
    double value;     /* and this when defined (quantile: within 1%) */
} row_step;

#define ADD(k, x, rc, n, def, v) {'a', (k), (x), 0, 0, (rc), (n), (def), (v)}
#define ADDT(k, x, ts, seq, rc, n, def, v) {'a', (k), (x), (ts), (seq), (rc), (n), (def), (v)}
#define KEY(k, h, rc, n, def, v) {'h', (k), (h), 0, 0, (rc), (n), (def), (v)}
#define ADV(h, n, def, v) {'v', (h), 0, 0, 0, 0, (n), (def), (v)}
#define HUGE_HEAD (INT64_MAX / 2)

static const row_step count_steps[] = {         /* N = 3, head = 10: buckets 8..10 */
    ADD(10, 0, 0, 1, 1, 1),
    ADD(8, 0, 0, 2, 1, 2),                  /* k == head-N+1: the oldest bucket, accepted */
    ADD(7, 0, -1, 2, 1, 2),                 /* k == head-N: late, rejected */
    ADD(11, 0, -1, 2, 1, 2),                /* k > head: rejected */
    ADD(9, NAN, 0, 3, 1, 3),                /* count ignores x */
    ADV(11, 2, 1, 2),                       /* bucket 8 leaves */
    ADV(11, 2, 1, 2),                       /* same head: nothing happens */
    ADV(3, 2, 1, 2),                        /* a smaller head is ignored */
    ADD(8, 0, -1, 2, 1, 2),                 /* 8 is late now */
    ADD(11, 0, 0, 3, 1, 3),
    ADV(13, 1, 1, 1),                       /* 9 and 10 leave, 11 stays */
    ADV(16, 0, 1, 0),                       /* a jump of exactly N empties it; count 0 is defined */
    ADD(14, 0, 0, 1, 1, 1),
    ADV(20, 0, 1, 0),                       /* a jump of N+1 */
    ADD(18, 0, 0, 1, 1, 1),
    ADV(HUGE_HEAD, 0, 1, 0),                /* a huge jump */
    ADD(HUGE_HEAD, 0, 0, 1, 1, 1),
    ADD(HUGE_HEAD - 2, 0, 0, 2, 1, 2),
    ADD(HUGE_HEAD - 3, 0, -1, 2, 1, 2),
    KEY(HUGE_HEAD, 1, -1, 2, 1, 2),         /* add_key is for distinct only */
};

static const row_step sum_steps[] = {           /* N = 3, head = 0: buckets -2..0 (before 1970) */
    ADV(0, 0, 1, 0),                        /* empty sum is 0, defined */
    ADD(0, 2.5, 0, 1, 1, 2.5),
    ADD(-1, -1, 0, 2, 1, 1.5),
    ADD(-2, 4, 0, 3, 1, 5.5),               /* oldest bucket accepted */
    ADD(-3, 100, -1, 3, 1, 5.5),            /* late */
    ADD(0, INFINITY, -1, 3, 1, 5.5),        /* non-finite values are refused */
    ADD(0, NAN, -1, 3, 1, 5.5),
    ADV(1, 2, 1, 1.5),                      /* bucket -2 (4) leaves */
    ADV(2, 1, 1, 2.5),                      /* bucket -1 (-1) leaves */
    ADV(5, 0, 1, 0),
    ADD(5, -0.25, 0, 1, 1, -0.25),
};

static const row_step avg_steps[] = {           /* N = 2, head = 5 */
    ADV(5, 0, 0, 0),                        /* avg of nothing: undefined */
    ADD(5, 1, 0, 1, 1, 1),
    ADD(4, 4, 0, 2, 1, 2.5),
    ADD(5, 7, 0, 3, 1, 4),
    ADV(6, 2, 1, 4),                        /* bucket 4 leaves: (1 + 7) / 2 */
    ADV(7, 0, 0, 0),
};

static const row_step min_steps[] = {           /* N = 3, head = 10 */
    ADV(10, 0, 0, 0),
    ADD(8, 1, 0, 1, 1, 1),
    ADD(10, 5, 0, 2, 1, 1),
    ADD(9, 3, 0, 3, 1, 1),
    ADD(10, 2, 0, 4, 1, 1),
    ADV(11, 3, 1, 2),                       /* the minimum leaves: the next one from the buckets */
    ADV(12, 2, 1, 2),
    ADD(12, -7, 0, 3, 1, -7),
    ADD(12, INFINITY, -1, 3, 1, -7),
    ADV(15, 0, 0, 0),
};

static const row_step max_steps[] = {           /* N = 3, head = 10 */
    ADV(10, 0, 0, 0),
    ADD(8, 9, 0, 1, 1, 9),
    ADD(10, -5, 0, 2, 1, 9),
    ADD(9, 3, 0, 3, 1, 9),
    ADD(10, 2, 0, 4, 1, 9),
    ADV(11, 3, 1, 3),
    ADV(12, 2, 1, 2),
    ADD(12, -7, 0, 3, 1, 2),
    ADV(13, 1, 1, -7),
    ADV(15, 0, 0, 0),
};

static const row_step last_steps[] = {          /* N = 3, head = 10, R = 1000 ms */
    ADV(10, 0, 0, 0),
    ADDT(9, 1, 9000, 1, 0, 1, 1, 1),
    ADDT(10, 2, 10500, 2, 0, 2, 1, 2),
    ADDT(9, 3, 9500, 3, 0, 3, 1, 2),        /* arrives later but is older by ts: not last */
    ADDT(10, 4, 10500, 4, 0, 4, 1, 4),      /* same ts: the later arrival wins */
    ADDT(10, 5, 10500, 3, 0, 5, 1, 4),      /* same ts, smaller seq: loses */
    ADDT(8, 6, 8000, 9, 0, 6, 1, 4),
    ADDT(10, NAN, 10999, 10, -1, 6, 1, 4),  /* non-finite refused */
    ADV(12, 3, 1, 4),                       /* 8 and 9 leave; the latest (bucket 10) stays */
    ADV(13, 0, 0, 0),                       /* the latest left, so did all: undefined */
    ADDT(13, 7, 13000, 10, 0, 1, 1, 7),
    ADDT(13, 8, 13000, 1, 0, 2, 1, 7),
    ADDT(11, 9, 11000, 11, 0, 3, 1, 7),
};

static const row_step quantile_steps[] = {      /* q = 0.5, N = 3, head = 0 */
    ADV(0, 0, 0, 0),                        /* undefined when empty */
    ADD(0, 10, 0, 1, 1, 10),
    ADD(0, 20, 0, 2, 1, 10),                /* rank ceil(0.5*2) = 1 */
    ADD(-1, 30, 0, 3, 1, 20),
    ADD(-2, -5, 0, 4, 1, 10),               /* -5 10 20 30 */
    ADD(-2, 0, 0, 5, 1, 10),                /* -5 0 10 20 30 */
    ADD(-2, 0, 0, 6, 1, 0),                 /* -5 0 0 10 20 30 */
    ADD(-3, 1000, -1, 6, 1, 0),
    ADD(0, NAN, -1, 6, 1, 0),
    ADV(1, 3, 1, 20),                       /* bucket -2 leaves: 10 20 30 */
    ADV(3, 0, 0, 0),
    ADD(3, -42, 0, 1, 1, -42),
};

static const row_step distinct_steps[] = {      /* N = 3, head = 10 */
    ADV(10, 0, 1, 0),                       /* distinct of nothing: 0, defined */
    KEY(10, 1, 0, 1, 1, 1),
    KEY(10, 1, 0, 2, 1, 1),                 /* count counts events, not values */
    KEY(9, 2, 0, 3, 1, 2),
    KEY(8, 1, 0, 4, 1, 2),                  /* an older sighting of a known value */
    KEY(7, 3, -1, 4, 1, 2),                 /* late */
    KEY(11, 3, -1, 4, 1, 2),                /* early */
    ADD(10, 3, -1, 4, 1, 2),                /* pw_window_add is not for distinct */
    ADV(11, 3, 1, 2),                       /* bucket 8 leaves; both values were seen later */
    ADV(12, 2, 1, 1),                       /* bucket 9 leaves and with it value 2 */
    KEY(12, 2, 0, 3, 1, 2),                 /* seen again: counts again */
    ADV(13, 1, 1, 1),                       /* bucket 10 (value 1) leaves */
    ADV(100, 0, 1, 0),
    KEY(99, 5, 0, 1, 1, 1),
};

typedef struct spec_case {
    const char *name;
    pw_window_spec spec;
    int64_t head;
    const row_step *steps;
    size_t nsteps;
} spec_case;

#define CASE(name, agg, n, q, head, steps) \
    {name, {agg, n, q, 0}, head, steps, sizeof steps / sizeof steps[0]}

static const spec_case cases[] = {
    CASE("count", PW_AGG_COUNT, 3, 0, 10, count_steps),
    CASE("sum", PW_AGG_SUM, 3, 0, 0, sum_steps),
    CASE("avg", PW_AGG_AVG, 2, 0, 5, avg_steps),
    CASE("min", PW_AGG_MIN, 3, 0, 10, min_steps),
    CASE("max", PW_AGG_MAX, 3, 0, 10, max_steps),
    CASE("last", PW_AGG_LAST, 3, 0, 10, last_steps),
    CASE("quantile", PW_AGG_QUANTILE, 3, 0.5, 0, quantile_steps),
    CASE("distinct", PW_AGG_DISTINCT, 3, 0, 10, distinct_steps),
};

static int close_enough(pw_agg agg, double got, double want) {
    if (agg == PW_AGG_QUANTILE) return want == 0 ? got == 0 : fabs(got - want) <= 0.01 * fabs(want);
    return got == want;
}

Test(window, spec_tables) {
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const spec_case *sc = &cases[c];
        pw_window *w = pw_window_new(&sc->spec, sc->head);
        cr_assert_not_null(w, "%s", sc->name);
        for (size_t i = 0; i < sc->nsteps; i++) {
            const row_step *s = &sc->steps[i];
            int rc = 0;
            if (s->op == 'a') rc = pw_window_add(w, s->k, s->x, s->ts, s->seq);
            else if (s->op == 'h') rc = pw_window_add_key(w, s->k, (uint64_t)s->x);
            else pw_window_advance(w, s->k);
            cr_assert_eq(rc, s->rc, "%s row %zu: add returned %d, want %d", sc->name, i, rc, s->rc);
            cr_assert_eq(pw_window_count(w), s->count, "%s row %zu: count %llu, want %llu", sc->name, i,
                         (unsigned long long)pw_window_count(w), (unsigned long long)s->count);
            cr_assert_eq(pw_window_empty(w), s->count == 0, "%s row %zu: empty", sc->name, i);
            double v = -12345;
            int def = pw_window_value(w, &v);
            cr_assert_eq(def, s->defined, "%s row %zu: defined %d, want %d", sc->name, i, def, s->defined);
            if (def)
                cr_assert(close_enough(sc->spec.agg, v, s->value), "%s row %zu: value %.17g, want %.17g",
                          sc->name, i, v, s->value);
        }
        pw_window_destroy(w);
    }
}

/* ---- per-bucket values (sparklines), negative bucket indexes ------------- */

typedef struct bucket_row {
    pw_agg agg;
    int defined[5];     /* buckets -5 .. -1 with head -1, N = 4 (-5 is outside) */
    double value[5];
} bucket_row;

/* Events: bucket -4: 1, 2 (ts -3500, -3400)   bucket -3: none
 *         bucket -2: 10 (ts -1500)            bucket -1: -3, 6 (ts -1, -999)
 * Keys for distinct: -4: A B   -2: A   -1: C C */
static const bucket_row bucket_rows[] = {
    {PW_AGG_COUNT, {0, 1, 1, 1, 1}, {0, 2, 0, 1, 2}},
    {PW_AGG_SUM, {0, 1, 1, 1, 1}, {0, 3, 0, 10, 3}},
    {PW_AGG_AVG, {0, 1, 0, 1, 1}, {0, 1.5, 0, 10, 1.5}},
    {PW_AGG_MIN, {0, 1, 0, 1, 1}, {0, 1, 0, 10, -3}},
    {PW_AGG_MAX, {0, 1, 0, 1, 1}, {0, 2, 0, 10, 6}},
    {PW_AGG_LAST, {0, 0, 0, 0, 1}, {0, 0, 0, 0, -3}},       /* only the latest event's bucket */
    {PW_AGG_QUANTILE, {0, 1, 0, 1, 1}, {0, 1, 0, 10, -3}},  /* q = 0.5 */
    {PW_AGG_DISTINCT, {0, 1, 1, 1, 1}, {0, 1, 0, 1, 1}},    /* values whose LAST sighting is there */
};

static void fill_buckets(pw_window *w, pw_agg agg) {
    if (agg == PW_AGG_DISTINCT) {
        cr_assert_eq(pw_window_add_key(w, -4, 'A'), 0);
        cr_assert_eq(pw_window_add_key(w, -4, 'B'), 0);
        cr_assert_eq(pw_window_add_key(w, -2, 'A'), 0);
        cr_assert_eq(pw_window_add_key(w, -1, 'C'), 0);
        cr_assert_eq(pw_window_add_key(w, -1, 'C'), 0);
        return;
    }
    cr_assert_eq(pw_window_add(w, -4, 1, -3500, 1), 0);
    cr_assert_eq(pw_window_add(w, -4, 2, -3400, 2), 0);
    cr_assert_eq(pw_window_add(w, -2, 10, -1500, 3), 0);
    cr_assert_eq(pw_window_add(w, -1, -3, -1, 4), 0);
    cr_assert_eq(pw_window_add(w, -1, 6, -999, 5), 0);
}

Test(window, bucket_values_with_negative_indexes) {
    for (size_t r = 0; r < sizeof bucket_rows / sizeof bucket_rows[0]; r++) {
        const bucket_row *br = &bucket_rows[r];
        pw_window_spec spec = {br->agg, 4, 0.5, 0};
        pw_window *w = pw_window_new(&spec, -1);
        fill_buckets(w, br->agg);
        cr_assert_eq(pw_window_add(w, -5, 1, -4500, 9), -1, "agg %d: bucket -5 is late", br->agg);
        cr_assert_eq(pw_window_add(w, 0, 1, 0, 9), -1, "agg %d: bucket 0 is early", br->agg);
        for (int b = 0; b < 5; b++) {
            double v = -12345;
            int def = pw_window_bucket_value(w, -5 + b, &v);
            cr_assert_eq(def, br->defined[b], "agg %d bucket %d: defined %d", br->agg, -5 + b, def);
            if (def)
                cr_assert(close_enough(br->agg, v, br->value[b]), "agg %d bucket %d: %.17g, want %.17g",
                          br->agg, -5 + b, v, br->value[b]);
        }
        /* Crossing zero: -4 leaves, 0 arrives empty in the slot -4 used (0 mod 4 == -4 mod 4). */
        pw_window_advance(w, 0);
        double v;
        cr_assert_eq(pw_window_count(w), 3);
        cr_assert_eq(pw_window_bucket_value(w, -4, &v), 0, "agg %d: -4 left the window", br->agg);
        if (br->agg == PW_AGG_COUNT || br->agg == PW_AGG_SUM || br->agg == PW_AGG_DISTINCT) {
            cr_assert_eq(pw_window_bucket_value(w, 0, &v), 1);
            cr_assert_eq(v, 0, "agg %d: bucket 0 starts empty", br->agg);
        } else {
            cr_assert_eq(pw_window_bucket_value(w, 0, &v), 0, "agg %d: bucket 0 starts empty", br->agg);
        }
        cr_assert_eq(pw_window_bucket_value(w, -1, &v), br->defined[4]);
        pw_window_destroy(w);
    }
}

/* ---- edges of the index space --------------------------------------------- */

Test(window, head_at_the_ends_of_int64) {
    pw_window_spec spec = {PW_AGG_COUNT, 4, 0, 0};
    pw_window *w = pw_window_new(&spec, INT64_MIN + 2);
    cr_assert_eq(pw_window_add(w, INT64_MIN + 2, 0, 0, 0), 0);
    cr_assert_eq(pw_window_add(w, INT64_MIN + 1, 0, 0, 0), 0);
    cr_assert_eq(pw_window_add(w, INT64_MIN, 0, 0, 0), -1, "INT64_MIN is reserved");
    cr_assert_eq(pw_window_count(w), 2);
    pw_window_advance(w, INT64_MIN + 4);
    cr_assert_eq(pw_window_count(w), 2);
    pw_window_advance(w, INT64_MIN + 5);
    cr_assert_eq(pw_window_count(w), 1);
    pw_window_advance(w, INT64_MAX); /* a jump of almost 2^64 */
    cr_assert_eq(pw_window_count(w), 0);
    cr_assert_eq(pw_window_head(w), INT64_MAX);
    cr_assert_eq(pw_window_add(w, INT64_MAX, 0, 0, 0), 0);
    cr_assert_eq(pw_window_add(w, INT64_MAX - 3, 0, 0, 0), 0);
    cr_assert_eq(pw_window_add(w, INT64_MAX - 4, 0, 0, 0), -1);
    cr_assert_eq(pw_window_count(w), 2);
    pw_window_destroy(w);
}

Test(window, huge_jump_is_O_N_not_O_jump, .timeout = 10) {
    for (pw_agg agg = 0; agg < PW_AGG__COUNT; agg++) {
        pw_window_spec spec = {agg, 1000, 0.5, 0};
        pw_window *w = pw_window_new(&spec, -((int64_t)1 << 60));
        for (int64_t k = 0; k < 1000; k++) {
            int64_t b = -((int64_t)1 << 60) - k;
            if (agg == PW_AGG_DISTINCT) cr_assert_eq(pw_window_add_key(w, b, (uint64_t)k), 0);
            else cr_assert_eq(pw_window_add(w, b, (double)k, b, (uint64_t)k), 0);
        }
        cr_assert_eq(pw_window_count(w), 1000);
        pw_window_advance(w, (int64_t)1 << 61); /* 3 * 2^60 buckets later */
        cr_assert(pw_window_empty(w));
        double v;
        int zero_defined = agg == PW_AGG_COUNT || agg == PW_AGG_SUM || agg == PW_AGG_DISTINCT;
        cr_assert_eq(pw_window_value(w, &v), zero_defined);
        pw_window_destroy(w);
    }
}

/* ---- construction and misuse ---------------------------------------------- */

typedef struct bad_spec {
    const char *why;
    pw_window_spec spec;
} bad_spec;

static const bad_spec must_reject_spec[] = {
    {"zero buckets", {PW_AGG_COUNT, 0, 0, 0}},
    {"negative buckets", {PW_AGG_SUM, -5, 0, 0}},
    {"unknown aggregate", {PW_AGG__COUNT, 10, 0, 0}},
    {"q above 1", {PW_AGG_QUANTILE, 10, 1.5, 0}},
    {"q below 0", {PW_AGG_QUANTILE, 10, -0.1, 0}},
    {"q NaN", {PW_AGG_QUANTILE, 10, NAN, 0}},
    {"more buckets than the ring index holds", {PW_AGG_COUNT, PW_WINDOW_MAX_BUCKETS + 1, 0, 0}},
};

Test(window, rejects_bad_specs) {
    for (size_t i = 0; i < sizeof must_reject_spec / sizeof must_reject_spec[0]; i++)
        cr_assert_null(pw_window_new(&must_reject_spec[i].spec, 0), "%s", must_reject_spec[i].why);
    cr_assert_null(pw_window_new(NULL, 0));
    pw_window_destroy(NULL);
    pw_window_spec one = {PW_AGG_SUM, 1, 0, 0};     /* N = 1 is a valid tumbling bucket */
    pw_window *w = pw_window_new(&one, 7);
    cr_assert_eq(pw_window_add(w, 7, 2, 0, 0), 0);
    cr_assert_eq(pw_window_add(w, 6, 2, 0, 0), -1);
    pw_window_advance(w, 8);
    double v;
    cr_assert_eq(pw_window_value(w, &v), 1);
    cr_assert_eq(v, 0);
    pw_window_destroy(w);
    /* the largest ring: slots wrap at N - 1 -> 0 without a division on add */
    pw_window_spec big = {PW_AGG_COUNT, PW_WINDOW_MAX_BUCKETS, 0, 0};
    w = pw_window_new(&big, -1);
    cr_assert_not_null(w);
    for (int64_t h = -1; h < 3 * PW_WINDOW_MAX_BUCKETS; h += 4099) {
        pw_window_advance(w, h);
        cr_assert_eq(pw_window_add(w, h, 0, 0, 0), 0);
        cr_assert_eq(pw_window_add(w, h - PW_WINDOW_MAX_BUCKETS + 1, 0, 0, 0), 0);
        cr_assert_eq(pw_window_bucket_value(w, h - PW_WINDOW_MAX_BUCKETS + 1, &v), 1);
        cr_assert_geq(v, 1);
    }
    pw_window_destroy(w);
}

/* ---- reference model -------------------------------------------------------- */

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}
static double unif(void) { return (double)(rng() >> 11) / 9007199254740992.0; }
static double normal(void) {
    double u = unif(), v = unif();
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

typedef struct ev {
    int64_t k;
    double x;
    int64_t ts;
    uint64_t seq;
    uint64_t h;
} ev;

typedef struct model {
    ev *e;
    size_t n, cap;
    int64_t head;
    int nb;
} model;

static int model_in(const model *m, int64_t k) { return k <= m->head && k > m->head - m->nb; }

static void model_add(model *m, ev e) {
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
    }
    m->e[m->n++] = e;
}

static void model_advance(model *m, int64_t head) {
    if (head <= m->head) return;
    m->head = head;
    size_t out = 0;
    for (size_t i = 0; i < m->n; i++)
        if (model_in(m, m->e[i].k)) m->e[out++] = m->e[i];
    m->n = out;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_hash_then_k(const void *a, const void *b) {
    const ev *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Exact nearest rank of q = num/den over xs (sorts xs). */
static double exact_rank(double *xs, size_t n, uint64_t num, uint64_t den) {
    qsort(xs, n, sizeof *xs, cmp_double);
    uint64_t r = (num * n + den - 1) / den;
    if (r < 1) r = 1;
    return xs[r - 1];
}

/* The expected aggregate over events of bucket `only` (or of the window when
 * only == INT64_MIN). Returns defined. */
static int model_value(const model *m, pw_agg agg, uint64_t qnum, uint64_t qden, int64_t only, double *out,
                       double *abs_sum) {
    static double xs[1 << 18];
    cr_assert_lt(m->n, sizeof xs / sizeof xs[0]);
    size_t n = 0;
    long double sum = 0, asum = 0;
    double mn = INFINITY, mx = -INFINITY;
    const ev *last = NULL;
    for (size_t i = 0; i < m->n; i++) {
        const ev *e = &m->e[i];
        if (only != INT64_MIN && e->k != only) continue;
        xs[n++] = e->x;
        sum += e->x;
        asum += fabs(e->x);
        if (e->x < mn) mn = e->x;
        if (e->x > mx) mx = e->x;
        if (!last || e->ts > last->ts || (e->ts == last->ts && e->seq > last->seq)) last = e;
    }
    if (abs_sum) *abs_sum = (double)asum;
    switch (agg) {
    case PW_AGG_COUNT: *out = (double)n; return 1;
    case PW_AGG_SUM: *out = (double)sum; return 1;
    case PW_AGG_AVG: *out = n ? (double)(sum / n) : 0; return n > 0;
    case PW_AGG_MIN: *out = mn; return n > 0;
    case PW_AGG_MAX: *out = mx; return n > 0;
    case PW_AGG_LAST:
        if (!last) return 0;
        /* bucket value: only the bucket of the window's latest event */
        if (only != INT64_MIN) {
            const ev *g = NULL;
            for (size_t i = 0; i < m->n; i++)
                if (!g || m->e[i].ts > g->ts || (m->e[i].ts == g->ts && m->e[i].seq > g->seq)) g = &m->e[i];
            if (g->k != only) return 0;
        }
        *out = last->x;
        return 1;
    case PW_AGG_QUANTILE:
        if (!n) return 0;
        *out = exact_rank(xs, n, qnum, qden);
        return 1;
    case PW_AGG_DISTINCT: {
        /* values with a sighting in the window; per bucket: whose latest sighting is there */
        static ev hs[1 << 18];
        cr_assert_lt(m->n, sizeof hs / sizeof hs[0]);
        if (m->n) memcpy(hs, m->e, m->n * sizeof *hs);
        qsort(hs, m->n, sizeof *hs, cmp_hash_then_k);
        size_t d = 0;
        for (size_t i = 0; i < m->n; i++) {
            if (i + 1 < m->n && hs[i + 1].h == hs[i].h) continue; /* the last of a hash has the largest k */
            if (only == INT64_MIN || hs[i].k == only) d++;
        }
        *out = (double)d;
        return 1;
    }
    default: return 0;
    }
}

static void check_against_model(const pw_window *w, const model *m, pw_agg agg, uint64_t qnum, uint64_t qden,
                                const char *what, long spec_step) {
    cr_assert_eq(pw_window_count(w), m->n, "%s spec_step %ld: count %llu, want %zu", what, spec_step,
                 (unsigned long long)pw_window_count(w), m->n);
    for (int64_t b = m->head - m->nb - 1; b <= m->head + 1; b++) {
        int whole = b == m->head + 1; /* use one extra iteration for the window itself */
        double want = 0, got = 0, asum = 0;
        int wdef, gdef;
        if (whole) {
            wdef = model_value(m, agg, qnum, qden, INT64_MIN, &want, &asum);
            gdef = pw_window_value(w, &got);
        } else {
            gdef = pw_window_bucket_value(w, b, &got);
            wdef = model_in(m, b) ? model_value(m, agg, qnum, qden, b, &want, &asum) : 0;
        }
        cr_assert_eq(gdef, wdef, "%s spec_step %ld bucket %lld%s: defined %d, want %d", what, spec_step, (long long)b,
                     whole ? " (window)" : "", gdef, wdef);
        if (!wdef) continue;
        int ok;
        if (agg == PW_AGG_QUANTILE) ok = want == 0 ? got == 0 : fabs(got - want) <= 0.01 * fabs(want);
        else if (agg == PW_AGG_SUM || agg == PW_AGG_AVG) ok = fabs(got - want) <= 1e-12 * (asum + 1);
        else ok = got == want;
        cr_assert(ok, "%s spec_step %ld bucket %lld%s: %.17g, want %.17g", what, spec_step, (long long)b,
                  whole ? " (window)" : "", got, want);
    }
}

typedef enum dist { D_UNIFORM, D_LOGNORMAL, D_ZEROS_NEG, D_INTS } dist;
static const char *dist_name[] = {"uniform", "lognormal", "zeros+negatives", "small ints"};

static double draw(dist d) {
    switch (d) {
    case D_UNIFORM: return unif() * 1000;
    case D_LOGNORMAL: return exp(normal() * 2 + 3);
    case D_ZEROS_NEG: {
        double u = unif();
        if (u < 0.3) return 0;
        if (u < 0.6) return -unif() * 500;
        return exp(normal() * 3);
    }
    default: return (double)(rng() % 7);
    }
}

/* Random adds (some late or early) and advances (0, 1, N-1, N, N+1, huge) for
 * every kind, checked after every call against the model, including every
 * bucket value. */
Test(window, random_runs_match_the_model_for_every_kind, .timeout = 120) {
    static const int sizes[] = {1, 3, 7};
    for (pw_agg agg = 0; agg < PW_AGG__COUNT; agg++) {
        for (size_t si = 0; si < 3; si++) {
            int nb = sizes[si];
            dist d = (dist)((agg + si) % 4);
            pw_window_spec spec = {agg, nb, 0.9, 0};
            int64_t head = -20;
            pw_window *w = pw_window_new(&spec, head);
            model m = {NULL, 0, 0, head, nb};
            uint64_t seq = 0;
            char what[64];
            snprintf(what, sizeof what, "agg %d N %d %s", agg, nb, dist_name[d]);
            for (long spec_step = 0; spec_step < 3000; spec_step++) {
                if (rng() % 8 == 0) {
                    static const int64_t jumps[] = {0, 1, 1, 2, -1, -2, -3, 1000};
                    int64_t j = jumps[rng() % 8];
                    if (j < 0) j = nb + j + 2; /* N-1, N, N+1 */
                    pw_window_advance(w, head + j);
                    head += j;
                    model_advance(&m, head);
                } else {
                    int64_t k = head - nb - 1 + (int64_t)(rng() % (uint64_t)(nb + 3));
                    /* ts inside bucket k of R = 100 ms, with frequent ties */
                    ev e = {k, draw(d), k * 100 + (int64_t)(rng() % 4) * 33, ++seq, rng() % 23};
                    int rc = agg == PW_AGG_DISTINCT ? pw_window_add_key(w, e.k, e.h)
                                                    : pw_window_add(w, e.k, e.x, e.ts, e.seq);
                    cr_assert_eq(rc, model_in(&m, k) ? 0 : -1, "%s spec_step %ld: add at %lld", what, spec_step,
                                 (long long)k);
                    if (rc == 0) model_add(&m, e);
                }
                check_against_model(w, &m, agg, 9, 10, what, spec_step);
            }
            free(m.e);
            pw_window_destroy(w);
        }
    }
}

/* ---- quantile accuracy ---------------------------------------------------- */

typedef struct qrow {
    uint64_t num, den;   /* q = num / den */
} qrow;

static const qrow qs[] = {{1, 100}, {1, 10}, {1, 4}, {1, 2}, {9, 10}, {95, 100}, {99, 100}, {999, 1000}};
#define NQ (sizeof qs / sizeof qs[0])

Test(window, quantile_within_one_percent_of_exact_nearest_rank, .timeout = 120) {
    for (dist d = 0; d < 4; d++) {
        pw_window *w[NQ];
        for (size_t i = 0; i < NQ; i++) {
            pw_window_spec spec = {PW_AGG_QUANTILE, 10, (double)qs[i].num / (double)qs[i].den, 0};
            w[i] = pw_window_new(&spec, 0);
        }
        model m = {NULL, 0, 0, 0, 10};
        double worst = 0;
        int64_t head = 0;
        for (long spec_step = 0; spec_step < 40000; spec_step++) {
            if (spec_step % 1000 == 999) { /* expire buckets, sometimes several */
                head += 1 + (int64_t)(rng() % 3);
                for (size_t i = 0; i < NQ; i++) pw_window_advance(w[i], head);
                model_advance(&m, head);
            }
            ev e = {head - (int64_t)(rng() % 10), draw(d), 0, 0, 0};
            for (size_t i = 0; i < NQ; i++) cr_assert_eq(pw_window_add(w[i], e.k, e.x, 0, 0), 0);
            model_add(&m, e);
            if (spec_step % 331 != 0 && spec_step % 1000 != 999) continue;
            for (size_t i = 0; i < NQ; i++) {
                double want, got;
                cr_assert(model_value(&m, PW_AGG_QUANTILE, qs[i].num, qs[i].den, INT64_MIN, &want, NULL));
                cr_assert(pw_window_value(w[i], &got));
                double err = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
                if (err > worst) worst = err;
                cr_assert(err <= 0.01, "%s q=%llu/%llu spec_step %ld: %.17g, exact %.17g (err %.4g)", dist_name[d],
                          (unsigned long long)qs[i].num, (unsigned long long)qs[i].den, spec_step, got, want, err);
            }
        }
        for (size_t i = 0; i < NQ; i++) {
            cr_assert_eq(pw_window_overflow(w[i]), 0);
            pw_window_destroy(w[i]);
        }
        free(m.e);
        cr_log_info("quantile %s: worst relative error %.5f", dist_name[d], worst);
    }
}

Test(window, quantile_cell_bound_collapses_and_counts) {
    pw_window_spec spec = {PW_AGG_QUANTILE, 4, 0.5, 0};
    pw_window *w = pw_window_new(&spec, 0);
    /* 5000 values 3% apart: each needs a new cell (cells are ~2% wide). */
    for (int i = 0; i < 5000; i++) cr_assert_eq(pw_window_add(w, 0, pow(1.03, i - 2500), 0, 0), 0);
    cr_assert_eq(pw_window_count(w), 5000);
    cr_assert_eq(pw_window_overflow(w), 5000 - 4096);
    /* bound: the window sketch and one bucket hold at most 4096 cells each */
    cr_assert_leq(pw_window_bytes(w), 2 * 4096 * 8 + 1024, "bytes %zu", pw_window_bytes(w));
    double v;
    cr_assert_eq(pw_window_value(w, &v), 1);
    pw_window_advance(w, 4); /* all expire; cells free up again */
    cr_assert_eq(pw_window_add(w, 4, 123, 0, 0), 0);
    cr_assert_eq(pw_window_value(w, &v), 1);
    cr_assert(fabs(v - 123) <= 1.23);
    cr_assert_eq(pw_window_overflow(w), 5000 - 4096, "the counter is cumulative");
    pw_window_destroy(w);
}

/* ---- distinct exactness, expiry, re-sighting, cap -------------------------- */

Test(distinct_window, exact_with_expiry_and_resighting) {
    pw_window_spec spec = {PW_AGG_DISTINCT, 6, 0, 0};
    pw_window *w = pw_window_new(&spec, 100);
    model m = {NULL, 0, 0, 100, 6};
    int64_t head = 100;
    for (long spec_step = 0; spec_step < 200000; spec_step++) {
        if (rng() % 500 == 0) {
            head += 1 + (int64_t)(rng() % 2);
            pw_window_advance(w, head);
            model_advance(&m, head);
            /* checking every bucket is O(n^2) in the model: only at boundaries */
            check_against_model(w, &m, PW_AGG_DISTINCT, 0, 1, "distinct", spec_step);
        }
        /* A universe of 400 values: plenty of re-sightings and values that lapse */
        ev e = {head - (int64_t)(rng() % 6), 0, 0, 0, rng() % 400 * 0x9e3779b97f4a7c15ULL};
        cr_assert_eq(pw_window_add_key(w, e.k, e.h), 0);
        model_add(&m, e);
    }
    cr_assert_eq(pw_window_overflow(w), 0);
    free(m.e);
    pw_window_destroy(w);
}

Test(distinct_window, cap_counts_overflow_and_frees_room_on_expiry) {
    pw_window_spec spec = {PW_AGG_DISTINCT, 2, 0, 5};
    pw_window *w = pw_window_new(&spec, 0);
    double v;
    for (uint64_t h = 1; h <= 7; h++) cr_assert_eq(pw_window_add_key(w, 0, h), 0);
    pw_window_value(w, &v);
    cr_assert_eq(v, 5, "at the cap the count stops");
    cr_assert_eq(pw_window_overflow(w), 2);
    cr_assert_eq(pw_window_count(w), 7, "every event is counted");
    cr_assert_eq(pw_window_add_key(w, 0, 3), 0);   /* a tracked value: no overflow */
    cr_assert_eq(pw_window_overflow(w), 2);
    cr_assert_eq(pw_window_add_key(w, 0, 7), 0);   /* an untracked value, seen again */
    cr_assert_eq(pw_window_overflow(w), 3);
    cr_assert_eq(pw_window_add_key(w, -1, 1), 0);  /* an older sighting of a tracked value */
    cr_assert_eq(pw_window_overflow(w), 3);
    pw_window_advance(w, 1);
    cr_assert_eq(pw_window_add_key(w, 1, 1), 0);   /* 1 moves to bucket 1 */
    pw_window_advance(w, 2);                       /* bucket 0 leaves: 2..5 go, 1 stays */
    pw_window_value(w, &v);
    cr_assert_eq(v, 1);
    for (uint64_t h = 10; h < 14; h++) cr_assert_eq(pw_window_add_key(w, 2, h), 0);
    pw_window_value(w, &v);
    cr_assert_eq(v, 5, "room again after expiry");
    cr_assert_eq(pw_window_overflow(w), 3);
    pw_window_destroy(w);
}

/* ---- last ---------------------------------------------------------------------- */

Test(window, last_survives_older_buckets_leaving) {
    pw_window_spec spec = {PW_AGG_LAST, 3, 0, 0};
    pw_window *w = pw_window_new(&spec, 2);
    cr_assert_eq(pw_window_add(w, 2, 20, 2500, 1), 0);
    cr_assert_eq(pw_window_add(w, 0, 99, 500, 2), 0);   /* late arrival, older ts */
    pw_window_advance(w, 3);                            /* bucket 0 leaves, the latest stays */
    double v;
    cr_assert_eq(pw_window_value(w, &v), 1);
    cr_assert_eq(v, 20);
    cr_assert_eq(pw_window_bucket_value(w, 2, &v), 1);
    cr_assert_eq(pw_window_bucket_value(w, 3, &v), 0);
    pw_window_destroy(w);
}

/* A caller whose ts disagrees with k (not the contract, but it must not pin a
 * stale value): once the stored latest event's bucket has left, any new event
 * replaces it, whatever its ts. */
Test(window, last_expired_is_replaced_even_by_an_older_ts) {
    pw_window_spec spec = {PW_AGG_LAST, 3, 0, 0};
    pw_window *w = pw_window_new(&spec, 3);
    cr_assert_eq(pw_window_add(w, 1, 5, 999999, 1), 0);
    pw_window_advance(w, 4); /* bucket 1 leaves (not a full clear) */
    cr_assert_eq(pw_window_add(w, 4, 6, 10, 2), 0);
    double v;
    cr_assert_eq(pw_window_value(w, &v), 1);
    cr_assert_eq(v, 6);
    pw_window_destroy(w);
}

/* q as written in a rule file: 0.07 * 100 is 7.000000000000001 in binary, but
 * the nearest rank is the 7th value, not the 8th. */
typedef struct decimal_q_row {
    double q;
    int n;          /* values 1..n */
    double want;
} decimal_q_row;

static const decimal_q_row decimal_qs[] = {
    {0.07, 100, 7}, {0.29, 100, 29}, {0.57, 100, 57}, {0.9, 10, 9}, {0.5, 11, 6},
    {0.5, 10, 5},   {0.001, 10, 1},  {0.99, 100, 99}, {0.95, 20, 19},
};

Test(window, quantile_rank_of_decimal_q) {
    for (size_t i = 0; i < sizeof decimal_qs / sizeof decimal_qs[0]; i++) {
        pw_window_spec spec = {PW_AGG_QUANTILE, 1, decimal_qs[i].q, 0};
        pw_window *w = pw_window_new(&spec, 0);
        for (int x = decimal_qs[i].n; x >= 1; x--) cr_assert_eq(pw_window_add(w, 0, x, 0, 0), 0);
        double v;
        cr_assert_eq(pw_window_value(w, &v), 1);
        cr_assert(fabs(v - decimal_qs[i].want) <= 0.01 * decimal_qs[i].want, "q=%g n=%d: %g, want %g",
                  decimal_qs[i].q, decimal_qs[i].n, v, decimal_qs[i].want);
        pw_window_destroy(w);
    }
}

/* ---- sums do not drift ------------------------------------------------------- */

Test(window, sum_has_no_residue_after_a_huge_value_leaves) {
    pw_window_spec spec = {PW_AGG_SUM, 4, 0, 0};
    pw_window *w = pw_window_new(&spec, 0);
    cr_assert_eq(pw_window_add(w, 0, 1e17, 0, 0), 0);
    for (int64_t k = 1; k <= 4; k++) {
        pw_window_advance(w, k);
        cr_assert_eq(pw_window_add(w, k, 0.1, 0, 0), 0);
        cr_assert_eq(pw_window_add(w, k, -0.05, 0, 0), 0);
    }
    double v;
    pw_window_value(w, &v); /* buckets 1..4, each 0.1 - 0.05; subtracting 1e17 would leave 0 or 16 */
    cr_assert(fabs(v - 0.2) < 1e-15, "sum %.17g", v);
    pw_window_destroy(w);
}

Test(window, sum_tracks_exact_recomputation_over_many_advances) {
    pw_window_spec spec = {PW_AGG_SUM, 60, 0, 0};
    pw_window *w = pw_window_new(&spec, 0);
    pw_window_spec avg_spec = {PW_AGG_AVG, 60, 0, 0};
    pw_window *a = pw_window_new(&avg_spec, 0);
    model m = {NULL, 0, 0, 0, 60};
    int64_t head = 0;
    double worst = 0;
    for (long spec_step = 0; spec_step < 300000; spec_step++) {
        if (spec_step % 50 == 49) {
            head++;
            pw_window_advance(w, head);
            pw_window_advance(a, head);
            model_advance(&m, head);
        }
        /* wildly mixed magnitudes, both signs */
        double x = (rng() & 1 ? 1 : -1) * exp((unif() - 0.5) * 40);
        ev e = {head - (int64_t)(rng() % 60), x, 0, 0, 0};
        cr_assert_eq(pw_window_add(w, e.k, x, 0, 0), 0);
        cr_assert_eq(pw_window_add(a, e.k, x, 0, 0), 0);
        model_add(&m, e);
        if (spec_step % 997) continue;
        double want, got, asum;
        model_value(&m, PW_AGG_SUM, 0, 1, INT64_MIN, &want, &asum);
        pw_window_value(w, &got);
        double err = fabs(got - want) / asum;
        if (err > worst) worst = err;
        cr_assert(err < 1e-13, "spec_step %ld: sum %.17g, exact %.17g", spec_step, got, want);
        pw_window_value(a, &got);
        cr_assert(fabs(got * (double)m.n - want) / asum < 1e-13, "avg drifted");
    }
    cr_log_info("sum: worst error relative to sum|x| after 6000 advances: %.3g", worst);
    free(m.e);
    pw_window_destroy(w);
    pw_window_destroy(a);
}

/* ---- memory ---------------------------------------------------------------------- */

Test(window, memory_report) {
    static const char *names[] = {"count", "sum", "avg", "min", "max", "distinct", "quantile", "last"};
    for (pw_agg agg = 0; agg < PW_AGG__COUNT; agg++) {
        pw_window_spec spec = {agg, 60, 0.9, 0};
        pw_window *w = pw_window_new(&spec, 0);
        size_t empty = pw_window_bytes(w);
        /* 600 events over the 60 buckets, values over 3 decades, 50 distinct keys */
        for (int i = 0; i < 600; i++) {
            int64_t k = -(int64_t)(rng() % 60);
            if (agg == PW_AGG_DISTINCT) pw_window_add_key(w, k, rng() % 50);
            else pw_window_add(w, k, exp(unif() * 7), 0, (uint64_t)i);
        }
        size_t full = pw_window_bytes(w);
        printf("pw_window_bytes %-8s N=60: empty %5zu B, 600 events %6zu B\n", names[agg], empty, full);
        if (agg != PW_AGG_QUANTILE && agg != PW_AGG_DISTINCT) {
            cr_assert_lt(empty, 1024, "%s: %zu bytes", names[agg], empty);
            cr_assert_eq(full, empty, "%s: scalar windows never grow", names[agg]);
        }
        if (agg == PW_AGG_SUM) cr_assert_lt(empty, 800, "window.h promises < 800 bytes for 60 buckets");
        pw_window_destroy(w);
    }
    fflush(stdout);
}

/* The same traffic pattern, window after window: after the first rounds the
 * sketches and the distinct table have their capacity and stop growing. */
Test(window, steady_state_stops_growing) {
    for (pw_agg agg = PW_AGG_DISTINCT; agg <= PW_AGG_QUANTILE; agg++) {
        pw_window_spec spec = {agg, 20, 0.5, 0};
        pw_window *w = pw_window_new(&spec, 0);
        size_t after[12];
        int64_t head = 0;
        for (int round = 0; round < 12; round++) {
            for (int b = 0; b < 20; b++) {
                head++;
                pw_window_advance(w, head);
                for (int i = 0; i < 200; i++) {
                    if (agg == PW_AGG_DISTINCT) pw_window_add_key(w, head, (uint64_t)(rng() % 300));
                    else pw_window_add(w, head, (double)(rng() % 300) + 1, 0, 0);
                }
            }
            after[round] = pw_window_bytes(w);
        }
        for (int r = 4; r < 12; r++)
            cr_assert_eq(after[r], after[3], "agg %d round %d: %zu bytes, %zu at round 3", agg, r, after[r],
                         after[3]);
        pw_window_destroy(w);
    }
}
