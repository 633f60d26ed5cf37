/* test_sink_kafka.c -- the kafka sink against librdkafka's mock cluster
 * (rdkafka_mock.h: a Kafka-protocol broker on loopback, in this process),
 * read back with a real consumer. Also: an unreachable broker (delivery
 * reports fail the messages; stop purges at its deadline) and a broker that
 * goes down and comes back (nothing lost).
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/sink_fixture.h"
#include "sink.h"
#include "snapshot.h"

static rd_kafka_t *g_parent;
static rd_kafka_mock_cluster_t *g_mc;

static const char *mock_start(void) {
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "0", es, sizeof es);
    g_parent = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
    cr_assert_not_null(g_parent, "%s", es);
    g_mc = rd_kafka_mock_cluster_new(g_parent, 1);
    cr_assert_not_null(g_mc);
    cr_assert_eq(rd_kafka_mock_topic_create(g_mc, "pw.alerts", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    return rd_kafka_mock_cluster_bootstraps(g_mc);
}

static void mock_stop(void) {
    if (g_mc) rd_kafka_mock_cluster_destroy(g_mc);
    if (g_parent) rd_kafka_destroy(g_parent);
    g_mc = NULL;
    g_parent = NULL;
}

static pw_sink *kafka_sink(const char *brokers, pw_kv *props, int nprops, uint32_t queue_max) {
    pw_sink_conf c = {.name = "k", .kind = PW_SINK_KAFKA, .brokers = (char *)brokers, .topic = "pw.alerts",
                      .props = props, .nprops = nprops, .queue_max = queue_max};
    char err[256];
    pw_sink *s = pw_sink_new(&c, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    return s;
}

typedef struct got_msg {
    char key[64];
    char *value;
} got_msg;

/* Read up to n messages of pw.alerts from the beginning. Returns how many. */
static int consume(const char *brokers, got_msg *out, int n, int timeout_ms) {
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, es, sizeof es);
    rd_kafka_conf_set(c, "group.id", "pw-sink-test", es, sizeof es);
    rd_kafka_conf_set(c, "log_level", "0", es, sizeof es);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
    cr_assert_not_null(rk, "%s", es);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "pw.alerts", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int got = 0;
    int64_t until = pw_time_mono_ms() + timeout_ms;
    while (got < n && pw_time_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            snprintf(out[got].key, sizeof out[got].key, "%.*s", (int)m->key_len, (const char *)m->key);
            out[got].value = strndup(m->payload, m->len);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

static void count_fp(const pw_snap_note *n, void *ud) {
    cr_expect_eq(n->fingerprint, *(const uint64_t *)ud);
    cr_expect(n->len > 0 && n->data[0] == '{', "the notification JSON");
}

Test(sink_kafka, produces_keyed_by_fingerprint, .fini = mock_stop, .timeout = 60) {
    const char *brokers = mock_start();
    pw_sink *s = kafka_sink(brokers, NULL, 0, 100);
    cr_assert_eq(pw_sink_start(s), 0);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *va[] = {"web", "DE"}, *vb[] = {"app \"x\"", "FR"};
    pw_notification ns[3] = {fx_notification(&r, &m, va, 1, 3), fx_notification(&r, &m, vb, 1, 2),
                             fx_notification(&r, &m, va, 0, 11)};
    for (int i = 0; i < 3; i++) pw_sink_submit(s, &ns[i]);
    cr_assert(fx_wait_done(s, 3, 20000), "no delivery reports");
    pw_sink_stop(s, pw_time_mono_ms() + 5000);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 3);
    cr_expect_eq(st.failed, 0);
    pw_sink_destroy(s);

    got_msg got[3];
    int n = consume(brokers, got, 3, 20000);
    cr_assert_eq(n, 3, "consumed %d messages", n);
    for (int i = 0; i < 3; i++) {
        char key[17];
        snprintf(key, sizeof key, "%016llx", (unsigned long long)ns[i].fingerprint);
        pw_buf want;
        pw_buf_init(&want);
        pw_notification_json(&ns[i], &want);
        cr_expect_str_eq(got[i].key, key, "message %d", i);
        cr_expect_str_eq(got[i].value, want.data, "message %d", i);
        pw_buf_free(&want);
        free(got[i].value);
    }
    cr_expect_str_eq(got[0].key, got[2].key, "firing and resolved of one alert share a key");
}

Test(sink_kafka, broker_down_and_back_loses_nothing, .fini = mock_stop, .timeout = 60) {
    const char *brokers = mock_start();
    pw_sink *s = kafka_sink(brokers, NULL, 0, 100);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 20000));
    rd_kafka_mock_broker_set_down(g_mc, 1);
    for (int i = 0; i < 5; i++) pw_sink_submit(s, &n);
    fx_sleep_ms(500);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 1, "delivered while the broker was down?");
    rd_kafka_mock_broker_set_up(g_mc, 1);
    cr_expect(fx_wait_done(s, 6, 30000));
    pw_sink_stop(s, pw_time_mono_ms() + 5000);
    free(fx_capture_end(&cap));
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 6);
    cr_expect_eq(st.failed, 0);
    cr_expect_eq(pw_sink_outbox_foreach(s, count_fp, &n.fingerprint), 0, "acknowledged messages left the outbox");
    pw_sink_destroy(s);
}

