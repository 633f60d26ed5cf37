/* server.c -- the daemon: config, rules, Kafka, engine, sinks, signals, reload.
 *
 * Design (after Redis's serverCron and brubeck's loop)
 *   - Signal handlers only set flags. The loop polls Kafka with a 100 ms
 *     timeout, so a flag is seen within ~100 ms; the periodic work (wall-clock
 *     evaluation every `evaluate_every`, a stats line every minute with one
 *     line per metric that dropped events at max_series) runs between polls.
 *   - Every message: decode (bounded, validated), reject what cannot be
 *     used (counted by reason, logged at a rate limit, copied to the
 *     dead-letter topic), else hand it to the engine. Nothing from Kafka can
 *     stop the loop.
 *   - Notifications are routed to the sinks a rule names (`notify:`), else to
 *     the default sinks; submitting never blocks (each sink has a bounded
 *     queue and its own thread).
 *   - SIGHUP: parse and validate the config and rules again; on any error the
 *     old ones stay and every problem is logged with FILE:LINE:COL; a set
 *     without any metric (an empty file read mid-write) is refused too. On
 *     success the engine state of unchanged metrics and rules carries over
 *     (pw_engine_adopt) and the log says which metrics start fresh. Sinks are
 *     rebuilt only if their settings changed. Kafka settings need a restart.
 *   - SIGTERM/SIGINT: stop consuming, store and commit offsets, leave the
 *     group, let sinks flush until shutdown_timeout, exit 0.
 *   - Snapshots (the section "snapshots" below; README "Snapshots"): with a
 *     `redis:` section the state is restored at start before consuming, and
 *     every `redis.interval` a fork()ed child serializes the engine from its
 *     copy-on-write view and writes it to Redis (like Redis's BGSAVE), so the
 *     loop stalls only for the fork. The parent reaps the child from the loop,
 *     retries with backoff, may pause consumption after `pause_after` without
 *     a success, and writes a final snapshot in-process at SIGTERM.
 *     The snapshot also holds the sinks' outbox (undelivered notifications),
 *     taken with every sink's queue lock held across the fork, so it matches
 *     the engine state; it is re-queued at restore (none is lost). At
 *     SIGTERM the sinks flush first and the final snapshot keeps the rest.
 *   - The delivery ledger (section "the delivery ledger" below, ledger.h):
 *     sinks acknowledge what they delivered; the loop writes that to a Redis
 *     hash per sink every turn; at restore, outbox notes and replayed
 *     notifications a sink already delivered are not sent again (counted), so
 *     after a kill -9 only notifications in flight (delivered, not yet
 *     recorded) can arrive twice. With `clock: event` there is no wall-clock
 *     evaluation, so the replay makes the same notifications as the first run.
 * Limits: one instance per consumer group (state is not shared or split
 * between instances yet).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "event.h"
#include "ledger.h"
#include "log.h"
#include "owner.h"
#include "redis_store.h"
#include "ruleset.h"
#include "sdnotify.h"
#include "sink.h"
#include "snapshot.h"
#include "source_kafka.h"
#include "timeutil.h"

#define PW_REASON_FUTURE PW_EV__COUNT       /* extra reasons after the decoder's */
#define PW_REASON_LATE (PW_EV__COUNT + 1)
#define PW_REASON_EMPTY (PW_EV__COUNT + 2)
#define PW_REASON__COUNT (PW_EV__COUNT + 3)

static volatile sig_atomic_t g_stop, g_reload;

static void on_signal(int sig) {
    if (sig == SIGHUP) g_reload = 1;
    else g_stop = 1;
}

typedef struct routes {
    int **rule_sinks;           /* per rule: sink indexes */
    int *rule_nsinks;
    int nrules;
} routes;

typedef struct server {
    const char *config_path;
    pw_config *cfg;
    pw_ruleset *rs;
    pw_decoder *dec;
    pw_engine *eng;
    pw_sink **sinks;
    int nsinks;
    routes rt;
    pw_source *src;
    uint64_t rejected[PW_REASON__COUNT];
    uint64_t applied;
    pw_ratelimit rl_bad;
    uint64_t reloads, reload_failures;      /* reload attempts, failed ones */
    int64_t last_reload_ok_ms;              /* wall ms of the last successful (re)load */
    int last_reload_ok;
    char last_reload_result[256];
    struct snapper *snap;       /* NULL without a `redis:` section */
    struct ledger *led;         /* the delivery ledger; NULL without a `redis:` section */
    struct owner_lock *own;     /* the key prefix's owner lock; NULL without a `redis:` section */
    /* HTTP (NULL without an `http:` section): served from this loop, see http.h */
    pw_http *http;
    pw_api_view view;
    pw_latency_hist latency;    /* now - Kafka timestamp, per message */
    pw_source_partition_stats *parts;
    int nparts, cparts;
    int64_t start_ms;
    uint64_t *overflow_seen;    /* per metric of rs: engine overflow count at the last report */
    uint64_t outbox_lost;       /* undelivered notifications no sink could take (restore, reload) */
} server;

static const char *reason_name(int r) {
    if (r < PW_EV__COUNT) return pw_ev_err_name((pw_ev_err)r);
    if (r == PW_REASON_FUTURE) return "future";
    if (r == PW_REASON_LATE) return "late";
    return "empty";
}

/* ---------- routing ---------- */

static void routes_free(routes *rt) {
    for (int i = 0; i < rt->nrules; i++) free(rt->rule_sinks[i]);
    free(rt->rule_sinks);
    free(rt->rule_nsinks);
    memset(rt, 0, sizeof *rt);
}

static int routes_build(routes *rt, const pw_ruleset *rs, const pw_config *c) {
    rt->nrules = rs->nrules;
    rt->rule_sinks = calloc((size_t)rs->nrules + 1, sizeof *rt->rule_sinks);
    rt->rule_nsinks = calloc((size_t)rs->nrules + 1, sizeof *rt->rule_nsinks);
    if (!rt->rule_sinks || !rt->rule_nsinks) return -1;
    for (int i = 0; i < rs->nrules; i++) {
        const pw_rule_def *r = &rs->rules[i];
        rt->rule_sinks[i] = calloc((size_t)c->nsinks + 1, sizeof(int));
        if (!rt->rule_sinks[i]) return -1;
        if (r->nnotify) {
            for (int j = 0; j < r->nnotify; j++) {
                int k = pw_config_sink_index(c, r->notify[j]);
                if (k >= 0) rt->rule_sinks[i][rt->rule_nsinks[i]++] = k;
            }
        } else {
            for (int k = 0; k < c->nsinks; k++)
                if (c->sinks[k].is_default) rt->rule_sinks[i][rt->rule_nsinks[i]++] = k;
        }
    }
    return 0;
}

static int ledger_delivered(server *s, pw_sink *k, uint64_t fp, uint64_t rule_hash, int64_t born, uint32_t seq,
                            int kind, int original, int64_t at);

static void on_notify(const pw_notification *n, void *ud) {
    server *s = ud;
    int ri = (int)(n->rule - s->rs->rules);
    if (ri < 0 || ri >= s->rt.nrules) return;
    for (int i = 0; i < s->rt.rule_nsinks[ri]; i++) {
        pw_sink *k = s->sinks[s->rt.rule_sinks[ri][i]];
        if (ledger_delivered(s, k, n->fingerprint, n->rule->def_hash, n->born, n->seq, pw_notification_kind(n), 0, n->at))
            continue;
        pw_sink_submit(k, n);
    }
    char ts[40];
    pw_info("alert", "%s %s %s at %s", n->rule->name, n->firing ? (n->repeat ? "firing (repeat)" : "firing") : "resolved",
            n->metric->name, pw_time_format_s(n->at, ts, sizeof ts));
}

/* ---------- sinks ---------- */

static void sinks_stop(pw_sink **sinks, int n, int64_t deadline) {
    for (int i = 0; i < n; i++) pw_sink_stop(sinks[i], deadline);
    for (int i = 0; i < n; i++) pw_sink_destroy(sinks[i]);
    free(sinks);
}

static pw_sink **sinks_start(const pw_config *c) {
    pw_sink **v = calloc((size_t)c->nsinks + 1, sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < c->nsinks; i++) {
        char err[512];
        v[i] = pw_sink_new(&c->sinks[i], err, sizeof err);
        if (!v[i] || pw_sink_start(v[i]) < 0) {
            pw_error("sink", "sink '%s': %s", c->sinks[i].name, v[i] ? "cannot start its thread" : err);
            sinks_stop(v, i + (v[i] != NULL), pw_time_mono_ms());
            return NULL;
        }
    }
    return v;
}

static uint64_t h64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ULL; }
    return h;
}
static uint64_t hs(uint64_t h, const char *s) { return s ? h64(h, s, strlen(s) + 1) : h64(h, "\xff", 1); }

/* Fingerprint of everything that configures the sinks (to rebuild them on reload only if it changed). */
static uint64_t sinks_hash(const pw_config *c) {
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < c->nsinks; i++) {
        const pw_sink_conf *s = &c->sinks[i];
        h = hs(h, s->name); h = hs(h, s->path); h = hs(h, s->url); h = hs(h, s->body);
        h = hs(h, s->generator_url); h = hs(h, s->brokers); h = hs(h, s->topic);
        int64_t nums[] = {s->kind, s->is_default, s->timeout_ms, s->retries, s->backoff_ms, s->backoff_max_ms,
                          s->queue_max, s->resend_ms};
        h = h64(h, nums, sizeof nums);
        for (int j = 0; j < s->nheaders; j++) { h = hs(h, s->headers[j].key); h = hs(h, s->headers[j].val); }
        for (int j = 0; j < s->nprops; j++) { h = hs(h, s->props[j].key); h = hs(h, s->props[j].val); }
    }
    return h;
}

/* Whether a reload moves the snapshots elsewhere (another Redis, database or key prefix). */
static int redis_where_changed(const pw_config *a, const pw_config *b) {
    return (a->redis_address == NULL) != (b->redis_address == NULL) ||
           (a->redis_address && (strcmp(a->redis_address, b->redis_address) || a->redis_database != b->redis_database ||
                                 strcmp(a->redis_prefix, b->redis_prefix)));
}

static uint64_t kafka_hash(const pw_config *c) {
    uint64_t h = 14695981039346656037ULL;
    h = hs(h, c->brokers); h = hs(h, c->group); h = hs(h, c->assignment); h = hs(h, c->dead_letter_topic);
    for (int i = 0; i < c->ntopics; i++) h = hs(h, c->topics[i]);
    for (int i = 0; i < c->nkafka_props; i++) { h = hs(h, c->kafka_props[i].key); h = hs(h, c->kafka_props[i].val); }
    return h;
}

/* ---------- loading ---------- */

static void log_diag(const pw_diag *d, const char *what) {
    for (int i = 0; i < d->n; i++)
        pw_log(d->v[i].is_warning ? PW_LOG_WARN : PW_LOG_ERROR, what, "%s", d->v[i].text);
    if (d->dropped) pw_error(what, "(%d more problems not shown)", d->dropped);
}

