/* gen.h -- synthetic CRM and marketing events (`pipewatch gen`, the demo, benchmarks, tests).
 *
 * A generator plays a few weeks of a small SaaS/e-commerce business that
 * follows the example schema (README "Events"):
 * leads from eight channels in four regions, deals won or lost some days
 * later, orders, subscriptions started and cancelled, campaign e-mails and
 * their clicks. Volumes follow each region's local working day and week,
 * channels differ in volume, contact-data quality and conversion, and four
 * incidents (pw_gen_incidents()) happen at fixed times after the start so
 * that the example rules in rules/ have something to catch.
 *
 * Pure: no I/O, no clock, no global state. The output is a function of the
 * configuration alone (same conf -> byte-identical events on a given
 * platform), and a stream cut short by max_events is a prefix of the full one.
 *
 * Memory is bounded regardless of duration: future events (a lead's deal,
 * an e-mail's click) wait in a priority queue of at most max_pending entries;
 * when it is full, a new future event is dropped and counted
 * (pw_gen_stats.dropped). Nothing else grows with the number of events.
 *
 * Threading: a pw_gen belongs to one thread; different generators are
 * independent.
 */
#ifndef PW_GEN_H
#define PW_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct pw_gen_conf {
    uint64_t seed;         /* any value; the whole stream derives from it */
    int64_t start_ms;      /* first possible event time (ms since epoch, UTC) */
    int64_t duration_ms;   /* events have start_ms <= ts < start_ms + duration_ms; > 0 */
    double leads_per_day;  /* scale of everything: mean leads per day over a week, > 0, <= 1e6.
                              Per day there are also ~0.6x orders, ~2x e-mails sent, ~0.45x deals
                              decided, ~0.12x subscription events: ~4.3 events per lead in all.
                              Above ~200k the default queue cap starts dropping deals */
    int incidents;         /* non-zero: play the incident table (see pw_gen_incidents) */
    uint64_t max_events;   /* stop after this many events; 0 = no limit */
    double out_of_order;   /* 0..1: probability that an event's ts is moved back by 1 ms..2 min
                              (never before start_ms); 0 keeps ts non-decreasing */
    uint32_t max_pending;  /* cap of queued future events; 0 = PW_GEN_DEFAULT_PENDING */
    int envelope;          /* non-zero: every event also carries "context", "session_id" and
                              "user_agent" (~115 bytes no example rule reads, as events forwarded
                              by a collection pipeline do); the other fields are unchanged */
} pw_gen_conf;

#define PW_GEN_DEFAULT_START 1793491200000LL /* 2026-11-01T00:00:00Z, a Sunday */
#define PW_GEN_DEFAULT_DAYS 28
#define PW_GEN_DEFAULT_LEADS 400.0
#define PW_GEN_DEFAULT_PENDING (1u << 20)     /* 24 bytes each: at most 24 MiB */
#define PW_GEN_MAX_EVENT 1024                 /* no rendered event is longer */

/* Fill *c with the defaults: seed 1, start 2026-11-01T00:00:00Z, 28 days,
 * 400 leads/day, incidents on, no event limit, in order, default queue cap. */
void pw_gen_conf_init(pw_gen_conf *c);

/* One scheduled incident. Times are relative to start_ms; an incident that
 * starts after the end of the run simply does not happen. */
typedef struct pw_gen_incident {
    const char *name;        /* snake_case, stable (used by tests and the demo) */
    const char *description; /* one line for people: what happens and what should catch it */
    int64_t offset_ms;       /* start, relative to conf.start_ms */
    int64_t duration_ms;
} pw_gen_incident;

/* The static incident table, in time order; *n receives its length. */
const pw_gen_incident *pw_gen_incidents(size_t *n);

/* Event types, in the order of pw_gen_stats.by_type. */
typedef enum pw_gen_type {
    PW_GEN_LEAD_CREATED = 0,
    PW_GEN_DEAL_WON,
    PW_GEN_DEAL_LOST,
    PW_GEN_ORDER_PLACED,
    PW_GEN_SUB_STARTED,
    PW_GEN_SUB_CANCELLED,
    PW_GEN_EMAIL_SENT,
    PW_GEN_EMAIL_CLICKED,
    PW_GEN__NTYPES
} pw_gen_type;

const char *pw_gen_type_name(pw_gen_type t); /* "lead.created", ...; "?" if out of range */

typedef struct pw_gen_stats {
    uint64_t events;                   /* events returned so far */
    uint64_t by_type[PW_GEN__NTYPES];
    uint64_t dropped;                  /* future events not queued: max_pending reached */
    size_t pending;                    /* future events queued now */
    size_t pending_peak;
    size_t heap_bytes;                 /* memory held by the generator */
} pw_gen_stats;

typedef struct pw_gen pw_gen;

/* conf is copied. Returns NULL with a message in errbuf (if errbuf != NULL)
 * when conf is invalid ("leads_per_day must be > 0 and <= 1e6") or memory is
 * short. Creation simulates the 90 days before start_ms (without emitting
 * them) so that deals are already in flight at the start: it costs about
 * 90 * leads_per_day cheap draws (~0.1 s per 10k leads/day on this kind of machine). */
pw_gen *pw_gen_new(const pw_gen_conf *conf, char *errbuf, size_t errlen);
void pw_gen_destroy(pw_gen *g); /* accepts NULL */

/* Append the next event to out as one line of compact JSON (no newline, at
 * most PW_GEN_MAX_EVENT bytes) and store its event time (the ts written, in
 * ms) in *ts (ts may be NULL). Returns 0, or -1 when the run is over (end of
 * duration or max_events reached); once -1, always -1. out is borrowed; it is
 * appended to, never reset, so a caller can batch many events in one buffer. */
int pw_gen_next(pw_gen *g, pw_buf *out, int64_t *ts);

/* Counters so far; always valid. */
void pw_gen_get_stats(const pw_gen *g, pw_gen_stats *out);

#endif
