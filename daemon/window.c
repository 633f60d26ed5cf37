/* window.c -- the sliding window of one series: a ring of N time buckets.
 *
 * Granularity. Bucket k covers [k*R, (k+1)*R); the window knows only bucket
 * indexes, never times (the engine maps times to k with floor division, so
 * times before 1970 give negative k). Bucket k lives in ring slot k mod N with
 * a floor modulo, so k = -1 is slot N-1 and adjacent buckets stay adjacent
 * across zero. The head h is the newest bucket; the window holds h-N+1 .. h.
 * The head's slot is kept (hs), so a bucket inside the window is found by a
 * subtraction from it, not a 64-bit division per add.
 *
 * Late and early events. pw_window_add() accepts exactly h-N < k <= h. The
 * engine filters lateness before calling (it counts late events); the window
 * re-checks so that a caller bug cannot corrupt another bucket's slot.
 *
 * Eviction. Moving the head from h to h' clears the slots of buckets h+1..h'
 * (they held h+1-N..h'-N, which leave the window), then recomputes the window
 * totals from the N buckets in bucket order. A jump of N or more clears
 * everything in O(N) whatever its length. Totals are also updated on every add,
 * so a read is O(1) for scalar kinds; because they are rebuilt from the buckets
 * at every head move, subtraction never happens on floating sums and there is
 * no drift (a 1e17 that leaves the window leaves no rounding residue behind).
 *
 * Memory layout. One allocation: a 32-byte header, then per kind
 *   count         uint32 count[N]                                 32 + 4N
 *   sum/avg       double sum[N], count[N]                         32 + 12N
 *   min/max       double extremum[N], count[N]                    32 + 12N
 *   last          {x, ts, seq, k} of the latest event, count[N]   64 + 4N
 *   quantile      {window sketch, q}, pw_sketch[N], count[N]       64 + 20N + cells
 *   distinct      {set, overflow}, count[N]                       48 + 4N + set (24 + 4N + table)
 * (60 buckets: count 272 B, sum/avg/min/max 752 B, last 304 B; malloc's own
 * overhead is not counted.)
 *
 * last: the latest event by (ts, seq). Events are placed by ts, so the latest
 * event sits in the newest non-empty bucket; when its bucket leaves the window
 * every other event has left too, and the value becomes undefined. The event
 * that replaces it must be later, or the stored one must have expired (which
 * also keeps a caller whose ts and k disagree from pinning a stale value).
 *
 * quantile: each bucket keeps a sorted pw_sketch (see sketch.h, relative error
 * <= 0.99%) and the window keeps one more sketch, the sum of the N bucket
 * sketches, updated on add (+1 in both) and on eviction (the leaving bucket's
 * cells are subtracted in one merge walk). Counts are integers, so that
 * subtraction is exact. A read walks the window sketch from the closer end to
 * rank ceil(q*n): O(cells), no merge of N buckets and no scratch memory, which
 * matters because the engine reads the value after every event. Arrays keep
 * their capacity when a bucket is cleared: no allocation in the steady state.
 * Bound: at most PW_WINDOW_SKETCH_CELLS distinct cells in a window (4096 =
 * 35 decades of one sign; real data uses a few hundred). A value whose cell is
 * new once the window is at that bound is counted in the nearest existing cell
 * instead (its 1% bound is lost, order is kept) and in pw_window_overflow().
 * Worst case (hostile values) ~(N+1) * 32 KiB per window.
 *
 * distinct: a pw_distinct set maps value hash -> last bucket seen and counts,
 * per bucket, how many values have their LAST sighting there. A head move
 * tells the set its new oldest bucket; the set drops the leaving buckets'
 * counts at once and sweeps the expired entries out lazily (distinct.c), so a
 * head move costs O(buckets moved), not O(table), and the distinct count is
 * the set's size. A
 * bucket's own value (sparklines) is its number of last sightings: summing the
 * buckets gives the window's count, but a value seen in buckets 3 and 5 shows
 * in 5 only. Past distinct_max, a new value is not tracked (the count stays
 * exact below the cap and a lower bound at it) and each such sighting counts
 * in pw_window_overflow(); so does a sighting the set could not grow for.
 *
 * Limits. Values must be finite (NaN and infinities are refused: one NaN would
 * poison a sum for a whole window). At most UINT32_MAX events per bucket, and
 * per quantile cell of the window (an add past either is refused). Bucket
 * INT64_MIN is reserved. Not thread-safe; reads
 * do not write, so concurrent reads without writers are safe.
 */
