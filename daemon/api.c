/* api.c -- the HTTP endpoints' bodies, rendered from a pw_api_view.
 *
 * Design: pure functions from a view (borrowed pointers and counters filled
 * by the server) to bytes in a pw_buf; no I/O, no clock, no locks, so every
 * endpoint is unit-tested without a socket. http.c does the transport.
 *
 * Prometheus (text exposition 0.0.4): every family is written with its HELP
 * and TYPE lines and all its samples together, as the format requires; the
 * families that come from one walk over the series (sales metric values,
 * window counts, alerts by rule) are collected in that single walk into side
 * buffers and appended afterwards. Label values are escaped (\\, \", \n);
 * label names are sanitized ([a-zA-Z0-9_], no leading digit, no "__"
 * prefix) and a group-by path that would be called `metric` becomes
 * `exported_metric`, as Prometheus renames clashing labels. Two paths that
 * sanitize to the same name (contact.email and contact_email) are not told
 * apart: a limit, documented in the README.
 *
 * JSON: times are integers in ms since the epoch (the page formats them);
 * undefined values are null. /api/v1/alerts sorts firing before pending,
 * then critical before warning before info, then oldest first.
 *
 * Cost: each endpoint walks every live series once (O(series), plus
 * O(buckets) per listed series for /api/v1/metrics). /api/v1/alerts and
 * /api/v1/rules allocate a small table per request; nothing is kept between
 * requests.
 */
#include "api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"
#include "window.h"

const double pw_latency_bounds_ms[PW_LATENCY_NBUCKETS] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
};

void pw_latency_observe(pw_latency_hist *h, double ms) {
    if (!(ms >= 0)) ms = 0; /* negative (clock skew) or NaN */
    int lo = 0, hi = PW_LATENCY_NBUCKETS; /* first bound >= ms, or NBUCKETS (+Inf) */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (pw_latency_bounds_ms[mid] >= ms) hi = mid;
        else lo = mid + 1;
    }
    h->buckets[lo]++;
    h->count++;
    h->sum_ms += ms;
}

/* Upper bound (ms) of the bucket holding quantile q, -1 if empty, INFINITY past the last bound. */
static double latency_quantile(const pw_latency_hist *h, double q) {
    if (!h || !h->count) return -1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count), acc = 0;
    if (rank < 1) rank = 1;
    for (int i = 0; i < PW_LATENCY_NBUCKETS; i++) {
        acc += h->buckets[i];
        if (acc >= rank) return pw_latency_bounds_ms[i];
    }
    return INFINITY;
}

/* ---------- small writers ---------- */

static void js(pw_buf *b, const char *s) { pw_buf_json_str(b, s ? s : "", s ? strlen(s) : 0); }

static void jkey(pw_buf *b, const char *k) { js(b, k); pw_buf_putc(b, ':'); }

static void jbool(pw_buf *b, int x) { pw_buf_puts(b, x ? "true" : "false"); }

static void jtime(pw_buf *b, int64_t ms) { /* 0 / INT64_MIN: never */
    if (ms == 0 || ms == INT64_MIN) pw_buf_puts(b, "null");
    else pw_buf_printf(b, "%" PRId64, ms);
}

/* Prometheus float: shortest text that reads back exactly; NaN, +Inf, -Inf. */
static void prom_num(pw_buf *b, double x) {
    if (isnan(x)) { pw_buf_puts(b, "NaN"); return; }
    if (isinf(x)) { pw_buf_puts(b, x > 0 ? "+Inf" : "-Inf"); return; }
    char tmp[40];
    if (x == floor(x) && fabs(x) < 9007199254740992.0) { /* integers as integers, not 3e+02 */
        pw_buf_printf(b, "%.0f", x);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, x);
        if (strtod(tmp, NULL) == x) break;
    }
    pw_buf_puts(b, tmp);
}

void pw_api_prom_escape(pw_buf *out, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') pw_buf_puts(out, "\\\\");
        else if (*s == '"') pw_buf_puts(out, "\\\"");
        else if (*s == '\n') pw_buf_puts(out, "\\n");
        else pw_buf_putc(out, *s);
    }
}

void pw_api_prom_label_name(pw_buf *out, const char *s) {
    if (*s >= '0' && *s <= '9') pw_buf_putc(out, '_');
    else if (s[0] == '_' && s[1] == '_') pw_buf_putc(out, 'x');
    else if (!*s) pw_buf_putc(out, '_');
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        pw_buf_putc(out, ok ? c : '_');
    }
}

