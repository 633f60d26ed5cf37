/* source_kafka.c -- librdkafka high-level consumer, offsets, dead letters.
 *
 * Design
 *   - Defaults we set (a user's kafka.properties override them):
 *     enable.auto.offset.store=false (we store after processing),
 *     enable.auto.commit=true every 5 s, auto.offset.reset=earliest,
 *     partition.assignment.strategy from config (range by default),
 *     queued.min.messages=1000000 (see QUEUED_MIN_MESSAGES below).
 *   - Per (topic, partition) we keep the next offset to process. A record
 *     below it is a re-delivery (seen with async commits and a coordinator
 *     outage): dropped and counted. The entry is kept across revoke and
 *     (re)assignment: when a broker outage outlasts session.timeout.ms the
 *     partitions are lost, and they come back from the last commit, which the
 *     failed commit-on-revoke left behind what we processed; those re-deliveries
 *     are caught too. A partition that comes back with a commit beyond the
 *     entry (another consumer moved it on) simply continues from there.
 *     Limit: offsets rewound while we run (a re-created topic) would be
 *     dropped as re-deliveries until a restart.
 *   - Snapshots (pw_source_seed): a restored partition is "pinned": on every
 *     assignment it starts at our next offset, not at the group's commit,
 *     because the engine state includes exactly the records below it (the
 *     commit may be behind, re-delivering, or ahead, skipping what the
 *     snapshot does not include). Commits stay useful for lag monitoring.
 *   - Messages are taken from librdkafka's consumer queue in batches of up
 *     to POLL_BATCH (rd_kafka_consume_batch_queue: one queue lock and one
 *     max.poll.interval.ms clock read per batch instead of per message, as
 *     rd_kafka_consumer_poll does). librdkafka 2.0.2's release notes warn that
 *     the batch API may lose or return outdated messages when a seek, pause,
 *     resume or rebalance runs in parallel with it; here none does: pause and
 *     resume are called from this thread between polls, and rebalances are
 *     served by our rebalance_cb inside the poll, in order. Its 2.1.0
 *     changelog also fixes the batch API skipping offsets around a pause or
 *     resume even so: before 2.1.0, the first pause switches this consumer to
 *     one message per call (take()).
 *   - Offsets are stored per poll (one rd_kafka_offsets_store call).
 *     The wall clock is read once per 256 messages, not per message
 *     (pw_source_msg.now_ms), for the callback's future-time and latency checks.
 *   - Dead letters go through a separate idempotent-less producer; produce is
 *     asynchronous, delivery failures are counted.
 * Limits: partitions per topic up to 65536; topics up to 64.
 */
#include "source_kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

#define MAX_TOPICS 64

/* librdkafka 2.0.2 stops fetching when its pre-fetch queue holds queued.min.messages (default 100,000)
 * or queued.max.messages.kbytes (default 64 MiB), and counts both over the whole consumer queue, not per
 * partition. It re-checks only when its broker thread wakes up, up to 1 s later (librdkafka 2.2 made
 * this fetch.queue.backoff.ms), so a consumer slower than the fetcher, e.g. catching up a backlog,
 * went idle for ~0.7 s after every 100,000 small messages: measured with tests/bench/e2e, 1M events of
 * ~200 bytes took 3-5 s, and 1.2-1.5 s with this setting. A count of 1,000,000 leaves the byte limit
 * (64 MiB of messages, the same bound as before for events of 670 bytes or more) as the one that
 * applies; for smaller events the queue now holds more while catching up (peak RSS in that benchmark
 * 141-196 MiB instead of ~85 MiB: README "Benchmarks"). kafka.properties can lower either limit. */
#define QUEUED_MIN_MESSAGES "1000000"

/* Messages taken from librdkafka's queue per rd_kafka_consume_batch_queue call (see pw_source_poll). */
#define POLL_BATCH 1024

/* A consumer abandoned at shutdown (see pw_source_close): kept reachable so
 * that LeakSanitizer does not report what its threads still use. */
static rd_kafka_t *g_abandoned;