#include "window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "distinct.h"
#include "sketch.h"

#define DISTINCT_DEFAULT_MAX 100000u
#define PW_WINDOW_SKETCH_CELLS 4096u
#define NO_BUCKET INT64_MIN

typedef struct last_state {
    double x;       /* value of the latest event */
    int64_t ts;     /* its event time */
    uint64_t seq;   /* its arrival order */
    int64_t k;      /* its bucket; NO_BUCKET if none yet */
} last_state;

typedef struct quantile_state {
    pw_sketch all;      /* sum of the N bucket sketches */
    uint64_t collapsed; /* values put in a neighbouring cell (cell bound reached) */
    double q;
} quantile_state;

typedef struct distinct_state {
    pw_distinct *set;   /* hash -> last bucket seen, per-bucket last sightings; owned */
    uint64_t overflow;  /* sightings not tracked (cap or no memory) */
} distinct_state;

struct pw_window {
    int64_t head;       /* newest bucket */
    uint64_t n;         /* events in the window */
    double tot;         /* sum (sum/avg) or extremum (min/max) of the window */
    uint16_t nb;        /* N (<= PW_WINDOW_MAX_BUCKETS) */
    uint16_t hs;        /* ring slot of the head bucket (head mod N), kept so adds need no division */
    uint8_t agg;        /* pw_agg */
    _Alignas(8) unsigned char mem[]; /* the per-kind arrays, see the layout above */
};

_Static_assert(sizeof(pw_window) == 32, "the window header is 32 bytes (memory layout above)");

static int has_vals(int agg) {
    return agg == PW_AGG_SUM || agg == PW_AGG_AVG || agg == PW_AGG_MIN || agg == PW_AGG_MAX;
}

/* Bytes in mem[] before count[]. All parts are multiples of 8 except the
 * distinct per-bucket uint32 array, which only needs 4-byte alignment for count[]. */
static size_t pre_bytes(int agg, size_t nb) {
    switch (agg) {
    case PW_AGG_SUM:
    case PW_AGG_AVG:
    case PW_AGG_MIN:
    case PW_AGG_MAX: return nb * sizeof(double);
    case PW_AGG_LAST: return sizeof(last_state);
    case PW_AGG_QUANTILE: return sizeof(quantile_state) + nb * sizeof(pw_sketch);
    case PW_AGG_DISTINCT: return sizeof(distinct_state);
    default: return 0;
    }
}

/* Accessors: the const_cast is deliberate; const functions only read through them. */
static uint32_t *counts(const pw_window *w) {
    return (uint32_t *)(void *)((unsigned char *)w->mem + pre_bytes(w->agg, (size_t)w->nb));
}
static double *vals(const pw_window *w) { return (double *)(void *)w->mem; }
static last_state *last_of(const pw_window *w) { return (last_state *)(void *)w->mem; }
static quantile_state *qstate(const pw_window *w) { return (quantile_state *)(void *)w->mem; }
static pw_sketch *qcells(const pw_window *w) {
    return (pw_sketch *)(void *)((unsigned char *)w->mem + sizeof(quantile_state));
}
static distinct_state *dstate(const pw_window *w) { return (distinct_state *)(void *)w->mem; }

static uint32_t slot(const pw_window *w, int64_t k) {
    int64_t r = k % w->nb;
    return (uint32_t)(r < 0 ? r + w->nb : r);
}

/* slot(w, k) for a k inside the window, from the head's slot: no division. */
static uint32_t slot_in(const pw_window *w, int64_t k) {
    uint32_t d = (uint32_t)((uint64_t)w->head - (uint64_t)k); /* < nb */
    return w->hs >= d ? w->hs - d : w->hs + w->nb - d;
}