Test(sink_kafka, unreachable_broker_fails_by_delivery_report, .timeout = 60) {
    pw_kv props[] = {{"message.timeout.ms", "300"}};
    pw_sink *s = kafka_sink("127.0.0.1:1", props, 1, 100);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    for (int i = 0; i < 3; i++) pw_sink_submit(s, &n);
    int done = fx_wait_done(s, 3, 10000);
    pw_sink_stop(s, pw_time_mono_ms() + 1000);
    char *log = fx_capture_end(&cap);
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    cr_expect(done);
    cr_expect_eq(st.failed, 3);
    cr_expect_eq(st.sent, 0);
    cr_expect(strstr(log, "delivery to topic pw.alerts failed") != NULL, "%s", log);
    /* failed by a delivery report: out of the outbox */
    cr_expect_eq(pw_sink_outbox_foreach(s, count_fp, &n.fingerprint), 0);
    free(log);
    pw_sink_destroy(s);
}

Test(sink_kafka, stop_purges_at_the_deadline, .timeout = 60) {
    pw_sink *s = kafka_sink("127.0.0.1:1", NULL, 0, 100); /* message.timeout.ms stays 300 s */
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    for (int i = 0; i < 3; i++) pw_sink_submit(s, &n);
    fx_sleep_ms(100);
    /* handed to librdkafka, unacknowledged: still in the outbox (a snapshot keeps them) */
    pw_sink_outbox_hold(s);
    uint32_t before = pw_sink_outbox_foreach(s, count_fp, &n.fingerprint);
    pw_sink_outbox_release(s);
    int64_t t0 = pw_time_mono_ms();
    pw_sink_stop(s, t0 + 300);
    int64_t took = pw_time_mono_ms() - t0;
    pw_sink_stats st;
    pw_sink_stats_get(s, &st);
    /* purged at stop, undelivered: still there for the final snapshot */
    uint32_t after = pw_sink_outbox_foreach(s, count_fp, &n.fingerprint);
    cr_expect_eq(before, 3);
    cr_expect_eq(after, 3);
    int64_t t1 = pw_time_mono_ms();
    pw_sink_destroy(s);
    int64_t destroy_took = pw_time_mono_ms() - t1;
    free(fx_capture_end(&cap));
    cr_expect(took < 5000, "stop took %lld ms for a 300 ms deadline", (long long)took);
    cr_expect(destroy_took < 5000, "destroy took %lld ms", (long long)destroy_took);
    cr_expect_eq(st.failed, 3);
    cr_expect_eq(st.queued, 0);
}

/* A broker outage: messages handed to librdkafka and not acknowledged (parked) count against queue_max with
 * those still queued, so the sink holds at most queue_max notifications however long the outage lasts;
 * what arrives beyond is dropped, counted and logged (rate-limited) like any full-queue drop. */
Test(sink_kafka, unacknowledged_messages_count_against_queue_max, .fini = mock_stop, .timeout = 60) {
    pw_sink *s = kafka_sink(mock_start(), NULL, 0, 10);
    fx_capture cap;
    fx_capture_begin(&cap);
    pw_sink_start(s);
    pw_metric_def m = fx_metric();
    pw_rule_def r = fx_rule("signups_low");
    const char *v[] = {"web", "DE"};
    pw_notification n = fx_notification(&r, &m, v, 1, 3);
    pw_sink_submit(s, &n);
    cr_assert(fx_wait_done(s, 1, 20000), "the broker is up: the first one is delivered");
    rd_kafka_mock_broker_set_down(g_mc, 1);
    /* one at a time, waiting until the sink thread hands each to librdkafka: without counting the parked
     * ones the queue would always look empty here */
    pw_sink_stats st;
    for (int i = 0; i < 25; i++) {
        pw_sink_submit(s, &n);
        for (int k = 0; k < 200; k++) { /* until it left the queue (parked) or was dropped */
            pw_sink_stats_get(s, &st);
            if (st.unacknowledged + st.dropped >= (uint64_t)i + 1 || st.unacknowledged == 10) break;
            fx_sleep_ms(5);
        }
    }
    fx_sleep_ms(200);
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 1, "delivered while the broker was down?");
    cr_expect_eq(st.unacknowledged, 10, "parked: %llu", (unsigned long long)st.unacknowledged);
    cr_expect_eq(st.submitted, 11);
    cr_expect_eq(st.dropped, 15, "dropped: %llu", (unsigned long long)st.dropped);
    cr_expect_eq(st.queued, 10, "held (queued + unacknowledged): %llu", (unsigned long long)st.queued);
    pw_sink_outbox_hold(s);
    uint32_t held = pw_sink_outbox_foreach(s, count_fp, &n.fingerprint);
    pw_sink_outbox_release(s);
    cr_expect_eq(held, 10, "the outbox holds queue_max, no more: %u", held);
    /* the broker comes back: the parked ones are delivered, and there is room again */
    rd_kafka_mock_broker_set_up(g_mc, 1);
    cr_expect(fx_wait_done(s, 11, 30000));
    pw_sink_submit(s, &n);
    cr_expect(fx_wait_done(s, 12, 30000));
    pw_sink_stop(s, pw_time_mono_ms() + 5000);
    char *log = fx_capture_end(&cap);
    pw_sink_stats_get(s, &st);
    cr_expect_eq(st.sent, 12);
    cr_expect_eq(st.dropped, 15);
    cr_expect(strstr(log, "queue full (10, of which 10 handed to the library and not yet acknowledged)") != NULL,
              "%s", log);
    cr_expect(fx_count_lines(log, "queue full") <= 6, "drops are logged at a rate limit: %s", log);
    free(log);
    pw_sink_destroy(s);
}