typedef struct part {
    int64_t next;               /* next offset to process, -1 unknown */
    uint64_t consumed;
    int dirty;                  /* next changed since last store */
    int assigned;
    int pinned;                 /* next came from a snapshot: start there on every assignment */
} part;

typedef struct topic {
    char *name;
    part *parts;
    int nparts;
} topic;

struct pw_source {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;        /* the consumer group's queue (rd_kafka_queue_get_consumer) */
    rd_kafka_t *dlq;
    char *dlq_topic;
    topic topics[MAX_TOPICS];
    int ntopics;
    pw_source_stats st;
    pw_ratelimit rl_err;
    int paused;
    int single;               /* take one message per call (see take()) */
};

static topic *find_topic(pw_source *s, const char *name) {
    for (int i = 0; i < s->ntopics; i++)
        if (!strcmp(s->topics[i].name, name)) return &s->topics[i];
    if (s->ntopics == MAX_TOPICS) return NULL;
    topic *t = &s->topics[s->ntopics++];
    t->name = strdup(name);
    t->parts = NULL;
    t->nparts = 0;
    return t;
}

static part *find_part(pw_source *s, const char *tname, int32_t p) {
    topic *t = find_topic(s, tname);
    if (!t || p < 0 || p >= 65536) return NULL;
    if (p >= t->nparts) {
        int n = p + 1 > t->nparts * 2 ? p + 1 : t->nparts * 2;
        part *np = realloc(t->parts, (size_t)n * sizeof *np);
        if (!np) return NULL;
        for (int i = t->nparts; i < n; i++) { np[i].next = -1; np[i].consumed = 0; np[i].dirty = 0; np[i].assigned = 0;
                                                np[i].pinned = 0; }
        t->parts = np;
        t->nparts = n;
    }
    return &t->parts[p];
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    pw_source *s = opaque;
    s->st.rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int pinned = 0;
        for (int i = 0; i < parts->cnt; i++) {
            part *p = find_part(s, parts->elems[i].topic, parts->elems[i].partition);
            if (p) p->assigned = 1;
            /* a snapshot's position overrides the committed offset: the state includes exactly what is below it */
            if (p && p->pinned && p->next >= 0) { parts->elems[i].offset = p->next; pinned++; }
        }
        s->st.assigned = parts->cnt;
        pw_info("kafka", "assigned %d partition(s)%s", parts->cnt, pinned ? " (started at snapshot offsets)" : "");
        rd_kafka_assign(rk, parts);
        if (s->paused) rd_kafka_pause_partitions(rk, parts);
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            part *p = find_part(s, parts->elems[i].topic, parts->elems[i].partition);
            if (p) p->assigned = 0; /* keep p->next: see the top of the file */
        }
        s->st.assigned = 0;
        pw_info("kafka", "revoked %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, NULL);
    }
}

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    pw_source *s = opaque;
    if (m->err) {
        s->st.dead_letter_failed++;
        pw_warn("kafka", "dead letter not delivered: %s", rd_kafka_err2str(m->err));
    } else {
        s->st.dead_lettered++;
    }
}

/* librdkafka's own log lines and error events, through our log (any librdkafka thread). */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    pw_log(pw_log_level_from_syslog(level), "kafka", "%s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    /* transient errors (broker down, resolve failures) are already in the log lines above */
    if (err == RD_KAFKA_RESP_ERR__FATAL) pw_error("kafka", "%s: fatal: %s", rd_kafka_name(rk), reason);
    else pw_debug("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errbuf, size_t errlen) {
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        /* name the property, never echo its value (it may be a password) */
        snprintf(errbuf, errlen, "kafka property '%s': %s", k, e);
        return -1;
    }
    return 0;
}

