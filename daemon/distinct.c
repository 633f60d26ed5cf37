/* distinct.c -- exact hash set: value hash -> last bucket seen, with lazy expiry.
 *
 * Design. Linear probing over a power-of-two table of {hash, last bucket}
 * entries (16 bytes); an empty slot has bucket INT64_MIN. The stored hashes are
 * the caller's 64-bit value hashes, compared in full, so the count is exact for
 * distinct hashes (two values colliding in 64 bits count once, which at 1e5
 * values has a probability around 1e-10). The slot is chosen from the hash run
 * through a 64-bit finaliser, so a weak caller hash does not cluster the table.
 *
 * Counting. The set covers the window's buckets [oldest, oldest + N) and keeps
 * a ring of N counters: how many live entries have their last sighting in each
 * bucket. The live count is their sum, kept up to date. Moving `oldest`
 * forward subtracts the counters of the buckets that leave and zeroes them:
 * O(buckets moved), however big the table. The entries whose last bucket is
 * now < oldest stay in the table as dead entries: every lookup treats them as
 * absent, and a sighting of a dead hash revives its entry in place (a new
 * value for the window).
 *
 * Sweeping. Dead entries occupy slots, so the load factor counts them: when an
 * insertion would push the table past 3/4, the table is swept once in place
 * (starting just after an empty slot, each entry is taken out and the live
 * ones re-inserted; re-insertion lands at or before the slot just emptied, so
 * no tombstones are needed and probe chains never lengthen with churn). If the
 * live entries still fill more than 5/8 of it, the table doubles. Either way at
 * least 1/8 of the table is free after a sweep, so a sweep (O(table)) is paid
 * for by at least table/8 insertions: amortised O(1) per insertion, where the
 * old eager design walked the whole table at every bucket boundary.
 *
 * Memory: at most `max` live entries; dead ones never make the table grow (a
 * sweep comes first). The table grows x2 (100000 live entries take at most a
 * 262144-slot, 4 MiB table) and, when a head move leaves fewer than 1/16 of its
 * slots live, it is swept and shrunk to the smallest size at which the live
 * entries fill at most 1/4. Allocation happens only on growth and shrinking,
 * never for a sighting of a value already in the set.
 *
 * Limits: not thread-safe; bucket INT64_MIN cannot be recorded.
 */
#include "distinct.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY INT64_MIN
#define MIN_CAP 16u

typedef struct ent {
    uint64_t h;
    int64_t k;   /* last bucket seen; EMPTY if the slot is free; < oldest: dead */
} ent;

struct pw_distinct {
    ent *t;
    uint32_t cap;    /* power of two */
    uint32_t used;   /* slots in use, live or dead */
    uint32_t live;   /* entries with k >= oldest = sum of ring[] */
    uint32_t max;    /* most live entries tracked */
    int64_t oldest;  /* oldest bucket of the window */
    uint32_t nb;     /* buckets in the window (ring size) */
    uint32_t ring[]; /* live entries per last-sighting bucket, index k mod nb */
};