/* h-N < k <= h, computed without overflow near the ends of int64. */
static int in_window(const pw_window *w, int64_t k) {
    return k != NO_BUCKET && k <= w->head && (uint64_t)w->head - (uint64_t)k < (uint64_t)w->nb;
}

/* The oldest bucket in the window, clamped above NO_BUCKET. */
static int64_t oldest(const pw_window *w) {
    if ((uint64_t)w->head - (uint64_t)INT64_MIN <= (uint64_t)(w->nb - 1)) return INT64_MIN + 1;
    return w->head - (w->nb - 1);
}

pw_window *pw_window_new(const pw_window_spec *spec, int64_t head) {
    if (!spec || spec->nbuckets < 1 || spec->nbuckets > PW_WINDOW_MAX_BUCKETS || (int)spec->agg < 0 ||
        spec->agg >= PW_AGG__COUNT)
        return NULL;
    if (spec->agg == PW_AGG_QUANTILE && !(spec->q >= 0 && spec->q <= 1)) return NULL;
    size_t nb = (size_t)spec->nbuckets;
    if (nb > (SIZE_MAX - sizeof(pw_window) - 64) / 32) return NULL;
    size_t size = sizeof(pw_window) + pre_bytes(spec->agg, nb) + nb * sizeof(uint32_t);
    pw_window *w = calloc(1, size);
    if (!w) return NULL;
    w->head = head;
    w->nb = (uint16_t)spec->nbuckets;
    w->hs = (uint16_t)slot(w, head);
    w->agg = (uint8_t)spec->agg;
    switch (spec->agg) {
    case PW_AGG_LAST:
        last_of(w)->k = NO_BUCKET;
        break;
    case PW_AGG_QUANTILE:
        pw_sketch_init(&qstate(w)->all);
        qstate(w)->q = spec->q;
        for (size_t i = 0; i < nb; i++) pw_sketch_init(&qcells(w)[i]);
        break;
    case PW_AGG_DISTINCT:
        dstate(w)->set = pw_distinct_new(spec->distinct_max ? spec->distinct_max : DISTINCT_DEFAULT_MAX,
                                         spec->nbuckets, oldest(w));
        if (!dstate(w)->set) {
            free(w);
            return NULL;
        }
        break;
    default:
        break;
    }
    return w;
}

void pw_window_destroy(pw_window *w) {
    if (!w) return;
    if (w->agg == PW_AGG_QUANTILE) {
        pw_sketch_free(&qstate(w)->all);
        for (int32_t i = 0; i < w->nb; i++) pw_sketch_free(&qcells(w)[i]);
    } else if (w->agg == PW_AGG_DISTINCT) {
        pw_distinct_destroy(dstate(w)->set);
    }
    free(w);
}

/* Rebuild n and tot from the buckets, oldest first (a fixed order, so the
 * result does not depend on where the ring happens to start). */
static void recompute(pw_window *w) {
    const uint32_t *c = counts(w);
    uint32_t s = slot(w, oldest(w));
    uint64_t n = 0;
    double tot = 0;
    int agg = w->agg, any = 0;
    for (int32_t i = 0; i < w->nb; i++) {
        if (c[s]) {
            n += c[s];
            if (agg == PW_AGG_SUM || agg == PW_AGG_AVG) {
                tot += vals(w)[s];
            } else if (agg == PW_AGG_MIN || agg == PW_AGG_MAX) {
                double v = vals(w)[s];
                if (!any || (agg == PW_AGG_MIN ? v < tot : v > tot)) tot = v;
                any = 1;
            }
        }
        if (++s == (uint32_t)w->nb) s = 0;
    }
    w->n = n;
    w->tot = tot;
}

/* Empty ring slot s (distinct: the set forgets the bucket when told the new oldest one). */
static void clear_slot(pw_window *w, uint32_t s) {
    counts(w)[s] = 0;
    if (has_vals(w->agg)) {
        vals(w)[s] = 0;
    } else if (w->agg == PW_AGG_QUANTILE) {
        pw_sketch_sub(&qstate(w)->all, &qcells(w)[s]);
        pw_sketch_clear(&qcells(w)[s]);
    }
}