/* Load config + rules and cross-check them. 0 with *cfg and *rs set, or -1 (logged). */
static int load_all(const char *path, pw_config **cfg, pw_ruleset **rs) {
    pw_diag d;
    pw_diag_init(&d);
    *cfg = pw_config_load(path, &d);
    *rs = NULL;
    if (*cfg) {
        pw_rules_conf rc = {(*cfg)->type_field, (*cfg)->time_field, (*cfg)->id_field};
        *rs = pw_ruleset_load((const char *const *)(*cfg)->rule_paths, (*cfg)->nrule_paths, &rc, &d);
        if (*rs) pw_config_check_rules(*cfg, *rs, &d);
    }
    log_diag(&d, "config");
    int bad = d.errors > 0;
    pw_diag_free(&d);
    if (bad) {
        pw_ruleset_destroy(*rs);
        pw_config_destroy(*cfg);
        *rs = NULL;
        *cfg = NULL;
        return -1;
    }
    return 0;
}

static pw_decoder *decoder_for(const pw_ruleset *rs, const pw_config *c) {
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, c->max_size, c->max_depth};
    return pw_decoder_new(rs->fields, &dc);
}

static pw_engine *engine_for(server *s, const pw_ruleset *rs, const pw_config *c) {
    pw_engine_opts o = {.max_series = c->max_series, .max_pending = c->max_pending, .distinct_max = c->distinct_max};
    return pw_engine_new(rs, &o, on_notify, s);
}

static void log_overflow(server *s);
static void overflow_rebase(server *s);

static void report_kept(const char *metric, int kept, void *ud) {
    (void)ud;
    pw_info("reload", "metric %s: %s", metric, kept ? "unchanged, state kept" : "new or changed, starts empty");
}

static void reload_result(server *s, int ok, const char *what) {
    s->last_reload_ok = ok;
    snprintf(s->last_reload_result, sizeof s->last_reload_result, "%s", what);
    if (ok) s->last_reload_ok_ms = pw_time_now_ms();
    else s->reload_failures++;
    if (!ok) pw_sd_status("reload failed: %s", what);
    pw_sd_ready();
}

/* snapshots block, below: undelivered notifications of old sinks move to the new ones on reload */
static pw_snap_outbox *outbox_collect(server *s);
static void outbox_requeue(server *s, const pw_snap_outbox *ob, int nob, const char *when, int check_ledger);
static void ledger_take(server *s, pw_sink **sinks, int n);
static void ledger_retire(server *s);
static void am_rebuild_all(server *s, const char *when);
static void outbox_free(pw_snap_outbox *ob, int n);

static void snap_soon(server *s);

/* After a successful reload with `clock: event`: evaluate the new rule set once at stream time T, so a rule
 * added or changed that already holds (an `absent`, a threshold) fires now instead of at the next event or
 * bucket boundary, which may be far away. No wall clock is involved: it is the evaluation the engine makes
 * at a boundary, at the current T. A reload is an operator action, not part of the event stream, so a
 * replay after a crash does not repeat it: a snapshot is asked for right away, and the evaluation's alert
 * states survive a crash from then on (README "Reloading"). With `clock: wall` the next periodic
 * evaluation (evaluate_every) does this anyway. */
static void reload_evaluate(server *s) {
    if (s->cfg->clock_wall) return;
    int64_t T = pw_engine_time(s->eng);
    if (T == INT64_MIN) return; /* no event yet: nothing to evaluate */
    uint64_t before = pw_engine_get_stats(s->eng)->notifications;
    pw_engine_evaluate_all(s->eng);
    uint64_t made = pw_engine_get_stats(s->eng)->notifications - before;
    char ts[40];
    pw_info("reload", "rules evaluated once at stream time %s (clock: event): %llu notification%s",
            pw_time_format_s(T, ts, sizeof ts), (unsigned long long)made, made == 1 ? "" : "s");
    snap_soon(s); /* keep its result */
}

static void reload(server *s) {
    pw_sd_reloading();
    s->reloads++;
    pw_info("reload", "reloading %s", s->config_path);
    pw_config *cfg;
    pw_ruleset *rs;
    if (load_all(s->config_path, &cfg, &rs) < 0) {
        pw_error("reload", "reload failed: keeping the running configuration and rules");
        reload_result(s, 0, "invalid configuration or rules (see the log)");
        return;
    }
    if (rs->nmetrics == 0 && s->rs->nmetrics > 0) {
        /* an editor that truncates before writing, or a deploy that copies file by file, can leave an
         * empty file for a moment: an empty set would drop every window and alert state */
        pw_error("reload", "reload refused: the rule files define no metric (an empty or half-written file?); "
                           "keeping the running configuration and %d metrics", s->rs->nmetrics);
        pw_ruleset_destroy(rs);
        pw_config_destroy(cfg);
        reload_result(s, 0, "the rule files define no metric");
        return;
    }
    pw_decoder *dec = decoder_for(rs, cfg);
    routes rt = {0};
    pw_sink **sinks = NULL;
    pw_engine *eng = NULL;
    int rebuild_sinks = sinks_hash(cfg) != sinks_hash(s->cfg);
    if (!dec || routes_build(&rt, rs, cfg) < 0 || (rebuild_sinks && !(sinks = sinks_start(cfg))) ||
        !(eng = engine_for(s, rs, cfg))) {
        pw_error("reload", "reload failed (out of memory or sinks cannot start): keeping the running set");
        if (sinks) sinks_stop(sinks, cfg->nsinks, pw_time_mono_ms());
        pw_decoder_destroy(dec);
        routes_free(&rt);
        pw_ruleset_destroy(rs);
        pw_config_destroy(cfg);
        reload_result(s, 0, "out of memory or sinks cannot start (see the log)");
        return;
    }
    /* From here the swap cannot fail. The old rule set must outlive the old
     * engine, which adopt destroys. */
    log_overflow(s); /* what the old set dropped since the last report */
    pw_engine_adopt(eng, s->eng, report_kept, NULL);
    s->eng = eng;
    pw_decoder_destroy(s->dec);
    s->dec = dec;
    routes_free(&s->rt);
    s->rt = rt;
    if (rebuild_sinks) {
        pw_info("reload", "sinks changed: restarting them");
        pw_sink **old = s->sinks;
        int nold = s->nsinks;
        int64_t deadline = pw_time_mono_ms() + 2000; /* once for all: N hanging sinks cost 2 s, not 2N */
        for (int i = 0; i < nold; i++) pw_sink_stop(old[i], deadline);
        s->sinks = sinks;
        s->nsinks = cfg->nsinks;
        /* what the old sinks could not deliver moves to the new ones of the same name and kind */
        server tmp = *s;
        tmp.sinks = old;
        tmp.nsinks = nold;
        pw_snap_outbox *ob = outbox_collect(&tmp);
        if (ob) outbox_requeue(s, ob, nold, "reload", 0);
        else
            pw_error("reload", "out of memory collecting the old sinks' undelivered notifications: they are lost "
                               "(counted as failed by the old sinks)");
        outbox_free(ob, nold);
        am_rebuild_all(s, "reload");
        ledger_take(s, old, nold); /* what they delivered before they stopped */
        sinks_stop(old, nold, pw_time_mono_ms());
        ledger_retire(s); /* the ledger state of sinks that are gone */
    }
    if (kafka_hash(cfg) != kafka_hash(s->cfg))
        pw_warn("reload", "kafka settings changed: they take effect at the next restart");
    if (redis_where_changed(cfg, s->cfg)) {
        /* the snapshots, the ledger and the owner lock stay where the state was restored from and the lock
         * was taken (the running config keeps them): a move needs a restart, which restores from there */
        pw_warn("reload", "redis address, database or key_prefix changed: they take effect at the next restart");
        char *t = cfg->redis_address; cfg->redis_address = s->cfg->redis_address; s->cfg->redis_address = t;
        t = cfg->redis_prefix; cfg->redis_prefix = s->cfg->redis_prefix; s->cfg->redis_prefix = t;
        int d = cfg->redis_database; cfg->redis_database = s->cfg->redis_database; s->cfg->redis_database = d;
    }
    if ((cfg->http_listen == NULL) != (s->cfg->http_listen == NULL) ||
        (cfg->http_listen && strcmp(cfg->http_listen, s->cfg->http_listen)))
        pw_warn("reload", "http settings changed: they take effect at the next restart");
    pw_ruleset_destroy(s->rs);
    s->rs = rs;
    pw_config_destroy(s->cfg);
    s->cfg = cfg;
    pw_log_setup((pw_log_level)cfg->log_level, cfg->log_json);
    overflow_rebase(s);
    pw_info("reload", "reloaded: %d metrics, %d rules", rs->nmetrics, rs->nrules);
    reload_result(s, 1, "ok");
    reload_evaluate(s);
}

/* ---------- messages ---------- */

static void reject(server *s, const pw_source_msg *m, int reason) {
    s->rejected[reason]++;
    uint64_t sup;
    if (pw_ratelimit_allow(&s->rl_bad, &sup))
        pw_warn("events", "rejected message %s/%d@%lld: %s (%llu more rejected since last report)", m->topic,
                (int)m->partition, (long long)m->offset, reason_name(reason), (unsigned long long)sup);
    pw_source_dead_letter(s->src, m, reason_name(reason));
}

static void on_message(const pw_source_msg *m, void *ud) {
    server *s = ud;
    if (!m->payload || !m->len) { reject(s, m, PW_REASON_EMPTY); return; }
    pw_event ev;
    pw_ev_err err = pw_decoder_decode(s->dec, m->payload, m->len, &ev);
    if (err != PW_EV_OK) { reject(s, m, err); return; }
    if (ev.ts > m->now_ms + s->cfg->max_future_ms) { reject(s, m, PW_REASON_FUTURE); return; }
    int64_t T = pw_engine_time(s->eng);
    if (s->cfg->allowed_lateness_ms > 0 && T != INT64_MIN && ev.ts < T - s->cfg->allowed_lateness_ms) {
        reject(s, m, PW_REASON_LATE);
        return;
    }
    if (m->kafka_ts >= 0) pw_latency_observe(&s->latency, (double)(m->now_ms - m->kafka_ts));
    pw_engine_event(s->eng, &ev);
    s->applied++;
}

static void snap_log_stats(server *s);
static void ledger_log_stats(server *s);

/* Cardinality (engine.max_series): once per stats interval, one line per metric that dropped events since
 * the last report, so a label explosion is visible without a line per event. */
static void log_overflow(server *s) {
    for (int i = 0; i < s->rs->nmetrics; i++) {
        uint64_t now = pw_engine_metric_stats(s->eng, i)->overflow;
        uint64_t prev = s->overflow_seen ? s->overflow_seen[i] : 0;
        if (now > prev)
            pw_warn("stats", "metric %s: %llu events dropped since the last report: max_series (%u live series) "
                             "reached (%llu dropped in total)",
                    s->rs->metrics[i].name, (unsigned long long)(now - prev), (unsigned)s->cfg->max_series,
                    (unsigned long long)now);
        if (s->overflow_seen) s->overflow_seen[i] = now;
    }
}

/* After start or reload: the baseline of log_overflow for the current rule set (counters that carried
 * over are not reported twice). */
