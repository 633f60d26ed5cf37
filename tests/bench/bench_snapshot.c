/* bench_snapshot.c -- what a snapshot of N live series costs: the loop's stall, the writer, the restore.
 *
 *   bench_snapshot RULES N REDIS_SOCKET RUNS [V]
 *
 * Builds the engine of RULES (tests/bench/rules/mem_sum.yaml: one `sum` metric by `k`, 60 buckets of 1
 * minute) and feeds it N*V events through pw_decoder_decode + pw_engine_event: V per series (default 1)
 * in V different buckets (V <= 60; 60 fills every bucket of every window: the largest snapshot), for N
 * distinct values of `k`, so the engine holds N live series. Then RUNS times, exactly as the daemon does
 * (server.c snap_write: fork(), the child streams the snapshot with pw_snapshot_write through a chunk
 * buffer into pw_redis_put_emit on its own connection and _exits; the parent goes on):
 *
 *   fork_ms      how long fork() blocked the parent (the loop's stall at the start of a snapshot);
 *   encode_ms    the child: encoding and checksumming (its time outside pw_redis_put_emit);
 *   write_ms     the child: inside pw_redis_put_emit and pw_redis_put_begin/end (every chunk stored as it
 *                comes, then latest switched atomically and old generations deleted);
 *   visible_ms   from just before fork() until the child has exited (the new generation is latest);
 *   bytes        the snapshot's size;
 *   gap_ms       while the child runs, the parent keeps applying events to its series (which makes the
 *                kernel copy the pages it writes: copy-on-write) in batches of 1000 and records the longest
 *                batch; base_gap_ms is the longest batch of the same loop for the same time without a
 *                child (measured just before), so gap_ms - base_gap_ms is what the snapshot adds;
 *   load_ms      pw_redis_get of the new generation (a fresh connection, as at start-up);
 *   decode_ms    pw_snapshot_restore of it into a fresh engine (validation included);
 *   restore_ms   load_ms + decode_ms: a restart's time from "connected" to "state ready".
 * One line of key=value pairs per run on stdout; tests/bench/snapshot runs this and prints medians.
 *
 * Limits: the parent's probe events go to existing series in the bucket they already use, so they
 * touch pages without allocating; a daemon also allocates (new series), which copy-on-write makes no
 * slower. Linux + glibc only. Redis must be empty of the key prefix "bench:" or hold only our keys.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "event.h"
#include "redis_store.h"
#include "ruleset.h"
#include "snapshot.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; }

static size_t g_chunk; /* PW_BENCH_SNAP_CHUNK: the chunk size (0 = pw_redis's default) */

static pw_redis *redis(const char *sock) {
    pw_redis_conf rc = {.address = sock, .prefix = "bench:", .connect_timeout_ms = 2000,
                        .command_timeout_ms = 60000, .chunk_bytes = g_chunk};
    return pw_redis_new(&rc);
}

/* pw_redis_put_emit, timed: the child's time spent storing chunks. */
typedef struct timed { pw_redis *r; double ms; } timed;
static int timed_emit(const void *p, size_t n, int last, void *ud) {
    timed *t = ud;
    double t0 = now_ms();
    int rc = pw_redis_put_emit(p, n, last, t->r);
    t->ms += now_ms() - t0;
    return rc;
}

typedef struct feeder {
    pw_decoder *dec;
    pw_engine *eng;
    int64_t base;
    uint64_t n, next;
} feeder;

/* Apply event number i: series i % n, `back` buckets before the window's last one. */
static int feed_at(feeder *f, uint64_t i, int64_t back) {
    char buf[160];
    uint64_t s = i % f->n;
    int len = snprintf(buf, sizeof buf, "{\"type\":\"m\",\"ts\":%lld,\"k\":\"cust-%07llu\",\"v\":%llu}",
                       (long long)(f->base - back * 60000 + (int64_t)(i % 1000)), (unsigned long long)s,
                       (unsigned long long)(i % 997));
    pw_event ev;
    if (pw_decoder_decode(f->dec, buf, (size_t)len, &ev) != PW_EV_OK) return -1;
    pw_engine_event(f->eng, &ev);
    return 0;
}
static int feed(feeder *f, uint64_t i) { return feed_at(f, i, 0); }

