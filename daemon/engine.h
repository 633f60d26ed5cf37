/* engine.h -- events -> metrics -> series -> alerts. Pure: no I/O, no clock.
 *
 * The engine owns every series of every metric of one rule set, the pending
 * starts of pair metrics and every alert state. It is driven by two calls:
 * pw_engine_event() for each decoded event (in arrival order) and
 * pw_engine_advance() to move stream time without an event (the end of a
 * replay, or the wall clock in the daemon). Notifications are delivered
 * synchronously through the callback given at creation.
 *
 * Semantics (README "How pipewatch computes"): stream time T is the largest
 * event time seen; bucket k of a metric covers [k*R, (k+1)*R); the window at t
 * is the N buckets ending with the one containing t; events whose bucket has
 * left the window at T are late (dropped, counted). Rules are evaluated after
 * each event for the series it changed (at T) and at every resolution boundary
 * that T crosses, for every series of that metric, before the event is applied.
 *
 * Memory is bounded by live series (max_series per metric) and pending pair
 * starts (max_pending per pair metric); a series is forgotten when its window
 * is empty and no rule is pending, firing, or could still fire `absent` on it:
 * at the first boundary where that holds for metrics with rules, within one
 * window length for metrics without rules (they are swept every N boundaries).
 *
 * Long jumps of stream time (a gap in the data, --until far ahead) cost
 * O(N) boundaries per metric plus one evaluation per `for`/`absent`/`repeat`
 * instant, not one per boundary crossed: once every window of a metric is
 * empty, boundaries at which nothing can change are skipped.
 *
 * Threading: one engine belongs to one thread; nothing here locks.
 */
#ifndef PW_ENGINE_H
#define PW_ENGINE_H

#include <stdint.h>

#include "alert.h"
#include "buf.h"
#include "event.h"
#include "ruleset.h"

typedef void (*pw_notify_fn)(const pw_notification *n, void *ud);

typedef struct pw_engine_opts {
    uint32_t max_series;     /* per metric; 0 = 100000 */
    uint32_t max_pending;    /* pending starts per pair metric; 0 = 1000000 */
    uint32_t distinct_max;   /* distinct values per series; 0 = 100000 */
    int no_skip;             /* tests only: evaluate every boundary, even across long gaps */
} pw_engine_opts;

/* Counters per metric; all monotonic except `series` and `pending`. */
typedef struct pw_metric_stats {
    uint64_t events;         /* events applied to a series (for pairs: durations recorded) */
    uint64_t filtered;       /* `where` was false */
    uint64_t unevaluable;    /* where/value could not be evaluated, or the field is not a number */
    uint64_t late;           /* bucket already left the window */
    uint64_t overflow;       /* dropped because max_series was reached */
    uint64_t pair_starts;    /* pair: starts remembered */
    uint64_t pair_unmatched; /* pair: end without a usable start (none, too old, or after the end) */
    uint64_t pair_expired;   /* pair: starts forgotten unmatched (too old to pair, or max_pending) */
    uint64_t pair_duplicates;/* pair: starts ignored because an earlier start of the key is pending */
    uint64_t series;         /* live series now */
    uint64_t pending;        /* pair: pending starts now */
    uint64_t series_forgotten;
} pw_metric_stats;

typedef struct pw_engine_stats {
    uint64_t events;         /* events given to pw_engine_event */
    uint64_t unmatched;      /* events whose type no metric consumes */
    uint64_t evaluations;    /* (rule, series) evaluations */
    uint64_t notifications;
    uint64_t firing;         /* alerts firing now */
    uint64_t pending;        /* alerts pending now */
} pw_engine_stats;

typedef struct pw_engine pw_engine;

/* rs is borrowed and must outlive the engine. NULL on allocation failure. */
pw_engine *pw_engine_new(const pw_ruleset *rs, const pw_engine_opts *opts, pw_notify_fn fn, void *ud);
void pw_engine_destroy(pw_engine *e); /* accepts NULL */

/* Apply one event (borrowed for the call). Evaluates as described above. */
void pw_engine_event(pw_engine *e, const pw_event *ev);
/* Move stream time to t (no-op if t <= T): boundary evaluations on the way. */
void pw_engine_advance(pw_engine *e, int64_t t);
/* Evaluate every rule on every series at the current stream time (the daemon
 * does this every second with the wall clock). */
void pw_engine_evaluate_all(pw_engine *e);

/* Reload: move into the fresh engine e (no event applied yet) the state of
 * every metric of `old` whose name and def_hash are unchanged, with the alert
 * states of unchanged rules (same name and def_hash); everything else starts
 * empty. Stream time and counters carry over. `report` (may be NULL) is
 * called once per metric of e with kept = 1 or 0. old is destroyed. */
