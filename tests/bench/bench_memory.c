/* bench_memory.c -- memory per live series: RSS and heap growth of an engine holding N series.
 *
 *   bench_memory RULES N V
 *
 * Builds the engine of the rule file RULES (tests/bench/rules/mem_*.yaml: metrics of event type "m",
 * `by: [k]`, 60 buckets of 1 minute), then feeds N*V events through pw_decoder_decode +
 * pw_engine_event: N distinct values of `k` ("cust-0000000" ...), V events per value, every event with
 * a different `u` (a distinct value) and a spread-out `v` (a quantile value). Events are in time order,
 * round-robin over the series, spread over 59 minutes from a bucket boundary, so each series has V
 * events in up to V different buckets and nothing leaves any window (no series is forgotten).
 *
 * Measured, around the feeding loop only (the rule set, decoder and engine exist before "before"):
 *   rss_*   resident set size from /proc/self/statm (what the OS charges: pages touched);
 *   heap_*  glibc mallinfo2() uordblks + hblkhd (bytes handed out by malloc, incl. its chunk headers);
 * each divided by the number of live series at the end (the engine's own count, summed over metrics).
 * window_bytes is pw_window_bytes() of a stand-alone window with the same spec fed with the same
 * events as one series (mean over the first min(N,100) series): the window alone, without the series
 * record, its labels and its slot in the engine's hash table.
 *
 * Output: one line of key=value pairs on stdout, e.g.
 *   rules=mem_scalar.yaml label_values=100000 events_per_series=1 series=200000 rss_bytes_per_series=...
 *
 * Limits: RSS includes allocator slack and the hash tables' growth to the next power of two, which is
 * the point (it is what a daemon pays), but it also makes per-series numbers step with N. Only glibc
 * (mallinfo2). Event text is formatted into one stack buffer, so the input costs no memory.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "window.h"

#define SPAN_MS (59 * 60 * 1000LL)
#define SAMPLE_SERIES 100u

static size_t rss_bytes(void) {
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Event j (0..V-1) of series s (0..N-1): time, quantile value and distinct value. */
static int64_t ev_ts(int64_t base, uint64_t s, uint64_t j, uint64_t n, uint64_t v) {
    return base + (int64_t)((j * n + s) * (uint64_t)SPAN_MS / (n * v));
}
static unsigned ev_v(uint64_t s, uint64_t j) {
    return 1u + (unsigned)((s * 2654435761u + j * 40503u) % 100000u);
}
static unsigned ev_u(uint64_t s, uint64_t j) { return (unsigned)(s * 1000003u + j); }

static uint64_t hash64(uint64_t x) { /* splitmix64 finaliser: any well-mixed hash will do */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void on_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; }

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: bench_memory RULES N V\n"); return 2; }
    const char *path = argv[1];
    uint64_t n = strtoull(argv[2], NULL, 10), v = strtoull(argv[3], NULL, 10);
    if (!n || !v || n > 100000000u || v > 1000u) { fprintf(stderr, "bench_memory: bad N or V\n"); return 2; }

    pw_diag diag;
    pw_diag_init(&diag);
    pw_ruleset *rs = pw_ruleset_load(&path, 1, NULL, &diag);
    pw_diag_print(&diag, stderr);
    pw_diag_free(&diag);
    if (!rs) return 1;
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 4096, 16};
    pw_decoder *dec = pw_decoder_new(rs->fields, &dc);
    pw_engine_opts eo = {.max_series = (uint32_t)n}; /* N per metric: nothing overflows */
    pw_engine *eng = pw_engine_new(rs, &eo, on_notify, NULL);
    if (!dec || !eng) { fprintf(stderr, "bench_memory: out of memory\n"); return 1; }

    int64_t base = 1790000000000LL;
    base -= base % (60 * 60 * 1000LL); /* on an hour boundary: all events stay in the 1h window */

    size_t rss0 = rss_bytes(), heap0 = heap_bytes();
    double t0 = now_s();
    char buf[256];
    uint64_t bad = 0;
    for (uint64_t j = 0; j < v; j++) {
        for (uint64_t s = 0; s < n; s++) {
            int len = snprintf(buf, sizeof buf,
                               "{\"type\":\"m\",\"ts\":%lld,\"k\":\"cust-%07llu\",\"v\":%u,\"u\":\"u-%08x\"}",
                               (long long)ev_ts(base, s, j, n, v), (unsigned long long)s, ev_v(s, j),
                               ev_u(s, j));
            pw_event ev;
            if (pw_decoder_decode(dec, buf, (size_t)len, &ev) != PW_EV_OK) { bad++; continue; }
            pw_engine_event(eng, &ev);
        }
    }
    double secs = now_s() - t0;
    size_t rss1 = rss_bytes(), heap1 = heap_bytes();

    uint64_t series = 0, overflow = 0, forgotten = 0;
    for (int i = 0; i < rs->nmetrics; i++) {
        const pw_metric_stats *ms = pw_engine_metric_stats(eng, i);
        series += ms->series;
        overflow += ms->overflow;
        forgotten += ms->series_forgotten;
    }

    /* Stand-alone windows of the same spec(s), fed like the first series. */
    double wbytes = 0;
    int nplain = 0;
    uint64_t nsample = n < SAMPLE_SERIES ? n : SAMPLE_SERIES;
    for (int i = 0; i < rs->nmetrics; i++) {
        const pw_metric_def *d = &rs->metrics[i];
        if (d->kind != PW_METRIC_PLAIN) continue;
        nplain++;
        pw_window_spec ws = {d->agg, d->nbuckets, d->q, 0};
        int64_t head = ev_ts(base, n - 1, v - 1, n, v) / d->res_ms;
        size_t sum = 0;
        for (uint64_t s = 0; s < nsample; s++) {
            pw_window *w = pw_window_new(&ws, head);
            if (!w) { fprintf(stderr, "bench_memory: out of memory\n"); return 1; }
            for (uint64_t j = 0; j < v; j++) {
                int64_t ts = ev_ts(base, s, j, n, v);
                if (d->agg == PW_AGG_DISTINCT) pw_window_add_key(w, ts / d->res_ms, hash64(ev_u(s, j)));
                else pw_window_add(w, ts / d->res_ms, (double)ev_v(s, j), ts, j);
            }
            sum += pw_window_bytes(w);
            pw_window_destroy(w);
        }
        wbytes += (double)sum / (double)nsample;
    }
    if (nplain) wbytes /= nplain;

    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    double ds = series ? (double)series : 1.0;
    printf("rules=%s label_values=%llu events_per_series=%llu series=%llu overflow=%llu forgotten=%llu "
           "bad=%llu "
           "rss_before=%zu rss_after=%zu rss_bytes_per_series=%.0f heap_bytes_per_series=%.0f "
           "window_bytes=%.0f seconds=%.3f events_per_s=%.0f\n",
           name, (unsigned long long)n, (unsigned long long)v, (unsigned long long)series,
           (unsigned long long)overflow, (unsigned long long)forgotten, (unsigned long long)bad, rss0, rss1,
           (double)(rss1 - rss0) / ds, (double)(heap1 - heap0) / ds, wbytes, secs,
           secs > 0 ? (double)(n * v) / secs : 0.0);
    pw_engine_destroy(eng);
    pw_decoder_destroy(dec);
    pw_ruleset_destroy(rs);
    return bad || overflow || forgotten ? 1 : 0;
}
