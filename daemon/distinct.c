/* distinct.c -- exact hash set: value hash -> last bucket seen, with bulk expiry.
 *
 * Design. Linear probing over a power-of-two table of {hash, last bucket}
 * entries (16 bytes); an empty slot has bucket INT64_MIN. The stored hashes are
 * the caller's 64-bit value hashes, compared in full, so the count is exact for
 * distinct hashes (two values colliding in 64 bits count once, which at 1e5
 * values has a probability around 1e-10). The slot is chosen from the hash run
 * through a 64-bit finaliser, so a weak caller hash does not cluster the table.
 *
 * Deletion only happens in bulk: pw_distinct_expire() walks the table once,
 * starting just after an empty slot, takes each entry out and re-inserts the
 * live ones. Re-insertion lands at or before the slot just emptied (the probe
 * chain from the entry's home up to it has been rebuilt already), so the table
 * needs no tombstones and probe chains never lengthen with churn. Cost: one
 * O(table) pass per head move that expires at least one entry.
 *
 * Memory: at most `max` entries; the table grows x2 at load 3/4 (so
 * 100000 entries take a 262144-slot, 4 MiB table) and halves back when an
 * expiry leaves it under 1/8 full. Allocation happens only on growth and
 * shrinking, never for a sighting of a value already in the set.
 *
 * Limits: not thread-safe; bucket INT64_MIN cannot be recorded.
 */
#include "distinct.h"

#include <stdlib.h>

#define EMPTY INT64_MIN
#define MIN_CAP 16u

typedef struct ent {
    uint64_t h;
    int64_t k;   /* last bucket seen; EMPTY if the slot is free */
} ent;

struct pw_distinct {
    ent *t;
    uint32_t cap;   /* power of two */
    uint32_t size;  /* entries in use */
    uint32_t max;   /* most entries tracked */
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

static ent *table_new(uint32_t cap) {
    ent *t = malloc((size_t)cap * sizeof *t);
    if (!t) return NULL;
    for (uint32_t i = 0; i < cap; i++) t[i].k = EMPTY;
    return t;
}

/* Slot where h is, or the empty slot where it would go. */
static uint32_t probe(const ent *t, uint32_t cap, uint64_t h) {
    uint32_t mask = cap - 1, i = (uint32_t)mix(h) & mask;
    while (t[i].k != EMPTY && t[i].h != h) i = (i + 1) & mask;
    return i;
}

static int rehash(pw_distinct *d, uint32_t cap) {
    ent *t = table_new(cap);
    if (!t) return -1;
    for (uint32_t i = 0; i < d->cap; i++)
        if (d->t[i].k != EMPTY) t[probe(t, cap, d->t[i].h)] = d->t[i];
    free(d->t);
    d->t = t;
    d->cap = cap;
    return 0;
}

pw_distinct *pw_distinct_new(uint32_t max) {
    if (max == 0) return NULL;
    pw_distinct *d = malloc(sizeof *d);
    if (!d) return NULL;
    d->t = table_new(MIN_CAP);
    if (!d->t) {
        free(d);
        return NULL;
    }
    d->cap = MIN_CAP;
    d->size = 0;
    d->max = max;
    return d;
}

void pw_distinct_destroy(pw_distinct *d) {
    if (!d) return;
    free(d->t);
    free(d);
}

pw_distinct_res pw_distinct_see(pw_distinct *d, uint64_t h, int64_t k, int64_t *prev) {
    uint32_t i = probe(d->t, d->cap, h);
    if (d->t[i].k != EMPTY) {
        if (d->t[i].k >= k) return PW_DISTINCT_KEPT;
        if (prev) *prev = d->t[i].k;
        d->t[i].k = k;
        return PW_DISTINCT_MOVED;
    }
    if (d->size >= d->max) return PW_DISTINCT_FULL;
    if ((uint64_t)(d->size + 1) * 4 > (uint64_t)d->cap * 3) {
        if (d->cap > UINT32_MAX / 2 || rehash(d, d->cap * 2) != 0) return PW_DISTINCT_NOMEM;
        i = probe(d->t, d->cap, h);
    }
    d->t[i].h = h;
    d->t[i].k = k;
    d->size++;
    return PW_DISTINCT_NEW;
}

int pw_distinct_get(const pw_distinct *d, uint64_t h, int64_t *k) {
    uint32_t i = probe(d->t, d->cap, h);
    if (d->t[i].k == EMPTY) return -1;
    *k = d->t[i].k;
    return 0;
}

void pw_distinct_expire(pw_distinct *d, int64_t oldest) {
    if (d->size == 0) return;
    uint32_t mask = d->cap - 1, start = 0;
    while (d->t[start].k != EMPTY) start++; /* exists: load <= 3/4 */
    for (uint32_t step = 1; step <= d->cap; step++) {
        uint32_t i = (start + step) & mask;
        if (d->t[i].k == EMPTY) continue;
        ent e = d->t[i];
        d->t[i].k = EMPTY;
        if (e.k < oldest) {
            d->size--;
            continue;
        }
        d->t[probe(d->t, d->cap, e.h)] = e;
    }
    if (d->cap > MIN_CAP && (uint64_t)d->size * 8 < d->cap) {
        uint32_t cap = MIN_CAP;
        while ((uint64_t)cap < (uint64_t)d->size * 2) cap *= 2;
        (void)rehash(d, cap); /* on failure the bigger table stays, still valid */
    }
}

void pw_distinct_clear(pw_distinct *d) {
    if (d->cap > MIN_CAP) {
        ent *t = table_new(MIN_CAP);
        if (t) {
            free(d->t);
            d->t = t;
            d->cap = MIN_CAP;
            d->size = 0;
            return;
        }
    }
    for (uint32_t i = 0; i < d->cap; i++) d->t[i].k = EMPTY;
    d->size = 0;
}

uint32_t pw_distinct_size(const pw_distinct *d) { return d->size; }

uint32_t pw_distinct_max(const pw_distinct *d) { return d->max; }

size_t pw_distinct_bytes(const pw_distinct *d) { return sizeof *d + (size_t)d->cap * sizeof(ent); }

void pw_distinct_foreach(const pw_distinct *d, void (*fn)(uint64_t h, int64_t k, void *ud), void *ud) {
    for (uint32_t i = 0; i < d->cap; i++)
        if (d->t[i].k != EMPTY) fn(d->t[i].h, d->t[i].k, ud);
}
