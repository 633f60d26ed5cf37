/* sink_kafka.c -- notifications produced to a Kafka topic (librdkafka).
 *
 * Design: one producer per sink, created in pw_sink_start (pw_sink_new only
 * builds and checks its configuration, so validating a config on reload does
 * not connect anywhere). The message key is the fingerprint as 16 hex digits
 * (so every notification of one alert lands in one partition, in order), the
 * value the notification JSON (pw_notification_json). The rendered buffer is
 * lent to librdkafka without a copy and stays parked in the sink's outbox
 * (sink.c) until its delivery report, so a snapshot still holds a message
 * librdkafka had not delivered at a crash.
 *
 * Delivery reports, not produce calls, decide sent/failed: the sink thread
 * polls the producer every 100 ms (and on every produce), which runs the
 * report callback on that thread. librdkafka does its own retries until
 * message.timeout.ms (default 300 s), so the generic retries/backoff settings
 * only apply to a full local producer queue. A message waiting for its
 * report still counts against the sink's queue_max (sink.c: queued +
 * being delivered + parked <= queue_max), so a broker outage costs at most
 * queue_max notifications of memory; what arrives beyond is dropped and
 * counted like any full-queue drop. librdkafka's own queue is capped at
 * queue_max messages too (queue.buffering.max.messages, unless `properties`
 * say otherwise).
 *
 * Stop: what is queued is produced, then rd_kafka_flush waits until the
 * deadline; whatever is still unacknowledged is purged and counted failed.
 *
 * Properties are passed through rd_kafka_conf_set. A bad one is reported by
 * name only (its value may be a password, and librdkafka's message may quote
 * it); librdkafka's own log lines go to our log (module "sink"), its error
 * events only when fatal (the others repeat a log line). Property values are also
 * scrubbed from the one librdkafka message we do show (rd_kafka_new's).
 *
 * Limits: no transactions or exactly-once (a retried produce may duplicate a
 * notification; consumers should dedupe on key + "at" if it matters).
 */
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_int.h"
#include "timeutil.h"

#define POLL_MS 100

typedef struct kafka_sink {
    rd_kafka_conf_t *conf; /* owned until rd_kafka_new takes it */
    rd_kafka_t *rk;
} kafka_sink;


static int valid_topic(const char *t) {
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, "..")) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static int printable(const char *s) {
    if (!s || strlen(s) > 100) return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return 0;
    return 1;
}

/* Delivery report: runs on the sink thread, inside rd_kafka_poll/flush. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    pw_sink *s = opaque;
    /* Out of the outbox once acknowledged or failed; a message purged at stop
     * stays parked (undelivered: the final snapshot keeps it; destroy frees it). */
    int purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
    if (m->_private && !purged)
        pw_sink_unpark(s, (uintptr_t)m->_private, m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? 2 : 0);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) { pw_sink_count_sent(s, 1); return; }
    pw_sink_count_failed(s, 1);
    pw_sink_warn_limited(s, "delivery to topic %s failed: %s", s->conf.topic, rd_kafka_err2str(m->err));
}

/* librdkafka's log lines (any of its threads). */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    pw_sink *s = rd_kafka_opaque(rk);
    pw_log(pw_log_level_from_syslog(level), "sink", "kafka %s: librdkafka %s: %s", s ? s->conf.name : "?", fac, buf);
}

/* Error events (served by rd_kafka_poll on the sink thread). Without this
 * callback librdkafka would log each of them again as an "ERROR" line on top
 * of its own log line; only fatal errors (the producer is unusable) add news. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    pw_sink *s = opaque;
    if (err != RD_KAFKA_RESP_ERR__FATAL) {
        pw_debug("sink", "kafka %s: %s: %s", s->conf.name, rd_kafka_err2name(err), reason);
        return;
    }
    char buf[512];
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    pw_error("sink", "kafka %s: fatal producer error, nothing more will be delivered: %s", s->conf.name, buf);
}

static int kafka_init(pw_sink *s, pw_buf *err) {
    kafka_sink *k = calloc(1, sizeof *k);
    if (!k) return -1;
    s->impl = k;
    int bad = 0;
    if (!s->conf.brokers || !s->conf.brokers[0]) { pw_sink_problem(err, "brokers are required"); bad = 1; }
    if (!s->conf.topic || !s->conf.topic[0]) {
        pw_sink_problem(err, "a topic is required");
        bad = 1;
    } else if (!valid_topic(s->conf.topic)) {
        pw_sink_problem(err, "topic '%s' is not a valid Kafka topic name (letters, digits, '.', '_', '-'; "
                "at most 249)", printable(s->conf.topic) ? s->conf.topic : "?");
        bad = 1;
    }
    k->conf = rd_kafka_conf_new();
    char es[512], num[32];
    snprintf(num, sizeof num, "%u", s->conf.queue_max);
    if (s->conf.brokers) rd_kafka_conf_set(k->conf, "bootstrap.servers", s->conf.brokers, es, sizeof es);
    rd_kafka_conf_set(k->conf, "client.id", "pipewatch", es, sizeof es);
    rd_kafka_conf_set(k->conf, "queue.buffering.max.messages", num, es, sizeof es);
    for (int i = 0; i < s->conf.nprops; i++) {
        const char *key = s->conf.props[i].key, *val = s->conf.props[i].val ? s->conf.props[i].val : "";
        if (!key) continue;
        rd_kafka_conf_res_t r = rd_kafka_conf_set(k->conf, key, val, es, sizeof es);
        if (r == RD_KAFKA_CONF_OK) continue;
        bad = 1;
        const char *shown = printable(key) ? key : "?";
        if (r == RD_KAFKA_CONF_UNKNOWN) pw_sink_problem(err, "property '%s': unknown to librdkafka", shown);
        else
            pw_sink_problem(err, "property '%s': invalid value (not shown; see librdkafka's CONFIGURATION.md)",
                    shown);
    }
    memset(es, 0, sizeof es); /* may quote a value */
    rd_kafka_conf_set_dr_msg_cb(k->conf, on_delivery);
    rd_kafka_conf_set_log_cb(k->conf, on_log);
    rd_kafka_conf_set_error_cb(k->conf, on_error);
    rd_kafka_conf_set_opaque(k->conf, s);
    return bad ? -1 : 0;
}

