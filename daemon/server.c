/* server.c -- the daemon: config, rules, Kafka, engine, sinks, signals, reload.
 *
 * Design (after Redis's serverCron and brubeck's loop)
 *   - Signal handlers only set flags. The loop polls Kafka with a 100 ms
 *     timeout, so a flag is seen within ~100 ms; the periodic work (wall-clock
 *     evaluation every `evaluate_every`, a stats line every minute) runs
 *     between polls.
 *   - Every message: decode (bounded, validated), reject what cannot be
 *     used (counted by reason, logged at a rate limit, copied to the
 *     dead-letter topic), else hand it to the engine. Nothing from Kafka can
 *     stop the loop.
 *   - Notifications are routed to the sinks a rule names (`notify:`), else to
 *     the default sinks; submitting never blocks (each sink has a bounded
 *     queue and its own thread).
 *   - SIGHUP: parse and validate the config and rules again; on any error the
 *     old ones stay and every problem is logged with FILE:LINE:COL. On success
 *     the engine state of unchanged metrics and rules carries over
 *     (pw_engine_adopt) and the log says which metrics start fresh. Sinks are
 *     rebuilt only if their settings changed. Kafka settings need a restart.
 *   - SIGTERM/SIGINT: stop consuming, store and commit offsets, leave the
 *     group, let sinks flush until shutdown_timeout, exit 0.
 * Limits: one instance per consumer group (state is not shared or split
 * between instances yet); state lives in memory only (snapshots come later).
 */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "event.h"
#include "log.h"
#include "ruleset.h"
#include "sink.h"
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
    uint64_t reloads, reload_failures;
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

