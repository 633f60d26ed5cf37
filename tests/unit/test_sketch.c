/* test_sketch.c -- the DDSketch-style mapping, sorted cells and nearest rank. */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "sketch.h"

/* Deterministic xorshift64* so that failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}
static double unif(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

static double relerr(double est, double x) { return x == 0 ? fabs(est) : fabs(est - x) / fabs(x); }

/* ---- mapping ------------------------------------------------------------ */

typedef struct key_row {
    double x;
    int sign;       /* expected sign of the key: -1, 0, 1 */
} key_row;

static const key_row must_map[] = {
    {0.0, 0},
    {-0.0, 0},
    {1.0, 1},
    {-1.0, -1},
    {1e-300, 1},
    {-1e-300, -1},
    {4.9406564584124654e-324, 1}, /* smallest subnormal */
    {-4.9406564584124654e-324, -1},
    {DBL_MAX, 1},
    {-DBL_MAX, -1},
    {0.01, 1},
    {123456.789, 1},
};

Test(sketch, key_sign_and_value_within_one_percent) {
    for (size_t i = 0; i < sizeof must_map / sizeof must_map[0]; i++) {
        const key_row *r = &must_map[i];
        int32_t key = pw_sketch_key(r->x);
        int sign = key > 0 ? 1 : key < 0 ? -1 : 0;
        cr_assert_eq(sign, r->sign, "x=%g: key %d has sign %d, want %d", r->x, key, sign, r->sign);
        double v = pw_sketch_value(key);
        cr_assert(relerr(v, r->x) <= 0.01, "x=%g: value %.17g off by %g", r->x, v, relerr(v, r->x));
    }
}

Test(sketch, one_is_cell_zero_and_cells_are_gamma_wide) {
    cr_assert_eq(pw_sketch_key(1.0), PW_SKETCH_BIAS);
    double gamma = (1 + PW_SKETCH_ALPHA) / (1 - PW_SKETCH_ALPHA);
    /* Checks the constants in sketch.c against the alpha in sketch.h. */
    for (int32_t i = -30000; i <= 30000; i += 997) {
        double lo = pw_sketch_value(PW_SKETCH_BIAS + i), hi = pw_sketch_value(PW_SKETCH_BIAS + i + 1);
        cr_assert(fabs(hi / lo - gamma) < 1e-12, "cell %d: width %.15g, gamma %.15g", i, hi / lo, gamma);
        cr_assert(fabs(pw_sketch_value(PW_SKETCH_BIAS + i) / pow(gamma, i) - (1 - PW_SKETCH_ALPHA)) < 1e-9);
    }
}

Test(sketch, relative_error_over_the_whole_double_range) {
    double worst = 0;
    for (int i = 0; i < 200000; i++) {
        double x = exp((unif() * 2 - 1) * 700) * (rng() & 1 ? -1 : 1);
        double e = relerr(pw_sketch_value(pw_sketch_key(x)), x);
        if (e > worst) worst = e;
    }
    /* and values sitting exactly on cell boundaries, where log() rounding bites */
    for (int32_t i = -2000; i <= 2000; i++) {
        double x = pow((1 + PW_SKETCH_ALPHA) / (1 - PW_SKETCH_ALPHA), i);
        for (int d = -2; d <= 2; d++) {
            double y = x;
            for (int s = 0; s < abs(d); s++) y = nextafter(y, d < 0 ? 0 : INFINITY);
            double e = relerr(pw_sketch_value(pw_sketch_key(y)), y);
            if (e > worst) worst = e;
        }
    }
    cr_assert(worst <= PW_SKETCH_ALPHA + 1e-12, "worst relative error %.6g", worst);
    cr_assert(worst > PW_SKETCH_ALPHA * 0.9, "worst %.6g: the test should reach the bound", worst);
}

Test(sketch, key_order_is_value_order) {
    double xs[4000];
    for (int i = 0; i < 4000; i++) {
        double m = i % 10 == 0 ? 0 : exp((unif() * 2 - 1) * 50);
        xs[i] = rng() & 1 ? -m : m;
    }
    for (int i = 0; i < 4000; i++)
        for (int j = i + 1; j < i + 50 && j < 4000; j++) {
            double a = xs[i], b = xs[j];
            int32_t ka = pw_sketch_key(a), kb = pw_sketch_key(b);
            if (a < b) cr_assert_leq(ka, kb, "%g < %g but key %d > %d", a, b, ka, kb);
            if (a > b) cr_assert_geq(ka, kb, "%g > %g but key %d < %d", a, b, ka, kb);
        }
}

/* ---- cells -------------------------------------------------------------- */

