/* ledger.h -- the delivery ledger: which notification of each alert a sink delivered last.
 *
 * Why: a snapshot is taken every interval, but notifications are delivered
 * continuously. After a kill -9 the daemon restores the last snapshot and
 * replays the events after its offsets, so it makes again every notification
 * of that interval, including the ones a sink had already delivered. The
 * ledger remembers, per sink and fingerprint, the last delivered notification
 * (the alert's life `born` and `seq`, its kind, the rule's def_hash); a
 * notification it shows as delivered is not sent again (counted as
 * suppressed). README "Snapshots" says what this guarantees.
 *
 * Identity. Within one life of an alert (pw_alert.born, kept across
 * fire/resolve episodes until the series is forgotten) seq counts its
 * notifications 1, 2, 3..., in the order a sink delivers them. Births are
 * times of the run that wrote them: they compare between the ledger, the
 * snapshot and its outbox (all written by the run before the crash), but a
 * life that starts during the replay may start at another stream time (other
 * partition interleaving) or wall time, so a replayed birth is only ever
 * tested for equality with the snapshot's.
 *
 * pw_ledger_restored(fp, born) tells the ledger the life the snapshot holds
 * for fp (Ls). An entry E is then:
 *   - in Ls (E.born == Ls.born): replayed notifications of Ls compare by seq;
 *     one of another (new) life means the replay went past E: send, forget E;
 *   - older than Ls, or covered by Ls's seq: only outbox notes can match it
 *     (dropped once they are checked);
 *   - fp not in the snapshot and written before it: a life that ended before
 *     the snapshot (pruning had not run yet): dropped;
 *   - newer than Ls, or fp not in the snapshot: from a life that started after
 *     the snapshot. Replayed notifications of Ls were delivered (sinks deliver
 *     in order and E came later): suppressed. Those of the replay's new life
 *     compare by seq (exact when at most one life starts per alert between two
 *     snapshots, which needs a series forgotten and re-made within one interval).
 * Seq comparison: seq < E.seq -> suppress; seq == E.seq and same kind ->
 * suppress and forget E (caught up); else send and forget E. The kind check
 * keeps a different transition that got the same seq from being suppressed.
 * Outbox notes (original == 1) carry births of the run that wrote E: they
 * compare as (born, seq) pairs directly.
 *
 * An entry is consulted until the replay passes it, then dropped: the map only
 * shrinks after loading, and the daemon prunes the Redis hash after each
 * snapshot (bounded by live alerts). This module is pure: server.c does the
 * I/O (a hash PREFIX delivered:<sink>, field = fingerprint as 16 hex digits,
 * value "seq kind def_hash-hex born written_ms at").
 */
#ifndef PW_LEDGER_H
#define PW_LEDGER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_ledger_entry {
    uint64_t fingerprint;
    uint64_t rule_hash;
    int64_t born;               /* the alert's life (pw_alert.born) */
    int64_t at;                 /* evaluation time of that notification; INT64_MIN: unknown (a value
                                 * written by an older pipewatch), which suppresses no replayed one */
    uint32_t seq;
    uint8_t kind;               /* PW_NOTE_RESOLVED/FIRING/REPEAT */
    int64_t written_ms;         /* wall ms when the daemon wrote it (pruning keeps entries written after
                                 * the snapshot's fork: their alert may be newer than that snapshot) */
    /* set by pw_ledger_restored: */
    uint8_t has_snap;
    int64_t snap_born;
    uint32_t snap_seq;
} pw_ledger_entry;

typedef struct pw_ledger pw_ledger;

pw_ledger *pw_ledger_new(void);     /* NULL on allocation failure */
void pw_ledger_destroy(pw_ledger *l); /* accepts NULL */
/* Insert or replace (the later of two entries for one fingerprint wins). 0/-1 (out of memory). */
int pw_ledger_put(pw_ledger *l, const pw_ledger_entry *e);
/* Restore, in this order: pw_ledger_restored for every alert the snapshot holds that has notified or is
 * not inactive (its life's birth and the seq it had made); then the outbox notes are checked (original
 * = 1); then pw_ledger_restored_done drops what no replayed notification can match: entries of a life
 * older than the snapshot's, entries the snapshot's seq covers (the replay only makes newer ones), and
 * entries of alerts the snapshot does not hold written before it was taken (created_ms, wall): their
 * life ended before the snapshot (the writer's prune had not run yet). An entry written between the
 * fork and created_ms is dropped too (a duplicate at worst, never a loss). */
void pw_ledger_restored(pw_ledger *l, uint64_t fingerprint, int64_t born, uint32_t seq);
void pw_ledger_restored_done(pw_ledger *l, int64_t created_ms);
/* 1 = already delivered: do not send; 0 = send. original: a note of the restored outbox. at: the
 * notification's evaluation time. A replayed notification (original 0) evaluated later than the
 * entry's last delivered one cannot have been delivered: it is sent and the entry dropped, whatever the
 * seq comparison says. This is what keeps a replay that diverges from the run before the crash (wall
 * clock, other partition interleaving, a life ended and re-made) from suppressing a new notification:
 * at worst it re-sends (README "Snapshots"). */
int pw_ledger_check(pw_ledger *l, uint64_t fingerprint, uint64_t rule_hash, int64_t born, uint32_t seq, int kind,
                    int original, int64_t at);
size_t pw_ledger_size(const pw_ledger *l);
int pw_ledger_has(const pw_ledger *l, uint64_t fingerprint); /* a set of fingerprints (pruning) */

/* Redis text: field "%016llx" (17 bytes with the NUL), value "seq kind hash born written_ms at" (< 96 bytes;
 * values without the trailing at, from an older pipewatch, are read with at unknown). */
#define PW_LEDGER_VALUE_MAX 96
void pw_ledger_format(const pw_ledger_entry *e, char field[17], char value[PW_LEDGER_VALUE_MAX]);
/* Parse one stored field/value (not NUL-terminated). 0, or -1 if malformed (the daemon logs and skips it). */
int pw_ledger_parse(const char *field, size_t flen, const char *value, size_t vlen, pw_ledger_entry *out);

#endif