static void clear_all(pw_window *w) {
    size_t nb = (size_t)w->nb;
    memset(counts(w), 0, nb * sizeof(uint32_t));
    switch (w->agg) {
    case PW_AGG_SUM:
    case PW_AGG_AVG:
    case PW_AGG_MIN:
    case PW_AGG_MAX: memset(vals(w), 0, nb * sizeof(double)); break;
    case PW_AGG_LAST: last_of(w)->k = NO_BUCKET; break;
    case PW_AGG_QUANTILE:
        pw_sketch_clear(&qstate(w)->all);
        for (size_t i = 0; i < nb; i++) pw_sketch_clear(&qcells(w)[i]);
        break;
    case PW_AGG_DISTINCT:
        pw_distinct_clear(dstate(w)->set);
        break;
    default: break;
    }
    w->n = 0;
    w->tot = 0;
}

void pw_window_advance(pw_window *w, int64_t head) {
    if (head <= w->head) return;
    uint64_t jump = (uint64_t)head - (uint64_t)w->head; /* exact: head > w->head */
    if (jump >= (uint64_t)w->nb) {
        w->head = head;
        w->hs = (uint16_t)slot(w, head);
        clear_all(w);
        if (w->agg == PW_AGG_DISTINCT) pw_distinct_expire(dstate(w)->set, oldest(w));
        return;
    }
    /* Buckets old+1..head reuse the slots of old+1-N..head-N, which leave. */
    uint32_t s = w->hs;
    for (uint64_t j = 1; j <= jump; j++) {
        if (++s == w->nb) s = 0;
        clear_slot(w, s);
    }
    w->head = head;
    w->hs = (uint16_t)s;
    if (w->agg == PW_AGG_DISTINCT) pw_distinct_expire(dstate(w)->set, oldest(w));
    recompute(w);
}

int64_t pw_window_head(const pw_window *w) { return w->head; }

static int add_quantile(pw_window *w, uint32_t s, double x) {
    quantile_state *qs = qstate(w);
    pw_sketch *b = &qcells(w)[s];
    int32_t key = pw_sketch_key(x);
    int collapsed = 0;
    uint32_t ia = pw_sketch_lower(&qs->all, key);
    if (!(ia < qs->all.len && qs->all.cells[ia].key == key) && qs->all.len >= PW_WINDOW_SKETCH_CELLS) {
        key = pw_sketch_nearest(&qs->all, key);
        ia = pw_sketch_lower(&qs->all, key);
        collapsed = 1;
    }
    /* The bucket's cells are a subset of the window's and its counts are not
     * larger, so once the bucket has room the window's add is the only step
     * that can fail, and it fails before changing anything. */
    uint32_t ib = pw_sketch_lower(b, key);
    if (!(ib < b->len && b->cells[ib].key == key) && pw_sketch_reserve(b, b->len + 1) != 0) return -1;
    if (pw_sketch_add_at(&qs->all, ia, key, 1) != 0) return -1;
    (void)pw_sketch_add_at(b, ib, key, 1);
    qs->collapsed += (uint64_t)collapsed;
    return 0;
}

int pw_window_add(pw_window *w, int64_t k, double x, int64_t ts, uint64_t seq) {
    int agg = w->agg;
    if (agg == PW_AGG_DISTINCT || !in_window(w, k)) return -1;
    if (agg != PW_AGG_COUNT && !isfinite(x)) return -1;
    uint32_t s = slot_in(w, k);
    uint32_t *c = counts(w);
    if (c[s] == UINT32_MAX) return -1;
    switch (agg) {
    case PW_AGG_SUM:
    case PW_AGG_AVG:
        vals(w)[s] += x; /* an empty slot holds 0 */
        w->tot += x;
        break;
    case PW_AGG_MIN:
        if (!c[s] || x < vals(w)[s]) vals(w)[s] = x;
        if (!w->n || x < w->tot) w->tot = x;
        break;
    case PW_AGG_MAX:
        if (!c[s] || x > vals(w)[s]) vals(w)[s] = x;
        if (!w->n || x > w->tot) w->tot = x;
        break;
    case PW_AGG_LAST: {
        last_state *l = last_of(w);
        if (!in_window(w, l->k) || ts > l->ts || (ts == l->ts && seq > l->seq)) {
            l->x = x;
            l->ts = ts;
            l->seq = seq;
            l->k = k;
        }
        break;
    }
    case PW_AGG_QUANTILE:
        if (add_quantile(w, s, x) != 0) return -1;
        break;
    default:
        break;
    }
    c[s]++;
    w->n++;
    return 0;
}

