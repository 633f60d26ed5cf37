/* redis_store.c -- snapshot generations in Redis, over hiredis's synchronous API.
 *
 * Design: see redis_store.h for the keys. Binary values go through
 * redisCommandArgv (explicit lengths, no format parsing). A large snapshot is
 * cut into chunks (8 MiB by default, far below Redis's 512 MB proto-max-bulk-len)
 * so that no single value is too large for the server or blocks it long.
 * The switch is one EVAL: SET latest, copy the old latest to previous, return
 * it; then a SCAN over PREFIX snap:* deletes every generation other than the
 * new and the previous one. A writer also deletes, as it begins, every
 * generation below its own other than latest and previous: chunks of writers
 * that died midway never pile up.
 * Writing streams (pw_redis_put_begin/emit/end): the snapshot encoder hands
 * over each chunk as soon as it is full and it is stored before the encoder
 * goes on (one SET, then its reply: no pipelining), so
 * neither side holds the whole snapshot. A chunk's bytes go to the socket
 * straight from the caller's buffer (a SET written by hand, then hiredis reads
 * the reply): redisCommandArgv would first copy them into a command buffer of
 * its own, a fresh allocation of the chunk's size every time (at 775 MB, 1.3 s
 * of page faults on these VMs). A stream that fails midway deletes the chunks
 * it stored if the connection still works; otherwise the next writer does.
 * Limits: one writer at a time; the key prefix must not contain glob
 * characters (config.c refuses them); a chunked read is not atomic against a
 * writer deleting the generation, but only generations two switches old are
 * deleted, so a reader would have to take longer than a snapshot interval.
 */
#include "redis_store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <sys/uio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHUNK (8u << 20) /* see pw_redis_conf.chunk_bytes */
#define MANIFEST "PWCHUNK1"