Test(sketch, add_keeps_cells_sorted_and_merges_equal_keys) {
    pw_sketch s;
    pw_sketch_init(&s);
    const int32_t keys[] = {5, -3, 9, 5, 0, -3, 100, 5};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) cr_assert_eq(pw_sketch_add(&s, keys[i], 1), 0);
    const int32_t want_key[] = {-3, 0, 5, 9, 100};
    const uint32_t want_n[] = {2, 1, 3, 1, 1};
    cr_assert_eq(s.len, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(s.cells[i].key, want_key[i]);
        cr_assert_eq(s.cells[i].n, want_n[i]);
    }
    cr_assert_eq(pw_sketch_lower(&s, 6), 3);
    cr_assert_eq(pw_sketch_lower(&s, -100), 0);
    cr_assert_eq(pw_sketch_lower(&s, 1000), 5);
    cr_assert(pw_sketch_has(&s, 9));
    cr_assert(!pw_sketch_has(&s, 8));
    cr_assert_eq(pw_sketch_nearest(&s, 7), 5);    /* tie 5 / 9: lower */
    cr_assert_eq(pw_sketch_nearest(&s, 8), 9);
    cr_assert_eq(pw_sketch_nearest(&s, -1000), -3);
    cr_assert_eq(pw_sketch_nearest(&s, INT32_MAX), 100);
    cr_assert_eq(pw_sketch_nearest(&s, 60), 100);

    pw_sketch part;
    pw_sketch_init(&part);
    pw_sketch_add(&part, -3, 2);
    pw_sketch_add(&part, 5, 1);
    pw_sketch_add(&part, 100, 1);
    pw_sketch_sub(&s, &part);
    const int32_t left_key[] = {0, 5, 9};
    const uint32_t left_n[] = {1, 2, 1};
    cr_assert_eq(s.len, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(s.cells[i].key, left_key[i]);
        cr_assert_eq(s.cells[i].n, left_n[i]);
    }
    uint32_t cap = s.cap;
    pw_sketch_clear(&s);
    cr_assert_eq(s.len, 0);
    cr_assert_eq(s.cap, cap, "clear keeps the allocation");
    cr_assert_eq(pw_sketch_bytes(&s), cap * sizeof(pw_sketch_cell));
    pw_sketch_free(&s);
    pw_sketch_free(&part);
    cr_assert_eq(s.cap, 0);
}

Test(sketch, add_refuses_count_overflow) {
    pw_sketch s;
    pw_sketch_init(&s);
    cr_assert_eq(pw_sketch_add(&s, 1, UINT32_MAX - 1), 0);
    cr_assert_eq(pw_sketch_add(&s, 1, 1), 0);
    cr_assert_eq(pw_sketch_add(&s, 1, 1), -1);
    cr_assert_eq(s.cells[0].n, UINT32_MAX);
    pw_sketch_free(&s);
}

/* ---- nearest rank --------------------------------------------------------- */

typedef struct rank_row {
    double q;
    uint64_t n, r;
} rank_row;

static const rank_row ranks[] = {
    {0.5, 10, 5},     {0.5, 11, 6},   {0.9, 10, 9},      {0.07, 100, 7}, /* 7.000000000000001 */
    {0.29, 100, 29},  {0.57, 100, 57}, {0.01, 50, 1},    {0.001, 10, 1}, /* q*n < 1: the minimum */
    {0.0, 10, 1},     {1.0, 10, 10},  {0.999, 1000, 999}, {0.99, 1, 1},
    {0.95, 20, 19},   {0.95, 21, 20}, {0.1, 3, 1},       {0.34, 3, 2},
};

Test(sketch, nearest_rank_table) {
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
        uint64_t r = pw_sketch_rank(ranks[i].q, ranks[i].n);
        cr_assert_eq(r, ranks[i].r, "q=%g n=%llu: rank %llu, want %llu", ranks[i].q,
                     (unsigned long long)ranks[i].n, (unsigned long long)r, (unsigned long long)ranks[i].r);
    }
}

Test(sketch, rank_walk_matches_brute_force_from_both_ends) {
    for (int trial = 0; trial < 200; trial++) {
        pw_sketch s;
        pw_sketch_init(&s);
        int32_t vals[300];
        int n = 1 + (int)(rng() % 300);
        for (int i = 0; i < n; i++) {
            vals[i] = pw_sketch_key((double)((int)(rng() % 41) - 20)); /* -20..20: distinct cells */
            cr_assert_eq(pw_sketch_add(&s, vals[i], 1), 0);
        }
        for (uint64_t r = 1; r <= (uint64_t)n; r++) {
            /* brute force: the smallest key with at least r values <= it */
            int32_t want = INT32_MAX;
            for (int i = 0; i < n; i++) {
                uint64_t le = 0;
                for (int j = 0; j < n; j++) le += vals[j] <= vals[i];
                if (le >= r && vals[i] < want) want = vals[i];
            }
            double got;
            cr_assert_eq(pw_sketch_at_rank(&s, (uint64_t)n, r, &got), 0);
            cr_assert_eq(got, pw_sketch_value(want), "n=%d r=%llu", n, (unsigned long long)r);
        }
        double dummy;
        cr_assert_eq(pw_sketch_at_rank(&s, (uint64_t)n, 0, &dummy), -1);
        cr_assert_eq(pw_sketch_at_rank(&s, (uint64_t)n, (uint64_t)n + 1, &dummy), -1);
        pw_sketch_free(&s);
    }
}

Test(sketch, quantile_of_nothing_is_undefined) {
    pw_sketch s;
    pw_sketch_init(&s);
    double out;
    cr_assert_eq(pw_sketch_quantile(&s, 0, 0.5, &out), -1);
    pw_sketch_free(&s);
}