static void overflow_rebase(server *s) {
    uint64_t *v = calloc((size_t)s->rs->nmetrics + 1, sizeof *v);
    for (int i = 0; v && i < s->rs->nmetrics; i++) v[i] = pw_engine_metric_stats(s->eng, i)->overflow;
    free(s->overflow_seen);
    s->overflow_seen = v; /* NULL (out of memory): reports every interval's total instead */
}

static void log_stats(server *s) {
    pw_source_stats ss;
    pw_source_stats_get(s->src, &ss);
    uint64_t rej = 0;
    for (int i = 0; i < PW_REASON__COUNT; i++) rej += s->rejected[i];
    const pw_engine_stats *es = pw_engine_get_stats(s->eng);
    pw_info("stats", "consumed %llu, applied %llu, rejected %llu, redelivered %llu, alerts firing %llu pending %llu, "
                     "notifications %llu",
            (unsigned long long)ss.consumed, (unsigned long long)s->applied, (unsigned long long)rej,
            (unsigned long long)ss.redelivered, (unsigned long long)es->firing, (unsigned long long)es->pending,
            (unsigned long long)es->notifications);
    log_overflow(s);
    snap_log_stats(s);
    ledger_log_stats(s);
    for (int i = 0; i < s->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(s->sinks[i], &st);
        if (st.failed || st.dropped)
            pw_warn("stats", "sink %s: sent %llu, failed %llu, dropped %llu, queued %llu", pw_sink_name(s->sinks[i]),
                    (unsigned long long)st.sent, (unsigned long long)st.failed, (unsigned long long)st.dropped,
                    (unsigned long long)st.queued);
    }
}

/* ---------- snapshots (issue 5): restore at start, forked writer, final write ---------- */

typedef struct snapper {
    pid_t child;                /* 0 when no writer runs */
    int pipefd;                 /* read end: the child's one-line result */
    int64_t child_started, fork_ms_x1000; /* mono ms; fork() duration in microseconds */
    int64_t next_due;           /* mono ms of the next attempt */
    int64_t last_ok;            /* mono ms of the last success (start-up counts as one) */
    int fails;                  /* consecutive failures */
    uint64_t ok, failed;
    int64_t last_dur_us;        /* the last successful writer's duration (child), for /metrics */
    int paused;
} snapper;

static pw_redis *redis_for(const pw_config *c) {
    pw_redis_conf rc = {c->redis_address, c->redis_database, c->redis_username, c->redis_password,
                        c->redis_prefix, c->redis_connect_timeout_ms, c->redis_command_timeout_ms, 0};
    const char *chunk = getenv("PIPEWATCH_SNAPSHOT_CHUNK_BYTES"); /* tests only: exercise chunking */
    if (chunk) rc.chunk_bytes = (size_t)strtoull(chunk, NULL, 10);
    return pw_redis_new(&rc);
}

/* ---------- the owner lock (owner.h; README "Snapshots", "One daemon per key prefix") ----------
 * Taken before anything else touches Redis or Kafka (a second daemon must not join the consumer group or
 * restore a snapshot). Renewed every OWNER_RENEW_MS (or every snapshot interval if shorter) by a thread of
 * its own on its own connection, so a slow Redis never stalls the loop; released at an orderly stop after
 * that thread is joined. Found held by another while running (it expired while Redis was unreachable and
 * another daemon took it, or someone replaced it): the thread stops renewing, logs it and sets `lost`; the
 * loop then writes no more snapshots, no final one and no delivery ledger (counted as failed snapshots); it
 * never takes the lock back by itself (the two states have diverged: an operator decides). */
#define OWNER_TTL_MS 30000
#define OWNER_RENEW_MS 10000
#define OWNER_TIMEOUT_MS 1000

typedef struct owner_lock {
    pw_redis *r;                /* the start-up call, then the renewal thread, then the release: never two at once */
    pw_owner_id me;
    char value[PW_OWNER_VALUE_MAX];
    char *prefix;               /* a copy (a reload frees the config it came from) */
    int64_t renew_ms;
    _Atomic int held;           /* 1 while the lock is ours */
    _Atomic int lost;           /* another daemon holds it: no more writes under the prefix */
    _Atomic uint64_t conflicts; /* times the lock was found held by another while running */
    /* the renewal thread */
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* signalled to stop it */
    int stop;                   /* under mu */
} owner_lock;

static void owner_destroy(owner_lock *o) {
    if (!o) return;
    if (o->started) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
    }
    pw_redis_destroy(o->r);
    free(o->prefix);
    free(o);
}

/* "pid 123 on host db1, owner since 2026-11-27T10:00:00Z" (or the raw value if it is not ours to read). */
static void owner_describe(const char *holder, char *out, size_t n) {
    pw_owner_id h;
    if (pw_owner_parse(holder, &h) < 0) { snprintf(out, n, "'%.200s'", holder); return; }
    char ts[40];
    snprintf(out, n, "pid %ld on host %s, owner since %s", h.pid, h.host, pw_time_format_s(h.since_ms, ts, sizeof ts));
}

/* The renewal thread: renew when due (a failed try again after 1 s: the lock lasts OWNER_TTL_MS); stop when
 * told, or when another daemon holds the lock. */
static void *owner_thread(void *arg) {
    owner_lock *o = arg;
    pw_ratelimit rl = PW_RATELIMIT_INIT(60000, 1);
    int64_t next = pw_time_mono_ms() + o->renew_ms;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->stop && pw_time_mono_ms() < next) {
            struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
            pthread_cond_timedwait(&o->cv, &o->mu, &ts);
        }
        if (o->stop) break;
        pthread_mutex_unlock(&o->mu);
        char holder[PW_OWNER_VALUE_MAX], err[512];
        int r = pw_redis_owner(o->r, PW_REDIS_OWNER_TAKE, o->value, NULL, OWNER_TTL_MS, holder, sizeof holder, NULL,
                               err, sizeof err);
        int64_t now = pw_time_mono_ms();
        uint64_t sup;
        if (r < 0) {
            next = now + 1000;
            if (pw_ratelimit_allow(&rl, &sup))
                pw_warn("snapshot", "owner lock of redis prefix %s not renewed (%s); it expires %d s after the last "
                                    "renewal (%llu similar messages suppressed)", o->prefix, err, OWNER_TTL_MS / 1000,
                        (unsigned long long)sup);
        } else if (r > 0) {
            if (r == 2)
                pw_warn("snapshot", "the owner lock of redis prefix %s was gone (Redis restarted or was flushed, or the "
                                    "lock expired while Redis was unreachable): taken again", o->prefix);
            next = now + o->renew_ms;
        } else {
            char who[400];
            owner_describe(holder, who, sizeof who);
            atomic_store(&o->held, 0);
            atomic_fetch_add(&o->conflicts, 1);
            atomic_store(&o->lost, 1);
            pw_error("snapshot", "the owner lock of redis prefix %s is held by another pipewatch (%s): from now on "
                                 "this daemon writes no snapshot and no delivery ledger there (they would overwrite "
                                 "the other's). Stop one of the two, then restart this one (or give it its own "
                                 "redis.key_prefix)", o->prefix, who);
            return NULL;
        }
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

static int owner_thread_start(owner_lock *o) {
    if (pthread_mutex_init(&o->mu, NULL)) return -1;
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) || pthread_condattr_setclock(&a, CLOCK_MONOTONIC) || pthread_cond_init(&o->cv, &a)) {
        pthread_mutex_destroy(&o->mu);
        return -1;
    }
    pthread_condattr_destroy(&a);
    sigset_t all, old; /* signals go to the main thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&o->th, NULL, owner_thread, o);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
        return -1;
    }
    o->started = 1;
    return 0;
}

/* Start-up: take the prefix's lock. 0 taken, 1 refused (another daemon runs: exit 1), -1 stopped while
 * waiting for Redis. */
static int owner_start(server *s) {
    const pw_config *c = s->cfg;
    if (!c->redis_address) return 0;
    owner_lock *o = calloc(1, sizeof *o);
    if (!o) { pw_error("main", "out of memory at start-up"); return 1; }
    s->own = o;
    pw_owner_self(&o->me);
    pw_owner_format(&o->me, o->value, sizeof o->value);
    if (!(o->prefix = strdup(c->redis_prefix))) { pw_error("main", "out of memory at start-up"); return 1; }
    o->renew_ms = c->snapshot_interval_ms < OWNER_RENEW_MS ? c->snapshot_interval_ms : OWNER_RENEW_MS;
    pw_redis_conf rc = {c->redis_address, c->redis_database, c->redis_username, c->redis_password, c->redis_prefix,
                        c->redis_connect_timeout_ms < OWNER_TIMEOUT_MS ? c->redis_connect_timeout_ms : OWNER_TIMEOUT_MS,
                        c->redis_command_timeout_ms < OWNER_TIMEOUT_MS ? c->redis_command_timeout_ms : OWNER_TIMEOUT_MS,
                        0};
    if (!(o->r = pw_redis_new(&rc))) { pw_error("main", "out of memory at start-up"); return 1; }
    for (int wait_ms = 500, races = 0; !g_stop;) {
        char holder[PW_OWNER_VALUE_MAX], err[512], who[400];
        int64_t pttl = 0;
        int r = pw_redis_owner(o->r, PW_REDIS_OWNER_TAKE, o->value, NULL, OWNER_TTL_MS, holder, sizeof holder, &pttl,
                               err, sizeof err);
        if (r == 0) {
            pw_owner_id h;
            const char *why = "its value was not written by pipewatch";
            pw_owner_verdict v = PW_OWNER_UNKNOWN;
            if (pw_owner_parse(holder, &h) == 0) v = pw_owner_judge(&o->me, &h, pw_owner_proc_start(h.pid), &why);
            owner_describe(holder, who, sizeof who);
            if (v != PW_OWNER_GONE) {
                char exp[160] = "";
                if (v == PW_OWNER_UNKNOWN && pttl > 0)
                    snprintf(exp, sizeof exp, " If it is no longer running, its lock (key %sowner) expires in %.1f s: "
                                              "start again after that.", c->redis_prefix, (double)pttl / 1000.0);
                pw_error("main", "%s: redis.key_prefix '%s' is already used by another pipewatch (%s; %s): two daemons "
                                 "on one prefix would overwrite each other's snapshots and delivery ledger. Stop the "
                                 "other daemon, or give this one its own redis.key_prefix.%s Not starting.",
                         s->config_path, c->redis_prefix, who, why, exp);
                return 1;
            }
            r = pw_redis_owner(o->r, PW_REDIS_OWNER_REPLACE, o->value, holder, OWNER_TTL_MS, NULL, 0, NULL, err,
                               sizeof err);
            if (r > 0) {
                pw_info("snapshot", "took over the owner lock of redis prefix %s from %s: %s", c->redis_prefix, who,
                        why);
                r = 1;
            } else if (r == 0 && ++races < 10) {
                continue; /* it changed meanwhile: judge the new holder */
            } else if (r == 0) {
                snprintf(err, sizeof err, "the owner lock keeps changing hands");
                r = -1;
            }
        }
        if (r > 0) {
            atomic_store(&o->held, 1);
            if (owner_thread_start(o) < 0) {
                pw_error("main", "cannot start the owner lock's renewal thread");
                return 1;
            }
            pw_info("snapshot", "owner of redis prefix %s (key %sowner = %s; it expires %d s after its last renewal, "
                                "renewed every %.1f s)", c->redis_prefix, c->redis_prefix, o->value, OWNER_TTL_MS / 1000,
                    (double)o->renew_ms / 1000.0);
            return 0;
        }
        pw_warn("snapshot", "owner lock of redis prefix %s: %s: retrying in %.1f s (nothing is consumed before it "
                            "is taken)", c->redis_prefix, err, wait_ms / 1000.0);
        usleep((useconds_t)wait_ms * 1000);
        wait_ms = wait_ms < 8000 ? wait_ms * 2 : 10000;
    }
    return -1;
}

