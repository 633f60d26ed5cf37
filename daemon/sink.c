/* sink.c -- the part every sink shares: configuration, queue, thread, retries, counters.
 *
 * Design. A notification is rendered on the main thread at submit (by the
 * kind's render callback, into a reused scratch buffer) and copied into one
 * malloc'd block that the queue owns: the delivery thread never touches rule
 * sets, which a reload may free, and the engine never waits for the network.
 * The queue is a ring of queue_max slots under one mutex and condition
 * variable (CLOCK_MONOTONIC). A notification being delivered still occupies
 * its slot ("inflight"), and so does one handed to a library that has not
 * acknowledged it yet ("parked": kafka, whose broker may be down for minutes),
 * so at most queue_max notifications are held (queued + inflight + parked)
 * and "dropped" is exactly what arrived beyond that.
 *
 * One thread per sink takes up to ops->batch_max items at a time and calls
 * ops->deliver; on PW_SINK_RETRY it waits backoff_ms * 2^attempt (capped at
 * backoff_max_ms, or a server's Retry-After up to the same cap) with "equal
 * jitter" (half fixed, half random) so that several daemons do not retry in
 * lockstep, and gives up after `retries` retries. Waits are on the condition
 * variable, so pw_sink_stop interrupts them. Kinds with periodic work
 * (alertmanager re-sends, kafka polls) get ops->tick between batches.
 *
 * Stop: pw_sink_stop stops accepting, publishes the deadline, wakes the
 * thread (and a request in flight, via ops->wake) and joins it. The thread
 * keeps delivering until the queue is empty or the deadline passes; a retry
 * whose wait would end after the deadline is given up at once and its batch
 * goes back to the front of the queue. What is left is counted as failed, so
 * after stop: submitted == sent + failed; it stays queued (no longer sent)
 * until destroy, so that the daemon's final snapshot can carry it over.
 *
 * Counters are C11 atomics (the HTTP/metrics thread may read them through
 * pw_sink_stats_get while the sink thread writes). Logging from the hot
 * paths (drops on the main thread, retries and failures on the sink thread)
 * is rate-limited with one pw_ratelimit per thread and purpose.
 *
 * The outbox (snapshots): every notification accepted and not yet known
 * delivered is reachable under mu: the ring, the batch being delivered
 * (s->batch; it leaves the outbox under mu before its bytes are freed) and
 * the parked items a kind handed to a library (kafka) until it acknowledges
 * them. pw_sink_outbox_hold keeps all three still across the daemon's fork().
 * An item being delivered at a crash is in the snapshot; after the restart it
 * is sent again unless the delivery ledger knows it was delivered: each
 * delivered item is acknowledged (pw_sink_acks_take) for the daemon to record.
 *
 * Limits: delivery is in order and one batch at a time, so a receiver that
 * keeps timing out delays everything behind it (by design: ordering matters
 * more than throughput for alerts, and the bounded queue protects the daemon);
 * a slow receiver costs at most queue_max rendered notifications of memory.
 */
#include "sink.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sink_int.h"
#include "snapshot.h"
#include "timeutil.h"

#define MOD "sink"

static const pw_sink_ops *ops_of(pw_sink_kind k) {
    switch (k) {
    case PW_SINK_LOG: return &pw_sink_log_ops;
    case PW_SINK_WEBHOOK: return &pw_sink_webhook_ops;
    case PW_SINK_ALERTMANAGER: return &pw_sink_alertmanager_ops;
    case PW_SINK_KAFKA: return &pw_sink_kafka_ops;
    }
    return NULL;
}

const char *pw_sink_kind_name(pw_sink_kind k) {
    switch (k) {
    case PW_SINK_LOG: return "log";
    case PW_SINK_WEBHOOK: return "webhook";
    case PW_SINK_ALERTMANAGER: return "alertmanager";
    case PW_SINK_KAFKA: return "kafka";
    }
    return "unknown";
}

/* ---------- configuration ---------- */

static char *xstrdup(const char *s) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) { fputs("pipewatch: out of memory (sink)\n", stderr); abort(); }
    return d;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz);
    if (!p) { fputs("pipewatch: out of memory (sink)\n", stderr); abort(); }
    return p;
}

static pw_kv *kv_dup(const pw_kv *kv, int n) {
    if (n <= 0 || !kv) return NULL;
    pw_kv *d = xcalloc((size_t)n, sizeof *d);
    for (int i = 0; i < n; i++) { d[i].key = xstrdup(kv[i].key); d[i].val = xstrdup(kv[i].val); }
    return d;
}