struct pw_redis {
    redisContext *c;
    char *address, *username, *password, *prefix;
    int database;
    int64_t connect_ms, command_ms;
    size_t chunk;
    char shown[300];
    /* the snapshot being streamed (pw_redis_put_begin .. pw_redis_put_end) */
    uint64_t put_gen;           /* 0 = none */
    uint32_t put_parts;         /* chunks stored so far */
    uint64_t put_bytes;
    int put_state;              /* 0 streaming, 1 stored and switched, -1 failed (put_err says why) */
    int put_switch_sent;        /* the switch was sent: if it failed, it may still have happened */
    char put_err[400];
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

pw_redis *pw_redis_new(const pw_redis_conf *c) {
    pw_redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->address = dup_or_null(c->address);
    r->username = dup_or_null(c->username);
    r->password = dup_or_null(c->password);
    r->prefix = strdup(c->prefix ? c->prefix : "pipewatch:");
    r->database = c->database;
    r->connect_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 2000;
    r->command_ms = c->command_timeout_ms > 0 ? c->command_timeout_ms : 5000;
    r->chunk = c->chunk_bytes ? c->chunk_bytes : DEFAULT_CHUNK;
    if (!r->address || !r->prefix) { pw_redis_destroy(r); return NULL; }
    snprintf(r->shown, sizeof r->shown, "%s%s", strchr(r->address, '/') ? "unix:" : "", r->address);
    return r;
}

void pw_redis_destroy(pw_redis *r) {
    if (!r) return;
    if (r->c) redisFree(r->c);
    free(r->address);
    free(r->username);
    if (r->password) memset(r->password, 0, strlen(r->password));
    free(r->password);
    free(r->prefix);
    free(r);
}

const char *pw_redis_address(const pw_redis *r) { return r->shown; }

static struct timeval tv_of(int64_t ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static int fail(pw_redis *r, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(pw_redis *r, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (r->c && r->c->err) { /* the context is unusable after an I/O error or a timeout */
        redisFree(r->c);
        r->c = NULL;
    }
    return -1;
}

/* A command with binary-safe arguments. NULL (and err) on failure or a Redis error reply. */
static redisReply *cmd(pw_redis *r, char *err, size_t errlen, int argc, const char **argv, const size_t *lens) {
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (!rep) {
        fail(r, err, errlen, "redis %s: %s: %s", r->shown, argv[0], r->c->errstr[0] ? r->c->errstr : "I/O error");
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        fail(r, err, errlen, "redis %s: %s: %s", r->shown, argv[0], rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static redisReply *cmd2(pw_redis *r, char *err, size_t errlen, const char *a, const char *b) {
    const char *argv[] = {a, b};
    size_t lens[] = {strlen(a), strlen(b)};
    return cmd(r, err, errlen, b ? 2 : 1, argv, lens);
}

static int connect_if_needed(pw_redis *r, char *err, size_t errlen) {
    if (r->c) return 0;
    if (strchr(r->address, '/')) {
        r->c = redisConnectUnixWithTimeout(r->address, tv_of(r->connect_ms));
    } else {
        char host[256];
        const char *colon = strrchr(r->address, ':');
        int port = colon ? atoi(colon + 1) : 6379;
        size_t hl = colon ? (size_t)(colon - r->address) : strlen(r->address);
        if (hl >= sizeof host) hl = sizeof host - 1;
        memcpy(host, r->address, hl);
        host[hl] = 0;
        if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') { /* [v6]:port */
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = 0;
        }
        r->c = redisConnectWithTimeout(host, port, tv_of(r->connect_ms));
    }
    if (!r->c) return fail(r, err, errlen, "redis %s: cannot allocate a connection", r->shown);
    if (r->c->err) {
        int rc = fail(r, err, errlen, "redis %s: connect: %s", r->shown, r->c->errstr);
        redisFree(r->c);
        r->c = NULL;
        return rc;
    }
    redisSetTimeout(r->c, tv_of(r->command_ms));
    redisReply *rep;
    if (r->password) {
        const char *argv[] = {"AUTH", r->username ? r->username : r->password, r->password};
        size_t lens[] = {4, strlen(argv[1]), strlen(r->password)};
        rep = redisCommandArgv(r->c, r->username ? 3 : 2, argv, lens);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            /* never echo the password: Redis's own message names no secret */
            fail(r, err, errlen, "redis %s: AUTH failed: %s", r->shown,
                 rep ? rep->str : (r->c->errstr[0] ? r->c->errstr : "I/O error"));
            if (rep) freeReplyObject(rep);
            redisFree(r->c);
            r->c = NULL;
            return -1;
        }
        freeReplyObject(rep);
    }
    if (r->database) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->database);
        if (!(rep = cmd2(r, err, errlen, "SELECT", db))) {
            if (r->c) { redisFree(r->c); r->c = NULL; }
            return -1;
        }
        freeReplyObject(rep);
    }
    return 0;
}

static void key(const pw_redis *r, char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void key(const pw_redis *r, char *out, size_t n, const char *fmt, ...) {
    int l = snprintf(out, n, "%s", r->prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + l, n - (size_t)l, fmt, ap);
    va_end(ap);
}

/* Values from this size on are written to the socket straight from the caller's buffer (see the top). */
#define DIRECT_BYTES (64u << 10)

/* write(2) all of iov (adjusted in place); the socket is blocking with hiredis's timeout (SO_SNDTIMEO). */
static int write_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) { w -= (ssize_t)iov->iov_len; iov++; n--; }
        if (n > 0) { iov->iov_base = (char *)iov->iov_base + w; iov->iov_len -= (size_t)w; }
    }
    return 0;
}

