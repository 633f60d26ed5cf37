/* test_distinct.c -- the exact hash set with last-seen buckets and bulk expiry. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "distinct.h"

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

typedef struct see_row {
    uint64_t h;
    int64_t k;
    pw_distinct_res want;
    int64_t prev;     /* for MOVED */
    uint32_t size;    /* after the call */
} see_row;

/* max = 3 */
static const see_row must_see[] = {
    {0, 10, PW_DISTINCT_NEW, 0, 1},            /* hash 0 is an ordinary value */
    {UINT64_MAX, 10, PW_DISTINCT_NEW, 0, 2},
    {0, 10, PW_DISTINCT_KEPT, 0, 2},           /* same bucket */
    {0, 12, PW_DISTINCT_MOVED, 10, 2},
    {0, 11, PW_DISTINCT_KEPT, 0, 2},           /* older sighting does not move it back */
    {7, -5, PW_DISTINCT_NEW, 0, 3},            /* negative buckets */
    {8, 12, PW_DISTINCT_FULL, 0, 3},           /* past max: not tracked */
    {7, -4, PW_DISTINCT_MOVED, -5, 3},         /* tracked ones still move when full */
};

Test(distinct, see_table) {
    pw_distinct *d = pw_distinct_new(3, 32, -10); /* buckets -10 .. 21 */
    cr_assert_not_null(d);
    for (size_t i = 0; i < sizeof must_see / sizeof must_see[0]; i++) {
        const see_row *r = &must_see[i];
        int64_t prev = -999;
        pw_distinct_res got = pw_distinct_see(d, r->h, r->k, &prev);
        cr_assert_eq(got, r->want, "row %zu: result %d, want %d", i, got, r->want);
        if (got == PW_DISTINCT_MOVED) cr_assert_eq(prev, r->prev, "row %zu: prev %lld", i, (long long)prev);
        cr_assert_eq(pw_distinct_size(d), r->size, "row %zu: size %u", i, pw_distinct_size(d));
    }
    int64_t k;
    cr_assert_eq(pw_distinct_get(d, 0, &k), 0);
    cr_assert_eq(k, 12);
    cr_assert_eq(pw_distinct_get(d, 8, &k), -1);
    pw_distinct_expire(d, 11); /* drops UINT64_MAX (10) and 7 (-4) */
    cr_assert_eq(pw_distinct_size(d), 1);
    cr_assert_eq(pw_distinct_get(d, UINT64_MAX, &k), -1);
    cr_assert_eq(pw_distinct_get(d, 7, &k), -1);
    cr_assert_eq(pw_distinct_see(d, 8, 12, NULL), PW_DISTINCT_NEW, "room again after expiry");
    pw_distinct_destroy(d);
    pw_distinct_destroy(NULL);
    cr_assert_null(pw_distinct_new(0, 1, 0));
    cr_assert_null(pw_distinct_new(1, 0, 0));
    cr_assert_null(pw_distinct_new(1, 1, INT64_MIN));
}

static void count_visit(uint64_t h, int64_t k, void *ud) {
    (void)h;
    (void)k;
    ++*(int *)ud;
}

/* Reference model: arrays of (hash, last) searched linearly. */
#define UNIVERSE 3000
Test(distinct, random_churn_matches_a_model) {
    static uint64_t hashes[UNIVERSE];
    static int64_t last[UNIVERSE]; /* INT64_MIN: absent */
    for (int i = 0; i < UNIVERSE; i++) {
        /* Hashes sharing low bits to stress clustering even through the mixer. */
        hashes[i] = (i % 2) ? rng() : ((uint64_t)i << 40);
        last[i] = INT64_MIN;
    }
    int64_t head = 0, window = 8;
    pw_distinct *d = pw_distinct_new(100000, (int)window, head - window + 1);
    size_t max_bytes = 0;
    for (int step = 0; step < 60000; step++) {
        if (rng() % 50 == 0) {
            head += (int64_t)(rng() % 3);
            pw_distinct_expire(d, head - window + 1);
            for (int i = 0; i < UNIVERSE; i++)
                if (last[i] != INT64_MIN && last[i] < head - window + 1) last[i] = INT64_MIN;
        }
        /* bursts of new values then quiet periods, so the table grows and shrinks */
        int span = (step / 5000) % 2 ? UNIVERSE : 40;
        int i = (int)(rng() % (uint64_t)span);
        int64_t k = head - (int64_t)(rng() % (uint64_t)window);
        pw_distinct_res want = last[i] == INT64_MIN ? PW_DISTINCT_NEW
                               : last[i] < k        ? PW_DISTINCT_MOVED
                                                    : PW_DISTINCT_KEPT;
        cr_assert_eq(pw_distinct_see(d, hashes[i], k, NULL), want, "step %d", step);
        if (want != PW_DISTINCT_KEPT) last[i] = k;
        if (step % 997 == 0) {
            uint32_t n = 0;
            for (int j = 0; j < UNIVERSE; j++) {
                int64_t got;
                int present = pw_distinct_get(d, hashes[j], &got) == 0;
                cr_assert_eq(present, last[j] != INT64_MIN, "step %d value %d", step, j);
                if (present) cr_assert_eq(got, last[j]);
                n += last[j] != INT64_MIN;
            }
            cr_assert_eq(pw_distinct_size(d), n);
            for (int64_t b = head - window + 1; b <= head; b++) { /* per-bucket last sightings */
                uint32_t nb = 0;
                for (int j = 0; j < UNIVERSE; j++) nb += last[j] == b;
                cr_assert_eq(pw_distinct_bucket(d, b), nb, "step %d bucket %lld", step, (long long)b);
            }
            cr_assert_eq(pw_distinct_bucket(d, head - window), 0, "a bucket that left counts nothing");
        }
        if (pw_distinct_bytes(d) > max_bytes) max_bytes = pw_distinct_bytes(d);
    }
    /* After the last burst expires the table shrinks back. */
    pw_distinct_expire(d, head + 1);
    cr_assert_eq(pw_distinct_size(d), 0);
    pw_distinct_see(d, 1, head + 1, NULL);
    pw_distinct_expire(d, head + 1);
    cr_assert_lt(pw_distinct_bytes(d), max_bytes, "bytes %zu, peak %zu", pw_distinct_bytes(d), max_bytes);
    pw_distinct_destroy(d);
}