static void kv_free(pw_kv *kv, int n) {
    for (int i = 0; kv && i < n; i++) { free(kv[i].key); free(kv[i].val); }
    free(kv);
}

static void conf_free(pw_sink_conf *c) {
    free(c->name);
    free(c->path);
    free(c->url);
    kv_free(c->headers, c->nheaders);
    free(c->body);
    free(c->generator_url);
    free(c->brokers);
    free(c->topic);
    kv_free(c->props, c->nprops);
    memset(c, 0, sizeof *c);
}

static void conf_copy(pw_sink_conf *d, const pw_sink_conf *c) {
    *d = *c;
    d->name = xstrdup(c->name);
    d->path = xstrdup(c->path);
    d->url = xstrdup(c->url);
    d->headers = kv_dup(c->headers, c->nheaders);
    d->nheaders = d->headers ? c->nheaders : 0;
    d->body = xstrdup(c->body);
    d->generator_url = xstrdup(c->generator_url);
    d->brokers = xstrdup(c->brokers);
    d->topic = xstrdup(c->topic);
    d->props = kv_dup(c->props, c->nprops);
    d->nprops = d->props ? c->nprops : 0;
    if (d->timeout_ms == 0) d->timeout_ms = 5000;
    if (d->retries == -1) d->retries = 5;
    if (d->backoff_ms == 0) d->backoff_ms = 500;
    if (d->backoff_max_ms == 0) d->backoff_max_ms = d->backoff_ms > 30000 ? d->backoff_ms : 30000;
    if (d->queue_max == 0) d->queue_max = 10000;
    if (d->resend_ms == 0) d->resend_ms = 60000;
}

void pw_sink_problem(pw_buf *err, const char *fmt, ...) {
    if (err->len) pw_buf_puts(err, "; ");
    va_list ap;
    va_start(ap, fmt);
    pw_buf_vprintf(err, fmt, ap);
    va_end(ap);
}

/* Limits that keep a typo from exhausting memory or stalling shutdown. */
#define QUEUE_MAX_LIMIT 10000000u
#define TIMEOUT_LIMIT (10 * PW_MS_PER_M)
#define RETRIES_LIMIT 1000
#define BACKOFF_LIMIT PW_MS_PER_H

static void check_generic(const pw_sink_conf *c, pw_buf *err) {
    if (!c->name || !c->name[0]) pw_sink_problem(err, "a sink needs a name");
    if (c->timeout_ms < 0 || c->timeout_ms > TIMEOUT_LIMIT)
        pw_sink_problem(err, "timeout must be between 1ms and 10m");
    if (c->retries < 0 || c->retries > RETRIES_LIMIT)
        pw_sink_problem(err, "retries must be between 0 and %d", RETRIES_LIMIT);
    if (c->backoff_ms < 0 || c->backoff_ms > BACKOFF_LIMIT)
        pw_sink_problem(err, "backoff must be between 1ms and 1h");
    if (c->backoff_max_ms < 0 || c->backoff_max_ms > BACKOFF_LIMIT)
        pw_sink_problem(err, "backoff_max must be between 1ms and 1h");
    else if (c->backoff_max_ms < c->backoff_ms) pw_sink_problem(err, "backoff_max must be at least backoff");
    if (c->queue_max > QUEUE_MAX_LIMIT) pw_sink_problem(err, "queue must be between 1 and %u", QUEUE_MAX_LIMIT);
    if (c->resend_ms < 0) pw_sink_problem(err, "resend must be more than 0");
}

static int cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t a;
    if (pthread_condattr_init(&a)) return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc ? -1 : 0;
}

