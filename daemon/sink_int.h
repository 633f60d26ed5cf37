/* sink_int.h -- what sink.c shares with the per-kind files. Not for other modules.
 *
 * sink.c owns everything every kind needs: the copied configuration, the
 * bounded queue of rendered notifications, the delivery thread, retries with
 * backoff, the counters. A kind (sink_log.c, sink_webhook.c,
 * sink_alertmanager.c, sink_kafka.c) is a pw_sink_ops table of callbacks plus
 * its own state behind pw_sink.impl.
 *
 * Which thread calls what:
 *   init, render, fini, start        main thread (fini after the delivery thread is gone)
 *   deliver, tick, drain, reopen     the sink's delivery thread only
 *   wake                             any thread (pw_sink_stop calls it)
 */
#ifndef PW_SINK_INT_H
#define PW_SINK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "log.h"
#include "sink.h"
#include "template.h"

/* One queued notification, rendered on the main thread at submit. */
typedef struct pw_sink_item {
    char *data;           /* rendered bytes (NUL-terminated), owned; a kind may take it (set NULL) */
    size_t len;
    uint64_t fingerprint;
    int64_t at;           /* the notification's evaluation time, ms since the epoch */
    int firing;           /* 1 firing (or repeat), 0 resolved */
    int kind;             /* PW_NOTE_RESOLVED/FIRING/REPEAT */
    uint32_t seq;         /* the alert's seq (0 = untracked: never acknowledged to the ledger) */
    int64_t born;         /* the alert's born */
    uint64_t rule_hash;   /* the rule's def_hash */
} pw_sink_item;

/* Acknowledgements waiting for the main thread (pw_sink_acks_take), per sink. */
#define PW_SINK_ACKS_MAX 4096u

typedef enum pw_sink_result {
    PW_SINK_SENT = 0,     /* delivered: the items count as sent */
    PW_SINK_FAILED,       /* permanent failure: count as failed, do not retry */
    PW_SINK_RETRY,        /* transient failure: retry after a backoff, if retries and time remain */
    PW_SINK_HANDED_OFF    /* handed to a library that reports later (kafka delivery reports) */
} pw_sink_result;

/* Filled by deliver() for the generic retry loop and its log lines. */
typedef struct pw_sink_attempt {
    int attempt;              /* 0 = first try */
    int64_t retry_after_ms;   /* a server's Retry-After, 0 if none (honoured up to backoff_max) */
    int abandoned;            /* set with FAILED: given up at the stop deadline, not refused by the receiver
                               * (the batch stays in the outbox for the final snapshot) */
    char why[768];            /* what went wrong, already redacted (no secrets) */
} pw_sink_attempt;

typedef struct pw_sink_ops {
    pw_sink_kind kind;
    int batch_max;            /* items per deliver() call (1 = one at a time) */
    /* Validate the kind's settings and build s->impl. Append every problem to
     * err ("; "-separated, never echoing secret values); return 0/-1. */
    int (*init)(pw_sink *s, pw_buf *err);
    /* Optional, main thread, just before the thread starts; 0/-1 (logs why). */
    int (*start)(pw_sink *s);
    /* Append what this sink sends for n to out. Pure apart from s's scratch. */
    void (*render)(pw_sink *s, const pw_notification *n, pw_buf *out);
    /* Deliver items[0..n) (one batch); the items stay owned by the caller
     * unless deliver takes data (sets it NULL). Called again for each retry. */
    pw_sink_result (*deliver)(pw_sink *s, pw_sink_item *items, int n, pw_sink_attempt *a);
    /* Optional periodic work (alertmanager re-sends, kafka polls): called
     * when due; returns the next monotonic time it wants to run. */
    int64_t (*tick)(pw_sink *s, int64_t now_mono);
    /* Optional: the ring is empty (or the deadline passed) during stop; finish
     * what the kind holds by the deadline and account for the rest. */
    void (*drain)(pw_sink *s, int64_t deadline_mono);
    void (*reopen)(pw_sink *s);   /* optional */
    void (*wake)(pw_sink *s);     /* optional: interrupt a blocking wait in deliver/tick */
    void (*fini)(pw_sink *s);     /* frees s->impl; accepts impl == NULL */
} pw_sink_ops;

struct pw_sink {
    pw_sink_conf conf;            /* deep copy, defaults applied */
    const pw_sink_ops *ops;
    void *impl;                   /* the kind's state */

    /* The queue: a ring of queue_max items; count + inflight + parked <= queue_max (parked =
     * queue_max - nparked_free: a broker outage cannot grow the sink past queue_max). */
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* CLOCK_MONOTONIC; signalled on submit, stop, reopen */
    pw_sink_item *ring;
    uint32_t head, count;         /* under mu */
    uint32_t inflight;            /* taken by the thread, not yet finished nor parked; under mu */
    uint32_t handed;              /* of the current batch, how many were parked (left inflight); under mu */
    int stopping;                 /* under mu */
    /* The outbox beyond the ring (snapshots read it, see pw_sink_outbox_foreach): */
    pw_sink_item *batch;          /* the batch being delivered: batch_max slots; nbatch under mu */
    int nbatch;
    pw_sink_item *parked;         /* queue_max slots: items handed to a library, not yet acknowledged
                                   * (data NULL = free); under mu */
    uint64_t *parked_seq;         /* order of parking, to re-queue them in order */
    uint32_t *parked_free;        /* stack of free slots */
    uint32_t nparked_free;
    uint64_t park_seq;
    _Atomic int64_t deadline;     /* INT64_MAX until pw_sink_stop */
    _Atomic int reopen_req;
    _Atomic int finished;         /* stop completed: late library callbacks count nothing */

