/* bench_consumer.c -- the end-to-end baseline of issue 8: a plain librdkafka consumer that counts.
 *
 *   bench_consumer BROKERS TOPIC GROUP COUNT [TIMEOUT_S]
 *
 * Design: what any librdkafka application does at least, and nothing more: a high-level consumer
 * (subscribe, a fresh GROUP so it starts at the earliest offsets), rd_kafka_consumer_poll() one message
 * at a time on the main thread, no parsing, no copying: it counts messages and bytes until COUNT
 * messages have been seen, then leaves the group and exits. Its settings are pipewatch's consumer
 * defaults (source_kafka.c) minus what only pipewatch needs (offset store, commits): auto.offset.reset=
 * earliest, enable.partition.eof=false, the `range` assignor, queued.min.messages=1000000 (without it
 * librdkafka 2.0.2 idles up to 1 s whenever 100,000 messages are queued, which this consumer, when the
 * machine slows it down, hit in some runs: 1.4-2.2 s instead of 0.6-0.7 s); everything else is
 * librdkafka's default.
 *
 * Timing: wall clock (CLOCK_REALTIME, milliseconds since the epoch, so that tests/bench/e2e can put
 * these next to pipewatch's log timestamps) of
 *   assigned_ms  the rebalance callback's first assignment (the group joined; fetching starts)
 *   first_ms     the first message returned
 *   done_ms      the COUNT-th message returned
 * and the process's CPU time (user + sys, all of librdkafka's threads) at done. The rate the benchmark
 * reports is COUNT / (done_ms - assigned_ms): group-join time (~3 s on the mock cluster, most of it a
 * fixed wait) is left out for this consumer and for pipewatch alike.
 *
 * Output: one line of key=value pairs on stdout:
 *   count=1000000 bytes=199663973 assigned_ms=... first_ms=... done_ms=... cpu_s=1.23
 * Exit status 1 if COUNT messages did not arrive within TIMEOUT_S (default 120), 2 on usage errors.
 *
 * Built by tests/bench/run with cc against librdkafka; not part of the daemon's build.
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t assigned_ms = -1;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (assigned_ms < 0) assigned_ms = now_ms();
        rd_kafka_assign(rk, parts);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char e[256];
    if (rd_kafka_conf_set(c, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_consumer: %s: %s\n", k, e);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: bench_consumer BROKERS TOPIC GROUP COUNT [TIMEOUT_S]\n");
        return 2;
    }
    long long want = strtoll(argv[4], NULL, 10);
    int timeout_s = argc == 6 ? atoi(argv[5]) : 120;
    if (want <= 0 || timeout_s <= 0) {
        fprintf(stderr, "bench_consumer: COUNT and TIMEOUT_S must be positive\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", argv[3]);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.partition.eof", "false");
    set(conf, "partition.assignment.strategy", "range");
    set(conf, "queued.min.messages", "1000000");
    set(conf, "log_level", "4");
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_consumer: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, argv[2], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        fprintf(stderr, "bench_consumer: subscribe: %s\n", rd_kafka_err2str(e));
        return 2;
    }

    long long count = 0, bytes = 0, errors = 0;
    int64_t first_ms = -1, done_ms = -1, deadline = now_ms() + (int64_t)timeout_s * 1000;
    /* The clock is read for the deadline only when a poll comes back empty or every 65,536 messages: a read
     * per message (vDSO clock_gettime) cost this loop ~14% of its process's CPU in a perf profile, work
     * that no consumer needs and that would have slowed the baseline. */
    while (count < want) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m || (count & 65535) == 65535) {
            if (now_ms() >= deadline) {
                if (m) rd_kafka_message_destroy(m);
                break;
            }
            if (!m) continue;
        }
        if (m->err) {
            errors++;
        } else {
            if (first_ms < 0) first_ms = now_ms();
            count++;
            bytes += (long long)m->len;
        }
        rd_kafka_message_destroy(m);
    }
    done_ms = now_ms();
    double cpu = cpu_s();
    printf("count=%lld bytes=%lld errors=%lld assigned_ms=%lld first_ms=%lld done_ms=%lld cpu_s=%.3f\n", count,
           bytes, errors, (long long)assigned_ms, (long long)first_ms, (long long)done_ms, cpu);
    fflush(stdout);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (count < want) {
        fprintf(stderr, "bench_consumer: only %lld of %lld messages within %d s\n", count, want, timeout_s);
        return 1;
    }
    return 0;
}