static void on_notify(const pw_notification *n, void *ud) {
    server *s = ud;
    int ri = (int)(n->rule - s->rs->rules);
    if (ri < 0 || ri >= s->rt.nrules) return;
    for (int i = 0; i < s->rt.rule_nsinks[ri]; i++) pw_sink_submit(s->sinks[s->rt.rule_sinks[ri][i]], n);
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

static void report_kept(const char *metric, int kept, void *ud) {
    (void)ud;
    pw_info("reload", "metric %s: %s", metric, kept ? "unchanged, state kept" : "new or changed, starts empty");
}

static void reload(server *s) {
    pw_info("reload", "reloading %s", s->config_path);
    pw_config *cfg;
    pw_ruleset *rs;
    if (load_all(s->config_path, &cfg, &rs) < 0) {
        s->reload_failures++;
        pw_error("reload", "reload failed: keeping the running configuration and rules");
        return;
    }
    pw_decoder *dec = decoder_for(rs, cfg);
    routes rt = {0};
    pw_sink **sinks = NULL;
    int rebuild_sinks = sinks_hash(cfg) != sinks_hash(s->cfg);
    if (!dec || routes_build(&rt, rs, cfg) < 0 || (rebuild_sinks && !(sinks = sinks_start(cfg)))) {
        pw_error("reload", "reload failed (out of memory or sinks cannot start): keeping the running set");
        pw_decoder_destroy(dec);
        routes_free(&rt);
        pw_ruleset_destroy(rs);
        pw_config_destroy(cfg);
        s->reload_failures++;
        return;
    }
    /* From here the swap cannot fail. The old rule set must outlive the old
     * engine, which adopt destroys. */
    pw_engine *eng = engine_for(s, rs, cfg);
    if (!eng) {
        pw_error("reload", "reload failed: out of memory; keeping the running set");
        if (sinks) sinks_stop(sinks, cfg->nsinks, pw_time_mono_ms());
        pw_decoder_destroy(dec);
        routes_free(&rt);
        pw_ruleset_destroy(rs);
        pw_config_destroy(cfg);
        s->reload_failures++;
        return;
    }
    pw_engine_adopt(eng, s->eng, report_kept, NULL);
    s->eng = eng;
    pw_decoder_destroy(s->dec);
    s->dec = dec;
    routes_free(&s->rt);
    s->rt = rt;
    if (rebuild_sinks) {
        pw_info("reload", "sinks changed: restarting them");
        sinks_stop(s->sinks, s->nsinks, pw_time_mono_ms() + 2000);
        s->sinks = sinks;
        s->nsinks = cfg->nsinks;
    }
    if (kafka_hash(cfg) != kafka_hash(s->cfg))
        pw_warn("reload", "kafka settings changed: they take effect at the next restart");
    pw_ruleset_destroy(s->rs);
    s->rs = rs;
    pw_config_destroy(s->cfg);
    s->cfg = cfg;
    pw_log_setup((pw_log_level)cfg->log_level, cfg->log_json);
    s->reloads++;
    pw_info("reload", "reloaded: %d metrics, %d rules", rs->nmetrics, rs->nrules);
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
    if (ev.ts > pw_time_now_ms() + s->cfg->max_future_ms) { reject(s, m, PW_REASON_FUTURE); return; }
    int64_t T = pw_engine_time(s->eng);
    if (s->cfg->allowed_lateness_ms > 0 && T != INT64_MIN && ev.ts < T - s->cfg->allowed_lateness_ms) {
        reject(s, m, PW_REASON_LATE);
        return;
    }
    pw_engine_event(s->eng, &ev);
    s->applied++;
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
    for (int i = 0; i < s->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(s->sinks[i], &st);
        if (st.failed || st.dropped)
            pw_warn("stats", "sink %s: sent %llu, failed %llu, dropped %llu, queued %llu", pw_sink_name(s->sinks[i]),
                    (unsigned long long)st.sent, (unsigned long long)st.failed, (unsigned long long)st.dropped,
                    (unsigned long long)st.queued);
    }
}

/* ---------- run ---------- */

int pw_server_run(const char *config_path) {
    server s;
    memset(&s, 0, sizeof s);
    s.config_path = config_path;
    s.rl_bad = (pw_ratelimit)PW_RATELIMIT_INIT(10000, 10);
    if (load_all(config_path, &s.cfg, &s.rs) < 0) {
        pw_error("main", "invalid configuration or rules: not starting");
        return 1;
    }
    pw_log_setup((pw_log_level)s.cfg->log_level, s.cfg->log_json);
    s.dec = decoder_for(s.rs, s.cfg);
    s.eng = engine_for(&s, s.rs, s.cfg);
    if (!s.dec || !s.eng || routes_build(&s.rt, s.rs, s.cfg) < 0) {
        pw_error("main", "out of memory at start-up");
        return 1;
    }
    if (!(s.sinks = sinks_start(s.cfg))) return 1;
    s.nsinks = s.cfg->nsinks;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    pw_source_conf sc = {s.cfg->brokers, s.cfg->topics, s.cfg->ntopics, s.cfg->group, s.cfg->assignment,
                         s.cfg->kafka_props, s.cfg->nkafka_props, s.cfg->dead_letter_topic};
    s.src = pw_source_new(&sc, err, sizeof err);
    if (!s.src) {
        pw_error("kafka", "%s", err);
        sinks_stop(s.sinks, s.nsinks, pw_time_mono_ms());
        return 1;
    }
    pw_info("main", "pipewatch running: %d metrics, %d rules, %d sinks, consuming %s from %s as group %s (clock %s)",
            s.rs->nmetrics, s.rs->nrules, s.nsinks, s.cfg->topics[0], s.cfg->brokers, s.cfg->group,
            s.cfg->clock_wall ? "wall" : "event");

    int64_t next_eval = pw_time_mono_ms() + s.cfg->evaluate_every_ms;
    int64_t next_stats = pw_time_mono_ms() + 60000;
    while (!g_stop) {
        if (g_reload) {
            g_reload = 0;
            reload(&s);
        }
        pw_source_poll(s.src, 100, 10000, on_message, &s);
        int64_t now = pw_time_mono_ms();
        if (now >= next_eval) {
            if (s.cfg->clock_wall) pw_engine_advance(s.eng, pw_time_now_ms());
            pw_engine_evaluate_all(s.eng);
            next_eval = now + s.cfg->evaluate_every_ms;
        }
        if (now >= next_stats) {
            log_stats(&s);
            next_stats = now + 60000;
        }
    }

    int64_t deadline = pw_time_mono_ms() + s.cfg->shutdown_timeout_ms;
    pw_info("main", "stopping: committing offsets, flushing sinks (up to %lld ms)",
            (long long)s.cfg->shutdown_timeout_ms);
    pw_source_commit(s.src);
    log_stats(&s);
    pw_source_close(s.src, deadline);
    s.src = NULL;
    sinks_stop(s.sinks, s.nsinks, deadline);
    pw_engine_destroy(s.eng);
    pw_decoder_destroy(s.dec);
    routes_free(&s.rt);
    pw_ruleset_destroy(s.rs);
    pw_config_destroy(s.cfg);
    pw_info("main", "stopped");
    return 0;
}