int pw_window_add_key(pw_window *w, int64_t k, uint64_t h) {
    if (w->agg != PW_AGG_DISTINCT || !in_window(w, k)) return -1;
    uint32_t s = slot_in(w, k);
    uint32_t *c = counts(w);
    if (c[s] == UINT32_MAX) return -1;
    distinct_state *ds = dstate(w);
    switch (pw_distinct_see(ds->set, h, k, NULL)) {
    case PW_DISTINCT_NEW:
    case PW_DISTINCT_MOVED:
    case PW_DISTINCT_KEPT: break;
    case PW_DISTINCT_FULL:
    case PW_DISTINCT_NOMEM:
    case PW_DISTINCT_OUTSIDE: ds->overflow++; break; /* OUTSIDE cannot happen: k is in the window */
    }
    c[s]++;
    w->n++;
    return 0;
}

uint64_t pw_window_count(const pw_window *w) { return w->n; }

int pw_window_value(const pw_window *w, double *out) {
    switch (w->agg) {
    case PW_AGG_COUNT: *out = (double)w->n; return 1;
    case PW_AGG_SUM: *out = w->n ? w->tot : 0.0; return 1;
    case PW_AGG_DISTINCT: *out = (double)pw_distinct_size(dstate(w)->set); return 1;
    case PW_AGG_AVG:
        if (!w->n) return 0;
        *out = w->tot / (double)w->n;
        return 1;
    case PW_AGG_MIN:
    case PW_AGG_MAX:
        if (!w->n) return 0;
        *out = w->tot;
        return 1;
    case PW_AGG_LAST: {
        const last_state *l = last_of(w);
        if (!w->n || !in_window(w, l->k)) return 0;
        *out = l->x;
        return 1;
    }
    case PW_AGG_QUANTILE:
        return pw_sketch_quantile(&qstate(w)->all, w->n, qstate(w)->q, out) == 0;
    default: return 0;
    }
}

int pw_window_bucket_value(const pw_window *w, int64_t k, double *out) {
    if (!in_window(w, k)) return 0;
    uint32_t s = slot_in(w, k), c = counts(w)[s];
    switch (w->agg) {
    case PW_AGG_COUNT: *out = (double)c; return 1;
    case PW_AGG_SUM: *out = c ? vals(w)[s] : 0.0; return 1;
    case PW_AGG_DISTINCT: *out = (double)pw_distinct_bucket(dstate(w)->set, k); return 1;
    case PW_AGG_AVG:
        if (!c) return 0;
        *out = vals(w)[s] / (double)c;
        return 1;
    case PW_AGG_MIN:
    case PW_AGG_MAX:
        if (!c) return 0;
        *out = vals(w)[s];
        return 1;
    case PW_AGG_LAST: {
        const last_state *l = last_of(w);
        if (!c || l->k != k) return 0;
        *out = l->x;
        return 1;
    }
    case PW_AGG_QUANTILE:
        return pw_sketch_quantile(&qcells(w)[s], c, qstate(w)->q, out) == 0;
    default: return 0;
    }
}

int pw_window_empty(const pw_window *w) { return w->n == 0; }

uint64_t pw_window_overflow(const pw_window *w) {
    if (w->agg == PW_AGG_DISTINCT) return dstate(w)->overflow;
    if (w->agg == PW_AGG_QUANTILE) return qstate(w)->collapsed;
    return 0;
}