static int owner_lost(const server *s) { return s->own && atomic_load(&s->own->lost); }

/* Orderly stop (and exits after start-up), after the final snapshot and the last ledger writes: stop the
 * renewal thread, then delete the lock if it is still ours. */
static void owner_release(server *s) {
    owner_lock *o = s->own;
    if (!o) return;
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        o->stop = 1;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->th, NULL);
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
        o->started = 0;
    }
    if (!atomic_load(&o->held)) return;
    char err[512];
    int r = pw_redis_owner(o->r, PW_REDIS_OWNER_RELEASE, o->value, NULL, OWNER_TTL_MS, NULL, 0, NULL, err, sizeof err);
    if (r > 0) pw_info("snapshot", "released the owner lock of redis prefix %s", o->prefix);
    else if (r == 0) pw_warn("snapshot", "the owner lock of redis prefix %s is held by another pipewatch: left to it",
                             o->prefix);
    else pw_warn("snapshot", "owner lock of redis prefix %s not released (%s): it expires in at most %d s", o->prefix,
                 err, OWNER_TTL_MS / 1000);
    atomic_store(&o->held, 0);
}

/* ---------- the delivery ledger (README "Snapshots", ledger.h) ----------
 * Per sink name: the map loaded at restore, consulted by on_notify until the replay has passed each entry,
 * and the acknowledgements taken from the sink but not yet written. They are written on the main thread's own
 * Redis connection, one HSET per sink per loop turn, with short timeouts (a slow Redis costs the loop at most
 * LEDGER_TIMEOUT_MS per try) and a backoff while Redis is unreachable; what does not fit is counted
 * (pipewatch_sink_ledger_acks_dropped_total). The forked snapshot writer prunes the hashes (ledger_prune). */
#define LEDGER_PEND_MAX 16384u
#define LEDGER_TIMEOUT_MS 500
#define LEDGER_CHUNK 1000

typedef struct ledger_sink {
    char *name;
    char *key;                  /* "delivered:<name>" (the store adds the prefix) */
    pw_ledger *map;             /* NULL once empty */
    pw_sink_ack *pend;          /* LEDGER_PEND_MAX */
    uint32_t npend;
    uint64_t suppressed;        /* notifications not re-sent since the restore */
    uint64_t logged;            /* the suppressed count last logged */
} ledger_sink;

typedef struct ledger {
    ledger_sink *v;
    int n;
    size_t entries;             /* in all maps: 0 = nothing to check */
    pw_redis *r;
    int64_t next_try;           /* mono ms */
    int fails;
    uint64_t write_failures;
    pw_ratelimit rl;
    char (*fields)[17];         /* LEDGER_CHUNK each: the flush's text, allocated once */
    char (*vals)[PW_LEDGER_VALUE_MAX];
} ledger;

static ledger_sink *ledger_find(ledger *l, const char *name, int add) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name)) return &l->v[i];
    if (!add) return NULL;
    ledger_sink *v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);
    if (!v) return NULL;
    l->v = v;
    ledger_sink *ls = &l->v[l->n];
    memset(ls, 0, sizeof *ls);
    ls->name = strdup(name);
    ls->key = malloc(strlen(name) + sizeof "delivered:");
    ls->pend = malloc(LEDGER_PEND_MAX * sizeof *ls->pend);
    if (!ls->name || !ls->key || !ls->pend) {
        free(ls->name);
        free(ls->key);
        free(ls->pend);
        return NULL;
    }
    sprintf(ls->key, "delivered:%s", name);
    l->n++;
    return ls;
}

static ledger *ledger_new(const pw_config *c) {
    ledger *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pw_redis_conf rc = {c->redis_address, c->redis_database, c->redis_username, c->redis_password, c->redis_prefix,
                        c->redis_connect_timeout_ms < LEDGER_TIMEOUT_MS ? c->redis_connect_timeout_ms : LEDGER_TIMEOUT_MS,
                        c->redis_command_timeout_ms < LEDGER_TIMEOUT_MS ? c->redis_command_timeout_ms : LEDGER_TIMEOUT_MS,
                        0};
    l->r = pw_redis_new(&rc);
    l->rl = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 2);
    l->fields = malloc(LEDGER_CHUNK * sizeof *l->fields);
    l->vals = malloc(LEDGER_CHUNK * sizeof *l->vals);
    if (!l->r || !l->fields || !l->vals) {
        pw_redis_destroy(l->r);
        free(l->fields);
        free(l->vals);
        free(l);
        return NULL;
    }
    return l;
}

static void ledger_destroy(ledger *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].key);
        free(l->v[i].pend);
        pw_ledger_destroy(l->v[i].map);
    }
    free(l->v);
    pw_redis_destroy(l->r);
    free(l->fields);
    free(l->vals);
    free(l);
}

typedef struct ledger_load { pw_ledger *map; uint64_t bad; } ledger_load;
static void ledger_load_field(const char *f, size_t fl, const char *v, size_t vl, void *ud) {
    ledger_load *ll = ud;
    pw_ledger_entry e;
    if (pw_ledger_parse(f, fl, v, vl, &e) < 0 || pw_ledger_put(ll->map, &e) < 0) ll->bad++;
}

static void ledger_log_suppressed(ledger_sink *ls, const char *why) {
    if (ls->suppressed == ls->logged) return;
    pw_info("snapshot", "sink '%s': %llu notification%s not sent again: already delivered before the restart "
                        "(delivery ledger%s)", ls->name, (unsigned long long)ls->suppressed,
            ls->suppressed == 1 ? "" : "s", why);
    ls->logged = ls->suppressed;
}

/* Tell the maps the life each restored alert is in (see ledger.h). */
static void ledger_bind_alert(const pw_rule_def *r, const pw_metric_def *m, const char *const *lv, const pw_alert *a,
                              void *ud) {
    ledger *l = ud;
    uint64_t fp = pw_alert_fingerprint(r, m, lv);
    for (int i = 0; i < l->n; i++) pw_ledger_restored(l->v[i].map, fp, a->born, a->seq);
}

/* The hashes of sinks the config no longer has (removed or renamed): deleted at start, so the ledger stays
 * bounded by the configured sinks. Failures only leave them for the next start. */
typedef struct stale_hashes { server *s; char **names; int n, cap; } stale_hashes;
static void stale_hash(const char *name, void *ud) {
    stale_hashes *sh = ud;
    const char *sink = name + strlen("delivered:");
    for (int i = 0; i < sh->s->nsinks; i++)
        if (!strcmp(pw_sink_name(sh->s->sinks[i]), sink)) return;
    if (sh->n == sh->cap) {
        int cap = sh->cap ? sh->cap * 2 : 8;
        char **v = realloc(sh->names, (size_t)cap * sizeof *v);
        if (!v) return;
        sh->names = v;
        sh->cap = cap;
    }
    if ((sh->names[sh->n] = strdup(name))) sh->n++;
}
static void ledger_drop_removed_sinks(server *s) {
    stale_hashes sh = {s, NULL, 0, 0};
    char err[256];
    if (pw_redis_keys_foreach(s->led->r, "delivered:*", stale_hash, &sh, err, sizeof err) == 0)
        for (int i = 0; i < sh.n; i++)
            if (pw_redis_del(s->led->r, sh.names[i], err, sizeof err) == 0)
                pw_info("snapshot", "delivery ledger: deleted %s (no sink of that name any more)", sh.names[i]);
    for (int i = 0; i < sh.n; i++) free(sh.names[i]);
    free(sh.names);
}

/* Restore: load every sink's hash (before consuming) and relate it to the restored alerts. -1 if Redis
 * failed (err). */
static int ledger_load_all(server *s, char *err, size_t errlen) {
    ledger *l = s->led;
    ledger_drop_removed_sinks(s);
    for (int i = 0; i < s->nsinks; i++) {
        ledger_sink *ls = ledger_find(l, pw_sink_name(s->sinks[i]), 1);
        if (!ls) { snprintf(err, errlen, "out of memory"); return -1; }
        pw_ledger_destroy(ls->map);
        ls->map = pw_ledger_new();
        if (!ls->map) { snprintf(err, errlen, "out of memory"); return -1; }
        ledger_load ll = {ls->map, 0};
        if (pw_redis_hash_foreach(l->r, ls->key, ledger_load_field, &ll, err, errlen) < 0) return -1;
        if (ll.bad)
            pw_warn("snapshot", "delivery ledger of sink '%s': %llu malformed entries ignored (their notifications "
                                "may be sent again)", ls->name, (unsigned long long)ll.bad);
    }
    pw_engine_foreach_alert(s->eng, ledger_bind_alert, l);
    for (int i = 0; i < l->n; i++) l->entries += pw_ledger_size(l->v[i].map);
    return 0;
}

static void ledger_unload(ledger *l) {
    for (int i = 0; i < l->n; i++) {
        pw_ledger_destroy(l->v[i].map);
        l->v[i].map = NULL;
    }
    l->entries = 0;
}

/* Starting with empty state: the hashes describe alerts that are gone (their new lives start at seq 1 with
 * births that may be earlier, e.g. history consumed again): delete them. */
static void ledger_forget(server *s) {
    ledger *l = s->led;
    ledger_unload(l);
    for (int i = 0; i < s->nsinks; i++) {
        char name[1100], err[256];
        snprintf(name, sizeof name, "delivered:%s", pw_sink_name(s->sinks[i]));
        if (pw_redis_del(l->r, name, err, sizeof err) < 0)
            pw_warn("snapshot", "delivery ledger of sink '%s' not cleared (%s): after a later crash it may keep "
                                "notifications of new alerts from being sent", pw_sink_name(s->sinks[i]), err);
    }
}

/* After the outbox was checked: drop what no replayed notification can match (ledger.h), say what is left. */
static void ledger_restore_done(server *s, int64_t created_ms) {
    ledger *l = s->led;
    l->entries = 0;
    for (int i = 0; i < l->n; i++) {
        ledger_sink *ls = &l->v[i];
        if (!ls->map) continue;
        pw_ledger_restored_done(ls->map, created_ms);
        ledger_log_suppressed(ls, "; outbox notes of the snapshot delivered after it was taken");
        pw_info("snapshot", "delivery ledger of sink '%s': %zu alert%s with a notification delivered since the "
                            "snapshot was taken or shortly before", ls->name, pw_ledger_size(ls->map),
                pw_ledger_size(ls->map) == 1 ? "" : "s");
        l->entries += pw_ledger_size(ls->map);
        if (!pw_ledger_size(ls->map)) { pw_ledger_destroy(ls->map); ls->map = NULL; }
    }
}