static void family(pw_buf *b, const char *name, const char *type, const char *help) {
    pw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u(pw_buf *b, const char *name, uint64_t x) {
    pw_buf_printf(b, "%s %" PRIu64 "\n", name, x);
}

static void sample_d(pw_buf *b, const char *name, double x) {
    pw_buf_printf(b, "%s ", name);
    prom_num(b, x);
    pw_buf_putc(b, '\n');
}

/* name{k="v"} x, with one label */
static void sample1_u(pw_buf *b, const char *name, const char *k, const char *v, uint64_t x) {
    pw_buf_printf(b, "%s{%s=\"", name, k);
    pw_api_prom_escape(b, v);
    pw_buf_printf(b, "\"} %" PRIu64 "\n", x);
}

/* The label set of a sales-metric series: metric="m",by1="v1",... */
static void series_labels(pw_buf *b, const pw_metric_def *d, const char *const *vals) {
    pw_buf_puts(b, "metric=\"");
    pw_api_prom_escape(b, d->name);
    pw_buf_putc(b, '"');
    for (int i = 0; i < d->nby; i++) {
        pw_buf_putc(b, ',');
        if (strcmp(d->by[i], "metric") == 0) pw_buf_puts(b, "exported_");
        pw_api_prom_label_name(b, d->by[i]);
        pw_buf_puts(b, "=\"");
        pw_api_prom_escape(b, vals[i]);
        pw_buf_putc(b, '"');
    }
}

static int rule_matches(const pw_rule_def *r, const char *const *vals) {
    for (int i = 0; i < r->nmatch; i++)
        if (strcmp(vals[r->match_by[i]], r->match[i].val) != 0) return 0;
    return 1;
}

/* ---------- readiness ---------- */

static int not_ready_reasons(const pw_api_view *v, const char **why, int max) {
    int n = 0;
    if (!v->rs || !v->eng) why[n++] = "rules not loaded";
    if (!v->has_source) why[n++] = "no Kafka consumer";
    else if (v->source.assigned <= 0) why[n++] = "no partitions assigned";
    if (v->snap_enabled && v->snap_max_age_ms > 0 && n < max &&
        (v->snap_last_ok_ms == 0 || v->now_ms - v->snap_last_ok_ms > v->snap_max_age_ms))
        why[n++] = "last snapshot too old";
    return n;
}

int pw_api_ready(const pw_api_view *v, pw_buf *out) {
    const char *why[4];
    int n = not_ready_reasons(v, why, 4);
    if (!n) { pw_buf_puts(out, "ready\n"); return 1; }
    pw_buf_puts(out, "not ready: ");
    for (int i = 0; i < n; i++) pw_buf_printf(out, "%s%s", i ? "; " : "", why[i]);
    pw_buf_putc(out, '\n');
    return 0;
}

/* ---------- /metrics ---------- */

typedef struct prom_walk {
    const pw_ruleset *rs;
    pw_buf values, counts;
    uint64_t (*rule_state)[2]; /* per rule: pending, firing */
} prom_walk;

static void prom_series(const pw_series_view *s, void *ud) {
    prom_walk *w = ud;
    const pw_metric_def *d = &w->rs->metrics[s->metric_idx];
    if (s->defined) {
        pw_buf_puts(&w->values, "pipewatch_metric_value{");
        series_labels(&w->values, d, s->label_vals);
        pw_buf_puts(&w->values, "} ");
        prom_num(&w->values, s->value);
        pw_buf_putc(&w->values, '\n');
    }
    pw_buf_puts(&w->counts, "pipewatch_metric_window_events{");
    series_labels(&w->counts, d, s->label_vals);
    pw_buf_printf(&w->counts, "} %" PRIu64 "\n", s->count);
    if (!s->alerts) return;
    for (int j = 0; j < d->nrules; j++) {
        uint8_t st = s->alerts[j].state;
        if (st == PW_ALERT_PENDING) w->rule_state[d->rules[j]][0]++;
        else if (st == PW_ALERT_FIRING) w->rule_state[d->rules[j]][1]++;
    }
}

typedef struct metric_counter {
    const char *name, *help;
    size_t off; /* offset of the uint64_t in pw_metric_stats */
    int pair_only;
    int gauge;
} metric_counter;

static const metric_counter metric_counters[] = {
    {"pipewatch_metric_events_total", "Events applied to a series of the metric (pairs: durations).",
     offsetof(pw_metric_stats, events), 0, 0},
    {"pipewatch_metric_events_filtered_total", "Events for which the metric's where was false.",
     offsetof(pw_metric_stats, filtered), 0, 0},
    {"pipewatch_metric_events_unevaluable_total", "Events whose where/value could not be evaluated.",
     offsetof(pw_metric_stats, unevaluable), 0, 0},
    {"pipewatch_metric_events_late_total", "Events dropped because their bucket had left the window.",
     offsetof(pw_metric_stats, late), 0, 0},
    {"pipewatch_metric_series_dropped_total", "Events dropped because the metric reached max_series.",
     offsetof(pw_metric_stats, overflow), 0, 0},
    {"pipewatch_metric_series", "Live series of the metric.", offsetof(pw_metric_stats, series), 0, 1},
    {"pipewatch_metric_series_forgotten_total", "Series forgotten after their window emptied.",
     offsetof(pw_metric_stats, series_forgotten), 0, 0},
    {"pipewatch_pair_starts_total", "Pair metrics: start events remembered.",
     offsetof(pw_metric_stats, pair_starts), 1, 0},
    {"pipewatch_pair_unmatched_total", "Pair metrics: end events without a usable start.",
     offsetof(pw_metric_stats, pair_unmatched), 1, 0},
    {"pipewatch_pair_expired_total", "Pair metrics: starts forgotten unmatched.",
     offsetof(pw_metric_stats, pair_expired), 1, 0},
    {"pipewatch_pair_pending", "Pair metrics: starts waiting for their end.",
     offsetof(pw_metric_stats, pending), 1, 1},
};

static void prom_engine(const pw_api_view *v, pw_buf *b) {
    const pw_ruleset *rs = v->rs;
    const pw_engine_stats *es = pw_engine_get_stats(v->eng);

    family(b, "pipewatch_events_unmatched_total", "counter", "Events whose type no metric consumes.");
    sample_u(b, "pipewatch_events_unmatched_total", es->unmatched);
    for (size_t c = 0; c < sizeof metric_counters / sizeof metric_counters[0]; c++) {
        const metric_counter *mc = &metric_counters[c];
        int any = 0;
        for (int i = 0; i < rs->nmetrics; i++) {
            const pw_metric_def *d = &rs->metrics[i];
            if (mc->pair_only && d->kind != PW_METRIC_PAIR) continue;
            /* a ratio has series of its own but no events: only the series gauge applies */
            if (d->kind == PW_METRIC_RATIO && mc->off != offsetof(pw_metric_stats, series)) continue;
            if (!any++) family(b, mc->name, mc->gauge ? "gauge" : "counter", mc->help);
            const pw_metric_stats *ms = pw_engine_metric_stats(v->eng, i);
            sample1_u(b, mc->name, "metric", d->name, *(const uint64_t *)((const char *)ms + mc->off));
        }
    }
    family(b, "pipewatch_rule_evaluations_total", "counter", "Rule evaluations, one per (rule, series).");
    sample_u(b, "pipewatch_rule_evaluations_total", es->evaluations);
    family(b, "pipewatch_notifications_total", "counter", "Notifications raised (firing, repeat, resolved).");
    sample_u(b, "pipewatch_notifications_total", es->notifications);

    prom_walk w = {.rs = rs};
    pw_buf_init(&w.values);
    pw_buf_init(&w.counts);
    w.rule_state = calloc((size_t)rs->nrules + 1, sizeof *w.rule_state);
    if (!w.rule_state) { fputs("pipewatch: out of memory (api)\n", stderr); abort(); }
    pw_engine_foreach_series(v->eng, prom_series, &w);

    family(b, "pipewatch_alerts", "gauge",
           "Alerts by rule and state (series on which the rule is pending or firing).");
    for (int r = 0; r < rs->nrules; r++) {
        for (int st = 0; st < 2; st++) {
            pw_buf_puts(b, "pipewatch_alerts{rule=\"");
            pw_api_prom_escape(b, rs->rules[r].name);
            pw_buf_printf(b, "\",severity=\"%s\",state=\"%s\"} %" PRIu64 "\n",
                          pw_severity_name(rs->rules[r].severity), st ? "firing" : "pending",
                          w.rule_state[r][st]);
        }
    }
    family(b, "pipewatch_metric_value", "gauge",
           "Current value of each series of each rule-set metric at stream time (undefined values are "
           "omitted).");
    pw_buf_append(b, w.values.data, w.values.len);
    family(b, "pipewatch_metric_window_events", "gauge",
           "Events in each series' window (a ratio: its denominator's).");
    pw_buf_append(b, w.counts.data, w.counts.len);
    family(b, "pipewatch_stream_time_seconds", "gauge",
           "Stream time: the largest event time seen (or the wall clock).");
    int64_t T = pw_engine_time(v->eng);
    if (T != INT64_MIN) sample_d(b, "pipewatch_stream_time_seconds", (double)T / 1000.0);
    pw_buf_free(&w.values);
    pw_buf_free(&w.counts);
    free(w.rule_state);
}

static void prom_source(const pw_api_view *v, pw_buf *b) {
    const pw_source_stats *s = &v->source;
    family(b, "pipewatch_kafka_messages_total", "counter",
           "Kafka messages consumed, by topic and partition.");
    for (int i = 0; i < v->npartitions; i++) {
        const pw_source_partition_stats *p = &v->partitions[i];
        pw_buf_puts(b, "pipewatch_kafka_messages_total{topic=\"");
        pw_api_prom_escape(b, p->topic ? p->topic : "");
        pw_buf_printf(b, "\",partition=\"%" PRId32 "\"} %" PRIu64 "\n", p->partition, p->consumed);
    }
    family(b, "pipewatch_kafka_consumer_lag", "gauge",
           "Messages behind the partition's high watermark (only partitions whose offsets are known).");
    for (int i = 0; i < v->npartitions; i++) {
        const pw_source_partition_stats *p = &v->partitions[i];
        if (p->high_watermark < 0 || p->next_offset < 0) continue;
        int64_t lag = p->high_watermark - p->next_offset;
        pw_buf_puts(b, "pipewatch_kafka_consumer_lag{topic=\"");
        pw_api_prom_escape(b, p->topic ? p->topic : "");
        pw_buf_printf(b, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n", p->partition, lag < 0 ? 0 : lag);
    }
    static const struct { const char *name, *type, *help; size_t off;
    } f[] = {
        {"pipewatch_kafka_consumed_total", "counter", "Kafka messages handed to the engine, all partitions.",
         offsetof(pw_source_stats, consumed)},
        {"pipewatch_kafka_bytes_total", "counter", "Payload bytes consumed.",
         offsetof(pw_source_stats, bytes)},
        {"pipewatch_kafka_redelivered_total", "counter",
         "Messages dropped as re-deliveries of processed offsets.", offsetof(pw_source_stats, redelivered)},
        {"pipewatch_kafka_errors_total", "counter", "Consumer errors reported by librdkafka.",
         offsetof(pw_source_stats, errors)},
        {"pipewatch_kafka_dead_lettered_total", "counter",
         "Malformed messages copied to the dead-letter topic.", offsetof(pw_source_stats, dead_lettered)},
        {"pipewatch_kafka_dead_letter_failed_total", "counter", "Dead-letter copies that failed.",
         offsetof(pw_source_stats, dead_letter_failed)},
        {"pipewatch_kafka_rebalances_total", "counter", "Consumer group rebalances.",
         offsetof(pw_source_stats, rebalances)},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        family(b, f[i].name, f[i].type, f[i].help);
        sample_u(b, f[i].name, *(const uint64_t *)((const char *)s + f[i].off));
    }
    family(b, "pipewatch_kafka_partitions_assigned", "gauge", "Partitions assigned to this consumer now.");
    sample_u(b, "pipewatch_kafka_partitions_assigned", (uint64_t)(s->assigned < 0 ? 0 : s->assigned));
}

static void prom_sinks(const pw_api_view *v, pw_buf *b) {
    family(b, "pipewatch_sink_notifications_lost_total", "counter",
           "Undelivered notifications (restored from a snapshot, or of old sinks at a reload) that no sink of the "
           "same name and kind could take.");
    sample_u(b, "pipewatch_sink_notifications_lost_total", v->outbox_lost);
    static const char *const results[] = {"sent", "failed", "dropped"};
    family(b, "pipewatch_sink_notifications_total", "counter",
           "Notifications by sink and result: sent (delivered), failed (gave up), dropped (queue full).");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        uint64_t x[3] = {st.sent, st.failed, st.dropped};
        for (int r = 0; r < 3; r++) {
            pw_buf_puts(b, "pipewatch_sink_notifications_total{sink=\"");
            pw_api_prom_escape(b, pw_sink_name(v->sinks[i]));
            pw_buf_printf(b, "\",kind=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                          pw_sink_kind_name(pw_sink_kind_of(v->sinks[i])), results[r], x[r]);
        }
    }
    family(b, "pipewatch_sink_retries_total", "counter", "Delivery retry attempts by sink.");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        sample1_u(b, "pipewatch_sink_retries_total", "sink", pw_sink_name(v->sinks[i]), st.retries);
    }
    family(b, "pipewatch_sink_queue", "gauge", "Notifications queued by sink now.");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        sample1_u(b, "pipewatch_sink_queue", "sink", pw_sink_name(v->sinks[i]), st.queued);
    }
    family(b, "pipewatch_sink_unacknowledged", "gauge",
           "Notifications handed to a library that has not acknowledged them yet (kafka sinks), by sink.");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        sample1_u(b, "pipewatch_sink_unacknowledged", "sink", pw_sink_name(v->sinks[i]), st.unacknowledged);
    }
    family(b, "pipewatch_sink_notifications_suppressed_total", "counter",
           "Notifications not sent because the delivery ledger says this sink delivered them before the "
           "restart (README \"Snapshots\").");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        sample1_u(b, "pipewatch_sink_notifications_suppressed_total", "sink", pw_sink_name(v->sinks[i]),
                  st.suppressed);
    }
    family(b, "pipewatch_sink_ledger_acks_dropped_total", "counter",
           "Delivered notifications the delivery ledger could not record (buffers full while Redis was "
           "unreachable): each may be sent again after a crash.");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        sample1_u(b, "pipewatch_sink_ledger_acks_dropped_total", "sink", pw_sink_name(v->sinks[i]),
                  st.acks_dropped);
    }
}