pw_sink *pw_sink_new(const pw_sink_conf *conf, char *errbuf, size_t errlen) {
    char dummy[4];
    if (!errbuf || !errlen) { errbuf = dummy; errlen = sizeof dummy; }
    errbuf[0] = 0;
    if (!conf) { snprintf(errbuf, errlen, "no configuration"); return NULL; }
    const pw_sink_ops *ops = ops_of(conf->kind);
    if (!ops) { snprintf(errbuf, errlen, "unknown sink type %d", (int)conf->kind); return NULL; }

    pw_sink *s = xcalloc(1, sizeof *s);
    conf_copy(&s->conf, conf);
    s->ops = ops;
    atomic_init(&s->deadline, INT64_MAX);
    atomic_init(&s->reopen_req, 0);
    atomic_init(&s->finished, 0);
    atomic_init(&s->submitted, 0);
    atomic_init(&s->sent, 0);
    atomic_init(&s->failed, 0);
    atomic_init(&s->dropped, 0);
    atomic_init(&s->retries, 0);
    atomic_init(&s->untracked, 0);
    atomic_init(&s->suppressed, 0);
    atomic_init(&s->acks_dropped, 0);
    pw_buf_init(&s->rbuf);
    s->drop_rl = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 5);
    s->retry_rl = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 5);
    s->fail_rl = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 5);
    s->rng = (uint64_t)pw_time_now_ms() ^ ((uint64_t)(uintptr_t)s << 16) ^ 0x9E3779B97F4A7C15ULL;
    s->accepting = 1;

    pw_buf err;
    pw_buf_init(&err);
    check_generic(&s->conf, &err);
    /* the kind's checks run even after a generic problem, to report everything at once */
    if (ops->init(s, &err) < 0 && !err.len) pw_sink_problem(&err, "invalid settings");
    if (err.len) {
        snprintf(errbuf, errlen, "%s", err.data);
        pw_buf_free(&err);
        ops->fini(s);
        pw_buf_free(&s->rbuf);
        conf_free(&s->conf);
        free(s);
        return NULL;
    }
    pw_buf_free(&err);
    s->ring = xcalloc(s->conf.queue_max, sizeof *s->ring);
    s->acks = xcalloc(PW_SINK_ACKS_MAX, sizeof *s->acks);
    s->batch = xcalloc((size_t)(ops->batch_max > 0 ? ops->batch_max : 1), sizeof *s->batch);
    s->parked = xcalloc(s->conf.queue_max, sizeof *s->parked);
    s->parked_seq = xcalloc(s->conf.queue_max, sizeof *s->parked_seq);
    s->parked_free = xcalloc(s->conf.queue_max, sizeof *s->parked_free);
    for (uint32_t i = 0; i < s->conf.queue_max; i++) s->parked_free[i] = s->conf.queue_max - 1 - i;
    s->nparked_free = s->conf.queue_max;
    if (pthread_mutex_init(&s->mu, NULL) || cond_init_mono(&s->cv)) {
        snprintf(errbuf, errlen, "cannot create the queue's mutex");
        ops->fini(s);
        pw_buf_free(&s->rbuf);
        free(s->ring);
        free(s->acks);
        free(s->batch);
        free(s->parked);
        free(s->parked_seq);
        free(s->parked_free);
        conf_free(&s->conf);
        free(s);
        return NULL;
    }
    return s;
}

const char *pw_sink_name(const pw_sink *s) { return s->conf.name; }
pw_sink_kind pw_sink_kind_of(const pw_sink *s) { return s->conf.kind; }

/* ---------- thread helpers ---------- */

