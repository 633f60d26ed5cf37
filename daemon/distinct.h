/* distinct.h -- exact set of 64-bit value hashes, each with the last bucket it was seen in.
 *
 * The distinct aggregate of a window is the number of hashes whose last
 * sighting is still inside the window. The owner (window.c) calls
 * pw_distinct_expire() when its head moves, so every entry in the set is live
 * and the distinct count is simply pw_distinct_size().
 *
 * Open addressing with linear probing over a power-of-two table of 16-byte
 * entries, load factor <= 3/4. A capacity `max` bounds the entries: a hash that
 * is new once the set holds `max` is not tracked (PW_DISTINCT_FULL), so counts
 * are exact below the cap and a lower bound at it. Pure; not thread-safe.
 */
#ifndef PW_DISTINCT_H
#define PW_DISTINCT_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_distinct pw_distinct;

typedef enum pw_distinct_res {
    PW_DISTINCT_NEW = 0,   /* first sighting: inserted with bucket k */
    PW_DISTINCT_MOVED,     /* seen before in an older bucket (*prev); now k */
    PW_DISTINCT_KEPT,      /* seen before in bucket k or a newer one: unchanged */
    PW_DISTINCT_FULL,      /* new, but the set holds `max` entries: not tracked */
    PW_DISTINCT_NOMEM      /* new, but growing the table failed: not tracked */
} pw_distinct_res;

/* Empty set tracking at most max entries (max >= 1). NULL on allocation failure. */
pw_distinct *pw_distinct_new(uint32_t max);
void pw_distinct_destroy(pw_distinct *d); /* accepts NULL */

/* Record a sighting of hash h in bucket k (k != INT64_MIN, which marks empty
 * slots). For MOVED, *prev (may be NULL) receives the previous bucket. Grows the
 * table (an allocation) only when the number of entries reaches a new high. */
pw_distinct_res pw_distinct_see(pw_distinct *d, uint64_t h, int64_t k, int64_t *prev);
/* Last bucket of h in *k; 0 if present, -1 if not. */
int pw_distinct_get(const pw_distinct *d, uint64_t h, int64_t *k);
/* Drop every entry whose last bucket is < oldest. One pass over the table;
 * shrinks the table (one allocation) when it is mostly empty. */
void pw_distinct_expire(pw_distinct *d, int64_t oldest);
/* Drop everything and shrink the table back to its minimum. O(table). */
void pw_distinct_clear(pw_distinct *d);

uint32_t pw_distinct_size(const pw_distinct *d);
uint32_t pw_distinct_max(const pw_distinct *d);
/* Visit every entry (hash, last bucket), in table order (snapshots). */
void pw_distinct_foreach(const pw_distinct *d, void (*fn)(uint64_t h, int64_t k, void *ud), void *ud);
/* Heap bytes held, the struct included. */
size_t pw_distinct_bytes(const pw_distinct *d);

#endif