static void prom_latency(const pw_latency_hist *h, pw_buf *b) {
    const char *n = "pipewatch_processing_latency_seconds";
    family(b, n, "histogram", "Wall time from an event's Kafka timestamp to its processing.");
    uint64_t acc = 0;
    for (int i = 0; i <= PW_LATENCY_NBUCKETS; i++) {
        acc += h->buckets[i];
        pw_buf_printf(b, "%s_bucket{le=\"", n);
        prom_num(b, i < PW_LATENCY_NBUCKETS ? pw_latency_bounds_ms[i] / 1000.0 : INFINITY);
        pw_buf_printf(b, "\"} %" PRIu64 "\n", acc);
    }
    pw_buf_printf(b, "%s_sum ", n);
    prom_num(b, h->sum_ms / 1000.0);
    pw_buf_printf(b, "\n%s_count %" PRIu64 "\n", n, h->count);
}

void pw_api_metrics(const pw_api_view *v, pw_buf *b) {
    family(b, "pipewatch_build_info", "gauge", "Always 1; the version in a label.");
    pw_buf_puts(b, "pipewatch_build_info{version=\"");
    pw_api_prom_escape(b, v->version ? v->version : "unknown");
    pw_buf_puts(b, "\"} 1\n");
    family(b, "pipewatch_start_time_seconds", "gauge", "Process start time, seconds since the epoch.");
    sample_d(b, "pipewatch_start_time_seconds", (double)v->start_ms / 1000.0);
    const char *why[4];
    family(b, "pipewatch_ready", "gauge", "1 when /readyz answers 200.");
    sample_u(b, "pipewatch_ready", not_ready_reasons(v, why, 4) == 0);
    family(b, "pipewatch_rules_loaded", "gauge", "Rules in the running rule set.");
    sample_u(b, "pipewatch_rules_loaded", v->rs ? (uint64_t)v->rs->nrules : 0);

    if (v->has_source) prom_source(v, b);

    family(b, "pipewatch_events_rejected_total", "counter",
           "Messages rejected before the engine, by reason.");
    for (int i = 0; i < v->nrejected && v->rejected && v->reason_name; i++) {
        const char *name = v->reason_name(i);
        if (name && *name) sample1_u(b, "pipewatch_events_rejected_total", "reason", name, v->rejected[i]);
    }
    family(b, "pipewatch_events_applied_total", "counter", "Decoded events given to the engine.");
    sample_u(b, "pipewatch_events_applied_total", v->events_applied);

    if (v->rs && v->eng) prom_engine(v, b);
    prom_sinks(v, b);
    if (v->latency) prom_latency(v->latency, b);

    family(b, "pipewatch_reloads_total", "counter", "Reload attempts (SIGHUP and POST /-/reload).");
    sample_u(b, "pipewatch_reloads_total", v->reloads);
    family(b, "pipewatch_reload_failures_total", "counter", "Reloads rejected (the running set stayed).");
    sample_u(b, "pipewatch_reload_failures_total", v->reload_failures);
    family(b, "pipewatch_log_lines_lost_total", "counter",
           "Daemon log lines that could not be written to stderr (full disk, broken pipe).");
    sample_u(b, "pipewatch_log_lines_lost_total", v->log_lines_lost);
    family(b, "pipewatch_last_reload_success", "gauge",
           "1 if the last (re)load of config and rules succeeded.");
    sample_u(b, "pipewatch_last_reload_success", v->last_reload_ok != 0);
    if (v->last_reload_ok_ms) {
        family(b, "pipewatch_last_reload_success_timestamp_seconds", "gauge",
               "Time of the last successful (re)load, seconds since the epoch.");
        sample_d(b, "pipewatch_last_reload_success_timestamp_seconds", (double)v->last_reload_ok_ms / 1000.0);
    }

    family(b, "pipewatch_snapshot_enabled", "gauge", "1 when Redis snapshots are configured.");
    sample_u(b, "pipewatch_snapshot_enabled", v->snap_enabled != 0);
    if (v->snap_enabled) {
        if (v->snap_last_ok_ms) {
            family(b, "pipewatch_snapshot_age_seconds", "gauge", "Age of the last successful snapshot.");
            sample_d(b, "pipewatch_snapshot_age_seconds", (double)(v->now_ms - v->snap_last_ok_ms) / 1000.0);
            family(b, "pipewatch_snapshot_duration_seconds", "gauge", "Duration of the last snapshot.");
            sample_d(b, "pipewatch_snapshot_duration_seconds", (double)v->snap_last_duration_ms / 1000.0);
        }
        family(b, "pipewatch_snapshots_total", "counter", "Snapshots written.");
        sample_u(b, "pipewatch_snapshots_total", v->snap_count);
        family(b, "pipewatch_snapshot_failures_total", "counter", "Snapshots that failed.");
        sample_u(b, "pipewatch_snapshot_failures_total", v->snap_failures);
        family(b, "pipewatch_consumption_paused", "gauge",
               "1 while consumption is paused because no snapshot succeeded for redis.pause_after.");
        sample_u(b, "pipewatch_consumption_paused", v->snap_paused != 0);
        family(b, "pipewatch_delivery_ledger_sinks", "gauge",
               "Sinks the delivery ledger keeps state for (at most the configured sinks).");
        sample_u(b, "pipewatch_delivery_ledger_sinks", (uint64_t)v->ledger_sinks);
        family(b, "pipewatch_snapshot_owner", "gauge",
               "1 while this daemon holds the owner lock of its redis.key_prefix (0: it writes nothing there).");
        sample_u(b, "pipewatch_snapshot_owner", v->snap_owner != 0);
        family(b, "pipewatch_snapshot_owner_conflicts_total", "counter",
               "Times the owner lock of the key prefix was found held by another pipewatch while running.");
        sample_u(b, "pipewatch_snapshot_owner_conflicts_total", v->snap_owner_conflicts);
    }
}