static void ledger_log_stats(server *s) {
    for (int i = 0; s->led && i < s->led->n; i++) ledger_log_suppressed(&s->led->v[i], "");
    if (s->led && s->led->write_failures)
        pw_warn("stats", "delivery ledger: %llu failed writes (acknowledgements kept and retried)",
                (unsigned long long)s->led->write_failures);
}

/* Whether sink k already delivered this notification before the restart (then it is counted, not sent). */
static int ledger_delivered(server *s, pw_sink *k, uint64_t fp, uint64_t rule_hash, int64_t born, uint32_t seq,
                            int kind, int original, int64_t at) {
    ledger *l = s->led;
    if (!l || !l->entries || !seq) return 0;
    /* Alertmanager: re-sending is harmless (it keys alerts by labels), and the sink's table of firing
     * alerts, which it re-sends every `resend`, is built from what it delivers: never suppress there */
    if (pw_sink_kind_of(k) == PW_SINK_ALERTMANAGER) return 0;
    ledger_sink *ls = ledger_find(l, pw_sink_name(k), 0);
    if (!ls || !ls->map) return 0;
    size_t before = pw_ledger_size(ls->map);
    int skip = pw_ledger_check(ls->map, fp, rule_hash, born, seq, kind, original, at);
    l->entries -= before - pw_ledger_size(ls->map);
    if (skip) {
        pw_sink_count_suppressed(k);
        ls->suppressed++;
    }
    if (!pw_ledger_size(ls->map)) { /* the replay has passed every entry of this sink */
        pw_ledger_destroy(ls->map);
        ls->map = NULL;
        ledger_log_suppressed(ls, "; the replay has caught up with it");
    }
    return skip;
}

/* After a reload that rebuilt the sinks: free the per-sink ledger state of sinks that are gone (removed or
 * renamed), so the ledger stays bounded by the configured sinks however many reloads rename one, and delete
 * their Redis hashes, as a start does (ledger_drop_removed_sinks). Their acknowledgements not yet written
 * go with them: no sink of that name can send those notifications again. A failed DEL only leaves the hash
 * for the next start. */
static void ledger_retire(server *s) {
    ledger *l = s->led;
    if (!l) return;
    int keep = 0;
    for (int i = 0; i < l->n; i++) {
        ledger_sink *ls = &l->v[i];
        int live = 0;
        for (int j = 0; j < s->nsinks && !live; j++) live = !strcmp(pw_sink_name(s->sinks[j]), ls->name);
        if (live) { l->v[keep++] = *ls; continue; }
        char err[256];
        if (owner_lost(s))
            ; /* the prefix is another daemon's now: write nothing there */
        else if (pw_redis_del(l->r, ls->key, err, sizeof err) == 0)
            pw_info("reload", "delivery ledger: deleted %s (no sink of that name any more)", ls->key);
        else
            pw_warn("reload", "delivery ledger: %s not deleted (%s): the next start deletes it", ls->key, err);
        ledger_log_suppressed(ls, "");
        l->entries -= pw_ledger_size(ls->map);
        free(ls->name);
        free(ls->key);
        free(ls->pend);
        pw_ledger_destroy(ls->map);
    }
    l->n = keep;
}

/* Take the sinks' acknowledgements (every loop turn; and old sinks before a reload destroys them). */
static void ledger_take(server *s, pw_sink **sinks, int n) {
    ledger *l = s->led;
    if (!l) return;
    for (int i = 0; i < n; i++) {
        ledger_sink *ls = ledger_find(l, pw_sink_name(sinks[i]), 1);
        if (!ls) continue;
        ls->npend += pw_sink_acks_take(sinks[i], ls->pend + ls->npend, LEDGER_PEND_MAX - ls->npend);
    }
}

/* Write what was taken (force: ignore the backoff, at shutdown). */
static void ledger_flush(server *s, int force) {
    ledger *l = s->led;
    if (!l || owner_lost(s)) return; /* another daemon writes under the prefix: never overwrite its ledger */
    int64_t now = pw_time_mono_ms();
    if (!force && now < l->next_try) return;
    const char *fv[2 * LEDGER_CHUNK];
    char (*fields)[17] = l->fields, (*vals)[PW_LEDGER_VALUE_MAX] = l->vals;
    for (int i = 0; i < l->n; i++) {
        ledger_sink *ls = &l->v[i];
        while (ls->npend) {
            uint32_t c = ls->npend < LEDGER_CHUNK ? ls->npend : LEDGER_CHUNK;
            int64_t wall = pw_time_now_ms();
            for (uint32_t j = 0; j < c; j++) {
                pw_ledger_entry e = {.fingerprint = ls->pend[j].fingerprint, .rule_hash = ls->pend[j].rule_hash,
                                     .born = ls->pend[j].born, .at = ls->pend[j].at, .seq = ls->pend[j].seq, .kind = ls->pend[j].kind,
                                     .written_ms = wall};
                pw_ledger_format(&e, fields[j], vals[j]);
                fv[2 * j] = fields[j];
                fv[2 * j + 1] = vals[j];
            }
            char err[512];
            if (pw_redis_hash_set(l->r, ls->key, fv, (int)c, err, sizeof err) < 0) {
                l->write_failures++;
                l->fails++;
                int64_t delay = 500LL << (l->fails < 5 ? l->fails - 1 : 4); /* 0.5 s ... 8 s */
                l->next_try = now + delay;
                uint64_t sup;
                if (pw_ratelimit_allow(&l->rl, &sup))
                    pw_warn("snapshot", "delivery ledger: cannot record %u delivered notification%s of sink '%s' (kept, "
                                        "retry in %.1f s; %llu similar messages suppressed): %s", ls->npend,
                            ls->npend == 1 ? "" : "s", ls->name, (double)delay / 1000.0, (unsigned long long)sup, err);
                return;
            }
            l->fails = 0;
            memmove(ls->pend, ls->pend + c, (size_t)(ls->npend - c) * sizeof *ls->pend);
            ls->npend -= c;
        }
    }
}

/* The forked writer, after its snapshot is visible: delete the ledger fields of alerts that are not in it
 * (no state, never notified: series forgotten, rules removed), which bounds the hashes by live alerts. Only
 * fields written before the fork are deleted (a newer one may belong to an alert born after the fork), and
 * only if unchanged (one Lua call per chunk compares the value). Failures only leave fields for next time. */
static const char PRUNE_LUA[] =
    "local n = 0 "
    "for i = 1, #ARGV, 2 do "
    "  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end "
    "end return n";
static void live_alert(const pw_rule_def *r, const pw_metric_def *m, const char *const *lv, const pw_alert *a,
                       void *ud) {
    (void)a;
    pw_ledger_entry e = {.fingerprint = pw_alert_fingerprint(r, m, lv), .seq = 1};
    pw_ledger_put(ud, &e);
}
typedef struct prune_scan { pw_ledger *live; int64_t fork_wall; pw_buf fv; uint32_t n; } prune_scan;
static void prune_field(const char *f, size_t fl, const char *v, size_t vl, void *ud) {
    prune_scan *ps = ud;
    pw_ledger_entry e;
    if (pw_ledger_parse(f, fl, v, vl, &e) == 0 && (pw_ledger_has(ps->live, e.fingerprint) || e.written_ms >= ps->fork_wall))
        return;
    pw_buf_append(&ps->fv, f, fl); /* malformed ones go too */
    pw_buf_putc(&ps->fv, 0);
    pw_buf_append(&ps->fv, v, vl);
    pw_buf_putc(&ps->fv, 0);
    ps->n++;
}
static void ledger_prune(server *s, int64_t fork_wall) {
    pw_ledger *live = pw_ledger_new();
    if (!live) return;
    pw_engine_foreach_alert(s->eng, live_alert, live);
    pw_redis *r = redis_for(s->cfg);
    for (int i = 0; r && i < s->nsinks; i++) {
        char name[1100];
        snprintf(name, sizeof name, "delivered:%s", pw_sink_name(s->sinks[i]));
        prune_scan ps = {live, fork_wall, {0}, 0};
        pw_buf_init(&ps.fv);
        char err[256];
        if (pw_redis_hash_foreach(r, name, prune_field, &ps, err, sizeof err) == 0 && ps.n) {
            char key[1200];
            snprintf(key, sizeof key, "%s%s", s->cfg->redis_prefix, name);
            const char **argv = malloc((size_t)(2 * LEDGER_CHUNK + 3) * sizeof *argv);
            const char *p = ps.fv.data;
            for (uint32_t done = 0; argv && done < ps.n;) {
                uint32_t c = ps.n - done < LEDGER_CHUNK ? ps.n - done : LEDGER_CHUNK;
                argv[0] = PRUNE_LUA;
                argv[1] = "1";
                argv[2] = key;
                for (uint32_t j = 0; j < 2 * c; j++) { argv[3 + j] = p; p += strlen(p) + 1; }
                if (pw_redis_eval(r, argv, (int)(3 + 2 * c), err, sizeof err) < 0) break;
                done += c;
            }
            free(argv);
        }
        pw_buf_free(&ps.fv);
    }
    pw_redis_destroy(r);
    pw_ledger_destroy(live);
}

typedef struct offs { pw_snap_offset *v; int n, cap; } offs;
static void add_off(const char *topic, int32_t partition, int64_t next, void *ud) {
    offs *o = ud;
    if (o->n == o->cap) {
        int cap = o->cap ? o->cap * 2 : 64;
        pw_snap_offset *nv = realloc(o->v, (size_t)cap * sizeof *nv);
        if (!nv) return;
        o->v = nv;
        o->cap = cap;
    }
    o->v[o->n].topic = (char *)topic; /* borrowed from the source for the time of one snapshot */
    o->v[o->n].partition = partition;
    o->v[o->n++].next = next;
}

/* The outbox: every sink's undelivered notifications (pw_sink_outbox_foreach: hold the sinks, or be the
 * forked child of a holder, or have stopped them). Notes borrow the sinks' bytes. */
typedef struct note_vec { pw_snap_outbox *o; uint32_t cap; int failed; } note_vec;
static void add_note(const pw_snap_note *n, void *ud) {
    note_vec *nv = ud;
    if (nv->failed) return;
    if (nv->o->n == nv->cap) {
        uint32_t cap = nv->cap ? nv->cap * 2 : 64;
        pw_snap_note *v = realloc(nv->o->notes, (size_t)cap * sizeof *v);
        if (!v) { nv->failed = 1; return; } /* the whole collection fails: never a snapshot missing notes */
        nv->o->notes = v;
        nv->cap = cap;
    }
    nv->o->notes[nv->o->n++] = *n;
}
static void outbox_free(pw_snap_outbox *ob, int n);
/* NULL if out of memory (then nothing may be written as if complete). */
static pw_snap_outbox *outbox_collect(server *s) {
    pw_snap_outbox *ob = calloc((size_t)s->nsinks + 1, sizeof *ob);
    for (int i = 0; ob && i < s->nsinks; i++) {
        ob[i].sink = pw_sink_name(s->sinks[i]);
        ob[i].kind = (int)pw_sink_kind_of(s->sinks[i]);
        note_vec nv = {&ob[i], 0, 0};
        uint32_t seen = pw_sink_outbox_foreach(s->sinks[i], add_note, &nv);
        if (nv.failed || seen != ob[i].n) {
            outbox_free(ob, s->nsinks);
            return NULL;
        }
    }
    return ob;
}
static void outbox_free(pw_snap_outbox *ob, int n) {
    for (int i = 0; ob && i < n; i++) free(ob[i].notes);
    free(ob);
}

