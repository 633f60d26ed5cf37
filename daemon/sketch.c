/* sketch.c -- DDSketch-style value -> cell mapping and sorted (key, count) cells.
 *
 * Design. The mapping is the logarithmic one of DDSketch (Masson, Rim, Lee,
 * VLDB 2019): cell i holds (gamma^(i-1), gamma^i], gamma = (1+a)/(1-a), and is
 * represented by gamma^i * (1-a), so any value in it is reproduced within a
 * relative error a. a is 0.0099 rather than 0.01: log() and exp() round, so a
 * value within an ulp of a cell boundary may land in the neighbouring cell and
 * carry an extra error of ~1e-13; the margin keeps the promise of 1% exact.
 * Zero has its own key (0) and negatives mirror the positive cells, with signed
 * keys arranged so that key order is value order; a sketch therefore is one
 * sorted array and a rank query is one walk.
 *
 * Cells live in a sorted array rather than a hash: owners need ordered walks
 * (rank queries, merging), the arrays are short (about 116 cells per decade of
 * range and sign), and a new cell costs a memmove only the first time a value
 * range is seen in that sketch. Capacity only grows (doubling) until
 * pw_sketch_free(), so a sketch that is cleared and refilled stops allocating.
 *
 * Limits: no bound on the number of cells here (owners cap it, see window.c);
 * counts are uint32 per cell, callers keep totals in uint64.
 */
#include "sketch.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log(gamma), 1/log(gamma) and log(1-a) for a = PW_SKETCH_ALPHA (test_sketch.c
 * checks them against libm, so changing the alpha without them fails a test). */
#define LN_GAMMA      0.019800646904042287
#define INV_LN_GAMMA  50.50340046192384
#define LN_1_MINUS_A  (-0.009949330853668083)

int32_t pw_sketch_key(double x) {
    if (x == 0) return 0;
    double m = fabs(x);
    int32_t i = (int32_t)ceil(log(m) * INV_LN_GAMMA);
    int32_t key = PW_SKETCH_BIAS + i;
    return x < 0 ? -key : key;
}

double pw_sketch_value(int32_t key) {
    if (key == 0) return 0;
    int32_t k = key < 0 ? -key : key;
    double v = exp((double)(k - PW_SKETCH_BIAS) * LN_GAMMA + LN_1_MINUS_A);
    if (v > DBL_MAX) v = DBL_MAX; /* the top cell of the double range */
    return key < 0 ? -v : v;
}

void pw_sketch_init(pw_sketch *s) {
    s->cells = NULL;
    s->len = 0;
    s->cap = 0;
}

void pw_sketch_free(pw_sketch *s) {
    free(s->cells);
    pw_sketch_init(s);
}

void pw_sketch_clear(pw_sketch *s) { s->len = 0; }

int pw_sketch_reserve(pw_sketch *s, uint32_t len) {
    if (len <= s->cap) return 0;
    uint32_t cap = s->cap ? s->cap : 8;
    while (cap < len) {
        if (cap > UINT32_MAX / 2) return -1;
        cap *= 2;
    }
    if ((uint64_t)cap * sizeof(pw_sketch_cell) > SIZE_MAX) return -1; /* 32-bit hosts */
    pw_sketch_cell *c = realloc(s->cells, (size_t)cap * sizeof *c);
    if (!c) return -1;
    s->cells = c;
    s->cap = cap;
    return 0;
}

uint32_t pw_sketch_lower(const pw_sketch *s, int32_t key) {
    /* Branch-free lower bound (the compiler emits a cmov): the probe sequence
     * of a hot-path add is data-dependent, so branches would mispredict. */
    uint32_t n = s->len;
    if (n == 0) return 0;
    const pw_sketch_cell *base = s->cells;
    while (n > 1) {
        uint32_t half = n / 2;
        base = base[half].key < key ? base + half : base;
        n -= half;
    }
    return (uint32_t)(base - s->cells) + (base->key < key);
}

int pw_sketch_has(const pw_sketch *s, int32_t key) {
    uint32_t i = pw_sketch_lower(s, key);
    return i < s->len && s->cells[i].key == key;
}