/* Apply events in batches of 1000 until `until` (ms) or, if child > 0, until it exits; the longest batch. */
static double probe(feeder *f, double until, pid_t child, int *status) {
    double worst = 0;
    for (;;) {
        double t0 = now_ms();
        for (int k = 0; k < 1000; k++) feed(f, f->next++);
        double d = now_ms() - t0;
        if (d > worst) worst = d;
        if (child > 0) {
            if (waitpid(child, status, WNOHANG) == child) return worst;
        } else if (now_ms() >= until) {
            return worst;
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: bench_snapshot RULES N REDIS_SOCKET RUNS [V]\n"); return 2; }
    const char *path = argv[1], *sock = argv[3];
    uint64_t n = strtoull(argv[2], NULL, 10);
    int runs = atoi(argv[4]), v = argc == 6 ? atoi(argv[5]) : 1;
    const char *chunk = getenv("PW_BENCH_SNAP_CHUNK");
    g_chunk = chunk ? (size_t)strtoull(chunk, NULL, 10) : 0;
    if (!n || n > 100000000u || runs < 1 || v < 1 || v > 60) {
        fprintf(stderr, "bench_snapshot: bad N, RUNS or V\n");
        return 2;
    }

    pw_diag diag;
    pw_diag_init(&diag);
    pw_ruleset *rs = pw_ruleset_load(&path, 1, NULL, &diag);
    pw_diag_print(&diag, stderr);
    pw_diag_free(&diag);
    if (!rs) return 1;
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 4096, 16};
    feeder f = {0};
    f.dec = pw_decoder_new(rs->fields, &dc);
    pw_engine_opts eo = {.max_series = (uint32_t)n};
    f.eng = pw_engine_new(rs, &eo, on_notify, NULL);
    if (!f.dec || !f.eng) { fprintf(stderr, "bench_snapshot: out of memory\n"); return 1; }
    f.base = 1790000000000LL;
    f.base -= f.base % (60 * 60 * 1000LL);
    f.base += 59 * 60 * 1000LL; /* the window's last bucket: nothing leaves the window */
    f.n = n;
    for (int j = v - 1; j >= 0; j--) /* oldest bucket first: stream time only moves forward */
        for (uint64_t i = 0; i < n; i++)
            if (feed_at(&f, i, j) < 0) { fprintf(stderr, "bench_snapshot: an event did not decode\n"); return 1; }
    f.next = n;
    uint64_t series = pw_engine_metric_stats(f.eng, 0)->series;
    if (series != n) { fprintf(stderr, "bench_snapshot: %llu series, not %llu\n", (unsigned long long)series,
                               (unsigned long long)n); return 1; }
    pw_snap_offset offs[1] = {{"crm", 0, 123456789}};

    for (int run = 0; run < runs; run++) {
        int fds[2];
        if (pipe(fds) < 0) { perror("pipe"); return 1; }
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            const char *nice_env = getenv("PW_BENCH_SNAP_NICE"); /* try: the writer at a lower CPU priority */
            if (nice_env && setpriority(PRIO_PROCESS, 0, atoi(nice_env)) < 0) perror("setpriority");
            double c0 = now_ms();
            pw_redis *r = redis(sock);
            uint64_t gen = 0, total = 0;
            char err[256], line[256];
            timed t = {r, 0};
            int rc = r ? pw_redis_put_begin(r, err, sizeof err) : -1;
            t.ms += now_ms() - c0;
            if (rc == 0) {
                pw_snap_w w;
                pw_snap_w_init(&w, pw_redis_chunk_bytes(r), timed_emit, &t);
                (void)pw_snapshot_write(&w, f.eng, (int64_t)time(NULL) * 1000, offs, 1, NULL, 0, &total);
                pw_snap_w_free(&w);
                double e0 = now_ms();
                rc = pw_redis_put_end(r, &gen, err, sizeof err);
                t.ms += now_ms() - e0;
            }
            double c2 = now_ms();
            int len = rc == 0 ? snprintf(line, sizeof line, "%.3f %.3f %llu %llu", c2 - c0 - t.ms, t.ms,
                                         (unsigned long long)total, (unsigned long long)gen)
                              : snprintf(line, sizeof line, "error %s", r ? err : "out of memory");
            if (write(fds[1], line, (size_t)len) < 0) rc = -1;
            _exit(rc == 0 ? 0 : 1);
        }
        double fork_ms = now_ms() - t0;
        close(fds[1]);
        if (pid < 0) { perror("fork"); return 1; }
        int status = 0;
        double gap = probe(&f, 0, pid, &status);
        double visible = now_ms() - t0;
        char line[256] = "";
        ssize_t got = read(fds[0], line, sizeof line - 1);
        close(fds[0]);
        line[got > 0 ? got : 0] = 0;
        double enc = 0, wr = 0;
        size_t bytes = 0;
        unsigned long long gen = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            sscanf(line, "%lf %lf %zu %llu", &enc, &wr, &bytes, &gen) != 4) {
            fprintf(stderr, "bench_snapshot: the writer failed: %s\n", line);
            return 1;
        }
        /* the same probe without a child, for as long as the snapshot took */
        double base_gap = probe(&f, now_ms() + visible, 0, NULL);

        /* restore, as at start-up: a fresh connection, GET latest, restore into a fresh engine */
        pw_redis *r = redis(sock);
        void *data = NULL;
        size_t len = 0;
        uint64_t g2 = 0;
        char err[512];
        double l0 = now_ms();
        int rc = pw_redis_get(r, 0, &data, &len, &g2, err, sizeof err);
        double l1 = now_ms();
        if (rc != 1 || g2 != gen || len != bytes) {
            fprintf(stderr, "bench_snapshot: reading generation %llu back: %s\n", gen, rc < 0 ? err : "mismatch");
            return 1;
        }
        pw_engine *e2 = pw_engine_new(rs, &eo, on_notify, NULL);
        pw_snapshot_info info;
        double d0 = now_ms();
        rc = pw_snapshot_restore(data, len, e2, NULL, NULL, &info, err, sizeof err);
        double d1 = now_ms();
        if (rc < 0) { fprintf(stderr, "bench_snapshot: restore: %s\n", err); return 1; }
        uint64_t restored = pw_engine_metric_stats(e2, 0)->series;
        pw_snapshot_info_free(&info);
        pw_engine_destroy(e2);
        free(data);
        pw_redis_destroy(r);
        if (restored != series) {
            fprintf(stderr, "bench_snapshot: restored %llu series of %llu\n", (unsigned long long)restored,
                    (unsigned long long)series);
            return 1;
        }
        printf("run=%d series=%llu events_per_series=%d bytes=%zu fork_ms=%.3f encode_ms=%.1f write_ms=%.1f visible_ms=%.1f "
               "gap_ms=%.2f base_gap_ms=%.2f load_ms=%.1f decode_ms=%.1f restore_ms=%.1f\n",
               run + 1, (unsigned long long)series, v, bytes, fork_ms, enc, wr, visible, gap, base_gap, l1 - l0,
               d1 - d0, (l1 - l0) + (d1 - d0));
        fflush(stdout);
    }
    pw_engine_destroy(f.eng);
    pw_decoder_destroy(f.dec);
    pw_ruleset_destroy(rs);
    return 0;
}