static void ts_of(int64_t mono_ms, struct timespec *ts) {
    ts->tv_sec = (time_t)(mono_ms / 1000);
    ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* Wait on s->cv (mu held) until `until` (monotonic ms; INT64_MAX = forever). */
static void wait_until(pw_sink *s, int64_t until) {
    if (until == INT64_MAX) { pthread_cond_wait(&s->cv, &s->mu); return; }
    struct timespec ts;
    ts_of(until, &ts);
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* Sleep until `until` unless the stop deadline comes first: 0 slept the whole
 * time, -1 the deadline is (or became) earlier than `until`. */
static int sleep_until(pw_sink *s, int64_t until) {
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (pw_sink_deadline(s) <= until) { rc = -1; break; }
        if (pw_time_mono_ms() >= until) break;
        wait_until(s, until);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static uint64_t rnd(pw_sink *s) { /* xorshift64*: jitter only, not for anything secret */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 2685821657736338717ULL;
}

static int64_t backoff_for(pw_sink *s, int attempt, int64_t retry_after) {
    int64_t d = s->conf.backoff_ms, cap = s->conf.backoff_max_ms;
    for (int i = 0; i < attempt && d < cap; i++) d *= 2;
    if (d > cap) d = cap;
    int64_t half = d / 2;
    d = half + (int64_t)(rnd(s) % (uint64_t)(d - half + 1));
    if (retry_after > d) d = retry_after < cap ? retry_after : cap;
    return d;
}

void pw_sink_warn_limited(pw_sink *s, const char *fmt, ...) {
    uint64_t sup = 0;
    if (!pw_ratelimit_allow(&s->fail_rl, &sup)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sup) pw_warn(MOD, "%s %s: %s (%llu similar messages suppressed)", pw_sink_kind_name(s->conf.kind),
                     s->conf.name, msg, (unsigned long long)sup);
    else pw_warn(MOD, "%s %s: %s", pw_sink_kind_name(s->conf.kind), s->conf.name, msg);
}

/* Deliver one batch with retries; accounts sent/failed/retries. Returns 1 if
 * the batch was abandoned because of the stop deadline (not counted: the
 * caller puts it back in the queue, where stop counts it and the final
 * snapshot keeps it), else 0. */
static int deliver(pw_sink *s, pw_sink_item *it, int n) {
    pw_sink_attempt a;
    const char *kind = pw_sink_kind_name(s->conf.kind), *pl = n == 1 ? "" : "s";
    for (int attempt = 0;; attempt++) {
        memset(&a, 0, sizeof a);
        a.attempt = attempt;
        pw_sink_result r = s->ops->deliver(s, it, n, &a);
        if (r == PW_SINK_SENT) {
            pw_sink_count_sent(s, (uint64_t)n);
            pw_sink_acknowledge(s, it, n);
            return 0;
        }
        if (r == PW_SINK_HANDED_OFF) return 0;
        /* a request abandoned at the deadline (not a refusal: a 4xx after the deadline is still final and
         * leaves the outbox, else it would be sent again at every restart) */
        if (r == PW_SINK_FAILED && a.abandoned) return 1;
        if (r == PW_SINK_FAILED) {
            pw_sink_count_failed(s, (uint64_t)n);
            pw_sink_warn_limited(s, "%s; %d notification%s failed (not retried)", a.why[0] ? a.why : "error",
                                 n, pl);
            return 0;
        }
        if (attempt >= s->conf.retries) {
            pw_sink_count_failed(s, (uint64_t)n);
            pw_sink_warn_limited(s, "%s; %d notification%s failed after %d attempt%s",
                                 a.why[0] ? a.why : "error", n, pl, attempt + 1, attempt ? "s" : "");
            return 0;
        }
        int64_t delay = backoff_for(s, attempt, a.retry_after_ms);
        int64_t until = pw_time_mono_ms() + delay;
        if (until < pw_sink_deadline(s)) {
            uint64_t sup = 0;
            char more[64] = "";
            if (pw_ratelimit_allow(&s->retry_rl, &sup)) {
                if (sup)
                    snprintf(more, sizeof more, " (%llu earlier retries not logged)",
                             (unsigned long long)sup);
                pw_warn(MOD, "%s %s: %s; retry %d/%d in %lld ms%s", kind, s->conf.name,
                        a.why[0] ? a.why : "error", attempt + 1, s->conf.retries, (long long)delay, more);
            }
        }
        if (until >= pw_sink_deadline(s) || sleep_until(s, until) < 0) {
            pw_sink_warn_limited(s, "%s; %d notification%s not delivered: stopping before the next retry",
                                 a.why[0] ? a.why : "error", n, pl);
            return 1;
        }
        atomic_fetch_add(&s->retries, 1);
    }
}

static void *sink_thread(void *arg) {
    pw_sink *s = arg;
    const pw_sink_ops *ops = s->ops;
    int bmax = ops->batch_max > 0 ? ops->batch_max : 1;
    pw_sink_item *batch = s->batch; /* the outbox sees it while nbatch > 0 */
    int64_t next_tick = ops->tick ? pw_time_mono_ms() : INT64_MAX;
    for (;;) {
        int n = 0, stopping;
        pthread_mutex_lock(&s->mu);
        for (;;) {
            stopping = s->stopping;
            if (s->count > 0 || stopping || atomic_load(&s->reopen_req)) break;
            if (pw_time_mono_ms() >= next_tick) break;
            wait_until(s, next_tick);
        }
        if (!stopping || pw_time_mono_ms() < pw_sink_deadline(s)) {
            while (n < bmax && s->count > 0) {
                batch[n++] = s->ring[s->head];
                memset(&s->ring[s->head], 0, sizeof s->ring[s->head]);
                s->head = (s->head + 1) % s->conf.queue_max;
                s->count--;
            }
            s->inflight += (uint32_t)n;
            s->nbatch = n;
        }
        pthread_mutex_unlock(&s->mu);

        if (atomic_exchange(&s->reopen_req, 0) && ops->reopen) ops->reopen(s);
        if (n > 0) {
            int abandoned = deliver(s, batch, n);
            /* leave the outbox before the bytes are freed (a snapshot taken meanwhile holds mu) */
            pthread_mutex_lock(&s->mu);
            if (abandoned) { /* back to the front of the queue, in order, for stop to count and keep */
                for (int i = n - 1; i >= 0; i--) {
                    if (!batch[i].data) continue;
                    s->head = (s->head + s->conf.queue_max - 1) % s->conf.queue_max;
                    s->ring[s->head] = batch[i];
                    s->count++;
                    batch[i].data = NULL;
                }
            }
            s->nbatch = 0;
            s->inflight -= (uint32_t)n - s->handed; /* parked ones left inflight when they were parked */
            s->handed = 0;
            pthread_mutex_unlock(&s->mu);
            for (int i = 0; i < n; i++) free(batch[i].data);
            memset(batch, 0, (size_t)n * sizeof *batch);
            if (abandoned) break;
        }
        if (stopping && (n == 0 || pw_time_mono_ms() >= pw_sink_deadline(s))) break;
        int64_t now = pw_time_mono_ms();
        if (!stopping && ops->tick && now >= next_tick) next_tick = ops->tick(s, now);
    }
    if (ops->drain) ops->drain(s, pw_sink_deadline(s));
    return NULL;
}

int pw_sink_start(pw_sink *s) {
    if (!s || s->started || s->stopped) return -1;
    if (s->ops->start && s->ops->start(s) < 0) return -1;
    /* The thread inherits a full signal mask: signals go to the main thread,
     * and a write to a closed pipe fails with EPIPE here instead of killing us. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, sink_thread, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        pw_error(MOD, "%s %s: cannot start the delivery thread: %s", pw_sink_kind_name(s->conf.kind),
                 s->conf.name, strerror(rc));
        return -1;
    }
    s->started = 1;
    return 0;
}

/* ---------- submit ---------- */

static void drop(pw_sink *s, const pw_notification *n, const char *why) {
    atomic_fetch_add(&s->dropped, 1);
    uint64_t sup = 0;
    if (!pw_ratelimit_allow(&s->drop_rl, &sup)) return;
    char more[64] = "";
    if (sup) snprintf(more, sizeof more, " (and %llu more since the last message)", (unsigned long long)sup);
    pw_warn(MOD, "%s %s: %s: dropped the %s notification of rule '%s'%s", pw_sink_kind_name(s->conf.kind),
            s->conf.name, why, n->firing ? "firing" : "resolved", n->rule ? n->rule->name : "?", more);
}

/* Queue a copy of data[0..len) with meta's identity (fingerprint, kind, seq...); the caller has
 * checked there is room. 0, or -1 when out of memory (nothing queued). */
static int enqueue_copy(pw_sink *s, const char *data, size_t len, const pw_sink_item *meta) {
    pw_sink_item it = *meta;
    it.len = len;
    it.data = malloc(len + 1);
    if (!it.data) return -1;
    if (len) memcpy(it.data, data, len);
    it.data[len] = 0;
    pthread_mutex_lock(&s->mu);
    s->ring[(s->head + s->count) % s->conf.queue_max] = it;
    s->count++;
    atomic_fetch_add(&s->submitted, 1);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* What the sink holds against queue_max: queued, being delivered, and handed to a library and not yet
 * acknowledged (parked: kafka with the broker down keeps them until message.timeout.ms). Under mu. */
static uint32_t held_locked(const pw_sink *s) {
    return s->count + s->inflight + (s->conf.queue_max - s->nparked_free);
}

void pw_sink_submit(pw_sink *s, const pw_notification *n) {
    if (!s || !n) return;
    if (!s->accepting) { drop(s, n, "stopped"); return; }
    pthread_mutex_lock(&s->mu);
    uint32_t parked = s->conf.queue_max - s->nparked_free;
    int full = held_locked(s) >= s->conf.queue_max;
    pthread_mutex_unlock(&s->mu);
    /* Only this (main) thread adds items, so the queue cannot fill up between
     * this check and the push below; rendering happens outside the lock. */
    if (full) {
        char why[160];
        if (parked)
            snprintf(why, sizeof why, "queue full (%u, of which %u handed to the library and not yet acknowledged)",
                     s->conf.queue_max, parked);
        else snprintf(why, sizeof why, "queue full (%u)", s->conf.queue_max);
        drop(s, n, why);
        return;
    }
    pw_buf_reset(&s->rbuf);
    s->ops->render(s, n, &s->rbuf);
    pw_sink_item meta = {.fingerprint = n->fingerprint, .at = n->at, .firing = n->firing,
                         .kind = pw_notification_kind(n), .seq = n->seq, .born = n->born,
                         .rule_hash = n->rule ? n->rule->def_hash : 0};
    int r = enqueue_copy(s, s->rbuf.data, s->rbuf.len, &meta);
    /* keep the scratch buffer from pinning a rare huge render forever */
    if (s->rbuf.cap > 1u << 20) pw_buf_free(&s->rbuf);
    if (r < 0) drop(s, n, "out of memory");
}

/* ---------- the outbox (snapshots) ---------- */

uintptr_t pw_sink_park(pw_sink *s, pw_sink_item *it) {
    pthread_mutex_lock(&s->mu);
    if (!s->nparked_free) { pthread_mutex_unlock(&s->mu); return 0; }
    uint32_t slot = s->parked_free[--s->nparked_free];
    s->parked[slot] = *it;
    s->parked_seq[slot] = ++s->park_seq;
    it->data = NULL;
    s->inflight--; /* it counts as parked now, not twice (see held_locked) */
    s->handed++;
    pthread_mutex_unlock(&s->mu);
    return (uintptr_t)slot + 1;
}

static pw_sink_item *parked_at(pw_sink *s, uintptr_t ticket) {
    if (ticket == 0 || ticket > s->conf.queue_max || !s->parked[ticket - 1].data) return NULL;
    return &s->parked[ticket - 1];
}

static void ack_locked(pw_sink *s, const pw_sink_item *it, int n) {
    for (int i = 0; i < n; i++) {
        if (!it[i].seq || atomic_load(&s->finished)) continue;
        if (s->nacks == PW_SINK_ACKS_MAX) { atomic_fetch_add(&s->acks_dropped, 1); continue; }
        pw_sink_ack *a = &s->acks[s->nacks++];
        a->fingerprint = it[i].fingerprint;
        a->rule_hash = it[i].rule_hash;
        a->seq = it[i].seq;
        a->born = it[i].born;
        a->at = it[i].at;
        a->kind = (uint8_t)it[i].kind;
    }
}

void pw_sink_acknowledge(pw_sink *s, const pw_sink_item *it, int n) {
    pthread_mutex_lock(&s->mu);
    ack_locked(s, it, n);
    pthread_mutex_unlock(&s->mu);
}

uint32_t pw_sink_acks_take(pw_sink *s, pw_sink_ack *out, uint32_t max) {
    pthread_mutex_lock(&s->mu);
    uint32_t n = s->nacks < max ? s->nacks : max;
    memcpy(out, s->acks, (size_t)n * sizeof *out);
    memmove(s->acks, s->acks + n, (size_t)(s->nacks - n) * sizeof *s->acks);
    s->nacks -= n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void pw_sink_count_suppressed(pw_sink *s) { atomic_fetch_add(&s->suppressed, 1); }
void pw_sink_count_acks_dropped(pw_sink *s, uint64_t n) { atomic_fetch_add(&s->acks_dropped, n); }

void pw_sink_unpark_into(pw_sink *s, uintptr_t ticket, pw_sink_item *out) {
    pthread_mutex_lock(&s->mu);
    pw_sink_item *it = parked_at(s, ticket);
    if (it) {
        *out = *it;
        memset(it, 0, sizeof *it);
        s->parked_free[s->nparked_free++] = (uint32_t)(ticket - 1);
        s->inflight++; /* back in the batch */
        s->handed--;
    }
    pthread_mutex_unlock(&s->mu);
}

char *pw_sink_unpark(pw_sink *s, uintptr_t ticket, int take) {
    pthread_mutex_lock(&s->mu);
    pw_sink_item *it = parked_at(s, ticket);
    char *d = it ? it->data : NULL;
    if (it && take == 2) ack_locked(s, it, 1);
    if (it) {
        memset(it, 0, sizeof *it);
        s->parked_free[s->nparked_free++] = (uint32_t)(ticket - 1);
    }
    pthread_mutex_unlock(&s->mu);
    if (take == 1) return d;
    free(d);
    return NULL;
}

void pw_sink_outbox_hold(pw_sink *s) { pthread_mutex_lock(&s->mu); }
void pw_sink_outbox_release(pw_sink *s) { pthread_mutex_unlock(&s->mu); }

static void visit(const pw_sink_item *it, void (*fn)(const pw_snap_note *n, void *ud), void *ud) {
    if (!it->data) return;
    pw_snap_note n = {.fingerprint = it->fingerprint, .at = it->at, .firing = it->firing, .kind = it->kind,
                      .seq = it->seq, .born = it->born, .rule_hash = it->rule_hash, .data = it->data,
                      .len = it->len};
    fn(&n, ud);
}

typedef struct parked_ref { uint64_t seq; uint32_t slot; } parked_ref;
static int parked_cmp(const void *a, const void *b) {
    uint64_t x = ((const parked_ref *)a)->seq, y = ((const parked_ref *)b)->seq;
    return x < y ? -1 : x > y;
}

uint32_t pw_sink_outbox_foreach(const pw_sink *s, void (*fn)(const pw_snap_note *n, void *ud), void *ud) {
    uint32_t before = 0, q = s->conf.queue_max;
    /* parked items are the oldest (handed off before the batch was taken): in the order they were parked */
    uint32_t nparked = q - s->nparked_free;
    if (nparked) {
        /* in parking order: O(n log n), as many as queue_max with the broker down (reload, final snapshot) */
        parked_ref *idx = malloc((size_t)nparked * sizeof *idx);
        if (!idx) return UINT32_MAX;
        uint32_t k = 0;
        for (uint32_t i = 0; idx && i < q && k < nparked; i++)
            if (s->parked[i].data) { idx[k].seq = s->parked_seq[i]; idx[k++].slot = i; }
        if (idx) qsort(idx, k, sizeof *idx, parked_cmp);
        for (uint32_t i = 0; idx && i < k; i++, before++) visit(&s->parked[idx[i].slot], fn, ud);
        free(idx);
    }
    for (int i = 0; i < s->nbatch; i++) if (s->batch[i].data) { visit(&s->batch[i], fn, ud); before++; }
    for (uint32_t i = 0; i < s->count; i++, before++) visit(&s->ring[(s->head + i) % q], fn, ud);
    return before;
}

int pw_sink_requeue(pw_sink *s, const pw_snap_note *n) {
    if (!s || !n) return -1;
    pthread_mutex_lock(&s->mu);
    int full = !s->accepting || held_locked(s) >= s->conf.queue_max;
    pthread_mutex_unlock(&s->mu);
    if (full) { atomic_fetch_add(&s->dropped, 1); return -1; }
    pw_sink_item meta = {.fingerprint = n->fingerprint, .at = n->at, .firing = n->firing, .kind = n->kind,
                         .seq = n->seq, .born = n->born, .rule_hash = n->rule_hash};
    if (enqueue_copy(s, n->data, n->len, &meta) < 0) { atomic_fetch_add(&s->dropped, 1); return -1; }
    return 0;
}

/* ---------- stop, destroy, stats ---------- */

void pw_sink_stop(pw_sink *s, int64_t deadline_ms) {
    if (!s || s->stopped) return;
    s->accepting = 0;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        atomic_store(&s->deadline, deadline_ms == INT64_MAX ? INT64_MAX - 1 : deadline_ms);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (s->ops->wake) s->ops->wake(s);
        pthread_join(s->thread, NULL);
    } else {
        atomic_store(&s->deadline, deadline_ms == INT64_MAX ? INT64_MAX - 1 : deadline_ms);
    }
    /* What the thread did not get to stays queued (not sent any more): the
     * daemon's final snapshot carries it to the next start; destroy frees it. */
    pthread_mutex_lock(&s->mu);
    uint32_t left = s->count;
    pthread_mutex_unlock(&s->mu);
    pw_sink_count_failed(s, left);
    /* Anything else unaccounted (kafka messages whose delivery report never
     * came) is failed too; from here on late callbacks count nothing. */
    uint64_t sub = atomic_load(&s->submitted), done = atomic_load(&s->sent) + atomic_load(&s->failed);
    uint64_t rest = sub > done ? sub - done : 0;
    if (rest) atomic_fetch_add(&s->failed, rest);
    atomic_store(&s->finished, 1);
    s->stopped = 1;
    if (left + rest)
        pw_warn(MOD, "%s %s: stopped with %llu notification%s undelivered (counted as failed here; the queued "
                     "ones go to the final snapshot with snapshots on, or to the new sink on a reload)",
                pw_sink_kind_name(s->conf.kind), s->conf.name, (unsigned long long)(left + rest),
                left + rest == 1 ? "" : "s");
}

void pw_sink_destroy(pw_sink *s) {
    if (!s) return;
    pw_sink_stop(s, pw_time_mono_ms());
    s->ops->fini(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    for (uint32_t i = 0; i < s->count; i++) free(s->ring[(s->head + i) % s->conf.queue_max].data);
    free(s->ring);
    free(s->acks);
    free(s->batch);
    for (uint32_t i = 0; i < s->conf.queue_max; i++) free(s->parked[i].data);
    free(s->parked);
    free(s->parked_seq);
    free(s->parked_free);
    pw_buf_free(&s->rbuf);
    conf_free(&s->conf);
    free(s);
}

void pw_sink_reopen(pw_sink *s) {
    if (!s || !s->ops->reopen) return;
    atomic_store(&s->reopen_req, 1);
    /* mu is only ever held for a few instructions (never across I/O), and
     * signalling under it cannot slip between the thread's check and its wait */
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void pw_sink_stats_get(const pw_sink *s, pw_sink_stats *out) {
    pw_sink *m = (pw_sink *)s; /* atomics are read-only here */
    memset(out, 0, sizeof *out);
    if (!s) return;
    /* sent/failed first: they only grow and never pass submitted */
    out->sent = atomic_load(&m->sent);
    out->failed = atomic_load(&m->failed);
    out->submitted = atomic_load(&m->submitted);
    out->dropped = atomic_load(&m->dropped);
    out->retries = atomic_load(&m->retries);
    out->untracked = atomic_load(&m->untracked);
    out->suppressed = atomic_load(&m->suppressed);
    out->acks_dropped = atomic_load(&m->acks_dropped);
    pthread_mutex_lock(&m->mu);
    out->unacknowledged = m->conf.queue_max - m->nparked_free;
    pthread_mutex_unlock(&m->mu);
    uint64_t done = out->sent + out->failed;
    out->queued = out->submitted > done ? out->submitted - done : 0;
}

/* ---------- rendering helpers shared by the kinds ---------- */

void pw_sink_view_fill(pw_sink_view *v, const pw_notification *n, pw_buf *scratch) {
    const pw_rule_def *r = n->rule;
    const pw_metric_def *m = n->metric;
    v->nlabels = 0;
    for (int i = 0; i < m->nby && v->nlabels < PW_SINK_MAX_LABELS; i++, v->nlabels++) {
        v->lnames[v->nlabels] = m->by[i];
        v->lvals[v->nlabels] = n->label_vals[i];
    }
    for (int i = 0; i < r->nlabels && v->nlabels < PW_SINK_MAX_LABELS; i++, v->nlabels++) {
        v->lnames[v->nlabels] = r->labels[i].key;
        v->lvals[v->nlabels] = r->labels[i].val;
    }
    pw_time_format_s(n->at, v->at, sizeof v->at);
    pw_time_format_s(n->active_since, v->active_since, sizeof v->active_since);
    snprintf(v->fingerprint, sizeof v->fingerprint, "%016llx", (unsigned long long)n->fingerprint);
    memset(&v->tv, 0, sizeof v->tv);
    v->tv.rule = r->name;
    v->tv.metric = m->name;
    v->tv.severity = pw_severity_name(r->severity);
    v->tv.state = n->firing ? "firing" : "resolved";
    v->tv.value = n->value;
    v->tv.threshold = n->threshold;
    v->tv.label_names = v->lnames;
    v->tv.label_values = v->lvals;
    v->tv.nlabels = v->nlabels;

    /* Expand annotations back to back (NUL-separated) into scratch; pointers
     * are taken only at the end because the buffer may move while growing. */
    size_t offs[PW_SINK_MAX_LABELS];
    pw_buf_reset(scratch);
    v->nann = 0;
    for (int i = 0; i < r->nannotations && v->nann < PW_SINK_MAX_LABELS; i++, v->nann++) {
        offs[v->nann] = scratch->len;
        v->anames[v->nann] = r->annotations[i].key;
        pw_template_expand(r->annotations[i].val, &v->tv, scratch);
        pw_buf_putc(scratch, 0);
    }
    for (int i = 0; i < v->nann; i++) v->avals[i] = scratch->data + offs[i];
    v->tv.annotation_names = v->anames;
    v->tv.annotation_values = v->avals;
    v->tv.nannotations = v->nann;
    v->tv.at = v->at;
    v->tv.fingerprint = v->fingerprint;
}
