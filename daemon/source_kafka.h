/* source_kafka.h -- the Kafka consumer that feeds the engine.
 *
 * A consumer-group member (librdkafka high-level consumer) over one or more
 * topics. Offsets are stored only after the engine has processed a message
 * (enable.auto.offset.store=false) and committed by librdkafka's auto-commit
 * timer and on close, so a crash re-delivers at most what was processed
 * since the last commit (at-least-once). Records below the next expected
 * offset of a partition (re-deliveries after a coordinator hiccup) are
 * dropped and counted, never applied twice within a process lifetime.
 *
 * Threading: every function from the thread that created the source.
 */
#ifndef PW_SOURCE_KAFKA_H
#define PW_SOURCE_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "ruleset.h"

typedef struct pw_source_conf {
    const char *brokers;
    char *const *topics;
    int ntopics;
    const char *group;
    const char *assignment;     /* "range" | "roundrobin" */
    const pw_kv *props;         /* passed to librdkafka (override our defaults) */
    int nprops;
    const char *dlq_topic;      /* NULL = none */
} pw_source_conf;

typedef struct pw_source_msg {
    const char *topic;          /* borrowed for the callback */
    int32_t partition;
    int64_t offset;
    const char *payload;        /* borrowed for the callback; may be NULL (tombstone) */
    size_t len;
    int64_t kafka_ts;           /* message timestamp (ms) or -1 */
    int64_t now_ms;             /* wall clock (ms) at the poll, refreshed every 256 messages: saves
                                   the callback a clock read per message */
} pw_source_msg;

/* Called for every message in offset order per partition. */
typedef void (*pw_source_msg_fn)(const pw_source_msg *m, void *ud);

typedef struct pw_source_partition_stats {
    const char *topic;
    int32_t partition;
    int64_t next_offset;        /* next offset to process; -1 unknown */
    int64_t high_watermark;     /* -1 unknown */
    uint64_t consumed;
} pw_source_partition_stats;

typedef struct pw_source_stats {
    uint64_t consumed;          /* messages handed to the callback */
    uint64_t bytes;
    uint64_t redelivered;       /* dropped: below the partition's next expected offset */
    uint64_t errors;            /* consumer errors reported by librdkafka */
    uint64_t dead_lettered;     /* produced to the DLQ */
    uint64_t dead_letter_failed;
    uint64_t rebalances;
    int assigned;               /* partitions assigned now */
} pw_source_stats;

typedef struct pw_source pw_source;

/* Create and subscribe. NULL with errbuf on error (a bad property is named,
 * its value never echoed). */
pw_source *pw_source_new(const pw_source_conf *c, char *errbuf, size_t errlen);
/* Poll for up to timeout_ms and at most max messages; returns messages handed
 * to fn. Offsets of handed messages are stored for commit after fn returns. */
int pw_source_poll(pw_source *s, int timeout_ms, int max, pw_source_msg_fn fn, void *ud);
/* Copy a rejected message to the dead-letter topic (if configured) with
 * headers pipewatch-reason, pipewatch-topic, pipewatch-partition, pipewatch-offset. */
void pw_source_dead_letter(pw_source *s, const pw_source_msg *m, const char *reason);
void pw_source_stats_get(pw_source *s, pw_source_stats *out);
/* Visit per-partition stats (lag = high_watermark - next_offset). */
void pw_source_foreach_partition(pw_source *s, void (*fn)(const pw_source_partition_stats *, void *), void *ud);
/* Store offsets and start committing them (shutdown). Asynchronous: a
 * synchronous commit cannot be bounded; pw_source_close waits for it. 0/-1. */
int pw_source_commit(pw_source *s);
/* Snapshots. pw_source_seed: before consuming, set a partition's next offset
 * from a restored snapshot. Records below it are dropped as re-deliveries, and
 * every time the partition is assigned it is started at that position (it
 * overrides the group's committed offset). 0/-1 (bad partition, no memory). */
int pw_source_seed(pw_source *s, const char *topic, int32_t partition, int64_t next);
/* Visit every partition whose next offset is known (assigned or not): the
 * positions the engine state includes. Reads only our own memory. */
void pw_source_foreach_offset(pw_source *s, void (*fn)(const char *topic, int32_t partition, int64_t next, void *ud),
                              void *ud);
/* Pause (1) or resume (0) fetching on every assigned partition (and on those
 * assigned later while paused); the group membership is kept. */
void pw_source_pause(pw_source *s, int pause);
/* Leave the group (commits), flush the DLQ producer, free; both give up at
 * deadline_ms (monotonic). A consumer that could not leave the group by then
 * (broker unreachable) is abandoned, not destroyed: call only before exit. */
void pw_source_close(pw_source *s, int64_t deadline_ms);

#endif