pw_source *pw_source_new(const pw_source_conf *c, char *errbuf, size_t errlen) {
    pw_source *s = calloc(1, sizeof *s);
    if (!s) { snprintf(errbuf, errlen, "out of memory"); return NULL; }
    s->rl_err = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 5);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", c->brokers, errbuf, errlen) ||
        set(conf, "group.id", c->group, errbuf, errlen) ||
        set(conf, "enable.auto.offset.store", "false", errbuf, errlen) ||
        set(conf, "enable.auto.commit", "true", errbuf, errlen) ||
        set(conf, "auto.commit.interval.ms", "5000", errbuf, errlen) ||
        set(conf, "auto.offset.reset", "earliest", errbuf, errlen) ||
        set(conf, "enable.partition.eof", "false", errbuf, errlen) ||
        set(conf, "queued.min.messages", QUEUED_MIN_MESSAGES, errbuf, errlen) ||
        set(conf, "partition.assignment.strategy", c->assignment ? c->assignment : "range", errbuf, errlen) ||
        set(conf, "log_level", "4", errbuf, errlen))
        goto fail_conf;
    for (int i = 0; i < c->nprops; i++)
        if (set(conf, c->props[i].key, c->props[i].val, errbuf, errlen)) goto fail_conf;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, s);
    if (c->dlq_topic) {
        /* consumer-only properties do not apply to the producer: start from a clean conf */
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        if (set(pc, "bootstrap.servers", c->brokers, errbuf, errlen) || set(pc, "linger.ms", "50", errbuf, errlen)) {
            rd_kafka_conf_destroy(pc);
            goto fail_conf;
        }
        for (int i = 0; i < c->nprops; i++) {
            /* pass security settings through; ignore consumer-only ones silently */
            if (!strncmp(c->props[i].key, "security.", 9) || !strncmp(c->props[i].key, "sasl.", 5) ||
                !strncmp(c->props[i].key, "ssl.", 4))
                if (set(pc, c->props[i].key, c->props[i].val, errbuf, errlen)) { rd_kafka_conf_destroy(pc); goto fail_conf; }
        }
        rd_kafka_conf_set_dr_msg_cb(pc, dlq_dr_cb);
        rd_kafka_conf_set_log_cb(pc, on_log);
        rd_kafka_conf_set_error_cb(pc, on_error);
        rd_kafka_conf_set_opaque(pc, s);
        s->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errbuf, errlen);
        if (!s->dlq) { rd_kafka_conf_destroy(pc); goto fail_conf; }
        s->dlq_topic = strdup(c->dlq_topic);
    }
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    if (!s->rk) goto fail_conf;
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(c->ntopics);
    for (int i = 0; i < c->ntopics; i++) {
        rd_kafka_topic_partition_list_add(sub, c->topics[i], RD_KAFKA_PARTITION_UA);
        find_topic(s, c->topics[i]);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(s->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        snprintf(errbuf, errlen, "subscribe: %s", rd_kafka_err2str(err));
        pw_source_close(s, 0);
        return NULL;
    }
    return s;
fail_conf:
    rd_kafka_conf_destroy(conf);
    if (s->dlq) rd_kafka_destroy(s->dlq);
    free(s->dlq_topic);
    for (int i = 0; i < s->ntopics; i++) { free(s->topics[i].name); free(s->topics[i].parts); }
    free(s);
    return NULL;
}

static void store_offsets(pw_source *s) {
    int n = 0;
    for (int t = 0; t < s->ntopics; t++)
        for (int p = 0; p < s->topics[t].nparts; p++) n += s->topics[t].parts[p].dirty;
    if (!n) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int t = 0; t < s->ntopics; t++)
        for (int p = 0; p < s->topics[t].nparts; p++) {
            part *pp = &s->topics[t].parts[p];
            if (!pp->dirty) continue;
            pp->dirty = 0;
            rd_kafka_topic_partition_list_add(l, s->topics[t].name, p)->offset = pp->next;
        }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(s->rk, l);
    if (err && err != RD_KAFKA_RESP_ERR__STATE) pw_warn("kafka", "storing offsets: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* One message of a batch: the dedup check, the callback, the offset bookkeeping. */
static int hand(pw_source *s, rd_kafka_message_t *m, int64_t now, pw_source_msg_fn fn, void *ud) {
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            s->st.errors++;
            uint64_t sup;
            if (pw_ratelimit_allow(&s->rl_err, &sup))
                pw_warn("kafka", "consumer error: %s (%llu similar suppressed)", rd_kafka_message_errstr(m),
                        (unsigned long long)sup);
        }
        return 0;
    }
    const char *tname = rd_kafka_topic_name(m->rkt);
    part *p = find_part(s, tname, m->partition);
    if (p && p->next >= 0 && m->offset < p->next) {
        s->st.redelivered++;
        return 0;
    }
    pw_source_msg sm;
    sm.topic = tname;
    sm.partition = m->partition;
    sm.offset = m->offset;
    sm.payload = m->payload;
    sm.len = m->len;
    rd_kafka_timestamp_type_t tt;
    sm.kafka_ts = rd_kafka_message_timestamp(m, &tt);
    sm.now_ms = now;
    fn(&sm, ud);
    s->st.consumed++;
    s->st.bytes += m->len;
    if (p) {
        p->next = m->offset + 1;
        p->consumed++;
        p->dirty = 1;
    }
    return 1;
}