Test(distinct, clear_forgets_everything_and_shrinks) {
    pw_distinct *d = pw_distinct_new(1000, 4, 0);
    size_t empty = pw_distinct_bytes(d);
    for (uint64_t h = 0; h < 500; h++) cr_assert_eq(pw_distinct_see(d, h * 0x9e3779b97f4a7c15ULL, 1, NULL),
                                                    PW_DISTINCT_NEW);
    cr_assert_gt(pw_distinct_bytes(d), empty);
    pw_distinct_clear(d);
    cr_assert_eq(pw_distinct_size(d), 0);
    cr_assert_eq(pw_distinct_bytes(d), empty);
    cr_assert_eq(pw_distinct_see(d, 0, 1, NULL), PW_DISTINCT_NEW);
    cr_assert_eq(pw_distinct_max(d), 1000);
    pw_distinct_destroy(d);
}

Test(distinct, cap_of_100000_is_exact_and_bounded) {
    pw_distinct *d = pw_distinct_new(100000, 1, 0);
    for (uint64_t h = 0; h < 120000; h++) {
        pw_distinct_res r = pw_distinct_see(d, h, 0, NULL);
        cr_assert_eq(r, h < 100000 ? PW_DISTINCT_NEW : PW_DISTINCT_FULL);
    }
    cr_assert_eq(pw_distinct_size(d), 100000);
    cr_assert_leq(pw_distinct_bytes(d), 262144 * 16 + 64, "bytes %zu", pw_distinct_bytes(d));
    pw_distinct_destroy(d);
}

/* Expiry is lazy: expired entries stay in the table, invisible, until an insertion needs room. They
 * must never be counted, found, saved, nor make the table grow; a sighting of one is a new value. */
Test(distinct, expired_entries_are_invisible_and_revive_as_new) {
    pw_distinct *d = pw_distinct_new(10, 3, 0); /* buckets 0 .. 2 */
    cr_assert_eq(pw_distinct_see(d, 1, 0, NULL), PW_DISTINCT_NEW);
    cr_assert_eq(pw_distinct_see(d, 2, 1, NULL), PW_DISTINCT_NEW);
    cr_assert_eq(pw_distinct_see(d, 3, 3, NULL), PW_DISTINCT_OUTSIDE, "past the window's newest bucket");
    cr_assert_eq(pw_distinct_see(d, 3, -1, NULL), PW_DISTINCT_OUTSIDE, "before its oldest");
    pw_distinct_expire(d, 1); /* buckets 1 .. 3: hash 1 (bucket 0) leaves */
    cr_assert_eq(pw_distinct_size(d), 1);
    cr_assert_eq(pw_distinct_bucket(d, 0), 0);
    cr_assert_eq(pw_distinct_bucket(d, 1), 1);
    int64_t k;
    cr_assert_eq(pw_distinct_get(d, 1, &k), -1);
    int visits = 0;
    pw_distinct_foreach(d, count_visit, &visits);
    cr_assert_eq(visits, 1, "foreach visits live entries only");
    int64_t prev = 99;
    cr_assert_eq(pw_distinct_see(d, 1, 2, &prev), PW_DISTINCT_NEW, "an expired value seen again is new");
    cr_assert_eq(prev, 99, "and has no previous bucket");
    cr_assert_eq(pw_distinct_size(d), 2);
    cr_assert_eq(pw_distinct_see(d, 2, 3, &prev), PW_DISTINCT_MOVED);
    cr_assert_eq(prev, 1);
    cr_assert_eq(pw_distinct_bucket(d, 1), 0);
    cr_assert_eq(pw_distinct_bucket(d, 3), 1);
    pw_distinct_expire(d, 100); /* a jump past the whole window */
    cr_assert_eq(pw_distinct_size(d), 0);
    cr_assert_eq(pw_distinct_bucket(d, 3), 0);
    cr_assert_eq(pw_distinct_see(d, 2, 101, NULL), PW_DISTINCT_NEW);
    pw_distinct_destroy(d);
}

/* A long stream of ever new values through a short window: the dead entries are swept, never kept
 * beyond the table's load limit, so memory follows the live count (~50), not the 1,000,000 seen. */
Test(distinct, churn_keeps_the_table_bounded_by_live_entries) {
    pw_distinct *d = pw_distinct_new(100000, 2, 0);
    size_t peak = 0;
    int64_t head = 1;
    for (uint64_t v = 0; v < 1000000; v++) {
        if (v % 50 == 49) pw_distinct_expire(d, ++head - 1); /* 50 new values per bucket */
        cr_assert_eq(pw_distinct_see(d, v * 0x9e3779b97f4a7c15ULL, head, NULL), PW_DISTINCT_NEW);
        cr_assert_leq(pw_distinct_size(d), 100);
        if (pw_distinct_bytes(d) > peak) peak = pw_distinct_bytes(d);
    }
    cr_assert_leq(peak, 256 * 16 + 64, "peak %zu bytes for at most 100 live values", peak);
    pw_distinct_destroy(d);
}