static uint64_t mix(uint64_t h) {
    /* murmur3 fmix64 */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t ring_idx(const pw_distinct *d, int64_t k) {
    int64_t r = k % (int64_t)d->nb;
    return (uint32_t)(r < 0 ? r + (int64_t)d->nb : r);
}

/* oldest <= k < oldest + nb, without overflow. */
static int in_range(const pw_distinct *d, int64_t k) {
    return k != EMPTY && k >= d->oldest && (uint64_t)k - (uint64_t)d->oldest < (uint64_t)d->nb;
}

static ent *table_new(uint32_t cap) {
    ent *t = malloc((size_t)cap * sizeof *t);
    if (!t) return NULL;
    for (uint32_t i = 0; i < cap; i++) t[i].k = EMPTY;
    return t;
}

/* Slot where h is (live or dead), or the empty slot where it would go. */
static uint32_t probe(const ent *t, uint32_t cap, uint64_t h) {
    uint32_t mask = cap - 1, i = (uint32_t)mix(h) & mask;
    while (t[i].k != EMPTY && t[i].h != h) i = (i + 1) & mask;
    return i;
}

/* A new table of cap slots holding the live entries only. */
static int rehash(pw_distinct *d, uint32_t cap) {
    ent *t = table_new(cap);
    if (!t) return -1;
    for (uint32_t i = 0; i < d->cap; i++)
        if (d->t[i].k != EMPTY && d->t[i].k >= d->oldest) t[probe(t, cap, d->t[i].h)] = d->t[i];
    free(d->t);
    d->t = t;
    d->cap = cap;
    d->used = d->live;
    return 0;
}

/* Remove the dead entries in place, no allocation. */
static void sweep(pw_distinct *d) {
    if (d->used == d->live) return;
    uint32_t mask = d->cap - 1, start = 0;
    while (d->t[start].k != EMPTY) start++; /* exists: load <= 3/4 */
    for (uint32_t step = 1; step <= d->cap; step++) {
        uint32_t i = (start + step) & mask;
        if (d->t[i].k == EMPTY) continue;
        ent e = d->t[i];
        d->t[i].k = EMPTY;
        if (e.k < d->oldest) continue;
        d->t[probe(d->t, d->cap, e.h)] = e;
    }
    d->used = d->live;
}

pw_distinct *pw_distinct_new(uint32_t max, int nbuckets, int64_t oldest) {
    if (max == 0 || nbuckets < 1 || oldest == EMPTY) return NULL;
    pw_distinct *d = calloc(1, sizeof *d + (size_t)nbuckets * sizeof(uint32_t));
    if (!d) return NULL;
    d->t = table_new(MIN_CAP);
    if (!d->t) {
        free(d);
        return NULL;
    }
    d->cap = MIN_CAP;
    d->max = max;
    d->nb = (uint32_t)nbuckets;
    d->oldest = oldest;
    return d;
}

void pw_distinct_destroy(pw_distinct *d) {
    if (!d) return;
    free(d->t);
    free(d);
}

pw_distinct_res pw_distinct_see(pw_distinct *d, uint64_t h, int64_t k, int64_t *prev) {
    if (!in_range(d, k)) return PW_DISTINCT_OUTSIDE;
    uint32_t i = probe(d->t, d->cap, h);
    ent *e = &d->t[i];
    if (e->k != EMPTY && e->k >= d->oldest) { /* live */
        if (e->k >= k) return PW_DISTINCT_KEPT;
        if (prev) *prev = e->k;
        d->ring[ring_idx(d, e->k)]--;
        d->ring[ring_idx(d, k)]++;
        e->k = k;
        return PW_DISTINCT_MOVED;
    }
    if (d->live >= d->max) return PW_DISTINCT_FULL;
    if (e->k == EMPTY) { /* a fresh slot: make room first if the table is at its load limit */
        if ((uint64_t)(d->used + 1) * 4 > (uint64_t)d->cap * 3) {
            sweep(d);
            if ((uint64_t)(d->live + 1) * 8 > (uint64_t)d->cap * 5 &&
                (d->cap > UINT32_MAX / 2 || rehash(d, d->cap * 2) != 0)) {
                if ((uint64_t)(d->used + 1) * 4 > (uint64_t)d->cap * 3) return PW_DISTINCT_NOMEM;
            }
            i = probe(d->t, d->cap, h);
            e = &d->t[i];
        }
        d->used++;
        e->h = h;
    } /* else: a dead entry of h, revived in place */
    e->k = k;
    d->live++;
    d->ring[ring_idx(d, k)]++;
    return PW_DISTINCT_NEW;
}

int pw_distinct_get(const pw_distinct *d, uint64_t h, int64_t *k) {
    uint32_t i = probe(d->t, d->cap, h);
    if (d->t[i].k == EMPTY || d->t[i].k < d->oldest) return -1;
    *k = d->t[i].k;
    return 0;
}

void pw_distinct_expire(pw_distinct *d, int64_t oldest) {
    if (oldest <= d->oldest) return;
    if ((uint64_t)oldest - (uint64_t)d->oldest >= d->nb) {
        memset(d->ring, 0, (size_t)d->nb * sizeof(uint32_t));
        d->live = 0;
    } else {
        for (int64_t b = d->oldest; b < oldest; b++) {
            uint32_t *c = &d->ring[ring_idx(d, b)];
            d->live -= *c;
            *c = 0;
        }
    }
    d->oldest = oldest;
    if (d->cap > MIN_CAP && (uint64_t)d->live * 16 < d->cap) {
        uint32_t cap = MIN_CAP;
        while ((uint64_t)cap < (uint64_t)d->live * 4) cap *= 2;
        if (rehash(d, cap) != 0) sweep(d); /* no memory: keep the bigger table, without its dead */
    }
}

void pw_distinct_clear(pw_distinct *d) {
    memset(d->ring, 0, (size_t)d->nb * sizeof(uint32_t));
    d->live = d->used = 0;
    if (d->cap > MIN_CAP) {
        ent *t = table_new(MIN_CAP);
        if (t) {
            free(d->t);
            d->t = t;
            d->cap = MIN_CAP;
            return;
        }
    }
    for (uint32_t i = 0; i < d->cap; i++) d->t[i].k = EMPTY;
}

uint32_t pw_distinct_size(const pw_distinct *d) { return d->live; }

uint32_t pw_distinct_max(const pw_distinct *d) { return d->max; }

uint32_t pw_distinct_bucket(const pw_distinct *d, int64_t k) {
    return in_range(d, k) ? d->ring[ring_idx(d, k)] : 0;
}

size_t pw_distinct_bytes(const pw_distinct *d) {
    return sizeof *d + (size_t)d->nb * sizeof(uint32_t) + (size_t)d->cap * sizeof(ent);
}

void pw_distinct_foreach(const pw_distinct *d, void (*fn)(uint64_t h, int64_t k, void *ud), void *ud) {
    for (uint32_t i = 0; i < d->cap; i++)
        if (d->t[i].k != EMPTY && d->t[i].k >= d->oldest) fn(d->t[i].h, d->t[i].k, ud);
}