/* Up to `want` messages from the consumer queue, waiting up to timeout_ms for
 * the first. librdkafka before 2.1.0 can skip offsets in the batch API when a
 * partition is paused or resumed (fixed in 2.1.0, per its changelog; Debian
 * 12 ships 2.0.2), so once this consumer has paused (redis.pause_after) on
 * such a version, it takes one message per call, as rd_kafka_consumer_poll
 * does, for the rest of its life. */
static ssize_t take(pw_source *s, int timeout_ms, rd_kafka_message_t **batch, size_t want) {
    if (!s->single) return rd_kafka_consume_batch_queue(s->q, timeout_ms, batch, want);
    batch[0] = rd_kafka_consume_queue(s->q, timeout_ms);
    return batch[0] ? 1 : 0;
}

int pw_source_poll(pw_source *s, int timeout_ms, int max, pw_source_msg_fn fn, void *ud) {
    rd_kafka_message_t *batch[POLL_BATCH];
    int handed = 0;
    for (int first = 1; handed < max; first = 0) {
        int want = s->single ? 1 : max - handed < POLL_BATCH ? max - handed : POLL_BATCH;
        /* what is already fetched, without waiting (a timeout would wait for all `want` messages) */
        ssize_t n = take(s, 0, batch, (size_t)want);
        /* nothing yet: wait up to timeout_ms for one message (callbacks such as a rebalance are served meanwhile) */
        if (n == 0 && first && timeout_ms > 0) n = take(s, timeout_ms, batch, 1);
        if (n < 0) {
            int e = errno;
            s->st.errors++;
            uint64_t sup;
            if (pw_ratelimit_allow(&s->rl_err, &sup))
                pw_warn("kafka", "consuming: %s (%llu similar suppressed)", strerror(e), (unsigned long long)sup);
            break;
        }
        int64_t now = 0;
        for (ssize_t i = 0; i < n; i++) {
            if ((i & 255) == 0) now = pw_time_now_ms();
            handed += hand(s, batch[i], now, fn, ud);
            rd_kafka_message_destroy(batch[i]);
        }
        if (n < want) break; /* the queue is drained */
    }
    store_offsets(s);
    if (s->dlq) rd_kafka_poll(s->dlq, 0);
    return handed;
}

void pw_source_dead_letter(pw_source *s, const pw_source_msg *m, const char *reason) {
    if (!s->dlq) return;
    char pbuf[16], off[24];
    snprintf(pbuf, sizeof pbuf, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        s->dlq, RD_KAFKA_V_TOPIC(s->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)m->payload, m->len), RD_KAFKA_V_HEADER("pipewatch-reason", reason, -1),
        RD_KAFKA_V_HEADER("pipewatch-topic", m->topic, -1), RD_KAFKA_V_HEADER("pipewatch-partition", pbuf, -1),
        RD_KAFKA_V_HEADER("pipewatch-offset", off, -1), RD_KAFKA_V_END);
    if (err) {
        s->st.dead_letter_failed++;
        uint64_t sup;
        if (pw_ratelimit_allow(&s->rl_err, &sup))
            pw_warn("kafka", "dead letter not queued: %s", rd_kafka_err2str(err));
    }
}

void pw_source_stats_get(pw_source *s, pw_source_stats *out) { *out = s->st; }

