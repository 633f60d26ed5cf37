/* snapshot.h -- the daemon's state as bytes and back: a versioned, checksummed snapshot.
 *
 * Pure: no I/O. redis_store.c moves the bytes; server.c decides when.
 *
 * Layout of version 3 (every integer little-endian and fixed-width, doubles as
 * their IEEE 754 bits, strings as u32 length + bytes). Every length the writer
 * only knows at the end is at the end, so the writer can stream the snapshot
 * out in chunks while it encodes it (pw_snap_w) and never goes back:
 *
 *   magic     "PWSNAP" (6 bytes)
 *   version   u16 (PW_SNAPSHOT_VERSION, or PW_SNAPSHOT_OLDEST..: read as written; any other is refused)
 *   created   i64 wall-clock ms when the snapshot was taken
 *   engine    the engine section (pw_engine_save: stream time, counters, then per metric name,
 *             def_hash, summary counts, body; then the body lengths, one u64 per metric)
 *   offsets   u32 count, then per partition: topic (string), partition (i32), next offset (i64)
 *   outbox    u32 count of sinks, then per sink: name (string), kind (u8,
 *             pw_sink_kind), u32 count of notifications, then per notification:
 *             fingerprint (u64), at (i64), kind (u8: 0 resolved, 1 firing, 2 repeat), the
 *             alert's seq (u32, 0 = untracked) and born (i64), the rule's def_hash (u64), the rendered
 *             bytes (u32 length + bytes)
 *   trailer   u64 length of the engine section, u64 length of the whole snapshot (catches
 *             truncation), u64 checksum of every byte before it (see below)
 *
 * Versions 1 and 2 put the lengths in front: after the version, u64 total length,
 * then created, then u64 engine length + the engine section (whose metric bodies
 * are each preceded by their u64 length), offsets, (version 2) the outbox, and a
 * trailer of the checksum only; the writer had to hold the whole snapshot in
 * memory to fill them in.
 *
 * The outbox: the notifications the sinks had accepted but not yet delivered
 * when the snapshot was taken (queued, being delivered, or handed to a library
 * that has not acknowledged them), in queue order, as the bytes the sink sends
 * (rendered with the rules of that time). Restoring re-queues them, so a crash
 * loses none; the daemon's delivery ledger (ledger.h) keeps one delivered
 * after the snapshot from being sent twice (the notes carry what it compares).
 * Version 1 (the previous release) is read too, so an upgrade keeps its state:
 * it has no outbox, and its alerts start with seq 0 (the ledger has nothing
 * for them yet either); any other version is refused.
 *
 * The checksum (pw_snap_sum, version 3): four lanes h0..h3 take the 8-byte
 * little-endian words of each 32-byte block in turn (h = h ^ w; h *= 0x9E3779B97F4A7C15;
 * h ^= h >> 29: each of the three is a bijection of h, so a step is one for any given
 * word); the bytes after the last whole block go through lane 0 word by word, the last
 * partial word zero-padded with the number of its bytes in its top byte; then h0 takes
 * h1, h2, h3, the total length and a constant in the same steps. Any single changed
 * word (so any changed byte) always changes the checksum; other corruption passes
 * with a probability near 2^-64. The lanes are independent multiply chains, so it
 * runs 2.5-2.6x as fast as one chain (measured over 256 MiB; version 2's pw_snap_checksum: one
 * lane, the length as the seed, so the length had to be known before the first
 * byte); the seed is a constant so that it can be computed as the bytes stream out.
 * Version 1 used byte-wise FNV-1a.
 *
 * Splitting per Kafka partition later (scale-out): the offsets section is
 * already per partition and the engine section is self-contained and
 * length-prefixed, so a partitioned mode can write one snapshot per partition
 * group (engine section of the series that group owns + that group's offsets)
 * under keys named after the group, without changing this layout (the
 * outbox would go with the group whose alerts produced its notifications).
 *
 * Decoding validates everything before anything is used (magic, version,
 * length, checksum, then every count, length and enum while rebuilding) and
 * loads into a fresh engine, so a refused snapshot leaves nothing half-loaded:
 * the caller destroys that engine and starts a fresh one.
 */
#ifndef PW_SNAPSHOT_H
#define PW_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct pw_engine;

#define PW_SNAPSHOT_MAGIC "PWSNAP"
#define PW_SNAPSHOT_VERSION 3
#define PW_SNAPSHOT_OLDEST 1    /* still read: version 1 (released) checksummed byte-wise with FNV-1a, had
                                 * no outbox, wrote every window bucket, and alert states without born/seq;
                                 * version 2 had its lengths in front and a one-lane checksum */