    pthread_t thread;
    int started, stopped;         /* main thread */
    int accepting;                /* main thread */

    _Atomic uint64_t submitted, sent, failed, dropped, retries, untracked, suppressed, acks_dropped;
    /* Acknowledgements of delivered notifications (seq != 0), oldest first, until the main thread
     * takes them (pw_sink_acks_take); at most PW_SINK_ACKS_MAX, the rest counted in acks_dropped. */
    pw_sink_ack *acks;            /* under mu */
    uint32_t nacks;

    /* main thread only */
    pw_buf rbuf;                  /* render scratch */
    pw_ratelimit drop_rl;
    /* delivery thread only */
    pw_ratelimit retry_rl, fail_rl;
    uint64_t rng;                 /* backoff jitter */
};

/* Parking (kinds that hand an item to a library which acknowledges it later:
 * kafka). Moves it->data into a parked slot, where snapshots still see it
 * until pw_sink_unpark, and sets it->data = NULL; returns a ticket (> 0) to
 * pass through the library as an opaque, or 0 if every slot is taken (then
 * nothing changes: the caller sends it unparked, outside the outbox). The
 * parked bytes stay valid until unparked. Any thread. */
uintptr_t pw_sink_park(pw_sink *s, pw_sink_item *it);
/* Release a ticket: with take == 0 the bytes are freed; with take == 1 they are
 * returned (the caller owns them again, e.g. the library refused them); with
 * take == 2 they are freed and the item counts as delivered for the ledger
 * (pw_sink_acknowledge). Any thread. The slot is freed under mu after the bytes are
 * back in it->data for take == 1 (a snapshot never misses the item). */
char *pw_sink_unpark(pw_sink *s, uintptr_t ticket, int take);
/* Put a parked item back into *it (the batch slot it came from), under mu, so that no snapshot
 * taken meanwhile misses it (the library refused it; it is retried). Any thread. */
void pw_sink_unpark_into(pw_sink *s, uintptr_t ticket, pw_sink_item *it);
/* Record delivered items for the ledger (any thread; takes mu). */
void pw_sink_acknowledge(pw_sink *s, const pw_sink_item *it, int n);

/* Append "; "-separated problem text to err (settings validation in init). */
void pw_sink_problem(pw_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counters (any thread). */
static inline void pw_sink_count_sent(pw_sink *s, uint64_t n) {
    if (!atomic_load(&s->finished)) atomic_fetch_add(&s->sent, n);
}
static inline void pw_sink_count_failed(pw_sink *s, uint64_t n) {
    if (!atomic_load(&s->finished)) atomic_fetch_add(&s->failed, n);
}
/* The stop deadline (monotonic ms), INT64_MAX while running. */
static inline int64_t pw_sink_deadline(pw_sink *s) { return atomic_load(&s->deadline); }
static inline int pw_sink_stopping(pw_sink *s) { return atomic_load(&s->deadline) != INT64_MAX; }

/* Sink-thread log line limited by s->fail_rl ("N similar messages suppressed" appended). */
void pw_sink_warn_limited(pw_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Everything a notification's text is made of, flattened once per render:
 * labels (series then rule labels, as in pw_notification_json), expanded
 * annotations, times and fingerprint as text. Pointers into n, its rule and
 * `scratch`; valid until scratch changes. */
#define PW_SINK_MAX_LABELS 64
typedef struct pw_sink_view {
    const char *lnames[PW_SINK_MAX_LABELS], *lvals[PW_SINK_MAX_LABELS];
    int nlabels;
    const char *anames[PW_SINK_MAX_LABELS], *avals[PW_SINK_MAX_LABELS];
    int nann;
    char at[40];                  /* RFC 3339 */
    char active_since[40];
    char fingerprint[17];         /* 16 hex digits */
    pw_template_vars tv;          /* ready for pw_template_expand_json (json not set) */
} pw_sink_view;
void pw_sink_view_fill(pw_sink_view *v, const pw_notification *n, pw_buf *scratch);

/* HTTP POST for webhook and alertmanager (implemented in sink_webhook.c).
 * One libcurl easy handle on a multi handle, so a request can be woken and
 * abandoned at the stop deadline; the connection is kept alive between posts. */
typedef struct pw_sink_http pw_sink_http;
/* Validates url (http/https) and headers (names are tokens, values have no
 * CR/LF); problems appended to err, never with a header value or the URL's
 * secret parts. NULL on error. Main thread. */
pw_sink_http *pw_sink_http_new(const char *url, const pw_kv *headers, int nheaders, pw_buf *err);
void pw_sink_http_destroy(pw_sink_http *h);
/* POST body; classifies the outcome: 2xx SENT; 408, 429, 5xx and transport
 * errors RETRY; other statuses FAILED. The request is abandoned (FAILED) at
 * the sink's stop deadline. a->why is redacted. Delivery thread. */
pw_sink_result pw_sink_http_post(pw_sink_http *h, pw_sink *s, const char *body, size_t len,
                                 pw_sink_attempt *a);
void pw_sink_http_wake(pw_sink_http *h);             /* any thread */
const char *pw_sink_http_safe_url(const pw_sink_http *h); /* scheme://host:port/first-segment... */

/* The kinds. */
extern const pw_sink_ops pw_sink_log_ops;
extern const pw_sink_ops pw_sink_webhook_ops;
extern const pw_sink_ops pw_sink_alertmanager_ops;
extern const pw_sink_ops pw_sink_kafka_ops;

#endif