void pw_source_foreach_partition(pw_source *s, void (*fn)(const pw_source_partition_stats *, void *), void *ud) {
    for (int t = 0; t < s->ntopics; t++)
        for (int p = 0; p < s->topics[t].nparts; p++) {
            part *pp = &s->topics[t].parts[p];
            if (!pp->assigned) continue;
            int64_t lo = -1, hi = -1;
            rd_kafka_get_watermark_offsets(s->rk, s->topics[t].name, p, &lo, &hi);
            pw_source_partition_stats ps = {s->topics[t].name, p, pp->next, hi, pp->consumed};
            fn(&ps, ud);
        }
}

int pw_source_commit(pw_source *s) {
    store_offsets(s);
    /* Asynchronous: a synchronous commit has no timeout and, with the
     * coordinator unreachable, blocks until the group session expires (45 s
     * by default). pw_source_close waits for it, up to its deadline. */
    rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, NULL, 1);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        pw_warn("kafka", "commit: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

int pw_source_seed(pw_source *s, const char *tname, int32_t partition, int64_t next) {
    part *p = find_part(s, tname, partition);
    if (!p || next < 0) return -1;
    p->next = next;
    p->pinned = 1;
    return 0;
}

void pw_source_foreach_offset(pw_source *s, void (*fn)(const char *topic, int32_t partition, int64_t next, void *ud),
                              void *ud) {
    for (int t = 0; t < s->ntopics; t++)
        for (int p = 0; p < s->topics[t].nparts; p++)
            if (s->topics[t].parts[p].next >= 0) fn(s->topics[t].name, p, s->topics[t].parts[p].next, ud);
}

void pw_source_pause(pw_source *s, int pause) {
    if (s->paused == !!pause) return;
    s->paused = !!pause;
    if (!s->single && rd_kafka_version() < 0x020100ff) {
        s->single = 1; /* see take() */
        pw_info("kafka", "consuming one message per call from now on (librdkafka %s's batch API can skip "
                         "offsets around a pause or resume)", rd_kafka_version_str());
    }
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(s->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l) return;
    if (pause) rd_kafka_pause_partitions(s->rk, l);
    else rd_kafka_resume_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

void pw_source_close(pw_source *s, int64_t deadline_ms) {
    if (!s) return;
    if (s->q) rd_kafka_queue_destroy(s->q);
    if (s->rk) {
        store_offsets(s);
        /* rd_kafka_consumer_close, and rd_kafka_destroy even without it, wait
         * for the group to be left, which with the coordinator unreachable
         * takes session.timeout.ms or more (45 s by default, twice). So close
         * in the background and serve the queue (rebalance callback, pending
         * commits) until the deadline; if the group is not left by then, the
         * handle is abandoned: the process is exiting, and the offsets the
         * broker did not get are re-delivered after a restart (at least once). */
        rd_kafka_queue_t *q = rd_kafka_queue_new(s->rk);
        rd_kafka_error_t *e = rd_kafka_consumer_close_queue(s->rk, q);
        int closed = 0;
        if (e) {
            pw_warn("kafka", "closing the consumer: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        } else {
            while (!(closed = rd_kafka_consumer_closed(s->rk))) {
                int64_t left = deadline_ms - pw_time_mono_ms();
                if (left <= 0) break;
                rd_kafka_queue_poll_callback(q, left < 100 ? (int)left : 100);
            }
        }
        rd_kafka_queue_destroy(q);
        if (closed) {
            rd_kafka_destroy(s->rk);
        } else {
            g_abandoned = s->rk;
            pw_warn("kafka", "could not leave the group before the shutdown deadline (broker unreachable?): "
                             "exiting without it; offsets not committed will be re-delivered");
        }
    }
    if (s->dlq) {
        int64_t left = deadline_ms - pw_time_mono_ms();
        rd_kafka_flush(s->dlq, left > 0 ? (int)left : 0);
        rd_kafka_destroy(s->dlq);
    }
    free(s->dlq_topic);
    for (int i = 0; i < s->ntopics; i++) { free(s->topics[i].name); free(s->topics[i].parts); }
    free(s);
}
