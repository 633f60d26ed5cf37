/* distinct.h -- exact set of 64-bit value hashes, each with the last bucket it was seen in.
 *
 * The distinct aggregate of a window is the number of hashes whose last
 * sighting is still inside the window. The set knows the window's bucket range
 * [oldest, oldest + nbuckets) and keeps, per bucket, how many hashes had their
 * last sighting there; the owner (window.c) calls pw_distinct_expire() when its
 * head moves. Expiry is lazy: moving `oldest` subtracts the leaving buckets'
 * counts (O(buckets moved), no table walk), and the entries left behind are
 * dead from then on (invisible to every call) until a later insertion needs
 * their slots and sweeps the table once.
 *
 * Open addressing with linear probing over a power-of-two table of 16-byte
 * entries, load factor <= 3/4 counting dead entries. A capacity `max` bounds
 * the live entries: a hash that is new once the set holds `max` is not tracked
 * (PW_DISTINCT_FULL), so counts are exact below the cap and a lower bound at
 * it. Pure; not thread-safe.
 */
#ifndef PW_DISTINCT_H
#define PW_DISTINCT_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_distinct pw_distinct;

typedef enum pw_distinct_res {
    PW_DISTINCT_NEW = 0,   /* first sighting in the window: inserted with bucket k */
    PW_DISTINCT_MOVED,     /* seen before in an older bucket of the window (*prev); now k */
    PW_DISTINCT_KEPT,      /* seen before in bucket k or a newer one: unchanged */
    PW_DISTINCT_FULL,      /* new, but the set holds `max` entries: not tracked */
    PW_DISTINCT_NOMEM,     /* new, but growing the table failed: not tracked */
    PW_DISTINCT_OUTSIDE    /* k is not in [oldest, oldest + nbuckets): ignored (a caller bug) */
} pw_distinct_res;

/* Empty set tracking at most max entries (max >= 1) for a window of nbuckets
 * buckets (>= 1) whose oldest bucket is `oldest` (> INT64_MIN). NULL on
 * allocation failure or bad arguments. */
pw_distinct *pw_distinct_new(uint32_t max, int nbuckets, int64_t oldest);
void pw_distinct_destroy(pw_distinct *d); /* accepts NULL */

/* Record a sighting of hash h in bucket k (oldest <= k < oldest + nbuckets).
 * For MOVED, *prev (may be NULL) receives the previous bucket. Allocates only
 * when the table grows (the live entries reach a new high); may sweep the dead
 * entries once (O(table), amortised O(1) per insertion). */
pw_distinct_res pw_distinct_see(pw_distinct *d, uint64_t h, int64_t k, int64_t *prev);
/* Last bucket of h in *k; 0 if present (live), -1 if not. */
int pw_distinct_get(const pw_distinct *d, uint64_t h, int64_t *k);
/* Move the window's oldest bucket forward to `oldest` (smaller values are
 * ignored): every entry whose last bucket is < oldest is dropped from the
 * count at once. O(min(buckets moved, nbuckets)); shrinks the table (one
 * sweep and one allocation) when it is mostly dead or empty. */
void pw_distinct_expire(pw_distinct *d, int64_t oldest);
/* Drop everything and shrink the table back to its minimum (the window range
 * is unchanged). O(table). */
void pw_distinct_clear(pw_distinct *d);

/* Live entries (the distinct count of the window). */
uint32_t pw_distinct_size(const pw_distinct *d);
uint32_t pw_distinct_max(const pw_distinct *d);
/* Live entries whose last sighting is bucket k (0 outside the window). */
uint32_t pw_distinct_bucket(const pw_distinct *d, int64_t k);
/* Visit every live entry (hash, last bucket), in table order (snapshots). */
void pw_distinct_foreach(const pw_distinct *d, void (*fn)(uint64_t h, int64_t k, void *ud), void *ud);
/* Heap bytes held, the struct and the per-bucket counts included. */
size_t pw_distinct_bytes(const pw_distinct *d);

#endif