void pw_engine_adopt(pw_engine *e, pw_engine *old, void (*report)(const char *metric, int kept, void *ud),
                     void *ud);

/* Snapshots (snapshot.h has the container). pw_engine_save appends the whole
 * state: stream time, arrival sequence, counters, then per metric its name,
 * def_hash, summary counts (series, pending starts, alerts firing/pending) and
 * a body (boundary bookkeeping, counters, the names and
 * def_hashes of its rules, every series with labels, last event time, window
 * and alert states, every pending pair start with its labels), then the
 * bodies' lengths (u64 each; format versions 1 and 2 put each length before its
 * body). It streams through w (pw_snap_w_point after every series) and only reads
 * e's memory (no window is advanced), so a forked child can run it on its
 * copy-on-write view while the parent goes on.
 *
 * pw_engine_load restores such a section into e, which must be fresh (no
 * event applied). Metrics are matched by name and def_hash and rules by name
 * and def_hash, as pw_engine_adopt does: unchanged metrics get their series,
 * windows, pending starts and the states of their unchanged rules; changed or
 * new ones start empty; saved metrics that no longer exist are skipped.
 * Everything read is validated. 0, or -1 with a message in err, in which case
 * e may hold part of the state and must be destroyed (never used). `report`
 * (may be NULL) is called once per metric of e with kept = 1 or 0, only on
 * success. engine.max_series is not applied to restored series. */
struct pw_snap_w;
void pw_engine_save(const pw_engine *e, struct pw_snap_w *w);
int pw_engine_load(pw_engine *e, const void *p, size_t len, void (*report)(const char *metric, int kept, void *ud),
                   void *ud, char *err, size_t errlen);
/* The same for a section of snapshot format `version` (snapshot.h: PW_SNAPSHOT_OLDEST..PW_SNAPSHOT_VERSION). */
int pw_engine_load_version(pw_engine *e, const void *p, size_t len, uint32_t version,
                           void (*report)(const char *metric, int kept, void *ud), void *ud, char *err, size_t errlen);

/* What a saved engine section holds per metric, without an engine (inspect). */
typedef struct pw_saved_metric {
    const char *name;              /* borrowed, NUL-terminated */
    uint64_t def_hash;
    uint32_t series, pair_pending, firing, pending;
} pw_saved_metric;
/* Visit the metric headers of a section written by pw_engine_save. 0, or -1 with err. */
int pw_engine_saved_metrics(const void *p, size_t len, uint32_t version,
                            void (*fn)(const pw_saved_metric *m, void *ud), void *ud, char *err, size_t errlen);

/* Stream time T, or INT64_MIN before the first event. */
int64_t pw_engine_time(const pw_engine *e);
const pw_engine_stats *pw_engine_get_stats(const pw_engine *e);
const pw_metric_stats *pw_engine_metric_stats(const pw_engine *e, int metric_idx);

/* One live series as seen by pw_engine_foreach_series (borrowed for the call). */
typedef struct pw_series_view {
    int metric_idx;
    const char *const *label_vals; /* metric nby values */
    int defined;
    double value;                  /* at stream time T */
    uint64_t count;                /* events in the window (ratio: denominator's) */
    int64_t last_ts;               /* INT64_MIN if none */
    const pw_alert *alerts;        /* metric nrules states, NULL if all inactive */
    /* Recent buckets, for sparklines and the HTTP API (read with pw_window_bucket_value() for bucket
     * indexes head-nbuckets < k <= head, head = floor(T / res_ms), all already advanced to head):
     * plain and pair metrics: the series' window; ratio: NULL, and num_win / den_win are the windows of
     * the numerator's and denominator's series with the same labels (NULL when that part has no live
     * series: count, sum and distinct then read as 0 per bucket, other aggregates as undefined). */
    const struct pw_window *win;
    const struct pw_window *num_win, *den_win;
} pw_series_view;
typedef void (*pw_series_fn)(const pw_series_view *s, void *ud);

/* Visit every live series, metrics in rule-set order, series in creation order. */
void pw_engine_foreach_series(pw_engine *e, pw_series_fn fn, void *ud);

/* Visit every alert state that is not inactive or has notified (seq > 0), without computing any value:
 * a pure read of memory (a forked snapshot writer prunes the delivery ledger with it). */
typedef void (*pw_alert_fn)(const pw_rule_def *r, const pw_metric_def *m, const char *const *label_vals,
                            const pw_alert *a, void *ud);
void pw_engine_foreach_alert(const pw_engine *e, pw_alert_fn fn, void *ud);

#endif
