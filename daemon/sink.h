/* sink.h -- where notifications go: one small interface, one file per kind.
 *
 * A sink has two halves:
 *   - render (main thread, pure): turns a pw_notification into the bytes this
 *     sink sends (a JSON line, a webhook body, an Alertmanager alert...);
 *   - deliver (the sink's own thread): sends queued bytes, retrying with
 *     exponential backoff. A slow or dead receiver only fills this sink's
 *     bounded queue; it never stalls the engine.
 * pw_sink_submit() never blocks: when the queue is full the notification is
 * dropped, counted (stats.dropped) and logged (rate-limited).
 *
 * Kinds: log (JSON lines to stdout or a file), webhook (HTTP POST, libcurl),
 * alertmanager (Prometheus Alertmanager v2 API, re-sends firing alerts),
 * kafka (produce to a topic keyed by fingerprint).
 *
 * Threading: _new, _start, _submit, _stop, _destroy, _stats from the main
 * thread only; stats counters are updated atomically by the sink thread.
 */
#ifndef PW_SINK_H
#define PW_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "ruleset.h"

typedef enum pw_sink_kind { PW_SINK_LOG = 0, PW_SINK_WEBHOOK, PW_SINK_ALERTMANAGER, PW_SINK_KAFKA } pw_sink_kind;

typedef struct pw_sink_conf {
    char *name;               /* referenced by rules' notify: */
    pw_sink_kind kind;
    int is_default;           /* receives notifications of rules without notify: */
    /* log */
    char *path;               /* "-" or NULL: stdout; else a file opened for append (reopened on SIGHUP) */
    /* webhook, alertmanager */
    char *url;                /* webhook: the endpoint; alertmanager: base URL (http://host:9093) */
    pw_kv *headers;           /* extra HTTP headers (values may hold secrets: never logged) */
    int nheaders;
    char *body;               /* webhook body template (NULL = the notification JSON); see README */
    /* Numeric settings: 0 selects the default (the config loader normally sets them explicitly). */
    int64_t timeout_ms;       /* per request, default 5000 */
    int retries;              /* attempts after the first, default 5; 0 = no retry; -1 = default */
    int64_t backoff_ms;       /* first retry delay, default 500, doubling, with jitter */
    int64_t backoff_max_ms;   /* cap, default 30000 */
    uint32_t queue_max;       /* notifications held: waiting + being delivered (+ handed to librdkafka and not yet
                                 acknowledged, for a kafka sink); default 10000 */
    int64_t resend_ms;        /* alertmanager: re-send firing alerts this often, default 60000 */
    char *generator_url;      /* alertmanager: generatorURL of alerts, optional */
    /* kafka */
    char *brokers;
    char *topic;
    pw_kv *props;             /* librdkafka producer properties, passed through */
    int nprops;
} pw_sink_conf;

typedef struct pw_sink_stats {
    uint64_t submitted;       /* accepted into the queue */
    uint64_t sent;            /* delivered (2xx / acked / written) */
    uint64_t failed;          /* gave up: retries exhausted, a permanent error (HTTP 4xx, a write
                               * error), or still undelivered at the stop deadline */
    uint64_t dropped;         /* queue full (or submitted after stop), never queued */
    uint64_t retries;         /* retry attempts */
    uint64_t queued;          /* in the queue now (submitted - sent - failed) */
    uint64_t untracked;       /* alertmanager: firing alerts sent but not kept for re-sending
                               * because the firing table (queue_max * 10) was full */
    uint64_t suppressed;      /* not submitted: already delivered before a restart (delivery ledger) */
    uint64_t acks_dropped;    /* delivered, but the ledger was not told (its buffer was full) */
    uint64_t unacknowledged;  /* kafka: handed to librdkafka, no delivery report yet (in the outbox) */
} pw_sink_stats;

/* A delivered notification, as the delivery ledger records it (README "Snapshots"). */
typedef struct pw_sink_ack {
    uint64_t fingerprint;
    uint64_t rule_hash;
    int64_t born;
    int64_t at;                 /* the notification's evaluation time */
    uint32_t seq;
    uint8_t kind;
} pw_sink_ack;

typedef struct pw_sink pw_sink;

/* Validates and builds (no thread yet). conf is copied. NULL with a message
 * in errbuf on invalid settings. */
pw_sink *pw_sink_new(const pw_sink_conf *conf, char *errbuf, size_t errlen);
int pw_sink_start(pw_sink *s);                    /* starts the delivery thread; 0/-1 */
void pw_sink_submit(pw_sink *s, const pw_notification *n); /* never blocks */
/* Stop accepting, deliver what is queued until deadline_ms (monotonic ms),
 * then stop the thread. What is still queued is counted as failed. */
void pw_sink_stop(pw_sink *s, int64_t deadline_ms);
void pw_sink_destroy(pw_sink *s);                 /* accepts NULL; stops first if needed */
/* SIGHUP: a log sink reopens its file (for logrotate) before its next write;
 * other kinds ignore it. Does not wait for I/O; any thread (not a signal handler). */
void pw_sink_reopen(pw_sink *s);
void pw_sink_stats_get(const pw_sink *s, pw_sink_stats *out);
const char *pw_sink_name(const pw_sink *s);

/* The outbox (snapshots, README "Snapshots"): notifications accepted but not
 * yet known delivered: queued, in the batch being delivered, or handed to a
 * library that has not acknowledged them (kafka).
 *
 * pw_sink_outbox_hold takes the queue's lock and pw_sink_outbox_release drops
 * it (main thread). While held nothing enters or leaves the outbox, so the
 * daemon holds every sink's lock across fork(): the child then reads an
 * outbox consistent with the engine (every notification the engine made
 * before the fork is in it, unless delivered). The delivery thread keeps
 * sending meanwhile and blocks only when it next needs the lock.
 *
 * pw_sink_outbox_foreach visits the outbox oldest first and returns how many
 * it visited (UINT32_MAX if it could not: out of memory); only while held, or in a child forked while held (it takes no
 * lock). The notes are borrowed for the call. */
struct pw_snap_note;
void pw_sink_outbox_hold(pw_sink *s);
void pw_sink_outbox_release(pw_sink *s);
uint32_t pw_sink_outbox_foreach(const pw_sink *s, void (*fn)(const struct pw_snap_note *n, void *ud), void *ud);
/* Restore: queue a note's bytes as they are (not rendered again). Never
 * blocks; 0, or -1 when the queue is full or stopped (counted as dropped). Main thread. */
int pw_sink_requeue(pw_sink *s, const struct pw_snap_note *n);
/* The delivery ledger (main thread): move up to max acknowledgements of delivered notifications into
 * out (oldest first); returns how many. Count a notification that was not submitted because the
 * ledger says it was delivered before a restart. */
uint32_t pw_sink_acks_take(pw_sink *s, pw_sink_ack *out, uint32_t max);
void pw_sink_count_suppressed(pw_sink *s);
void pw_sink_count_acks_dropped(pw_sink *s, uint64_t n);
pw_sink_kind pw_sink_kind_of(const pw_sink *s);
const char *pw_sink_kind_name(pw_sink_kind k);    /* "log", "webhook", ... */

#endif