static int kafka_start(pw_sink *s) {
    kafka_sink *k = s->impl;
    char es[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, k->conf, es, sizeof es);
    if (!rk) {
        for (int i = 0; i < s->conf.nprops; i++) { /* scrub values out of the message */
            const char *v = s->conf.props[i].val;
            size_t n = v ? strlen(v) : 0;
            if (n < 3) continue;
            for (char *p = strstr(es, v); p; p = strstr(p + n, v)) memset(p, '*', n);
        }
        pw_error("sink", "kafka %s: cannot create the producer: %s", s->conf.name, es);
        return -1;
    }
    k->conf = NULL; /* rd_kafka_new took it */
    k->rk = rk;
    return 0;
}

static void kafka_render(pw_sink *s, const pw_notification *n, pw_buf *out) {
    (void)s;
    pw_notification_json(n, out);
}

static pw_sink_result kafka_deliver(pw_sink *s, pw_sink_item *it, int n, pw_sink_attempt *a) {
    kafka_sink *k = s->impl;
    (void)n; /* batch_max is 1 */
    char key[17];
    snprintf(key, sizeof key, "%016llx", (unsigned long long)it->fingerprint);
    /* Parked, the bytes stay in the outbox (snapshots) until the delivery
     * report; librdkafka borrows them meanwhile (no copy, no F_FREE). A slot
     * is always free here (the item being delivered holds one of queue_max);
     * were none, librdkafka would take the bytes, outside the outbox. */
    size_t len = it->len;
    char *data = it->data;
    uintptr_t ticket = pw_sink_park(s, it);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(s->conf.topic), RD_KAFKA_V_KEY(key, 16), RD_KAFKA_V_VALUE(data, len),
        RD_KAFKA_V_MSGFLAGS(ticket ? 0 : RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE((void *)ticket), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        it->data = NULL; /* parked, or librdkafka frees it */
        rd_kafka_poll(k->rk, 0);
        return PW_SINK_HANDED_OFF;
    }
    if (ticket) pw_sink_unpark_into(s, ticket, it); /* ours again (under the lock: never outside the outbox) */
    snprintf(a->why, sizeof a->why, "produce to topic %s: %s", s->conf.topic, rd_kafka_err2str(err));
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(k->rk, POLL_MS); /* serve delivery reports to make room */
        return PW_SINK_RETRY;
    }
    return PW_SINK_FAILED;
}

static int64_t kafka_tick(pw_sink *s, int64_t now) {
    kafka_sink *k = s->impl;
    rd_kafka_poll(k->rk, 0);
    return now + POLL_MS;
}

static void kafka_drain(pw_sink *s, int64_t deadline) {
    kafka_sink *k = s->impl;
    if (!k->rk) return;
    int64_t left = deadline - pw_time_mono_ms();
    if (left > 0) rd_kafka_flush(k->rk, left > INT_MAX ? INT_MAX : (int)left);
    if (rd_kafka_outq_len(k->rk) > 0) {
        /* give up on the rest: their reports (ERR__PURGE_*) count them failed */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->rk, 0);
    }
}

static void kafka_fini(pw_sink *s) {
    kafka_sink *k = s->impl;
    if (!k) return;
    if (k->rk) rd_kafka_destroy(k->rk);
    if (k->conf) rd_kafka_conf_destroy(k->conf);
    free(k);
    s->impl = NULL;
}

const pw_sink_ops pw_sink_kafka_ops = {
    .kind = PW_SINK_KAFKA,
    .batch_max = 1,
    .init = kafka_init,
    .start = kafka_start,
    .render = kafka_render,
    .deliver = kafka_deliver,
    .tick = kafka_tick,
    .drain = kafka_drain,
    .fini = kafka_fini,
};