/* Encode and write one snapshot with a connection of our own (the sinks held or stopped, see above),
 * streamed: each chunk is stored while the next is encoded, so memory stays at about one chunk.
 * 0 with *gen, *bytes and *notes, or -1 with err. */
static int snap_write(server *s, pw_snap_offset *o, int n, uint64_t *gen, size_t *bytes, uint64_t *notes, char *err,
                      size_t errlen) {
    pw_snap_outbox *ob = outbox_collect(s);
    if (!ob) { snprintf(err, errlen, "out of memory"); return -1; }
    *notes = 0;
    for (int i = 0; i < s->nsinks; i++) *notes += ob[i].n;
    pw_redis *r = redis_for(s->cfg);
    int rc = -1;
    if (!r) snprintf(err, errlen, "out of memory");
    else if (pw_redis_put_begin(r, err, errlen) == 0) {
        pw_snap_w w;
        pw_snap_w_init(&w, pw_redis_chunk_bytes(r), pw_redis_put_emit, r);
        uint64_t total = 0;
        (void)pw_snapshot_write(&w, s->eng, pw_time_now_ms(), o, n, ob, s->nsinks, &total);
        pw_snap_w_free(&w);
        rc = pw_redis_put_end(r, gen, err, errlen);
        *bytes = (size_t)total;
    }
    outbox_free(ob, s->nsinks);
    pw_redis_destroy(r);
    return rc;
}

static void snap_fork(server *s) {
    snapper *sn = s->snap;
    offs o = {0};
    pw_source_foreach_offset(s->src, add_off, &o);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        pw_error("snapshot", "pipe: %s", strerror(errno));
        sn->next_due = pw_time_mono_ms() + 1000;
        free(o.v);
        return;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t fork_wall = pw_time_now_ms();
    /* The outbox is consistent with the engine: this thread makes every notification and is here, and
     * while the sinks are held no notification enters or leaves any outbox (delivery threads block only
     * if they need the lock during the fork). */
    for (int i = 0; i < s->nsinks; i++) pw_sink_outbox_hold(s->sinks[i]);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: only reads the engine, the offsets and the outbox (its copy-on-write view; the sink
         * locks stay taken and are never used here), talks to Redis on its own connection and leaves with
         * _exit (no atexit handlers, no librdkafka, no sink threads, which do not exist here). Our log
         * writes whole lines with write(2) and takes no lock. */
        close(fds[0]);
        struct timespec c0, c1;
        clock_gettime(CLOCK_MONOTONIC, &c0);
        uint64_t gen = 0, notes = 0;
        size_t bytes = 0;
        char err[400], line[512];
        int rc = snap_write(s, o.v, o.n, &gen, &bytes, &notes, err, sizeof err);
        if (rc == 0) ledger_prune(s, fork_wall);
        clock_gettime(CLOCK_MONOTONIC, &c1);
        long long us = (long long)(c1.tv_sec - c0.tv_sec) * 1000000 + (c1.tv_nsec - c0.tv_nsec) / 1000;
        int len = rc == 0 ? snprintf(line, sizeof line, "ok %llu %zu %lld %llu", (unsigned long long)gen, bytes, us,
                                     (unsigned long long)notes)
                          : snprintf(line, sizeof line, "error %s", err);
        if (write(fds[1], line, (size_t)len) < 0) rc = -1;
        _exit(rc == 0 ? 0 : 1);
    }
    for (int i = 0; i < s->nsinks; i++) pw_sink_outbox_release(s->sinks[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fds[1]);
    free(o.v);
    if (pid < 0) {
        close(fds[0]);
        pw_error("snapshot", "fork: %s", strerror(errno));
        sn->failed++;
        sn->fails++;
        sn->next_due = pw_time_mono_ms() + 1000;
        return;
    }
    sn->child = pid;
    sn->pipefd = fds[0];
    sn->child_started = pw_time_mono_ms();
    sn->fork_ms_x1000 = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
}

static void snap_done(server *s, int ok, const char *msg) {
    snapper *sn = s->snap;
    int64_t now = pw_time_mono_ms();
    if (ok) {
        unsigned long long gen = 0, us = 0, notes = 0;
        size_t bytes = 0;
        sscanf(msg, "ok %llu %zu %llu %llu", &gen, &bytes, &us, &notes);
        pw_info("snapshot", "generation %llu written: %zu bytes, %llu undelivered notifications, fork %.3f ms (loop "
                            "stall), child %.1f ms", gen, bytes, notes, (double)sn->fork_ms_x1000 / 1000.0,
                (double)us / 1000.0);
        sn->ok++;
        sn->last_dur_us = (int64_t)us;
        sn->fails = 0;
        sn->last_ok = now;
        sn->next_due = now + s->cfg->snapshot_interval_ms;
        if (sn->paused) {
            sn->paused = 0;
            pw_source_pause(s->src, 0);
            pw_info("snapshot", "a snapshot succeeded: resuming consumption");
        }
        return;
    }
    sn->failed++;
    sn->fails++;
    /* 1 s, 2 s, 4 s ... up to the larger of 30 s and the interval */
    int64_t delay = 1000LL << (sn->fails < 6 ? sn->fails - 1 : 5), cap = s->cfg->snapshot_interval_ms;
    if (cap < 30000) cap = 30000;
    if (delay > cap) delay = cap;
    sn->next_due = now + delay;
    pw_warn("snapshot", "snapshot failed (%d in a row; last success %.1f s ago; retry in %.1f s): %s", sn->fails,
            (double)(now - sn->last_ok) / 1000.0, (double)delay / 1000.0, msg);
}

/* Reap the writer if it finished; start one when due; pause/resume consumption. Never blocks. */
static void snap_tick(server *s) {
    snapper *sn = s->snap;
    if (!sn) return;
    if (sn->child) {
        int st;
        pid_t r = waitpid(sn->child, &st, WNOHANG);
        if (r == sn->child || (r < 0 && errno == ECHILD)) {
            char msg[512];
            ssize_t n = read(sn->pipefd, msg, sizeof msg - 1);
            msg[n > 0 ? n : 0] = 0;
            close(sn->pipefd);
            sn->child = 0;
            int ok = r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strncmp(msg, "ok ", 3);
            if (!ok && !msg[0]) snprintf(msg, sizeof msg, "the writer process died (status %d)", r > 0 ? st : -1);
            snap_done(s, ok, ok ? msg : (!strncmp(msg, "error ", 6) ? msg + 6 : msg));
        } else if (r == 0) {
            /* Watchdog: a writer stuck (in getaddrinfo behind a lock a librdkafka thread held at the fork, or
             * on a Redis that accepts and never answers) would block every later snapshot. Past connect + 2 x
             * command timeout + a margin for encoding (10 s, or 3 x the last writer's time if more), kill it. */
            int64_t margin = 3 * sn->last_dur_us / 1000 > 10000 ? 3 * sn->last_dur_us / 1000 : 10000;
            int64_t limit = s->cfg->redis_connect_timeout_ms + 2 * s->cfg->redis_command_timeout_ms + margin;
            if (pw_time_mono_ms() - sn->child_started > limit) {
                pid_t pid = sn->child;
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                close(sn->pipefd);
                sn->child = 0;
                char msg[160];
                snprintf(msg, sizeof msg, "the writer process (pid %d) did not finish within %.1f s: killed", (int)pid,
                         limit / 1000.0);
                snap_done(s, 0, msg);
            }
        }
    }
    int64_t now = pw_time_mono_ms();
    if (!sn->child && now >= sn->next_due && owner_lost(s))
        snap_done(s, 0, "not written: another pipewatch holds the owner lock of this key prefix (see the error above)");
    else if (!sn->child && now >= sn->next_due) snap_fork(s);
    if (s->cfg->snapshot_pause_after_ms > 0 && !sn->paused && now - sn->last_ok > s->cfg->snapshot_pause_after_ms) {
        sn->paused = 1;
        pw_source_pause(s->src, 1);
        pw_error("snapshot", "no snapshot succeeded for %.1f s (pause_after): pausing consumption until one does",
                 (double)(now - sn->last_ok) / 1000.0);
    }
}

/* Take a snapshot as soon as no writer runs (after a reload's evaluation). */
static void snap_soon(server *s) {
    if (s->snap && s->snap->next_due > pw_time_mono_ms()) s->snap->next_due = pw_time_mono_ms();
}

static void snap_log_stats(server *s) {
    snapper *sn = s->snap;
    if (!sn) return;
    pw_info("stats", "snapshots: %llu written, %llu failed, last success %.1f s ago%s%s", (unsigned long long)sn->ok,
            (unsigned long long)sn->failed, (double)(pw_time_mono_ms() - sn->last_ok) / 1000.0,
            sn->paused ? ", consumption paused" : "",
            owner_lost(s) ? ", not written: another pipewatch holds the owner lock of the key prefix" : "");
}

/* Re-queue a restored outbox into the sinks of the same name and kind (the bytes were rendered for that kind).
 * Notes of a sink that no longer exists, or is now of another kind, cannot be sent: counted and logged. */
static void outbox_requeue(server *s, const pw_snap_outbox *ob, int nob, const char *when, int check_ledger) {
    for (int i = 0; i < nob; i++) {
        if (!ob[i].n) continue;
        pw_sink *k = NULL;
        for (int j = 0; j < s->nsinks && !k; j++)
            if (!strcmp(pw_sink_name(s->sinks[j]), ob[i].sink)) k = s->sinks[j];
        if (!k || (int)pw_sink_kind_of(k) != ob[i].kind) {
            s->outbox_lost += ob[i].n;
            pw_error("snapshot", "%s: %u undelivered notification%s for sink '%s' (%s) lost: %s", when, ob[i].n,
                     ob[i].n == 1 ? "" : "s", ob[i].sink, pw_sink_kind_name((pw_sink_kind)ob[i].kind),
                     k ? "that sink is now of another kind" : "no such sink any more");
            continue;
        }
        uint32_t queued = 0, delivered = 0;
        for (uint32_t j = 0; j < ob[i].n; j++) {
            const pw_snap_note *nt = &ob[i].notes[j];
            /* delivered after that snapshot was taken (the ledger knows): not again */
            if (check_ledger &&
                ledger_delivered(s, k, nt->fingerprint, nt->rule_hash, nt->born, nt->seq, nt->kind, 1, nt->at)) {
                delivered++;
                continue;
            }
            queued += pw_sink_requeue(k, nt) == 0;
        }
        if (queued + delivered < ob[i].n)
            pw_error("snapshot", "%s: sink '%s': %u of %u undelivered notifications dropped (queue full; counted "
                                 "as dropped)", when, ob[i].sink, ob[i].n - queued - delivered, ob[i].n);
        pw_info("snapshot", "%s: sink '%s': re-queued %u undelivered notification%s%s", when, ob[i].sink, queued,
                queued == 1 ? "" : "s", delivered ? " (others were delivered after the snapshot: not again)" : "");
    }
}

