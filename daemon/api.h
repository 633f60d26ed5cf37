/* api.h -- what the HTTP endpoints say: pure renderers into a pw_buf.
 *
 * Every renderer reads one pw_api_view (borrowed pointers and counters the
 * server fills before each request) and appends a complete response body to
 * a pw_buf. Nothing here does I/O, takes a lock or reads a clock: the server
 * passes `now_ms`, so the output is a function of the view (the unit tests
 * rely on it). http.c maps URLs to these functions.
 *
 *   pw_api_metrics      GET /metrics         Prometheus text exposition 0.0.4
 *   pw_api_ready        GET /readyz          readiness and its reasons
 *   pw_api_status       GET /api/v1/status   health summary for the status page
 *   pw_api_alerts       GET /api/v1/alerts   firing and pending alerts
 *   pw_api_series       GET /api/v1/metrics  every series with its recent buckets
 *   pw_api_rules        GET /api/v1/rules    rules with series counts by state
 *
 * Threading: call from the thread that owns the engine (the daemon's main
 * thread: pw_http_run() runs request handlers there). The engine is read, and
 * reading a series advances its window head to stream time (as every
 * evaluation does), which is why `eng` is not const.
 *
 * Cost: /metrics and the /api/v1/ documents visit every live series of every metric, on
 * the main thread, while consumption waits: a rule set with 100,000 series
 * renders about 10 MB of /metrics. /api/v1/metrics caps the series listed per
 * metric (max_series_per_metric, default 500) and says "truncated".
 */
#ifndef PW_API_H
#define PW_API_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "engine.h"
#include "ruleset.h"
#include "sink.h"
#include "source_kafka.h"

/* ---------- processing latency ---------- */

/* Processing latency: wall time when an event has been applied minus its
 * Kafka message timestamp (the producer's CreateTime, or the broker's
 * LogAppendTime). It includes time spent in Kafka before consumption, so it
 * is what an operator means by "how far behind real time are the alerts".
 * The server calls pw_latency_observe(&h, now_ms - kafka_ts) per message
 * that has a timestamp (kafka_ts >= 0); negative values (clock skew between
 * producer and us) count in the first bucket. Fixed buckets, no allocation,
 * O(log buckets) per observation. Exposed as the Prometheus histogram
 * pipewatch_processing_latency_seconds. */
#define PW_LATENCY_NBUCKETS 15
extern const double pw_latency_bounds_ms[PW_LATENCY_NBUCKETS]; /* upper bounds (le), ascending */

typedef struct pw_latency_hist {
    uint64_t buckets[PW_LATENCY_NBUCKETS + 1]; /* non-cumulative; [NBUCKETS] is +Inf */
    uint64_t count;
    double sum_ms;
} pw_latency_hist;

void pw_latency_observe(pw_latency_hist *h, double ms);

/* ---------- the view ---------- */

/* Everything the endpoints show. All pointers are borrowed for the duration
 * of one render; any may be NULL / any count 0 (that part is then omitted or
 * reads as "not available"). Zero-initialise and fill what exists. */
typedef struct pw_api_view {
    const char *version;               /* e.g. PW_VERSION; NULL = "unknown" */
    int64_t now_ms;                    /* wall clock, ms since the epoch */
    int64_t start_ms;                  /* process start, wall ms */

    /* rules and engine: NULL until rules are loaded */
    const pw_ruleset *rs;
    pw_engine *eng;

    /* Kafka: a copy of pw_source_stats_get() and the per-partition stats
     * (pw_source_foreach_partition() copied into an array; topic strings
     * borrowed). has_source = 0 when no consumer exists (yet). */
    int has_source;
    pw_source_stats source;
    const pw_source_partition_stats *partitions;
    int npartitions;

    /* Messages rejected before the engine, by reason: rejected[i] is the count
     * for reason_name(i), i < nrejected (the server's enum: pw_ev_err reasons
     * plus future, late, empty). Index 0 may be a non-reason (PW_EV_OK): a
     * NULL or "" name is skipped. */
    const uint64_t *rejected;
    int nrejected;
    const char *(*reason_name)(int i);

    uint64_t events_applied;           /* decoded events given to the engine */

    /* sinks: pw_sink_stats_get / pw_sink_name / pw_sink_kind_of are read */
    pw_sink *const *sinks;
    int nsinks;

    /* reloads (SIGHUP and POST /-/reload) */
    uint64_t reloads;                  /* attempts */
    uint64_t reload_failures;
    uint64_t log_lines_lost;           /* daemon log lines stderr refused (pw_log_lines_lost) */
    int64_t last_reload_ok_ms;         /* wall ms of the last successful (re)load, 0 = never */
    int last_reload_ok;                /* 1 if the last attempt succeeded (start-up counts) */
    const char *last_reload_result;    /* short text: "ok" or the first error line; NULL = none */

    pw_latency_hist *latency;          /* NULL = not measured */

    /* Redis snapshots (not built yet: leave snap_enabled = 0, shown as "not available") */
    int snap_enabled;
    int64_t snap_last_ok_ms;           /* wall ms of the last successful snapshot, 0 = never */
    int64_t snap_last_duration_ms;
    uint64_t snap_count;
    uint64_t snap_failures;
    int64_t snap_max_age_ms;           /* /readyz fails when the last snapshot is older (0 = no check) */
    int snap_paused;                   /* consumption paused by redis.pause_after (no recent snapshot) */
    int ledger_sinks;                  /* sinks the delivery ledger keeps state for (bounded by the config's) */
    int snap_owner;                    /* 1 while this daemon holds its key prefix's owner lock */
    uint64_t snap_owner_conflicts;     /* times the lock was found held by another daemon while running */
    uint64_t outbox_lost;              /* undelivered notifications (restored or moved at a reload) that no sink
                                        * of the same name and kind could take */

    int max_series_per_metric;         /* /api/v1/metrics cap per metric; 0 = 500 */
    int max_buckets;                   /* buckets per series in /api/v1/metrics; 0 = 60 (newest kept) */
} pw_api_view;

/* ---------- renderers (append to out; never fail: pw_buf aborts on OOM) ---------- */

/* Prometheus text format 0.0.4 (Content-Type: text/plain; version=0.0.4). */
void pw_api_metrics(const pw_api_view *v, pw_buf *out);

/* Readiness: 1 when ready (rules loaded, at least one partition assigned,
 * and when snapshots are on, the last one younger than snap_max_age_ms).
 * Appends "ready\n" or "not ready: REASON[; REASON...]\n". */
int pw_api_ready(const pw_api_view *v, pw_buf *out);

/* JSON documents (see the README's HTTP section for their fields). */
void pw_api_status(const pw_api_view *v, pw_buf *out);
void pw_api_alerts(const pw_api_view *v, pw_buf *out);
void pw_api_series(const pw_api_view *v, pw_buf *out);
void pw_api_rules(const pw_api_view *v, pw_buf *out);

/* Helpers, exposed for tests. */
/* Append s as a Prometheus label value body (no quotes): \ -> \\, " -> \", LF -> \n. */
void pw_api_prom_escape(pw_buf *out, const char *s);
/* Append a valid Prometheus label name for s: [a-zA-Z0-9_] kept, other bytes -> '_', a leading
 * digit or "__" gets a "_"/"x" prefix so the result matches [a-zA-Z_][a-zA-Z0-9_]* and is not reserved. */
void pw_api_prom_label_name(pw_buf *out, const char *s);

#endif
