/* sketch.h -- log-bucketed quantile cells (DDSketch-style mapping) in a sorted array.
 *
 * A finite double x maps to an int32 key whose order is the order of values:
 *   x > 0  ->  PW_SKETCH_BIAS + i      i = ceil(log_gamma(x)), gamma = (1+a)/(1-a)
 *   x == 0 ->  0                       (+0 and -0 alike)
 *   x < 0  -> -(PW_SKETCH_BIAS + i)    i of |x|: negative cells mirror positive ones
 * Every value in a cell is represented by gamma^i * (1-a) (= 2 gamma^i / (gamma+1)),
 * whose relative error is below a = PW_SKETCH_ALPHA. |i| < 40000 for every finite
 * double (subnormals included), so keys never collide across signs.
 *
 * A pw_sketch is a sorted array of (key, count) cells with count > 0. It is a
 * plain struct embedded by its owner (no _new/_destroy): pw_sketch_init /
 * pw_sketch_free, and pw_sketch_clear keeps the allocation so a sketch that is
 * refilled reaches its high-water mark and stops allocating. Inserting a new
 * cell is a binary search plus a memmove of the cells above it; cells per
 * sketch are few (about 116 per decade of value range and sign).
 *
 * Pure; not thread-safe (one owner).
 */
#ifndef PW_SKETCH_H
#define PW_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define PW_SKETCH_ALPHA 0.0099   /* relative accuracy a; 1% with a margin for rounding in log/exp */
#define PW_SKETCH_BIAS  (1 << 20) /* offsets i so that positive keys are > 0 */

typedef struct pw_sketch_cell {
    int32_t key;    /* see the mapping above */
    uint32_t n;     /* values in this cell, > 0 */
} pw_sketch_cell;

typedef struct pw_sketch {
    pw_sketch_cell *cells;  /* sorted by key, owned */
    uint32_t len;           /* cells in use */
    uint32_t cap;           /* cells allocated */
} pw_sketch;

/* Key of finite x (callers reject NaN and infinities). */
int32_t pw_sketch_key(double x);
/* The value that represents every x of a key (0 for key 0). */
double pw_sketch_value(int32_t key);

void pw_sketch_init(pw_sketch *s);
void pw_sketch_free(pw_sketch *s);   /* releases memory; reusable after init */
void pw_sketch_clear(pw_sketch *s);  /* len = 0, keeps the allocation */

/* Room for `len` cells (capacity doubles). 0, or -1 on allocation failure. */
int pw_sketch_reserve(pw_sketch *s, uint32_t len);
/* Index of the first cell whose key is >= key (len if none). */
uint32_t pw_sketch_lower(const pw_sketch *s, int32_t key);
/* 1 if the sketch has a cell for key. */
int pw_sketch_has(const pw_sketch *s, int32_t key);
/* The existing key closest to key (ties: the lower one). The sketch must not be empty. */
int32_t pw_sketch_nearest(const pw_sketch *s, int32_t key);
/* Add n values to key's cell, inserting the cell if new. -1 (nothing changed) on
 * allocation failure or if the cell's count would pass UINT32_MAX; a new cell
 * never fails when len < cap. */
int pw_sketch_add(pw_sketch *s, int32_t key, uint32_t n);
/* The same with i = pw_sketch_lower(s, key) already known (saves a search). */
int pw_sketch_add_at(pw_sketch *s, uint32_t i, int32_t key, uint32_t n);
/* Subtract every cell of part from s and drop cells that reach 0. part must be
 * contained in s (each key present with at least part's count); cells of part
 * that s lacks are ignored. O(s.len + part.len). */
void pw_sketch_sub(pw_sketch *s, const pw_sketch *part);

/* Nearest rank of q among n values: the smallest r >= 1 with r >= q*n, at most n.
 * q*n is first lowered by a few ulps so that a decimal q keeps its meaning
 * (0.07 * 100 = 7.000000000000001 in binary, rank 7 not 8). q <= 0 gives 1,
 * q >= 1 gives n. n must be > 0. */
uint64_t pw_sketch_rank(double q, uint64_t n);
/* The value at rank r (1-based) of the n values counted in s: the value of the
 * first cell where the running count reaches r. Walks from whichever end is
 * closer. Returns 0 and *out, or -1 if r is 0 or exceeds n. n must equal the sum
 * of the counts. */
int pw_sketch_at_rank(const pw_sketch *s, uint64_t n, uint64_t r, double *out);
/* pw_sketch_at_rank(s, n, pw_sketch_rank(q, n), out); -1 when n == 0. */
int pw_sketch_quantile(const pw_sketch *s, uint64_t n, double q, double *out);

/* Heap bytes held by s. */
size_t pw_sketch_bytes(const pw_sketch *s);

#endif