size_t pw_window_bytes(const pw_window *w) {
    size_t nb = (size_t)w->nb;
    size_t bytes = sizeof(pw_window) + pre_bytes(w->agg, nb) + nb * sizeof(uint32_t);
    if (w->agg == PW_AGG_QUANTILE) {
        bytes += pw_sketch_bytes(&qstate(w)->all);
        for (size_t i = 0; i < nb; i++) bytes += pw_sketch_bytes(&qcells(w)[i]);
    } else if (w->agg == PW_AGG_DISTINCT) {
        bytes += pw_distinct_bytes(dstate(w)->set);
    }
    return bytes;
}

/* ---------- snapshots ----------
 * Per window: agg u8, N u32, head i64, n u64, tot f64, counts[N] u32, then
 *   sum/avg/min/max  vals[N] f64
 *   last             x f64, ts i64, seq u64, k i64
 *   quantile         collapsed u64, per bucket: cells u32 + (key i32 as u32, n u32)...
 *   distinct         overflow u64, entries u32 + (hash u64, bucket i64)...
 * n and tot are saved, not recomputed: the live total of a sum is updated on
 * add and only rebuilt at a head move, so recomputing could differ in the last
 * bit. The quantile window sketch and the distinct per-bucket counts are
 * derived exactly (integer sums) and rebuilt. */

static void save_entry(uint64_t h, int64_t k, void *ud) {
    pw_snap_u64(ud, h);
    pw_snap_i64(ud, k);
}

void pw_window_save(const pw_window *w, pw_buf *out) {
    size_t nb = (size_t)w->nb;
    pw_snap_u8(out, w->agg);
    pw_snap_u32(out, (uint32_t)w->nb);
    pw_snap_i64(out, w->head);
    pw_snap_u64(out, w->n);
    pw_snap_f64(out, w->tot);
    /* The buckets, sparsely or densely, whichever is smaller: most windows of a large engine hold a few
     * events (sparse: one non-empty bucket of 60 costs 16 bytes instead of 720), busy ones fill every
     * bucket (dense: 12 bytes a bucket instead of 16). An empty bucket (count 0) holds value 0 by
     * construction (pw_window_add counts every value it adds, clear_slot zeroes both), so only the
     * counts are scanned to choose: at 1M series a third of the memory a scan of the values reads. */
    int hv = has_vals(w->agg);
    const uint32_t *c = counts(w);
    uint32_t nz = 0;
    for (size_t i = 0; i < nb && w->n; i++) nz += c[i] != 0; /* n is the sum of the counts */
    if ((size_t)nz * (hv ? 16 : 8) > nb * (hv ? 12 : 4)) {
        pw_snap_u8(out, 1); /* dense */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* the arrays are already in the format's byte order: one copy each instead of a call per field */
        pw_buf_append(out, c, nb * sizeof *c);
        if (hv) pw_buf_append(out, vals(w), nb * sizeof(double));
#else
        for (size_t i = 0; i < nb; i++) pw_snap_u32(out, c[i]);
        for (size_t i = 0; hv && i < nb; i++) pw_snap_f64(out, vals(w)[i]);
#endif
    } else {
        pw_snap_u8(out, 0); /* sparse */
        pw_snap_u32(out, nz);
        for (size_t i = 0; i < nb && nz; i++) {
            if (!c[i]) continue;
            pw_snap_u32(out, (uint32_t)i);
            pw_snap_u32(out, c[i]);
            if (hv) pw_snap_f64(out, vals(w)[i]);
        }
    }
    switch (w->agg) {
    case PW_AGG_LAST: {
        const last_state *l = last_of(w);
        pw_snap_f64(out, l->x);
        pw_snap_i64(out, l->ts);
        pw_snap_u64(out, l->seq);
        pw_snap_i64(out, l->k);
        break;
    }
    case PW_AGG_QUANTILE:
        pw_snap_u64(out, qstate(w)->collapsed);
        for (size_t i = 0; i < nb; i++) {
            const pw_sketch *s = &qcells(w)[i];
            pw_snap_u32(out, s->len);
            for (uint32_t j = 0; j < s->len; j++) {
                pw_snap_u32(out, (uint32_t)s->cells[j].key);
                pw_snap_u32(out, s->cells[j].n);
            }
        }
        break;
    case PW_AGG_DISTINCT:
        pw_snap_u64(out, dstate(w)->overflow);
        pw_snap_u32(out, pw_distinct_size(dstate(w)->set));
        pw_distinct_foreach(dstate(w)->set, save_entry, out);
        break;
    default: break;
    }
}