/* ---------- /api/v1/status ---------- */

void pw_api_status(const pw_api_view *v, pw_buf *b) {
    const char *why[4];
    int n = not_ready_reasons(v, why, 4);
    pw_buf_puts(b, "{\"version\":");
    js(b, v->version ? v->version : "unknown");
    pw_buf_printf(b, ",\"now_ms\":%" PRId64 ",\"start_ms\":%" PRId64 ",\"ready\":", v->now_ms, v->start_ms);
    jbool(b, n == 0);
    pw_buf_puts(b, ",\"not_ready\":[");
    for (int i = 0; i < n; i++) { if (i) pw_buf_putc(b, ','); js(b, why[i]); }
    pw_buf_printf(b, "],\"rules\":%d,\"metrics\":%d", v->rs ? v->rs->nrules : 0, v->rs ? v->rs->nmetrics : 0);
    pw_buf_printf(b, ",\"events_applied\":%" PRIu64, v->events_applied);
    uint64_t rej = 0;
    pw_buf_puts(b, ",\"rejected\":{");
    int first = 1;
    for (int i = 0; i < v->nrejected && v->rejected && v->reason_name; i++) {
        const char *name = v->reason_name(i);
        if (!name || !*name) continue;
        rej += v->rejected[i];
        if (!first) pw_buf_putc(b, ',');
        first = 0;
        jkey(b, name);
        pw_buf_printf(b, "%" PRIu64, v->rejected[i]);
    }
    pw_buf_printf(b, "},\"rejected_total\":%" PRIu64, rej);

    pw_buf_puts(b, ",\"stream_time_ms\":");
    jtime(b, v->eng ? pw_engine_time(v->eng) : 0);
    const pw_engine_stats *es = v->eng ? pw_engine_get_stats(v->eng) : NULL;
    pw_buf_printf(b, ",\"alerts\":{\"firing\":%" PRIu64 ",\"pending\":%" PRIu64 "}", es ? es->firing : 0,
                  es ? es->pending : 0);
    pw_buf_printf(b, ",\"evaluations\":%" PRIu64 ",\"notifications\":%" PRIu64, es ? es->evaluations : 0,
                  es ? es->notifications : 0);

    pw_buf_puts(b, ",\"kafka\":{\"available\":");
    jbool(b, v->has_source);
    if (v->has_source) {
        int64_t lag = 0;
        int lag_known = 0;
        pw_buf_printf(b, ",\"consumed\":%" PRIu64 ",\"assigned\":%d,\"partitions\":[", v->source.consumed,
                      v->source.assigned);
        for (int i = 0; i < v->npartitions; i++) {
            const pw_source_partition_stats *p = &v->partitions[i];
            if (i) pw_buf_putc(b, ',');
            pw_buf_puts(b, "{\"topic\":");
            js(b, p->topic);
            pw_buf_printf(b, ",\"partition\":%" PRId32 ",\"consumed\":%" PRIu64 ",\"lag\":", p->partition,
                          p->consumed);
            if (p->high_watermark >= 0 && p->next_offset >= 0) {
                int64_t l = p->high_watermark - p->next_offset;
                if (l < 0) l = 0;
                lag += l;
                lag_known = 1;
                pw_buf_printf(b, "%" PRId64 "}", l);
            } else {
                pw_buf_puts(b, "null}");
            }
        }
        pw_buf_puts(b, "],\"lag\":");
        if (lag_known) pw_buf_printf(b, "%" PRId64, lag);
        else pw_buf_puts(b, "null");
    }
    pw_buf_puts(b, "},\"sinks\":[");
    for (int i = 0; i < v->nsinks; i++) {
        pw_sink_stats st;
        pw_sink_stats_get(v->sinks[i], &st);
        if (i) pw_buf_putc(b, ',');
        pw_buf_puts(b, "{\"name\":");
        js(b, pw_sink_name(v->sinks[i]));
        pw_buf_printf(b, ",\"kind\":\"%s\",\"sent\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"dropped\":%" PRIu64
                      ",\"queued\":%" PRIu64 "}", pw_sink_kind_name(pw_sink_kind_of(v->sinks[i])), st.sent,
                      st.failed, st.dropped, st.queued);
    }
    pw_buf_printf(b,
                  "],\"reload\":{\"count\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"last_ok_ms\":", v->reloads,
                  v->reload_failures);
    jtime(b, v->last_reload_ok_ms);
    pw_buf_puts(b, ",\"last_ok\":");
    jbool(b, v->last_reload_ok);
    pw_buf_puts(b, ",\"last_result\":");
    if (v->last_reload_result) js(b, v->last_reload_result);
    else pw_buf_puts(b, "null");
    pw_buf_puts(b, "},\"latency\":");
    if (v->latency) {
        pw_buf_printf(b, "{\"count\":%" PRIu64 ",\"p50_ms\":", v->latency->count);
        pw_buf_json_num(b, latency_quantile(v->latency, 0.5)); /* -1 empty, null past the last bound */
        pw_buf_puts(b, ",\"p99_ms\":");
        pw_buf_json_num(b, latency_quantile(v->latency, 0.99));
        pw_buf_putc(b, '}');
    } else {
        pw_buf_puts(b, "null");
    }
    pw_buf_puts(b, ",\"snapshot\":{\"available\":");
    jbool(b, v->snap_enabled);
    if (v->snap_enabled) {
        pw_buf_puts(b, ",\"last_ok_ms\":");
        jtime(b, v->snap_last_ok_ms);
        pw_buf_printf(b, ",\"duration_ms\":%" PRId64 ",\"count\":%" PRIu64 ",\"failures\":%" PRIu64,
                      v->snap_last_duration_ms, v->snap_count, v->snap_failures);
    }
    pw_buf_puts(b, "}}");
}