/* Alertmanager forgets an alert that is not re-sent before its endsAt. The alertmanager sinks' tables of
 * firing alerts (which they re-send) are not in the snapshot: they are rebuilt here from the restored alert
 * states, by submitting every firing alert as a repeat to the alertmanager sinks among its rule's routes
 * (Alertmanager merges it into the alert it has; other kinds get nothing). */
typedef struct am_rebuild { server *s; uint64_t n; } am_rebuild;
static void am_rebuild_series(const pw_series_view *v, void *ud) {
    am_rebuild *ab = ud;
    server *s = ab->s;
    if (!v->alerts) return;
    const pw_metric_def *d = &s->rs->metrics[v->metric_idx];
    for (int i = 0; i < d->nrules; i++) {
        if (v->alerts[i].state != PW_ALERT_FIRING) continue;
        int ri = d->rules[i];
        const pw_rule_def *r = &s->rs->rules[ri];
        pw_notification n;
        memset(&n, 0, sizeof n);
        n.rule = r;
        n.metric = d;
        n.firing = 1;
        n.repeat = 1;
        n.label_vals = v->label_vals;
        n.value = v->defined ? v->value : NAN;
        n.threshold = r->cond == PW_COND_ABSENT ? (double)r->absent_ms / 1000.0
                      : r->cond == PW_COND_OUTSIDE ? r->lo : r->threshold;
        n.at = pw_engine_time(s->eng);
        n.active_since = v->alerts[i].since;
        n.fingerprint = pw_alert_fingerprint(r, d, n.label_vals);
        for (int j = 0; ri < s->rt.nrules && j < s->rt.rule_nsinks[ri]; j++) {
            pw_sink *k = s->sinks[s->rt.rule_sinks[ri][j]];
            if (pw_sink_kind_of(k) != PW_SINK_ALERTMANAGER) continue;
            pw_sink_submit(k, &n);
            ab->n++;
        }
    }
}

/* After a restore, and after a reload that rebuilt the sinks (new alertmanager sinks start with empty tables). */
static void am_rebuild_all(server *s, const char *when) {
    int any = 0;
    for (int i = 0; i < s->nsinks; i++) any |= pw_sink_kind_of(s->sinks[i]) == PW_SINK_ALERTMANAGER;
    if (!any) return;
    am_rebuild ab = {s, 0};
    pw_engine_foreach_series(s->eng, am_rebuild_series, &ab);
    if (ab.n)
        pw_info(!strcmp(when, "reload") ? "reload" : "snapshot",
                "%s: re-sending %llu firing alert%s to alertmanager sinks (their re-send tables are rebuilt from "
                "the alert states)", when, (unsigned long long)ab.n, ab.n == 1 ? "" : "s");
}

static void report_restored(const char *metric, int kept, void *ud) {
    (void)ud;
    pw_info("snapshot", "metric %s: %s", metric, kept ? "unchanged, state restored" : "new or changed, starts empty");
}

/* Start-up: restore the newest valid snapshot (else the previous one) into s->eng and seed the source's
 * offsets. Waits for Redis while it is unreachable (consuming without the state would double-count or
 * lose alert states, and the first snapshot would then replace the good one). -1 if stopped meanwhile. */
static int snap_restore(server *s) {
    if (!s->cfg->redis_address) {
        pw_info("snapshot", "no redis section: snapshots are off; state starts empty at every start");
        return 0;
    }
    s->snap = calloc(1, sizeof *s->snap);
    if (!s->snap) return -1;
    s->led = ledger_new(s->cfg);
    if (!s->led) return -1;
    pw_redis *r = redis_for(s->cfg);
    if (!r) return -1;
    pw_info("snapshot", "loading the newest snapshot from redis %s (prefix %s)", pw_redis_address(r),
            s->cfg->redis_prefix);
    uint64_t refused_gen = 0;
    for (int which = 0, wait_ms = 500; which < 2 && !g_stop;) {
        void *data;
        size_t len;
        uint64_t gen;
        char err[512];
        int rc = pw_redis_get(r, which, &data, &len, &gen, err, sizeof err);
        if (rc < 0 && !gen) { /* Redis unreachable: wait */
            pw_warn("snapshot", "%s: retrying in %.1f s (consumption starts after the state is loaded)", err,
                    wait_ms / 1000.0);
            usleep((useconds_t)wait_ms * 1000);
            wait_ms = wait_ms < 8000 ? wait_ms * 2 : 10000;
            continue;
        }
        if (rc == 0) {
            if (which == 0) pw_info("snapshot", "no snapshot in redis: starting with empty state");
            else pw_error("snapshot", "no previous generation to fall back on: starting with empty state");
            ledger_forget(s); /* its entries describe alerts that are gone: new ones start at seq 1 */
            break;
        }
        pw_engine *eng = rc > 0 ? engine_for(s, s->rs, s->cfg) : NULL;
        pw_snapshot_info info;
        if (rc > 0 && eng &&
            pw_snapshot_restore(data, len, eng, report_restored, NULL, &info, err, sizeof err) == 0) {
            char c[40], st[40];
            pw_info("snapshot", "restored generation %llu%s: taken %s (%.1f s ago), stream time %s, %zu bytes, "
                                "%d partition offsets",
                    (unsigned long long)gen, which ? " (the previous one: the newest was refused)" : "",
                    pw_time_format_s(info.created_ms, c, sizeof c),
                    (double)(pw_time_now_ms() - info.created_ms) / 1000.0,
                    info.stream_time == INT64_MIN ? "none" : pw_time_format_s(info.stream_time, st, sizeof st), len,
                    info.noffsets);
            if (refused_gen) pw_warn("snapshot", "generation %llu was refused; loaded %llu instead",
                                     (unsigned long long)refused_gen, (unsigned long long)gen);
            for (int i = 0; i < info.noffsets; i++)
                pw_source_seed(s->src, info.offsets[i].topic, info.offsets[i].partition, info.offsets[i].next);
            pw_engine_destroy(s->eng);
            s->eng = eng;
            /* the delivery ledger, before anything is re-queued or replayed (a failure costs duplicates only) */
            if (ledger_load_all(s, err, sizeof err) < 0) {
                pw_error("snapshot", "delivery ledger not loaded (%s): notifications delivered since that snapshot "
                                     "will be sent again", err);
                ledger_unload(s->led); /* a partial ledger is not related to the snapshot: none at all */
            }
            outbox_requeue(s, info.outbox, info.noutbox, "restore", 1);
            ledger_restore_done(s, info.created_ms);
            am_rebuild_all(s, "restore");
            pw_snapshot_info_free(&info);
            free(data);
            break;
        }
        pw_error("snapshot", "generation %llu refused: %s", (unsigned long long)gen, eng || rc < 0 ? err : "out of memory");
        pw_engine_destroy(eng);
        free(data);
        refused_gen = gen;
        if (which == 1) {
            pw_error("snapshot", "no valid snapshot: starting with empty state");
            ledger_forget(s);
        }
        which++;
    }
    pw_redis_destroy(r);
    s->snap->last_ok = pw_time_mono_ms();
    s->snap->next_due = s->snap->last_ok + s->cfg->snapshot_interval_ms;
    return g_stop ? -1 : 0;
}

/* Orderly stop: wait for a running writer (bounded), then write the final snapshot in-process. The sinks
 * are stopped by then (flushed until the shutdown deadline): what they could not deliver is in the outbox. */
static void snap_final(server *s, pw_snap_offset *o, int n) {
    snapper *sn = s->snap;
    if (!sn) return;
    if (owner_lost(s)) {
        pw_error("snapshot", "final snapshot not written: another pipewatch holds the owner lock of redis prefix %s",
                 s->cfg->redis_prefix);
        return;
    }
    if (sn->child) {
        int64_t wait_ms = 2 * s->cfg->redis_command_timeout_ms + 1000;
        int64_t until = pw_time_mono_ms() + wait_ms;
        pw_info("snapshot", "stopping: waiting up to %lld ms for the running snapshot writer (pid %d)",
                (long long)wait_ms, (int)sn->child);
        int st = 0, killed = 0;
        while (waitpid(sn->child, &st, WNOHANG) == 0) {
            if (pw_time_mono_ms() > until) {
                kill(sn->child, SIGKILL);
                waitpid(sn->child, NULL, 0);
                killed = 1;
                break;
            }
            usleep(10000);
        }
        char msg[512];
        ssize_t got = killed ? 0 : read(sn->pipefd, msg, sizeof msg - 1);
        msg[got > 0 ? got : 0] = 0;
        unsigned long long wgen = 0;
        size_t wbytes = 0;
        if (killed) pw_warn("snapshot", "the running snapshot writer did not finish in time: killed (a generation "
                                        "it did not publish is never visible)");
        else if (sscanf(msg, "ok %llu %zu", &wgen, &wbytes) == 2)
            pw_info("snapshot", "the running snapshot writer finished: generation %llu, %zu bytes", wgen, wbytes);
        else pw_warn("snapshot", "the running snapshot writer failed: %s", !strncmp(msg, "error ", 6) ? msg + 6 :
                                                                          msg[0] ? msg : "no result");
        close(sn->pipefd);
        sn->child = 0;
    }
    int64_t t0 = pw_time_mono_ms();
    uint64_t gen = 0, notes = 0;
    size_t bytes = 0;
    char err[512];
    if (snap_write(s, o, n, &gen, &bytes, &notes, err, sizeof err) == 0)
        pw_info("snapshot", "final snapshot: generation %llu, %zu bytes, %llu undelivered notifications, %lld ms",
                (unsigned long long)gen, bytes, (unsigned long long)notes, (long long)(pw_time_mono_ms() - t0));
    else
        pw_error("snapshot", "final snapshot failed: %s (the last periodic one stays)", err);
}

/* `pipewatch run --metrics-out FILE`: the final value of every series as JSON lines (as replay writes). */
static void metrics_line(const pw_series_view *v, void *ud) {
    void **a = ud;
    FILE *f = a[0];
    const server *s = a[1];
    const pw_metric_def *d = &s->rs->metrics[v->metric_idx];
    pw_buf b;
    pw_buf_init(&b);
    pw_buf_puts(&b, "{\"metric\":");
    pw_buf_json_str(&b, d->name, strlen(d->name));
    pw_buf_puts(&b, ",\"labels\":{");
    for (int i = 0; i < d->nby; i++) {
        if (i) pw_buf_putc(&b, ',');
        pw_buf_json_str(&b, d->by[i], strlen(d->by[i]));
        pw_buf_putc(&b, ':');
        pw_buf_json_str(&b, v->label_vals[i], strlen(v->label_vals[i]));
    }
    pw_buf_puts(&b, "},\"value\":");
    if (v->defined) pw_buf_json_num(&b, v->value); else pw_buf_puts(&b, "null");
    pw_buf_printf(&b, ",\"count\":%llu}\n", (unsigned long long)v->count);
    fwrite(b.data, 1, b.len, f);
    pw_buf_free(&b);
}