/* The bucket index k whose ring slot is s, for the window's current head. */
static int64_t bucket_of_slot(const pw_window *w, uint32_t s) {
    int64_t k = oldest(w);
    uint32_t so = slot(w, k);
    return k + (int64_t)((s + (uint32_t)w->nb - so) % (uint32_t)w->nb);
}

pw_window *pw_window_load(const pw_window_spec *spec, pw_snap_r *r) {
    uint8_t agg = pw_snap_ru8(r);
    uint32_t nb = pw_snap_ru32(r);
    int64_t head = pw_snap_ri64(r);
    uint64_t n = pw_snap_ru64(r);
    double tot = pw_snap_rf64(r);
    if (r->failed) return NULL;
    if (agg != (uint8_t)spec->agg || nb != (uint32_t)spec->nbuckets) {
        pw_snap_fail(r, "window of aggregate %u with %u buckets where the metric has %d with %d", agg, nb,
                     (int)spec->agg, spec->nbuckets);
        return NULL;
    }
    /* a bucket index is a time divided by the resolution: far below 2^53 (and no overflow on head - N) */
    if (head < -(INT64_C(1) << 53) || head > (INT64_C(1) << 53)) {
        pw_snap_fail(r, "window head out of range");
        return NULL;
    }
    int hv = has_vals(agg);
    uint8_t form = r->version == 1 ? 1 : pw_snap_ru8(r); /* version 1 wrote every bucket, with no form byte */
    uint32_t nz = form == 0 ? pw_snap_rcount(r, hv ? 16 : 8, "window buckets") : nb;
    if (r->failed) return NULL;
    if (form > 1) { pw_snap_fail(r, "unknown window bucket form %u", form); return NULL; }
    if (nz > nb) { pw_snap_fail(r, "%u non-empty buckets in a window of %u", nz, nb); return NULL; }
    if (form == 1 && r->len - r->off < (size_t)nb * (hv ? 12 : 4)) { pw_snap_fail(r, "truncated window"); return NULL; }
    pw_window *w = pw_window_new(spec, head);
    if (!w) { pw_snap_fail(r, "out of memory"); return NULL; }
    uint64_t sum = 0;
    if (form == 1) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(counts(w), r->p + r->off, (size_t)nb * 4); /* room checked above */
        r->off += (size_t)nb * 4;
        if (hv) {
            memcpy(vals(w), r->p + r->off, (size_t)nb * 8);
            r->off += (size_t)nb * 8;
        }
#else
        for (uint32_t i = 0; i < nb; i++) counts(w)[i] = pw_snap_ru32(r);
        for (uint32_t i = 0; hv && i < nb; i++) vals(w)[i] = pw_snap_rf64(r);
#endif
        for (uint32_t i = 0; i < nb; i++) {
            sum += counts(w)[i];
            double v = hv ? vals(w)[i] : 0;
            if (!isfinite(v) || (!counts(w)[i] && v != 0)) { pw_snap_fail(r, "bad bucket value"); goto fail; }
        }
    }
    for (uint32_t j = 0, prev = 0; form == 0 && j < nz; j++) {
        uint32_t i = pw_snap_ru32(r), c = pw_snap_ru32(r);
        double v = hv ? pw_snap_rf64(r) : 0;
        if (r->failed) goto fail;
        if (i >= nb || (j && i <= prev)) { pw_snap_fail(r, "window bucket slots out of order"); goto fail; }
        if (!c) { pw_snap_fail(r, "an empty bucket listed as non-empty"); goto fail; }
        if (hv && !isfinite(v)) { pw_snap_fail(r, "bad bucket value"); goto fail; }
        prev = i;
        counts(w)[i] = c;
        if (hv) vals(w)[i] = v;
        sum += c;
    }
    if (r->failed) goto fail;
    if (sum != n) { pw_snap_fail(r, "window counts add up to %llu, not %llu", (unsigned long long)sum,
                                 (unsigned long long)n); goto fail; }
    if (!isfinite(tot)) { pw_snap_fail(r, "window total is not finite"); goto fail; }
    w->n = n;
    w->tot = tot;
    switch (w->agg) {
    case PW_AGG_LAST: {
        last_state *l = last_of(w);
        l->x = pw_snap_rf64(r);
        l->ts = pw_snap_ri64(r);
        l->seq = pw_snap_ru64(r);
        l->k = pw_snap_ri64(r);
        if (!r->failed && !isfinite(l->x)) { pw_snap_fail(r, "last value is not finite"); goto fail; }
        if (!r->failed && l->k != NO_BUCKET && (l->k < -(INT64_C(1) << 53) || l->k > (INT64_C(1) << 53))) {
            pw_snap_fail(r, "last value's bucket out of range");
            goto fail;
        }
        break;
    }
    case PW_AGG_QUANTILE: {
        quantile_state *qs = qstate(w);
        qs->collapsed = pw_snap_ru64(r);
        for (uint32_t i = 0; i < nb && !r->failed; i++) {
            pw_sketch *s = &qcells(w)[i];
            uint32_t len = pw_snap_rcount(r, 8, "sketch cells");
            if (len > PW_WINDOW_SKETCH_CELLS) { pw_snap_fail(r, "%u sketch cells in a bucket", len); goto fail; }
            if (len && pw_sketch_reserve(s, len) != 0) { pw_snap_fail(r, "out of memory"); goto fail; }
            uint64_t cells_n = 0;
            for (uint32_t j = 0; j < len; j++) {
                int32_t key = (int32_t)pw_snap_ru32(r);
                uint32_t c = pw_snap_ru32(r);
                if (r->failed) goto fail;
                if (c == 0 || (j && key <= s->cells[j - 1].key)) {
                    pw_snap_fail(r, "sketch cells not sorted or empty");
                    goto fail;
                }
                s->cells[j].key = key;
                s->cells[j].n = c;
                cells_n += c;
                if (pw_sketch_add(&qs->all, key, c) != 0) { pw_snap_fail(r, "sketch cell overflow"); goto fail; }
            }
            s->len = len;
            if (cells_n != counts(w)[i]) { pw_snap_fail(r, "sketch cells disagree with the bucket count"); goto fail; }
        }
        if (qs->all.len > PW_WINDOW_SKETCH_CELLS) { pw_snap_fail(r, "too many sketch cells"); goto fail; }
        break;
    }
    case PW_AGG_DISTINCT: {
        distinct_state *ds = dstate(w);
        ds->overflow = pw_snap_ru64(r);
        uint32_t cnt = pw_snap_rcount(r, 16, "distinct values");
        for (uint32_t j = 0; j < cnt && !r->failed; j++) {
            uint64_t h = pw_snap_ru64(r);
            int64_t k = pw_snap_ri64(r);
            if (r->failed) goto fail;
            if (!in_window(w, k)) { pw_snap_fail(r, "distinct value outside its window"); goto fail; }
            switch (pw_distinct_see(ds->set, h, k, NULL)) {
            case PW_DISTINCT_NEW: break;
            case PW_DISTINCT_FULL: ds->overflow++; break; /* distinct_max lowered since: count it */
            case PW_DISTINCT_NOMEM: pw_snap_fail(r, "out of memory"); goto fail;
            default: pw_snap_fail(r, "duplicate distinct value"); goto fail;
            }
        }
        /* a bucket with no event cannot hold a last sighting */
        for (uint32_t i = 0; i < nb; i++)
            if (pw_distinct_bucket(ds->set, bucket_of_slot(w, i)) > counts(w)[i]) {
                pw_snap_fail(r, "distinct bucket %lld has more values than events",
                             (long long)bucket_of_slot(w, i));
                goto fail;
            }
        break;
    }
    default: break;
    }
    if (r->failed) goto fail;
    return w;
fail:
    pw_window_destroy(w);
    return NULL;
}