/* ---------- /api/v1/alerts ---------- */

typedef struct alert_row {
    int state, sev;
    int64_t since;
    size_t off, len; /* the rendered object in the walk's text buffer */
} alert_row;

typedef struct alert_walk {
    const pw_api_view *v;
    pw_buf text;
    alert_row *rows;
    size_t n, cap;
} alert_walk;

static void json_labels(pw_buf *b, const pw_metric_def *d, const char *const *vals) {
    pw_buf_putc(b, '{');
    for (int i = 0; i < d->nby; i++) {
        if (i) pw_buf_putc(b, ',');
        jkey(b, d->by[i]);
        js(b, vals[i]);
    }
    pw_buf_putc(b, '}');
}

static void json_condition(pw_buf *b, const pw_rule_def *r) {
    char d[32];
    switch ((pw_cond)r->cond) {
    case PW_COND_ABOVE:
        pw_buf_puts(b, "{\"op\":\"above\",\"threshold\":");
        pw_buf_json_num(b, r->threshold);
        break;
    case PW_COND_BELOW:
        pw_buf_puts(b, "{\"op\":\"below\",\"threshold\":");
        pw_buf_json_num(b, r->threshold);
        break;
    case PW_COND_OUTSIDE:
        pw_buf_puts(b, "{\"op\":\"outside\",\"lo\":");
        pw_buf_json_num(b, r->lo);
        pw_buf_puts(b, ",\"hi\":");
        pw_buf_json_num(b, r->hi);
        break;
    case PW_COND_ABSENT:
        pw_buf_puts(b, "{\"op\":\"absent\",\"duration\":");
        js(b, pw_duration_format(r->absent_ms, d, sizeof d));
        break;
    }
    pw_buf_putc(b, '}');
}