static void write_metrics(server *s, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) { pw_error("main", "--metrics-out %s: %s", path, strerror(errno)); return; }
    void *a[2] = {f, s};
    pw_engine_foreach_series(s->eng, metrics_line, a);
    if (fclose(f) != 0) pw_error("main", "--metrics-out %s: %s", path, strerror(errno));
}

/* ---------- run ---------- */

/* ---------- HTTP: the view handlers read (main thread, per request) ---------- */

static void copy_part(const pw_source_partition_stats *p, void *ud) {
    server *s = ud;
    if (s->nparts == s->cparts) {
        int c = s->cparts ? s->cparts * 2 : 64;
        pw_source_partition_stats *v = realloc(s->parts, (size_t)c * sizeof *v);
        if (!v) return;
        s->parts = v;
        s->cparts = c;
    }
    s->parts[s->nparts++] = *p;
}

static const char *reason_at(int i) { return i == PW_EV_OK ? NULL : reason_name(i); }

static const pw_api_view *http_view(void *ud) {
    server *s = ud;
    pw_api_view *v = &s->view;
    memset(v, 0, sizeof *v);
    v->version = PW_VERSION;
    v->now_ms = pw_time_now_ms();
    v->start_ms = s->start_ms;
    v->rs = s->rs;
    v->eng = s->eng;
    if (s->src) {
        v->has_source = 1;
        pw_source_stats_get(s->src, &v->source);
        s->nparts = 0;
        pw_source_foreach_partition(s->src, copy_part, s);
        v->partitions = s->parts;
        v->npartitions = s->nparts;
    }
    v->rejected = s->rejected;
    v->nrejected = PW_REASON__COUNT;
    v->reason_name = reason_at;
    v->events_applied = s->applied;
    v->sinks = s->sinks;
    v->nsinks = s->nsinks;
    v->reloads = s->reloads;
    v->reload_failures = s->reload_failures;
    v->log_lines_lost = pw_log_lines_lost();
    v->last_reload_ok_ms = s->last_reload_ok_ms;
    v->last_reload_ok = s->last_reload_ok;
    v->last_reload_result = s->last_reload_result;
    v->latency = &s->latency;
    v->outbox_lost = s->outbox_lost;
    if (s->snap) {
        const snapper *sn = s->snap;
        v->snap_enabled = 1;
        v->snap_last_ok_ms = sn->ok || sn->last_ok ? v->now_ms - (pw_time_mono_ms() - sn->last_ok) : 0;
        v->snap_count = sn->ok;
        v->snap_last_duration_ms = sn->last_dur_us / 1000;
        v->snap_failures = sn->failed;
        v->snap_max_age_ms = s->cfg->http_snapshot_max_age_ms;
        v->snap_paused = sn->paused;
        v->ledger_sinks = s->led ? s->led->n : 0;
        v->snap_owner = s->own && atomic_load(&s->own->held);
        v->snap_owner_conflicts = s->own ? atomic_load(&s->own->conflicts) : 0;
    }
    v->max_series_per_metric = (int)s->cfg->http_api_max_series;
    v->max_buckets = (int)s->cfg->http_api_max_buckets;
    return v;
}

static int http_reload(void *ud) {
    (void)ud;
    g_reload = 1; /* the loop reloads before its next poll, as for SIGHUP */
    return 0;
}

int pw_server_run(const char *config_path) { return pw_server_run_opts(config_path, NULL); }

int pw_server_run_opts(const char *config_path, const char *metrics_out) {
    server s;
    memset(&s, 0, sizeof s);
    s.config_path = config_path;
    s.start_ms = pw_time_now_ms();
    s.rl_bad = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 10);
    if (load_all(config_path, &s.cfg, &s.rs) < 0) {
        pw_error("main", "invalid configuration or rules: not starting");
        return 1;
    }
    pw_log_setup((pw_log_level)s.cfg->log_level, s.cfg->log_json);
    s.last_reload_ok = 1;
    s.last_reload_ok_ms = pw_time_now_ms();
    snprintf(s.last_reload_result, sizeof s.last_reload_result, "ok");
    s.dec = decoder_for(s.rs, s.cfg);
    s.eng = engine_for(&s, s.rs, s.cfg);
    if (!s.dec || !s.eng || routes_build(&s.rt, s.rs, s.cfg) < 0) {
        pw_error("main", "out of memory at start-up");
        return 1;
    }
    /* one daemon per key prefix, settled before joining the consumer group or reading any state */
    int orc = owner_start(&s);
    if (orc != 0) {
        owner_destroy(s.own);
        pw_engine_destroy(s.eng);
        pw_decoder_destroy(s.dec);
        routes_free(&s.rt);
        pw_ruleset_destroy(s.rs);
        pw_config_destroy(s.cfg);
        return orc > 0 ? 1 : 0;
    }
    if (!(s.sinks = sinks_start(s.cfg))) {
        owner_release(&s);
        return 1;
    }
    s.nsinks = s.cfg->nsinks;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit (LimitFSIZE) fails the write with EFBIG, counted */

    char err[512];
    pw_source_conf sc = {s.cfg->brokers, s.cfg->topics, s.cfg->ntopics, s.cfg->group, s.cfg->assignment,
                         s.cfg->kafka_props, s.cfg->nkafka_props, s.cfg->dead_letter_topic};
    s.src = pw_source_new(&sc, err, sizeof err);
    if (!s.src) {
        pw_error("kafka", "%s", err);
        sinks_stop(s.sinks, s.nsinks, pw_time_mono_ms());
        owner_release(&s);
        return 1;
    }
    pw_info("main", "pipewatch running: %d metrics, %d rules, %d sinks, consuming %s from %s as group %s (clock %s)",
            s.rs->nmetrics, s.rs->nrules, s.nsinks, s.cfg->topics[0], s.cfg->brokers, s.cfg->group,
            s.cfg->clock_wall ? "wall" : "event");
    if (s.cfg->http_listen) {
        pw_http_conf hc = {s.cfg->http_listen, s.cfg->http_reload_token_env, s.cfg->http_max_request_bytes,
                           s.cfg->http_max_connections, (unsigned)(s.cfg->http_timeout_ms / 1000)};
        s.http = pw_http_new(&hc, http_view, http_reload, &s, err, sizeof err);
        if (!s.http) {
            pw_error("http", "%s", err);
            pw_source_close(s.src, pw_time_mono_ms() + 2000);
            sinks_stop(s.sinks, s.nsinks, pw_time_mono_ms());
            owner_release(&s);
            return 1;
        }
        pw_info("http", "serving the status page, /metrics and /api/v1 on http://%s (port %d)", s.cfg->http_listen,
                pw_http_port(s.http));
    }
    if (snap_restore(&s) < 0) g_stop = 1;
    overflow_rebase(&s);
    pw_sd_status("consuming %s: %d metrics, %d rules", s.cfg->topics[0], s.rs->nmetrics, s.rs->nrules);
    pw_sd_ready();
    int64_t wd_ms = (int64_t)(pw_sd_watchdog_usec() / 2000); /* ping at half the watchdog interval */
    int64_t next_wd = 0;

    int64_t next_eval = pw_time_mono_ms() + s.cfg->evaluate_every_ms;
    int64_t stats_ms = 60000;
    const char *si = getenv("PIPEWATCH_STATS_INTERVAL_MS"); /* tests only: see the stats line sooner */
    if (si && atoll(si) > 0) stats_ms = atoll(si);
    int64_t next_stats = pw_time_mono_ms() + stats_ms;
    while (!g_stop) {
        if (g_reload) {
            g_reload = 0;
            reload(&s);
        }
        pw_source_poll(s.src, 100, 10000, on_message, &s);
        if (s.http) pw_http_run(s.http);
        int64_t now = pw_time_mono_ms();
        if (wd_ms && now >= next_wd) { /* from the loop itself: a stuck loop stops the pings */
            pw_sd_watchdog_ping();
            next_wd = now + wd_ms;
        }
        if (now >= next_eval && s.cfg->clock_wall) {
            /* Only with the wall clock: with `clock: event` stream time moves with events alone, so this would
             * evaluate at the same T at moments that depend on wall time, and a replay of the same events
             * (after a restart) could fire `for`/`absent`/`repeat` timers at other evaluations. Event time
             * evaluations (after each event, at each boundary) are the whole story there: deterministic. */
            pw_engine_advance(s.eng, pw_time_now_ms());
            pw_engine_evaluate_all(s.eng);
            next_eval = now + s.cfg->evaluate_every_ms;
        }
        if (now >= next_stats) {
            log_stats(&s);
            pw_sd_status("applied %llu events, alerts firing %llu", (unsigned long long)s.applied,
                         (unsigned long long)pw_engine_get_stats(s.eng)->firing);
            next_stats = now + stats_ms;
        }
        snap_tick(&s);
        ledger_take(&s, s.sinks, s.nsinks);
        ledger_flush(&s, 0);
    }

    pw_sd_stopping();
    int64_t deadline = pw_time_mono_ms() + s.cfg->shutdown_timeout_ms;
    pw_info("main", "stopping: committing offsets, flushing sinks (up to %lld ms)",
            (long long)s.cfg->shutdown_timeout_ms);
    pw_source_commit(s.src);
    log_stats(&s);
    offs final = {0};
    if (s.snap) pw_source_foreach_offset(s.src, add_off, &final);
    for (int i = 0; i < final.n; i++) final.v[i].topic = strdup(final.v[i].topic); /* the source goes next */
    pw_source_close(s.src, deadline);
    s.src = NULL;
    for (int i = 0; i < s.nsinks; i++) pw_sink_stop(s.sinks[i], deadline); /* flush before the final snapshot */
    snap_final(&s, final.v, final.n);
    ledger_take(&s, s.sinks, s.nsinks); /* what the sinks delivered until they stopped */
    ledger_flush(&s, 1);
    for (int i = 0; s.led && i < s.led->n; i++) ledger_log_suppressed(&s.led->v[i], "");
    ledger_destroy(s.led);
    s.led = NULL;
    owner_release(&s); /* last: nothing is written under the prefix after this */
    owner_destroy(s.own);
    s.own = NULL;
    for (int i = 0; i < final.n; i++) free(final.v[i].topic);
    free(final.v);
    free(s.snap);
    if (metrics_out) write_metrics(&s, metrics_out);
    sinks_stop(s.sinks, s.nsinks, deadline);
    pw_engine_destroy(s.eng);
    pw_decoder_destroy(s.dec);
    routes_free(&s.rt);
    pw_ruleset_destroy(s.rs);
    pw_config_destroy(s.cfg);
    pw_http_destroy(s.http);
    free(s.parts);
    free(s.overflow_seen);
    pw_info("main", "stopped");
    return 0;
}
