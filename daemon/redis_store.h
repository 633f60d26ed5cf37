/* redis_store.h -- snapshot generations in Redis (hiredis, synchronous).
 *
 * Keys (PREFIX = redis.key_prefix, default "pipewatch:"):
 *   PREFIX gen              INCR counter of generations
 *   PREFIX snap:<gen>       the snapshot bytes, or for a snapshot above the chunk
 *                           size a manifest "PWCHUNK1" + u32 chunks + u64 total
 *   PREFIX snap:<gen>:<i>   chunk i (0-based) of a chunked snapshot
 *   PREFIX latest           the newest complete generation (decimal)
 *   PREFIX previous         the one before it (the fallback)
 *   PREFIX owner            the owner lock: which daemon writes under PREFIX (owner.h)
 * A writer stores every byte of a generation first, then switches latest and
 * previous in one Lua script (atomic), then deletes every other generation.
 * A reader follows latest (or previous), so it never sees half a snapshot;
 * generations left behind by a writer that died are deleted by the next one.
 * One writer at a time (the daemon serializes its snapshots).
 *
 * hiredis 0.14 has no TLS: use a unix socket or a local TLS proxy.
 * After a timeout or an I/O error the connection is dropped and the next call
 * reconnects (hiredis contexts are unusable after an error).
 *
 * Threading: one pw_redis per thread or process; a forked child must create
 * its own (never use the parent's socket).
 */
#ifndef PW_REDIS_STORE_H
#define PW_REDIS_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_redis_conf {
    const char *address;        /* "host:port" or a unix socket path (anything with a '/') */
    int database;               /* SELECT; 0 = default */
    const char *username;       /* AUTH user pass (ACL); NULL = AUTH pass only */
    const char *password;       /* NULL = no AUTH */
    const char *prefix;         /* key prefix */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    size_t chunk_bytes;         /* 0 = 8 MiB: a snapshot above it is stored in chunks of this size, and the
                                 * streaming writer holds about one chunk (README "Snapshots", Cost) */
} pw_redis_conf;

typedef struct pw_redis pw_redis;

/* Copies the strings of c; does not connect yet. NULL on allocation failure. */
pw_redis *pw_redis_new(const pw_redis_conf *c);
void pw_redis_destroy(pw_redis *r); /* accepts NULL */

/* Store one snapshot (borrowed) as a new generation, make it the latest, keep
 * the previous latest as the fallback and delete older generations. 0 with
 * *gen, or -1 with err (nothing is switched: readers keep the old latest). */
int pw_redis_put(pw_redis *r, const void *blob, size_t len, uint64_t *gen, char *err, size_t errlen);

/* The same, streamed: begin (connects, takes a generation number), then the
 * snapshot's bytes in order through pw_redis_put_emit (a pw_snap_emit_fn with
 * ud = r: pieces of exactly pw_redis_chunk_bytes bytes, the last one 1..chunk,
 * as pw_snap_w emits them; each is stored as it comes; the last one also
 * stores the manifest, switches latest and deletes older generations), then
 * end: 0 with *gen if the last piece was stored and switched, else -1 with err
 * (latest was not switched -- or, if the switch itself failed, its outcome is
 * unknown; the chunks this generation stored are deleted if the connection
 * still works and the switch was not sent, else by the next writer, whose
 * cleanup keeps latest and previous). */
size_t pw_redis_chunk_bytes(const pw_redis *r);
int pw_redis_put_begin(pw_redis *r, char *err, size_t errlen);
int pw_redis_put_emit(const void *p, size_t n, int last, void *r);
int pw_redis_put_end(pw_redis *r, uint64_t *gen, char *err, size_t errlen);

/* Read the latest (which = 0) or the previous (which = 1) generation. 1 with
 * *data (malloc'd, caller frees), *len and *gen; 0 if there is none; -1 with err. */
int pw_redis_get(pw_redis *r, int which, void **data, size_t *len, uint64_t *gen, char *err, size_t errlen);

/* Hashes beside the snapshots (the delivery ledger: PREFIX delivered:<sink>, see ledger.h).
 * `name` is the key without the prefix. Each returns 0, or -1 with err.
 * foreach visits every field (HSCAN, bounded replies); the strings are
 * borrowed for the call and not NUL-terminated. */
int pw_redis_hash_foreach(pw_redis *r, const char *name,
                          void (*fn)(const char *f, size_t fl, const char *v, size_t vl, void *ud), void *ud,
                          char *err, size_t errlen);
/* HSET name f1 v1 f2 v2 ... (n pairs, NUL-terminated strings, fv[2i] field, fv[2i+1] value). */
int pw_redis_hash_set(pw_redis *r, const char *name, const char *const *fv, int n, char *err, size_t errlen);
/* Visit every key PREFIX<pattern> (SCAN MATCH; pattern is a glob, e.g. "delivered:*"); the name is
 * given without the prefix, NUL-terminated, borrowed for the call. */
int pw_redis_keys_foreach(pw_redis *r, const char *pattern, void (*fn)(const char *name, void *ud), void *ud,
                          char *err, size_t errlen);
/* DEL name. */
int pw_redis_del(pw_redis *r, const char *name, char *err, size_t errlen);
/* HDEL name f1 f2 ... (n fields). */
int pw_redis_hash_del(pw_redis *r, const char *name, const char *const *f, int n, char *err, size_t errlen);

/* EVAL with argv = {script, numkeys, keys..., args...} (NUL-terminated strings); the reply is ignored. */
int pw_redis_eval(pw_redis *r, const char *const *argv, int argc, char *err, size_t errlen);

/* The owner lock: PREFIX owner holds the value of the one daemon that writes under PREFIX (owner.h).
 * TAKE: set it to value with a ttl if it is missing, or renew it if it is ours (value). REPLACE: set it to
 * value if it still holds `expected` (a holder judged gone) or is missing. RELEASE: delete it if it is
 * ours. Atomic (one EVAL each). Returns 1 done, 2 done and the key was missing, 0 someone else holds it
 * (holder = its value, *holder_pttl_ms = its remaining ttl; both may be NULL), -1 with err. */
typedef enum pw_redis_owner_op { PW_REDIS_OWNER_TAKE = 0, PW_REDIS_OWNER_REPLACE, PW_REDIS_OWNER_RELEASE } pw_redis_owner_op;
int pw_redis_owner(pw_redis *r, pw_redis_owner_op op, const char *value, const char *expected, int64_t ttl_ms,
                   char *holder, size_t holder_len, int64_t *holder_pttl_ms, char *err, size_t errlen);

/* The address as it may be logged ("unix:/path" or "host:port"; never credentials). */
const char *pw_redis_address(const pw_redis *r);

#endif