static void alert_series(const pw_series_view *s, void *ud) {
    alert_walk *w = ud;
    if (!s->alerts) return;
    const pw_ruleset *rs = w->v->rs;
    const pw_metric_def *d = &rs->metrics[s->metric_idx];
    for (int j = 0; j < d->nrules; j++) {
        const pw_alert *a = &s->alerts[j];
        if (a->state != PW_ALERT_PENDING && a->state != PW_ALERT_FIRING) continue;
        const pw_rule_def *r = &rs->rules[d->rules[j]];
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            alert_row *p = realloc(w->rows, cap * sizeof *p);
            if (!p) { fputs("pipewatch: out of memory (api)\n", stderr); abort(); }
            w->rows = p;
            w->cap = cap;
        }
        alert_row *row = &w->rows[w->n++];
        row->state = a->state;
        row->sev = (int)r->severity;
        row->since = a->since;
        row->off = w->text.len;
        pw_buf *b = &w->text;
        pw_buf_puts(b, "{\"rule\":");
        js(b, r->name);
        pw_buf_puts(b, ",\"metric\":");
        js(b, d->name);
        pw_buf_printf(b, ",\"state\":\"%s\",\"severity\":\"%s\",\"labels\":", pw_alert_state_name(a->state),
                      pw_severity_name(r->severity));
        json_labels(b, d, s->label_vals);
        pw_buf_puts(b, ",\"rule_labels\":{");
        for (int k = 0; k < r->nlabels; k++) {
            if (k) pw_buf_putc(b, ',');
            jkey(b, r->labels[k].key);
            js(b, r->labels[k].val);
        }
        pw_buf_printf(b, "},\"since\":%" PRId64 ",\"fired_at\":", a->since);
        if (a->state == PW_ALERT_FIRING) pw_buf_printf(b, "%" PRId64, a->fired_at);
        else pw_buf_puts(b, "null");
        pw_buf_puts(b, ",\"value\":");
        if (r->cond == PW_COND_ABSENT) {
            int64_t T = pw_engine_time(w->v->eng);
            if (s->last_ts != INT64_MIN && T != INT64_MIN)
                pw_buf_json_num(b, (double)(T - s->last_ts) / 1000.0);
            else pw_buf_puts(b, "null");
        } else if (s->defined) {
            pw_buf_json_num(b, s->value);
        } else {
            pw_buf_puts(b, "null");
        }
        pw_buf_printf(b, ",\"count\":%" PRIu64 ",\"condition\":", s->count);
        json_condition(b, r);
        pw_buf_putc(b, '}');
        row->len = w->text.len - row->off;
    }
}

