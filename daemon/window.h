/* window.h -- the sliding window of one series: a ring of time buckets.
 *
 * Bucket k covers event times [k*R, (k+1)*R) (R = resolution, aligned to the
 * epoch). A window of N buckets has a head bucket index h: it holds buckets
 * h-N+1 .. h. The engine decides lateness (an event whose bucket is <= h-N is
 * late and never reaches the window) and moves the head forward; the window
 * only stores and aggregates.
 *
 * Per bucket the window keeps an event count plus what its aggregate needs:
 *   count              count only
 *   sum, avg           count + sum (double)
 *   min, max           count + extremum
 *   last               count, plus series-level (value, ts, seq) of the latest event
 *   quantile           count + a log-bucketed sketch per time bucket
 *                      (relative error <= 1%, DDSketch-style, nearest rank)
 *   distinct           count + a hash set value-hash -> last bucket seen
 * Memory: scalar kinds are one allocation, ~12 bytes per bucket plus a small
 * header (60 buckets: < 800 bytes). Quantile and distinct grow with the number
 * of distinct sketch cells / values in the window, bounded by 4096 cells per
 * window (quantile) and by `distinct_max` (distinct); what passes a bound is
 * counted in pw_window_overflow().
 *
 * Window totals (count, sum, min, max) are recomputed from the buckets when the
 * head moves (O(N) once per bucket boundary) and updated on add, so reading a
 * value is O(1) for scalar kinds (O(cells) for quantile) and floating sums
 * never accumulate subtraction error.
 *
 * Not thread-safe: a window belongs to one engine (one thread).
 */
#ifndef PW_WINDOW_H
#define PW_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "ruleset.h"
#include "snapshot.h"

/* Most buckets per window (the rule loader allows 10000). */
#define PW_WINDOW_MAX_BUCKETS 65535

typedef struct pw_window_spec {
    pw_agg agg;
    int nbuckets;           /* 1 <= N <= PW_WINDOW_MAX_BUCKETS */
    double q;               /* quantile only */
    uint32_t distinct_max;  /* distinct only: most values tracked per series (0 = 100000) */
} pw_window_spec;

typedef struct pw_window pw_window;

/* New empty window with head bucket `head`. NULL on allocation failure or a bad spec. */
pw_window *pw_window_new(const pw_window_spec *spec, int64_t head);
void pw_window_destroy(pw_window *w); /* accepts NULL */

/* Move the head to `head` (>= current head; smaller values are ignored).
 * Buckets that leave the window are cleared. */
void pw_window_advance(pw_window *w, int64_t head);
int64_t pw_window_head(const pw_window *w);

/* Record one event in bucket k (head-N < k <= head; otherwise ignored and
 * returns -1). x is the value (ignored for count). ts and seq (arrival order)
 * order events for `last`: the latest ts wins, ties go to the larger seq. */
int pw_window_add(pw_window *w, int64_t k, double x, int64_t ts, uint64_t seq);
/* Distinct only: record the value whose 64-bit hash is h in bucket k. */
int pw_window_add_key(pw_window *w, int64_t k, uint64_t h);

/* Events in the window. */
uint64_t pw_window_count(const pw_window *w);
/* The aggregate over the window. Returns 1 and *out if defined, 0 if undefined
 * (avg/min/max/quantile/last of an empty window). count/sum/distinct of an
 * empty window are 0 (defined). */
int pw_window_value(const pw_window *w, double *out);
/* The aggregate of bucket k alone (for sparklines / the API); same rules. */
int pw_window_bucket_value(const pw_window *w, int64_t k, double *out);
/* 1 if no bucket in the window holds an event. */
int pw_window_empty(const pw_window *w);
/* Distinct: sightings of values not tracked because of distinct_max. Quantile:
 * values counted in a neighbouring sketch cell because the window reached its
 * cell bound (their 1% guarantee is lost). 0 for other kinds. */
uint64_t pw_window_overflow(const pw_window *w);
/* Bytes of heap this window uses (for memory accounting and benchmarks). */
size_t pw_window_bytes(const pw_window *w);

/* Snapshots. pw_window_save appends the window's exact state (head, buckets,
 * totals, last/sketch/distinct contents) to out; it only reads w, so it may
 * run in a forked child. pw_window_load rebuilds a window of `spec` from r:
 * every count, key, bucket and total is validated (a window that disagrees
 * with spec's aggregate or bucket count, unsorted sketch cells, counts that do
 * not add up, distinct entries outside the window...). NULL with r failed. */
void pw_window_save(const pw_window *w, pw_buf *out);
pw_window *pw_window_load(const pw_window_spec *spec, pw_snap_r *r);

#endif
