/* bench_producer.c -- the load generator of tests/bench/latency: a steady event rate into Kafka, with
 * timestamped probes.
 *
 *   bench_producer BROKERS TOPIC RATE SECONDS PROBE_EVERY
 *
 * Design: produces RATE events per second for SECONDS seconds with librdkafka, paced on an absolute
 * schedule (CLOCK_MONOTONIC, one tick per millisecond: at each tick it produces the events that are
 * due by then, so the rate stays steady and a late tick is caught up at once, not drifted). Every
 * PROBE_EVERY-th event is a probe; the others are background load:
 *   {"type":"bg","ts":"2026-11-27T10:00:00.123Z","id":"b-17","region":"r3","amount":17}
 *   {"type":"probe","ts":"2026-11-27T10:00:00.123Z","id":"p-1","probe":"1795761068590123"}
 * `ts` is the wall clock at the tick (so `clock: wall` windows take them as live events); a probe's
 * `probe` field is the wall clock (CLOCK_REALTIME, microseconds since the epoch) just before its
 * rd_kafka_producev() call: the produce time that the latency benchmark subtracts from the webhook
 * receiver's arrival time (one host, one clock). Each probe has a different `probe` value, so a rule
 * with `by: [probe]` sees a new series, and fires once, per probe.
 * Producer settings: librdkafka's defaults (linger.ms 5 in 2.0.2, acks all), random partitioner per
 * message (sticky.partitioning.linger.ms=0); the delivery queue is polled every tick.
 *
 * Output: one line of key=value pairs on stdout at the end (after a flush of up to 10 s):
 *   produced=100000 probes=1000 failed=0 seconds=10.001 late_ticks=3
 * (`late_ticks`: ticks that started more than 5 ms behind schedule, i.e. the pacing itself lagged).
 * Exit status 1 if any delivery failed. Built by tests/bench/run with cc; not part of the daemon.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) failed++;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char e[256];
    if (rd_kafka_conf_set(c, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_producer: %s: %s\n", k, e);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: bench_producer BROKERS TOPIC RATE SECONDS PROBE_EVERY\n");
        return 2;
    }
    const char *topic = argv[2];
    long long rate = atoll(argv[3]), secs = atoll(argv[4]), every = atoll(argv[5]);
    if (rate <= 0 || secs <= 0 || every <= 0) {
        fprintf(stderr, "bench_producer: RATE, SECONDS and PROBE_EVERY must be positive\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "linger.ms", "5");
    set(conf, "sticky.partitioning.linger.ms", "0");
    set(conf, "log_level", "4");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_producer: %s\n", err);
        return 2;
    }

    /* Connect and learn the topic's partitions before the clock starts, so that the first probes do
     * not include the producer's own start-up (up to ~1 s on the mock cluster). */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench_producer: no metadata for topic %s within 10 s\n", topic);
        return 2;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);

    long long total = rate * secs, sent = 0, probes = 0, late = 0;
    int64_t t0 = mono_ns(), tick_ns = 1000000;
    char buf[256], ts[64];
    for (int64_t tick = 1; sent < total; tick++) {
        int64_t due_at = t0 + tick * tick_ns;
        struct timespec until = {(time_t)(due_at / 1000000000), (long)(due_at % 1000000000)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
        if (mono_ns() - due_at > 5 * tick_ns) late++;
        long long due = (long long)((__int128)rate * (tick * tick_ns) / 1000000000);
        if (due > total) due = total;
        int64_t now_us = wall_us();
        time_t sec = (time_t)(now_us / 1000000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now_us / 1000 % 1000));
        for (; sent < due; sent++) {
            int n;
            if ((sent + 1) % every == 0) {
                probes++;
                n = snprintf(buf, sizeof buf, "{\"type\":\"probe\",\"ts\":\"%s\",\"id\":\"p-%lld\",\"probe\":\"%lld\"}",
                             ts, probes, (long long)wall_us());
            } else {
                n = snprintf(buf, sizeof buf,
                             "{\"type\":\"bg\",\"ts\":\"%s\",\"id\":\"b-%lld\",\"region\":\"r%lld\",\"amount\":%lld}", ts,
                             sent, sent % 8, sent % 1000);
            }
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                          RD_KAFKA_V_VALUE(buf, (size_t)n), RD_KAFKA_V_END)) ==
                   RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 1);
            if (e) {
                fprintf(stderr, "bench_producer: produce: %s\n", rd_kafka_err2str(e));
                failed++;
            }
        }
        rd_kafka_poll(rk, 0);
    }
    double took = (double)(mono_ns() - t0) / 1e9;
    rd_kafka_flush(rk, 10000);
    failed += rd_kafka_outq_len(rk);
    printf("produced=%lld probes=%lld failed=%lld seconds=%.3f late_ticks=%lld\n", sent, probes, failed, took, late);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}