/* Bounds checked when reading (a larger value is corruption, not data). */
#define PW_SNAPSHOT_MAX_NOTE_BYTES (64u << 20)
#define PW_SNAPSHOT_MAX_SINK_NAME 1024u

/* ---------- the primitives the modules encode their state with ---------- */

void pw_snap_u8(pw_buf *b, uint8_t v);
void pw_snap_u32(pw_buf *b, uint32_t v);
void pw_snap_u64(pw_buf *b, uint64_t v);
void pw_snap_i64(pw_buf *b, int64_t v);
void pw_snap_f64(pw_buf *b, double v);
void pw_snap_str(pw_buf *b, const char *s, size_t n);

/* A bounds-checked reader. The first failure sticks: every later read fails
 * too and `err` keeps the first message, so callers may check once at the end
 * of a block (values read after a failure are 0). */
typedef struct pw_snap_r {
    const unsigned char *p;     /* borrowed */
    size_t len, off;
    int failed;
    char err[160];
    uint32_t version;           /* the snapshot's format version; 0 = PW_SNAPSHOT_VERSION (loaders of an
                                 * older one read what it wrote: see pw_snapshot_parse) */
} pw_snap_r;

void pw_snap_r_init(pw_snap_r *r, const void *p, size_t len);
int pw_snap_fail(pw_snap_r *r, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* returns -1 */
uint8_t pw_snap_ru8(pw_snap_r *r);
uint32_t pw_snap_ru32(pw_snap_r *r);
uint64_t pw_snap_ru64(pw_snap_r *r);
int64_t pw_snap_ri64(pw_snap_r *r);
double pw_snap_rf64(pw_snap_r *r);
/* A string: *s points into the input (not NUL-terminated), *n its length. max bounds n. */
int pw_snap_rstr(pw_snap_r *r, const char **s, uint32_t *n, uint32_t max);
/* A count that each element of which takes at least min_bytes: refused if the rest cannot hold it. */
uint32_t pw_snap_rcount(pw_snap_r *r, size_t min_bytes, const char *what);
/* Skip n bytes. */
int pw_snap_rskip(pw_snap_r *r, uint64_t n);

/* Version 2's checksum (see above). */
uint64_t pw_snap_checksum(const void *p, size_t n);
/* Version 3's, computed as the bytes come: init, then update with the bytes in order (any split), then final. */
typedef struct pw_snap_sum {
    uint64_t h[4];
    uint64_t n;                 /* bytes so far */
    unsigned char carry[32];    /* the bytes of an unfinished 32-byte block */
    unsigned nc;
} pw_snap_sum;
void pw_snap_sum_init(pw_snap_sum *s);
void pw_snap_sum_update(pw_snap_sum *s, const void *p, size_t n);
uint64_t pw_snap_sum_final(const pw_snap_sum *s);
/* The checksum a snapshot of format `version` carries over p[0..n) (version 1: FNV-1a; 2: pw_snap_checksum;
 * 3: pw_snap_sum). */
uint64_t pw_snap_checksum_version(const void *p, size_t n, uint32_t version);

/* ---------- the streaming writer ---------- */

/* Receives the snapshot's bytes in order: n bytes at p (borrowed for the call); last = 1 on the final call
 * (which may be the only one). Returns 0, or -1 to fail the writer (nothing more is emitted). */
typedef int (*pw_snap_emit_fn)(const void *p, size_t n, int last, void *ud);

/* Encodes into a bounded buffer and hands the bytes out in pieces of exactly `chunk` bytes (the last piece
 * 1..chunk bytes), so that memory stays at about one chunk whatever the snapshot's size, and the pieces can be
 * stored while the rest is encoded. chunk 0: everything stays in b until the final call. Encoders write into
 * b with the primitives above and call pw_snap_w_point at points between bounded pieces of state (after a
 * series): a piece is emitted only there. */
typedef struct pw_snap_w {
    pw_buf b;                   /* the bytes not emitted yet */
    uint64_t emitted;           /* bytes emitted before b */
    size_t chunk;
    pw_snap_emit_fn emit;
    void *ud;
    int failed;                 /* emit returned -1: later bytes are dropped (b stays bounded) */
    pw_snap_sum sum;            /* of the emitted bytes */
} pw_snap_w;

void pw_snap_w_init(pw_snap_w *w, size_t chunk, pw_snap_emit_fn emit, void *ud);
void pw_snap_w_free(pw_snap_w *w);
void pw_snap_w_flush(pw_snap_w *w); /* emit every whole chunk in b */
static inline void pw_snap_w_point(pw_snap_w *w) {
    if (w->chunk && w->b.len >= w->chunk) pw_snap_w_flush(w);
}
/* The position of the next byte in the snapshot. */
static inline uint64_t pw_snap_w_pos(const pw_snap_w *w) { return w->emitted + w->b.len; }

/* ---------- whole snapshots ---------- */

/* The position after the last event the state includes, for one partition. */
typedef struct pw_snap_offset {
    char *topic;                /* owned */
    int32_t partition;
    int64_t next;               /* next offset to process */
} pw_snap_offset;

/* One undelivered notification of the outbox. */
typedef struct pw_snap_note {
    uint64_t fingerprint;
    int64_t at;                 /* the notification's evaluation time, ms since the epoch */
    int firing;                 /* 1 firing (or repeat), 0 resolved */
    int kind;                   /* PW_NOTE_RESOLVED/FIRING/REPEAT (alert.h); firing == (kind != 0) */
    uint32_t seq;               /* pw_notification.seq: the delivery ledger's key, 0 = untracked */
    int64_t born;               /* pw_notification.born */
    uint64_t rule_hash;         /* the rule's def_hash when it was made */
    const char *data;           /* borrowed: the rendered bytes the sink sends */
    size_t len;
} pw_snap_note;

/* The outbox of one sink. */
typedef struct pw_snap_outbox {
    const char *sink;           /* borrowed: the sink's name (NUL-terminated when decoded) */
    int kind;                   /* pw_sink_kind: rendered bytes only fit a sink of the same kind */
    pw_snap_note *notes;        /* encode: borrowed; decoded: owned by pw_snapshot_info */
    uint32_t n;
} pw_snap_outbox;

/* Encode the engine's state, the offsets and the outbox (ob may be NULL when
 * nob is 0) through w (fresh from pw_snap_w_init), ending with the final emit.
 * created_ms is the wall time. 0 with *total (the snapshot's size), or -1 if
 * emit failed (the snapshot is incomplete: the emitter must not make it visible). */
int pw_snapshot_write(pw_snap_w *w, struct pw_engine *e, int64_t created_ms, const pw_snap_offset *offs, int noffs,
                      const pw_snap_outbox *ob, int nob, uint64_t *total);
/* The same into out (appended), all in memory (tests, tools). */
void pw_snapshot_encode(pw_buf *out, struct pw_engine *e, int64_t created_ms, const pw_snap_offset *offs,
                        int noffs, const pw_snap_outbox *ob, int nob);

/* What a snapshot says about itself, from its header and trailer (no engine needed). */
typedef struct pw_snapshot_info {
    uint32_t version;
    int64_t created_ms;
    int64_t stream_time;        /* INT64_MIN if no event yet */
    uint64_t size;
    pw_snap_offset *offsets;    /* owned; pw_snapshot_info_free */
    int noffsets;
    const unsigned char *engine;/* borrowed from the input: the engine section */
    size_t engine_len;
    pw_snap_outbox *outbox;     /* owned (the arrays; names and bytes point into the input) */
    int noutbox;
    uint64_t outbox_notes;      /* notifications in all of them */
} pw_snapshot_info;

/* Check magic, version, length and checksum and read the offsets. 0, or -1
 * with a message in err ("not a pipewatch snapshot", "version 7, this
 * pipewatch reads 1 to 3", "truncated", "checksum mismatch"...). The outbox is
 * validated completely here, so a caller may re-queue it once the engine
 * section has loaded too (nothing is used from a refused snapshot). */
int pw_snapshot_parse(const void *p, size_t len, pw_snapshot_info *out, char *err, size_t errlen);
void pw_snapshot_info_free(pw_snapshot_info *in); /* accepts zeroed */

/* Restore into e (fresh: created by pw_engine_new, no event applied): parse,
 * then load the engine section (see pw_engine_load). On -1 (message in err) e
 * may hold part of the state: the caller must destroy it. report: as for
 * pw_engine_load. The offsets go to *info (free with pw_snapshot_info_free). */
int pw_snapshot_restore(const void *p, size_t len, struct pw_engine *e,
                        void (*report)(const char *metric, int kept, void *ud), void *ud, pw_snapshot_info *info,
                        char *err, size_t errlen);

#endif