int32_t pw_sketch_nearest(const pw_sketch *s, int32_t key) {
    uint32_t i = pw_sketch_lower(s, key);
    if (i == s->len) return s->cells[s->len - 1].key;
    if (s->cells[i].key == key || i == 0) return s->cells[i].key;
    /* 64-bit distances: keys span almost the whole int32 range. */
    int64_t below = (int64_t)key - s->cells[i - 1].key;
    int64_t above = (int64_t)s->cells[i].key - key;
    return below <= above ? s->cells[i - 1].key : s->cells[i].key;
}

int pw_sketch_add(pw_sketch *s, int32_t key, uint32_t n) {
    return pw_sketch_add_at(s, pw_sketch_lower(s, key), key, n);
}

int pw_sketch_add_at(pw_sketch *s, uint32_t i, int32_t key, uint32_t n) {
    if (i < s->len && s->cells[i].key == key) {
        if (s->cells[i].n > UINT32_MAX - n) return -1;
        s->cells[i].n += n;
        return 0;
    }
    if (s->len == UINT32_MAX || pw_sketch_reserve(s, s->len + 1) != 0) return -1;
    memmove(&s->cells[i + 1], &s->cells[i], (size_t)(s->len - i) * sizeof s->cells[0]);
    s->cells[i].key = key;
    s->cells[i].n = n;
    s->len++;
    return 0;
}

void pw_sketch_sub(pw_sketch *s, const pw_sketch *part) {
    /* One merge walk subtracts; a second pass compacts the emptied cells, so
     * removing a whole bucket costs O(s.len + part.len), not a memmove each. */
    uint32_t i = 0;
    int emptied = 0;
    for (uint32_t j = 0; j < part->len; j++) {
        int32_t key = part->cells[j].key;
        while (i < s->len && s->cells[i].key < key) i++;
        if (i == s->len) break;
        if (s->cells[i].key != key) continue;
        uint32_t n = part->cells[j].n;
        s->cells[i].n = s->cells[i].n > n ? s->cells[i].n - n : 0;
        emptied |= s->cells[i].n == 0;
    }
    if (!emptied) return;
    uint32_t out = 0;
    for (uint32_t r = 0; r < s->len; r++)
        if (s->cells[r].n) s->cells[out++] = s->cells[r];
    s->len = out;
}

uint64_t pw_sketch_rank(double q, uint64_t n) {
    if (!(q > 0)) return 1; /* also NaN */
    if (q >= 1) return n;
    double p = q * (double)n;
    p -= p * (4 * DBL_EPSILON);
    double c = ceil(p);
    if (c < 1) return 1;
    if (c >= (double)n) return n;
    return (uint64_t)c;
}

int pw_sketch_at_rank(const pw_sketch *s, uint64_t n, uint64_t r, double *out) {
    if (r == 0 || r > n || s->len == 0) return -1;
    if (r <= n / 2) {
        uint64_t cum = 0;
        for (uint32_t i = 0; i < s->len; i++) {
            cum += s->cells[i].n;
            if (cum >= r) {
                *out = pw_sketch_value(s->cells[i].key);
                return 0;
            }
        }
        return -1; /* n larger than the cells hold: caller bug */
    }
    /* From the top: the answer is the highest cell whose suffix count exceeds
     * n - r (then the prefix up to it is >= r and the prefix below it < r). */
    uint64_t suffix = 0, keep = n - r;
    for (uint32_t i = s->len; i-- > 0;) {
        suffix += s->cells[i].n;
        if (suffix > keep) {
            *out = pw_sketch_value(s->cells[i].key);
            return 0;
        }
    }
    return -1;
}

int pw_sketch_quantile(const pw_sketch *s, uint64_t n, double q, double *out) {
    if (n == 0) return -1;
    return pw_sketch_at_rank(s, n, pw_sketch_rank(q, n), out);
}

size_t pw_sketch_bytes(const pw_sketch *s) { return (size_t)s->cap * sizeof(pw_sketch_cell); }