static int set_bin(pw_redis *r, const char *k, const void *p, size_t n, char *err, size_t errlen) {
    if (n < DIRECT_BYTES) {
        const char *argv[] = {"SET", k, p};
        size_t lens[] = {3, strlen(k), n};
        redisReply *rep = cmd(r, err, errlen, 3, argv, lens);
        if (!rep) return -1;
        freeReplyObject(rep);
        return 0;
    }
    /* hiredis's output buffer is empty between synchronous commands, so our bytes are the next command */
    char head[400];
    int hl = snprintf(head, sizeof head, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(k), k, n);
    struct iovec iov[3] = {{head, (size_t)hl}, {(void *)p, n}, {"\r\n", 2}};
    if (write_all(r->c->fd, iov, 3) < 0) {
        int e = errno;
        redisFree(r->c); /* the protocol stream is cut midway: never reuse it */
        r->c = NULL;
        return fail(r, err, errlen, "redis %s: SET %s: %s", r->shown, k,
                    e == EAGAIN || e == EWOULDBLOCK ? "timed out writing" : strerror(e));
    }
    void *v = NULL;
    if (redisGetReply(r->c, &v) != REDIS_OK || !v)
        return fail(r, err, errlen, "redis %s: SET %s: %s", r->shown, k, r->c->errstr[0] ? r->c->errstr : "I/O error");
    redisReply *rep = v;
    if (rep->type == REDIS_REPLY_ERROR) {
        fail(r, err, errlen, "redis %s: SET %s: %s", r->shown, k, rep->str);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

/* SCAN the keys matching `pattern` (the prefix already in it), calling fn with
 * each full key name; fn returns -1 (err set) to stop the walk with an error. */
static int scan_keys(pw_redis *r, const char *pattern, int (*fn)(pw_redis *r, const char *k, void *ud), void *ud,
                     char *err, size_t errlen) {
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        size_t lens[6];
        for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
        redisReply *rep = cmd(r, err, errlen, 6, argv, lens);
        if (!rep) return -1;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(rep);
            return fail(r, err, errlen, "redis %s: unexpected SCAN reply", r->shown);
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            if (k && fn(r, k, ud) < 0) { freeReplyObject(rep); return -1; }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

typedef struct { uint64_t keep1, keep2, below; size_t plen; char *err; size_t errlen; } delete_walk;

static int delete_one(pw_redis *r, const char *k, void *ud) {
    delete_walk *w = ud;
    if (strlen(k) <= w->plen) return 0;
    char *end;
    uint64_t g = strtoull(k + w->plen, &end, 10);
    if (end == k + w->plen || (*end && *end != ':')) return 0;
    if (g == w->keep1 || g == w->keep2 || g >= w->below) return 0;
    redisReply *d = cmd2(r, w->err, w->errlen, "DEL", k);
    if (!d) return -1;
    freeReplyObject(d);
    return 0;
}

/* Delete every generation below `below` other than keep1 and keep2 (their chunks included). */
static int delete_others(pw_redis *r, uint64_t keep1, uint64_t keep2, uint64_t below, char *err, size_t errlen) {
    char pattern[300];
    key(r, pattern, sizeof pattern, "snap:*");
    delete_walk w = {keep1, keep2, below, strlen(r->prefix) + 5, err, errlen};
    return scan_keys(r, pattern, delete_one, &w, err, errlen);
}

static const char SWITCH_LUA[] =
    "local old = redis.call('GET', KEYS[1]) "
    "redis.call('SET', KEYS[1], ARGV[1]) "
    "if old then redis.call('SET', KEYS[2], old) end "
    "return old";

size_t pw_redis_chunk_bytes(const pw_redis *r) { return r->chunk; }

int pw_redis_put_begin(pw_redis *r, char *err, size_t errlen) {
    r->put_gen = 0;
    r->put_parts = 0;
    r->put_bytes = 0;
    r->put_state = -1;
    r->put_switch_sent = 0;
    snprintf(r->put_err, sizeof r->put_err, "the snapshot was not written");
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char k[300];
    key(r, k, sizeof k, "gen");
    redisReply *rep = cmd2(r, err, errlen, "INCR", k);
    if (!rep) return -1;
    uint64_t g = rep->type == REDIS_REPLY_INTEGER ? (uint64_t)rep->integer : 0;
    freeReplyObject(rep);
    if (!g) return fail(r, err, errlen, "redis %s: INCR %s did not return a positive integer", r->shown, k);
    /* A writer that stopped before its switch (killed by the watchdog or at shutdown, timed out,
     * disconnected) could not delete its chunks; delete them now, every generation below this one
     * other than latest and previous, so at most one unfinished generation is ever stored however
     * many writers fail in a row. Best effort: what fails here is retried by the next writer. */
    uint64_t keep[2] = {0, 0};
    const char *names[2] = {"latest", "previous"};
    for (int i = 0; i < 2; i++) {
        key(r, k, sizeof k, "%s", names[i]);
        redisReply *v = cmd2(r, err, errlen, "GET", k);
        if (!v) return -1;
        if (v->type == REDIS_REPLY_STRING) keep[i] = strtoull(v->str, NULL, 10);
        freeReplyObject(v);
    }
    char e2[256];
    (void)delete_others(r, keep[0], keep[1], g, e2, sizeof e2);
    r->put_gen = g;
    r->put_state = 0;
    return 0;
}

/* The last part is stored: the manifest if chunked, then the switch, then the cleanup. */
static int put_finish(pw_redis *r, char *err, size_t errlen) {
    char k[300];
    unsigned long long g = (unsigned long long)r->put_gen;
    if (r->put_parts > 1) {
        unsigned char man[8 + 4 + 8];
        memcpy(man, MANIFEST, 8);
        for (int i = 0; i < 4; i++) man[8 + i] = (unsigned char)(r->put_parts >> (8 * i));
        for (int i = 0; i < 8; i++) man[12 + i] = (unsigned char)(r->put_bytes >> (8 * i));
        key(r, k, sizeof k, "snap:%llu", g);
        if (set_bin(r, k, man, sizeof man, err, errlen) < 0) return -1;
    }
    char gs[32], latest[300], previous[300];
    snprintf(gs, sizeof gs, "%llu", g);
    key(r, latest, sizeof latest, "latest");
    key(r, previous, sizeof previous, "previous");
    const char *argv[] = {"EVAL", SWITCH_LUA, "2", latest, previous, gs};
    size_t lens[6];
    for (int i = 0; i < 6; i++) lens[i] = strlen(argv[i]);
    r->put_switch_sent = 1;
    redisReply *rep = cmd(r, err, errlen, 6, argv, lens);
    if (!rep) return -1;
    uint64_t old = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    /* the new generation is visible; a failed cleanup only leaves garbage for the next writer */
    char e2[256];
    (void)delete_others(r, r->put_gen, old, r->put_gen + 1, e2, sizeof e2);
    return 0;
}

int pw_redis_put_emit(const void *p, size_t n, int last, void *ud) {
    pw_redis *r = ud;
    if (r->put_state != 0) return -1;
    char k[300];
    unsigned long long g = (unsigned long long)r->put_gen;
    if (last && r->put_parts == 0) key(r, k, sizeof k, "snap:%llu", g); /* one chunk or less: one value */
    else key(r, k, sizeof k, "snap:%llu:%u", g, r->put_parts);
    if (!r->c && connect_if_needed(r, r->put_err, sizeof r->put_err) < 0) { r->put_state = -1; return -1; }
    if (set_bin(r, k, p, n, r->put_err, sizeof r->put_err) < 0) { r->put_state = -1; return -1; }
    r->put_parts++;
    r->put_bytes += n;
    if (!last) return 0;
    if (put_finish(r, r->put_err, sizeof r->put_err) < 0) { r->put_state = -1; return -1; }
    r->put_state = 1;
    return 0;
}

int pw_redis_put_end(pw_redis *r, uint64_t *gen, char *err, size_t errlen) {
    if (r->put_state == 1) {
        *gen = r->put_gen;
        r->put_gen = 0;
        return 0;
    }
    snprintf(err, errlen, "%s", r->put_state == 0 ? "the snapshot stream ended before its last chunk" : r->put_err);
    /* nothing was switched: readers keep the old latest. Delete what this generation stored, if the
     * connection still works (otherwise the next writer's cleanup does) -- unless the switch was sent: a
     * lost reply or a script error midway may have switched latest to it after all (the next writer's
     * cleanup keeps latest and previous and deletes the rest). */
    if (r->put_switch_sent) { r->put_gen = 0; return -1; }
    char k[300], e2[256];
    unsigned long long g = (unsigned long long)r->put_gen;
    for (uint32_t i = 0; r->put_gen && r->c && i < r->put_parts; i++) {
        key(r, k, sizeof k, "snap:%llu:%u", g, i);
        redisReply *d = cmd2(r, e2, sizeof e2, "DEL", k);
        if (!d) break;
        freeReplyObject(d);
    }
    if (r->put_gen && r->c) {
        key(r, k, sizeof k, "snap:%llu", g);
        redisReply *d = cmd2(r, e2, sizeof e2, "DEL", k);
        if (d) freeReplyObject(d);
    }
    r->put_gen = 0;
    return -1;
}

int pw_redis_put(pw_redis *r, const void *blob, size_t len, uint64_t *gen, char *err, size_t errlen) {
    if (pw_redis_put_begin(r, err, errlen) < 0) return -1;
    size_t off = 0;
    do { /* the same chunks the streaming writer emits: whole chunks, then the rest (1..chunk bytes) */
        size_t n = len - off > r->chunk ? r->chunk : len - off;
        if (pw_redis_put_emit((const char *)blob + off, n, off + n == len, r) < 0) break;
        off += n;
    } while (off < len);
    return pw_redis_put_end(r, gen, err, errlen);
}

static redisReply *get_key(pw_redis *r, const char *k, char *err, size_t errlen) {
    redisReply *rep = cmd2(r, err, errlen, "GET", k);
    if (rep && rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        fail(r, err, errlen, "redis %s: %s is not a string", r->shown, k);
        return NULL;
    }
    return rep;
}

int pw_redis_get(pw_redis *r, int which, void **data, size_t *len, uint64_t *gen, char *err, size_t errlen) {
    *data = NULL;
    *len = 0;
    *gen = 0;
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char k[300];
    key(r, k, sizeof k, which ? "previous" : "latest");
    redisReply *rep = get_key(r, k, err, errlen);
    if (!rep) return -1;
    if (rep->type == REDIS_REPLY_NIL) { freeReplyObject(rep); return 0; }
    char *end;
    uint64_t g = strtoull(rep->str, &end, 10);
    int bad = !g || *end;
    freeReplyObject(rep);
    if (bad) return fail(r, err, errlen, "redis %s: %s does not hold a generation number", r->shown, k);
    *gen = g;
    key(r, k, sizeof k, "snap:%llu", (unsigned long long)g);
    if (!(rep = get_key(r, k, err, errlen))) return -1;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return fail(r, err, errlen, "redis %s: generation %llu is missing (%s)", r->shown, (unsigned long long)g, k);
    }
    if (rep->len != 20 || memcmp(rep->str, MANIFEST, 8) != 0) { /* a whole snapshot */
        *data = malloc(rep->len ? rep->len : 1);
        if (!*data) { freeReplyObject(rep); return fail(r, err, errlen, "out of memory"); }
        memcpy(*data, rep->str, rep->len);
        *len = rep->len;
        freeReplyObject(rep);
        return 1;
    }
    const unsigned char *m = (const unsigned char *)rep->str;
    uint32_t n = 0;
    uint64_t total = 0;
    for (int i = 0; i < 4; i++) n |= (uint32_t)m[8 + i] << (8 * i);
    for (int i = 0; i < 8; i++) total |= (uint64_t)m[12 + i] << (8 * i);
    freeReplyObject(rep);
    if (!n || total > ((uint64_t)1 << 40)) return fail(r, err, errlen, "redis %s: bad chunk manifest", r->shown);
    char *buf = malloc((size_t)total);
    if (!buf) return fail(r, err, errlen, "out of memory for a %llu-byte snapshot", (unsigned long long)total);
    size_t got = 0;
    for (uint32_t i = 0; i < n; i++) {
        key(r, k, sizeof k, "snap:%llu:%u", (unsigned long long)g, i);
        if (!(rep = get_key(r, k, err, errlen))) { free(buf); return -1; }
        if (rep->type == REDIS_REPLY_NIL || rep->len > total - got) {
            freeReplyObject(rep);
            free(buf);
            return fail(r, err, errlen, "redis %s: chunk %u of generation %llu is missing or too long", r->shown, i,
                        (unsigned long long)g);
        }
        memcpy(buf + got, rep->str, rep->len);
        got += rep->len;
        freeReplyObject(rep);
    }
    if (got != total) {
        free(buf);
        return fail(r, err, errlen, "redis %s: generation %llu has %zu of %llu bytes", r->shown, (unsigned long long)g,
                    got, (unsigned long long)total);
    }
    *data = buf;
    *len = got;
    return 1;
}

/* ---------- hashes (the delivery ledger) ---------- */

int pw_redis_hash_foreach(pw_redis *r, const char *name,
                          void (*fn)(const char *f, size_t fl, const char *v, size_t vl, void *ud), void *ud,
                          char *err, size_t errlen) {
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char k[600], cursor[32] = "0";
    key(r, k, sizeof k, "%s", name);
    do {
        const char *argv[] = {"HSCAN", k, cursor, "COUNT", "1000"};
        size_t lens[5];
        for (int i = 0; i < 5; i++) lens[i] = strlen(argv[i]);
        redisReply *rep = cmd(r, err, errlen, 5, argv, lens);
        if (!rep) return -1;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY || rep->element[1]->elements % 2) {
            freeReplyObject(rep);
            return fail(r, err, errlen, "redis %s: unexpected HSCAN reply for %s", r->shown, k);
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        redisReply *kv = rep->element[1];
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            const redisReply *f = kv->element[i], *v = kv->element[i + 1];
            if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) fn(f->str, f->len, v->str, v->len, ud);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int hash_cmd(pw_redis *r, const char *verb, const char *name, const char *const *args, int nargs, char *err,
                    size_t errlen) {
    if (nargs <= 0) return 0;
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char k[600];
    key(r, k, sizeof k, "%s", name);
    const char **argv = malloc((size_t)(nargs + 2) * sizeof *argv);
    size_t *lens = malloc((size_t)(nargs + 2) * sizeof *lens);
    if (!argv || !lens) { free(argv); free(lens); return fail(r, err, errlen, "out of memory"); }
    argv[0] = verb;
    argv[1] = k;
    for (int i = 0; i < nargs; i++) argv[i + 2] = args[i];
    for (int i = 0; i < nargs + 2; i++) lens[i] = strlen(argv[i]);
    redisReply *rep = cmd(r, err, errlen, nargs + 2, argv, lens);
    free(argv);
    free(lens);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

int pw_redis_hash_set(pw_redis *r, const char *name, const char *const *fv, int n, char *err, size_t errlen) {
    return hash_cmd(r, "HSET", name, fv, 2 * n, err, errlen);
}

int pw_redis_hash_del(pw_redis *r, const char *name, const char *const *f, int n, char *err, size_t errlen) {
    return hash_cmd(r, "HDEL", name, f, n, err, errlen);
}

int pw_redis_eval(pw_redis *r, const char *const *argv, int argc, char *err, size_t errlen) {
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    const char **av = malloc((size_t)(argc + 1) * sizeof *av);
    size_t *lens = malloc((size_t)(argc + 1) * sizeof *lens);
    if (!av || !lens) { free(av); free(lens); return fail(r, err, errlen, "out of memory"); }
    av[0] = "EVAL";
    lens[0] = 4;
    for (int i = 0; i < argc; i++) { av[i + 1] = argv[i]; lens[i + 1] = strlen(argv[i]); }
    redisReply *rep = cmd(r, err, errlen, argc + 1, av, lens);
    free(av);
    free(lens);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

int pw_redis_del(pw_redis *r, const char *name, char *err, size_t errlen) {
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char k[600];
    key(r, k, sizeof k, "%s", name);
    redisReply *rep = cmd2(r, err, errlen, "DEL", k);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

typedef struct { void (*fn)(const char *name, void *ud); void *ud; size_t plen; } keys_walk;

static int key_one(pw_redis *r, const char *k, void *ud) {
    keys_walk *w = ud;
    if (strlen(k) > w->plen && !strncmp(k, r->prefix, w->plen)) w->fn(k + w->plen, w->ud);
    return 0;
}

int pw_redis_keys_foreach(pw_redis *r, const char *pattern, void (*fn)(const char *name, void *ud), void *ud,
                          char *err, size_t errlen) {
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char pat[600];
    key(r, pat, sizeof pat, "%s", pattern);
    keys_walk w = {fn, ud, strlen(r->prefix)};
    return scan_keys(r, pat, key_one, &w, err, errlen);
}

/* ---------- the owner lock (owner.h; redis_store.h) ---------- */

/* One script for every operation, so each is atomic: take (or refresh our own), replace a holder judged
 * gone (only if it is still that holder), release (only our own). Replies {1} done, {2} done and the key
 * was missing, {0, holder, pttl} someone else holds it. */
static const char OWNER_LUA[] =
    "local v = redis.call('GET', KEYS[1]) "
    "local op = ARGV[1] "
    "if op == 'take' then "
    "  if v == ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[3]) return {1} end "
    "  if not v then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return {2} end "
    "elseif op == 'replace' then "
    "  if v == ARGV[4] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return {1} end "
    "  if not v then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return {2} end "
    "else "
    "  if v == ARGV[2] then redis.call('DEL', KEYS[1]) return {1} end "
    "  if not v then return {2} end "
    "end "
    "return {0, v, redis.call('PTTL', KEYS[1])}";

int pw_redis_owner(pw_redis *r, pw_redis_owner_op op, const char *value, const char *expected, int64_t ttl_ms,
                   char *holder, size_t holder_len, int64_t *holder_pttl_ms, char *err, size_t errlen) {
    if (holder && holder_len) holder[0] = 0;
    if (holder_pttl_ms) *holder_pttl_ms = -2;
    if (connect_if_needed(r, err, errlen) < 0) return -1;
    char k[600], ttl[32];
    key(r, k, sizeof k, "owner");
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    const char *ops[] = {"take", "replace", "release"};
    const char *argv[] = {"EVAL", OWNER_LUA, "1", k, ops[op], value, ttl, expected ? expected : ""};
    size_t lens[8];
    for (int i = 0; i < 8; i++) lens[i] = strlen(argv[i]);
    redisReply *rep = cmd(r, err, errlen, 8, argv, lens);
    if (!rep) return -1;
    int rc = -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 && rep->element[0]->type == REDIS_REPLY_INTEGER) {
        rc = (int)rep->element[0]->integer;
        if (rc == 0 && rep->elements == 3) {
            if (holder && holder_len && rep->element[1]->type == REDIS_REPLY_STRING)
                snprintf(holder, holder_len, "%.*s", (int)rep->element[1]->len, rep->element[1]->str);
            if (holder_pttl_ms && rep->element[2]->type == REDIS_REPLY_INTEGER)
                *holder_pttl_ms = rep->element[2]->integer;
        }
    }
    if (rc < 0) snprintf(err, errlen, "redis %s: owner lock: unexpected reply", r->shown);
    freeReplyObject(rep);
    return rc;
}