static int alert_cmp(const void *pa, const void *pb) {
    const alert_row *a = pa, *b = pb;
    if (a->state != b->state) return b->state - a->state; /* firing (2) first */
    if (a->sev != b->sev) return b->sev - a->sev;         /* critical first */
    if (a->since != b->since) return a->since < b->since ? -1 : 1;
    return a->off < b->off ? -1 : (a->off > b->off);      /* stable: walk order */
}

void pw_api_alerts(const pw_api_view *v, pw_buf *b) {
    alert_walk w = {.v = v};
    pw_buf_init(&w.text);
    if (v->rs && v->eng) pw_engine_foreach_series(v->eng, alert_series, &w);
    if (w.n) qsort(w.rows, w.n, sizeof *w.rows, alert_cmp);
    size_t firing = 0;
    for (size_t i = 0; i < w.n; i++) firing += w.rows[i].state == PW_ALERT_FIRING;
    pw_buf_puts(b, "{\"stream_time_ms\":");
    jtime(b, v->eng ? pw_engine_time(v->eng) : 0);
    pw_buf_printf(b, ",\"firing\":%zu,\"pending\":%zu,\"alerts\":[", firing, w.n - firing);
    for (size_t i = 0; i < w.n; i++) {
        if (i) pw_buf_putc(b, ',');
        pw_buf_append(b, w.text.data + w.rows[i].off, w.rows[i].len);
    }
    pw_buf_puts(b, "]}");
    free(w.rows);
    pw_buf_free(&w.text);
}

/* ---------- /api/v1/metrics ---------- */

typedef struct series_walk {
    const pw_api_view *v;
    pw_buf *b;
    int cur;         /* metric whose object is open, -1 none */
    int listed;      /* series listed for cur */
    int cap, nb;     /* caps from the view */
    int64_t T;
} series_walk;

static const char *kind_name(pw_metric_kind k) {
    return k == PW_METRIC_RATIO ? "ratio" : k == PW_METRIC_PAIR ? "pair" : "plain";
}

static void metric_open(series_walk *w, int i) {
    const pw_metric_def *d = &w->v->rs->metrics[i];
    pw_buf *b = w->b;
    if (i) pw_buf_putc(b, ',');
    pw_buf_puts(b, "{\"name\":");
    js(b, d->name);
    pw_buf_puts(b, ",\"help\":");
    js(b, d->help);
    pw_buf_printf(b, ",\"kind\":\"%s\",\"aggregate\":", kind_name(d->kind));
    if (d->kind == PW_METRIC_RATIO) pw_buf_puts(b, "null");
    else js(b, pw_agg_name(d->agg));
    pw_buf_puts(b, ",\"by\":[");
    for (int k = 0; k < d->nby; k++) { if (k) pw_buf_putc(b, ','); js(b, d->by[k]); }
    int nb = d->nbuckets < w->nb ? d->nbuckets : w->nb;
    int64_t head = w->T == INT64_MIN ? 0 : pw_floordiv(w->T, d->res_ms);
    pw_buf_printf(b, "],\"window_ms\":%" PRId64 ",\"resolution_ms\":%" PRId64 ",\"buckets_start_ms\":%" PRId64
                  ",\"rules\":[", d->window_ms, d->res_ms, (head - nb + 1) * d->res_ms);
    for (int k = 0; k < d->nrules; k++) {
        if (k) pw_buf_putc(b, ',');
        js(b, w->v->rs->rules[d->rules[k]].name);
    }
    pw_buf_puts(b, "],\"series\":[");
    w->cur = i;
    w->listed = 0;
}

static void metric_close(series_walk *w) {
    const pw_metric_stats *ms = pw_engine_metric_stats(w->v->eng, w->cur);
    pw_buf_printf(w->b, "],\"series_total\":%" PRIu64 ",\"truncated\":%s}", ms->series,
                  (uint64_t)w->listed < ms->series ? "true" : "false");
}

static void advance_to(series_walk *w, int i) {
    while (w->cur < i) {
        if (w->cur >= 0) metric_close(w);
        metric_open(w, w->cur + 1);
    }
}

static int zero_when_empty(pw_agg a) { return a == PW_AGG_COUNT || a == PW_AGG_SUM || a == PW_AGG_DISTINCT; }

static int part_bucket(const pw_metric_def *pd, const pw_window *win, int64_t k, double *x) {
    if (win) return pw_window_bucket_value(win, k, x);
    *x = 0;
    return zero_when_empty(pd->agg);
}

static void series_row(const pw_series_view *s, void *ud) {
    series_walk *w = ud;
    advance_to(w, s->metric_idx);
    if (w->listed >= w->cap) return;
    const pw_ruleset *rs = w->v->rs;
    const pw_metric_def *d = &rs->metrics[s->metric_idx];
    pw_buf *b = w->b;
    if (w->listed++) pw_buf_putc(b, ',');
    pw_buf_puts(b, "{\"labels\":");
    json_labels(b, d, s->label_vals);
    pw_buf_puts(b, ",\"value\":");
    if (s->defined) pw_buf_json_num(b, s->value);
    else pw_buf_puts(b, "null");
    pw_buf_printf(b, ",\"count\":%" PRIu64 ",\"last_ts\":", s->count);
    jtime(b, s->last_ts);
    pw_buf_puts(b, ",\"states\":[");
    for (int j = 0; j < d->nrules; j++) {
        if (j) pw_buf_putc(b, ',');
        pw_buf_printf(b, "\"%s\"", pw_alert_state_name(s->alerts ? s->alerts[j].state : PW_ALERT_INACTIVE));
    }
    pw_buf_puts(b, "],\"buckets\":[");
    int nb = d->nbuckets < w->nb ? d->nbuckets : w->nb;
    int64_t head = w->T == INT64_MIN ? 0 : pw_floordiv(w->T, d->res_ms);
    for (int64_t k = head - nb + 1; k <= head; k++) {
        double x = 0;
        int def;
        if (d->kind == PW_METRIC_RATIO) {
            double nx, dx;
            int nd = part_bucket(&rs->metrics[d->num_idx], s->num_win, k, &nx);
            int dd = part_bucket(&rs->metrics[d->den_idx], s->den_win, k, &dx);
            def = nd && dd && dx != 0;
            if (def) x = nx / dx;
        } else {
            def = s->win && pw_window_bucket_value(s->win, k, &x);
        }
        if (k > head - nb + 1) pw_buf_putc(b, ',');
        if (def) pw_buf_json_num(b, x);
        else pw_buf_puts(b, "null");
    }
    pw_buf_puts(b, "]}");
}

void pw_api_series(const pw_api_view *v, pw_buf *b) {
    series_walk w = {.v = v, .b = b, .cur = -1};
    w.cap = v->max_series_per_metric > 0 ? v->max_series_per_metric : 500;
    w.nb = v->max_buckets > 0 ? v->max_buckets : 60;
    w.T = v->eng ? pw_engine_time(v->eng) : INT64_MIN;
    pw_buf_puts(b, "{\"stream_time_ms\":");
    jtime(b, w.T);
    pw_buf_puts(b, ",\"metrics\":[");
    if (v->rs && v->eng) {
        pw_engine_foreach_series(v->eng, series_row, &w);
        advance_to(&w, v->rs->nmetrics - 1);
        if (w.cur >= 0) metric_close(&w);
    }
    pw_buf_puts(b, "]}");
}

/* ---------- /api/v1/rules ---------- */

typedef struct rule_count { uint64_t series, pending, firing; } rule_count;

typedef struct rules_walk {
    const pw_ruleset *rs;
    rule_count *c;
} rules_walk;

static void rules_series(const pw_series_view *s, void *ud) {
    rules_walk *w = ud;
    const pw_metric_def *d = &w->rs->metrics[s->metric_idx];
    for (int j = 0; j < d->nrules; j++) {
        int r = d->rules[j];
        if (!rule_matches(&w->rs->rules[r], s->label_vals)) continue;
        w->c[r].series++;
        uint8_t st = s->alerts ? s->alerts[j].state : PW_ALERT_INACTIVE;
        if (st == PW_ALERT_PENDING) w->c[r].pending++;
        else if (st == PW_ALERT_FIRING) w->c[r].firing++;
    }
}

void pw_api_rules(const pw_api_view *v, pw_buf *b) {
    pw_buf_puts(b, "{\"rules\":[");
    if (v->rs && v->eng) {
        const pw_ruleset *rs = v->rs;
        rules_walk w = {.rs = rs, .c = calloc((size_t)rs->nrules + 1, sizeof(rule_count))};
        if (!w.c) { fputs("pipewatch: out of memory (api)\n", stderr); abort(); }
        pw_engine_foreach_series(v->eng, rules_series, &w);
        for (int i = 0; i < rs->nrules; i++) {
            const pw_rule_def *r = &rs->rules[i];
            char d[32];
            if (i) pw_buf_putc(b, ',');
            pw_buf_puts(b, "{\"name\":");
            js(b, r->name);
            pw_buf_puts(b, ",\"metric\":");
            js(b, rs->metrics[r->metric_idx].name);
            pw_buf_printf(b, ",\"file\":");
            js(b, r->loc.file);
            pw_buf_printf(b, ",\"line\":%d,\"severity\":\"%s\",\"condition\":", r->loc.line,
                          pw_severity_name(r->severity));
            json_condition(b, r);
            pw_buf_puts(b, ",\"clear\":");
            if (r->has_clear) pw_buf_json_num(b, r->clear);
            else pw_buf_puts(b, "null");
            pw_buf_puts(b, ",\"for\":");
            js(b, pw_duration_format(r->for_ms, d, sizeof d));
            pw_buf_printf(b, ",\"min_count\":%" PRId64 ",\"match\":{", r->min_count);
            for (int k = 0; k < r->nmatch; k++) {
                if (k) pw_buf_putc(b, ',');
                jkey(b, r->match[k].key);
                js(b, r->match[k].val);
            }
            pw_buf_puts(b, "},\"annotations\":{");
            for (int k = 0; k < r->nannotations; k++) {
                if (k) pw_buf_putc(b, ',');
                jkey(b, r->annotations[k].key);
                js(b, r->annotations[k].val);
            }
            pw_buf_printf(b, "},\"series\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"firing\":%" PRIu64 "}",
                          w.c[i].series, w.c[i].pending, w.c[i].firing);
        }
        free(w.c);
    }
    pw_buf_puts(b, "]}");
}
