/* snapshot.c -- the snapshot container: header, engine section, offsets, checksum.
 *
 * See snapshot.h for the layout and why. This file owns the framing and the
 * encoding primitives; each module encodes its own state with them
 * (pw_engine_save, pw_window_save), so the format of a window lives next to
 * the window. Everything here is pure and reentrant.
 *
 * Decoding never trusts a length: every count is checked against the bytes
 * that remain before anything is allocated for it, the total length and the
 * checksum are checked before any section is read, and the reader's first
 * failure sticks. Writing streams (version 3): pw_snap_w holds about one
 * chunk and hands whole chunks to its emitter while the rest is encoded, so the
 * forked child's memory is about one chunk whatever the state's size (version 2
 * built the whole snapshot in one buffer: at 1M dense series 775 MB of fresh
 * pages, each costing a page fault, before a byte was sent). Limits: pw_buf
 * aborts if the chunk buffer cannot be allocated, which in the child only fails
 * that snapshot; reading still needs the whole snapshot in memory.
 */
#include "snapshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "sink.h" /* pw_sink_kind only */

#define HEADER_BYTES (6 + 2 + 8 + 8) /* versions 1 and 2: magic, version, total, created */
#define HEADER3_BYTES (6 + 2 + 8)     /* version 3: magic, version, created */
#define TRAILER3_BYTES (8 + 8 + 8)    /* version 3: engine length, total, checksum */
#define MAX_TOPIC 249 /* Kafka's own limit on topic names */

/* ---------- writing ---------- */

static void put_le(pw_buf *b, uint64_t v, int n) {
    pw_buf_reserve(b, 8); /* the hot path of encoding: no memcpy call, no NUL terminator per field */
    unsigned char *x = (unsigned char *)b->data + b->len;
    for (int i = 0; i < n; i++) x[i] = (unsigned char)(v >> (8 * i));
    b->len += (size_t)n;
}

void pw_snap_u8(pw_buf *b, uint8_t v) { put_le(b, v, 1); }
void pw_snap_u32(pw_buf *b, uint32_t v) { put_le(b, v, 4); }
void pw_snap_u64(pw_buf *b, uint64_t v) { put_le(b, v, 8); }
void pw_snap_i64(pw_buf *b, int64_t v) { put_le(b, (uint64_t)v, 8); }
void pw_snap_f64(pw_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_le(b, u, 8);
}
void pw_snap_str(pw_buf *b, const char *s, size_t n) {
    pw_snap_u32(b, (uint32_t)n);
    pw_buf_append(b, s, n);
}

/* One step per 8 bytes: xor the word, multiply by an odd constant, xor-shift. Each of the three is a
 * bijection of the running hash, so the step is one too for any given word. */
static inline uint64_t sum_step(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

uint64_t pw_snap_checksum(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        h = sum_step(h, w);
    }
    uint64_t w = 0;
    for (size_t j = 0; i + j < n; j++) w |= (uint64_t)s[i + j] << (8 * j);
    h = sum_step(h, w ^ ((uint64_t)(n - i) << 56));
    return sum_step(h, 0x5053574E41504853ULL); /* a last step mixes the last word's high bits down too */
}

#define SUM_SEED 14695981039346656037ULL
#define SUM_END 0x5053574E41504853ULL

static inline uint64_t word_at(const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

void pw_snap_sum_init(pw_snap_sum *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) s->h[i] = SUM_SEED + (uint64_t)i; /* four different starts */
}

/* Whole 32-byte blocks: one word per lane, four independent multiply chains. */
static size_t sum_blocks(uint64_t h[4], const unsigned char *p, size_t n) {
    uint64_t a = h[0], b = h[1], c = h[2], d = h[3];
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = sum_step(a, word_at(p + i));
        b = sum_step(b, word_at(p + i + 8));
        c = sum_step(c, word_at(p + i + 16));
        d = sum_step(d, word_at(p + i + 24));
    }
    h[0] = a, h[1] = b, h[2] = c, h[3] = d;
    return i;
}

void pw_snap_sum_update(pw_snap_sum *s, const void *p, size_t n) {
    const unsigned char *q = p;
    s->n += n;
    if (s->nc) {
        size_t take = 32 - s->nc < n ? 32 - s->nc : n;
        memcpy(s->carry + s->nc, q, take);
        s->nc += (unsigned)take;
        q += take;
        n -= take;
        if (s->nc < 32) return;
        sum_blocks(s->h, s->carry, 32);
        s->nc = 0;
    }
    size_t done = sum_blocks(s->h, q, n);
    memcpy(s->carry, q + done, n - done);
    s->nc = (unsigned)(n - done);
}

uint64_t pw_snap_sum_final(const pw_snap_sum *s) {
    uint64_t h = s->h[0];
    size_t i = 0;
    for (; i + 8 <= s->nc; i += 8) h = sum_step(h, word_at(s->carry + i));
    uint64_t w = 0;
    for (size_t j = 0; i + j < s->nc; j++) w |= (uint64_t)s->carry[i + j] << (8 * j);
    h = sum_step(h, w ^ ((uint64_t)(s->nc - i) << 56));
    for (int k = 1; k < 4; k++) h = sum_step(h, s->h[k]);
    h = sum_step(h, s->n);
    return sum_step(h, SUM_END);
}

/* ---------- the streaming writer ---------- */

void pw_snap_w_init(pw_snap_w *w, size_t chunk, pw_snap_emit_fn emit, void *ud) {
    memset(w, 0, sizeof *w);
    pw_buf_init(&w->b);
    w->chunk = chunk;
    w->emit = emit;
    w->ud = ud;
    pw_snap_sum_init(&w->sum);
    if (chunk) pw_buf_reserve(&w->b, chunk + chunk / 8); /* one allocation: a chunk and the series that crosses it */
}

void pw_snap_w_free(pw_snap_w *w) { pw_buf_free(&w->b); }

void pw_snap_w_flush(pw_snap_w *w) {
    if (!w->chunk) return;
    size_t off = 0;
    while (w->b.len - off >= w->chunk) {
        if (!w->failed) {
            pw_snap_sum_update(&w->sum, w->b.data + off, w->chunk);
            if (w->emit(w->b.data + off, w->chunk, 0, w->ud) < 0) w->failed = 1;
        }
        w->emitted += w->chunk;
        off += w->chunk;
    }
    if (!off) return;
    memmove(w->b.data, w->b.data + off, w->b.len - off); /* the start of the next chunk: less than one series */
    w->b.len -= off;
}

/* ---------- reading ---------- */

void pw_snap_r_init(pw_snap_r *r, const void *p, size_t len) {
    memset(r, 0, sizeof *r);
    r->p = p;
    r->len = len;
}

int pw_snap_fail(pw_snap_r *r, const char *fmt, ...) {
    if (r->failed) return -1;
    r->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t get_le(pw_snap_r *r, int n) {
    if (r->failed) return 0;
    if (r->len - r->off < (size_t)n) {
        pw_snap_fail(r, "truncated at byte %zu", r->off);
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)n;
    return v;
}

uint8_t pw_snap_ru8(pw_snap_r *r) { return (uint8_t)get_le(r, 1); }
uint32_t pw_snap_ru32(pw_snap_r *r) { return (uint32_t)get_le(r, 4); }
uint64_t pw_snap_ru64(pw_snap_r *r) { return get_le(r, 8); }
int64_t pw_snap_ri64(pw_snap_r *r) { return (int64_t)get_le(r, 8); }
double pw_snap_rf64(pw_snap_r *r) {
    uint64_t u = get_le(r, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

int pw_snap_rstr(pw_snap_r *r, const char **s, uint32_t *n, uint32_t max) {
    *s = "";
    *n = 0;
    uint32_t l = pw_snap_ru32(r);
    if (r->failed) return -1;
    if (l > max) return pw_snap_fail(r, "string of %u bytes at byte %zu (at most %u)", l, r->off - 4, max);
    if (r->len - r->off < l) return pw_snap_fail(r, "truncated string at byte %zu", r->off);
    *s = (const char *)r->p + r->off;
    *n = l;
    r->off += l;
    return 0;
}

uint32_t pw_snap_rcount(pw_snap_r *r, size_t min_bytes, const char *what) {
    uint32_t c = pw_snap_ru32(r);
    if (r->failed) return 0;
    if (min_bytes && (uint64_t)c * min_bytes > r->len - r->off) {
        pw_snap_fail(r, "%u %s cannot fit in the %zu bytes left", c, what, r->len - r->off);
        return 0;
    }
    return c;
}

int pw_snap_rskip(pw_snap_r *r, uint64_t n) {
    if (r->failed) return -1;
    if (n > r->len - r->off) return pw_snap_fail(r, "truncated section at byte %zu", r->off);
    r->off += (size_t)n;
    return 0;
}

/* ---------- whole snapshots ---------- */

int pw_snapshot_write(pw_snap_w *w, pw_engine *e, int64_t created_ms, const pw_snap_offset *offs, int noffs,
                      const pw_snap_outbox *ob, int nob, uint64_t *total) {
    pw_buf *out = &w->b;
    uint64_t start = pw_snap_w_pos(w);
    pw_buf_append(out, PW_SNAPSHOT_MAGIC, 6);
    put_le(out, PW_SNAPSHOT_VERSION, 2);
    pw_snap_i64(out, created_ms);
    uint64_t e0 = pw_snap_w_pos(w);
    pw_engine_save(e, w); /* emits whole chunks as it goes */
    uint64_t elen = pw_snap_w_pos(w) - e0;
    pw_snap_u32(out, (uint32_t)noffs);
    for (int i = 0; i < noffs; i++) {
        pw_snap_str(out, offs[i].topic, strlen(offs[i].topic));
        pw_snap_u32(out, (uint32_t)offs[i].partition);
        pw_snap_i64(out, offs[i].next);
    }
    pw_snap_u32(out, (uint32_t)nob);
    for (int i = 0; i < nob; i++) {
        pw_snap_str(out, ob[i].sink, strlen(ob[i].sink));
        pw_snap_u8(out, (uint8_t)ob[i].kind);
        pw_snap_u32(out, ob[i].n);
        for (uint32_t j = 0; j < ob[i].n; j++) {
            const pw_snap_note *nt = &ob[i].notes[j];
            pw_snap_u64(out, nt->fingerprint);
            pw_snap_i64(out, nt->at);
            pw_snap_u8(out, (uint8_t)(nt->kind ? nt->kind : nt->firing ? 1 : 0));
            pw_snap_u32(out, nt->seq);
            pw_snap_i64(out, nt->born);
            pw_snap_u64(out, nt->rule_hash);
            pw_snap_str(out, nt->data, nt->len);
            pw_snap_w_point(w);
        }
    }
    pw_snap_u64(out, elen);
    pw_snap_u64(out, pw_snap_w_pos(w) + 16 - start);
    /* the checksum of everything before it, then every whole chunk but the last piece (1..chunk bytes) */
    pw_snap_sum sum = w->sum;
    pw_snap_sum_update(&sum, out->data, out->len);
    pw_snap_u64(out, pw_snap_sum_final(&sum));
    *total = pw_snap_w_pos(w) - start;
    size_t off = 0;
    for (; w->chunk && out->len - off > w->chunk; off += w->chunk)
        if (!w->failed && w->emit(out->data + off, w->chunk, 0, w->ud) < 0) w->failed = 1;
    w->emitted += off;
    if (!w->failed && w->emit(out->data + off, out->len - off, 1, w->ud) < 0) w->failed = 1;
    w->emitted += out->len - off;
    out->len = 0;
    return w->failed ? -1 : 0;
}

static int append_to(const void *p, size_t n, int last, void *ud) {
    (void)last;
    pw_buf_append(ud, p, n);
    return 0;
}

void pw_snapshot_encode(pw_buf *out, pw_engine *e, int64_t created_ms, const pw_snap_offset *offs, int noffs,
                        const pw_snap_outbox *ob, int nob) {
    pw_snap_w w;
    pw_snap_w_init(&w, 0, append_to, out); /* chunk 0: one emit, at the end, of everything */
    uint64_t total;
    (void)pw_snapshot_write(&w, e, created_ms, offs, noffs, ob, nob, &total);
    pw_snap_w_free(&w);
}

void pw_snapshot_info_free(pw_snapshot_info *in) {
    for (int i = 0; i < in->noutbox; i++) {
        free((char *)in->outbox[i].sink);
        free(in->outbox[i].notes);
    }
    free(in->outbox);
    in->outbox = NULL;
    in->noutbox = 0;
    in->outbox_notes = 0;
    for (int i = 0; i < in->noffsets; i++) free(in->offsets[i].topic);
    free(in->offsets);
    in->offsets = NULL;
    in->noffsets = 0;
}

/* The outbox section (see snapshot.h); fills out->outbox, or fails r. */
static void read_outbox(pw_snap_r *r, pw_snapshot_info *out) {
    uint32_t ns = pw_snap_rcount(r, 4 + 1 + 4, "outbox sinks");
    if (!r->failed && ns) out->outbox = calloc(ns, sizeof *out->outbox);
    if (!r->failed && ns && !out->outbox) pw_snap_fail(r, "out of memory");
    for (uint32_t i = 0; i < ns && !r->failed; i++) {
        const char *name;
        uint32_t nl;
        if (pw_snap_rstr(r, &name, &nl, PW_SNAPSHOT_MAX_SINK_NAME) < 0) return;
        uint8_t kind = pw_snap_ru8(r);
        uint32_t n = pw_snap_rcount(r, 8 + 8 + 1 + 4 + 8 + 8 + 4, "outbox notifications");
        if (r->failed) return;
        if (nl == 0 || memchr(name, 0, nl) || kind > PW_SINK_KAFKA) {
            pw_snap_fail(r, "bad outbox entry %u (sink name or kind %u)", i, kind);
            return;
        }
        pw_snap_outbox *o = &out->outbox[out->noutbox];
        o->sink = strndup(name, nl);
        o->kind = kind;
        o->notes = n ? calloc(n, sizeof *o->notes) : NULL;
        out->noutbox++;
        if (!o->sink || (n && !o->notes)) { pw_snap_fail(r, "out of memory"); return; }
        for (uint32_t j = 0; j < n; j++) {
            pw_snap_note *nt = &o->notes[j];
            nt->fingerprint = pw_snap_ru64(r);
            nt->at = pw_snap_ri64(r);
            uint8_t nkind = pw_snap_ru8(r);
            nt->seq = pw_snap_ru32(r);
            nt->born = pw_snap_ri64(r);
            nt->rule_hash = pw_snap_ru64(r);
            uint32_t dl;
            if (pw_snap_rstr(r, &nt->data, &dl, PW_SNAPSHOT_MAX_NOTE_BYTES) < 0) return;
            if (nkind > 2) {
                pw_snap_fail(r, "bad notification kind %u in the outbox of sink %s", nkind, o->sink);
                return;
            }
            nt->kind = nkind;
            nt->firing = nkind != 0;
            nt->len = dl;
            o->n++;
            out->outbox_notes++;
        }
    }
}

uint64_t pw_snap_checksum_version(const void *p, size_t n, uint32_t version) {
    if (version >= 3) {
        pw_snap_sum s;
        pw_snap_sum_init(&s);
        pw_snap_sum_update(&s, p, n);
        return pw_snap_sum_final(&s);
    }
    if (version == 2) return pw_snap_checksum(p, n);
    const unsigned char *s = p; /* version 1: FNV-1a, byte by byte */
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ULL; }
    return h;
}

int pw_snapshot_parse(const void *p, size_t len, pw_snapshot_info *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = p;
    if (len < 6 || memcmp(b, PW_SNAPSHOT_MAGIC, 6) != 0) {
        snprintf(err, errlen, "not a pipewatch snapshot (no %s magic)", PW_SNAPSHOT_MAGIC);
        return -1;
    }
    pw_snap_r r;
    pw_snap_r_init(&r, p, len);
    r.off = 6;
    uint32_t version = (uint32_t)get_le(&r, 2);
    if (r.failed) { snprintf(err, errlen, "truncated snapshot (%zu bytes)", len); return -1; }
    if (version < PW_SNAPSHOT_OLDEST || version > PW_SNAPSHOT_VERSION) {
        snprintf(err, errlen, "snapshot format version %u, this pipewatch reads versions %d to %d", version,
                 PW_SNAPSHOT_OLDEST, PW_SNAPSHOT_VERSION);
        return -1;
    }
    int v3 = version >= 3;
    uint64_t total = 0, elen = 0;
    if (v3) { /* the lengths are in the trailer */
        if (len >= HEADER3_BYTES + 4 + 4 + TRAILER3_BYTES) {
            for (int i = 0; i < 8; i++) elen |= (uint64_t)b[len - 24 + (size_t)i] << (8 * i);
            for (int i = 0; i < 8; i++) total |= (uint64_t)b[len - 16 + (size_t)i] << (8 * i);
        }
    } else {
        total = pw_snap_ru64(&r);
    }
    if (r.failed || total != len ||
        len < (v3 ? HEADER3_BYTES + 4 + 4 + TRAILER3_BYTES : HEADER_BYTES + 8 + 4 + (version >= 2 ? 4 : 0) + 8)) {
        snprintf(err, errlen, "truncated or padded snapshot: %zu bytes where its %s says %llu", len,
                 v3 ? "trailer" : "header", (unsigned long long)total);
        return -1;
    }
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++) sum |= (uint64_t)b[len - 8 + (size_t)i] << (8 * i);
    if (sum != pw_snap_checksum_version(b, len - 8, version)) {
        snprintf(err, errlen, "checksum mismatch: the snapshot is corrupt");
        return -1;
    }
    r.len = len - (v3 ? TRAILER3_BYTES : 8); /* the sections end at the trailer */
    out->version = version;
    out->size = total;
    out->created_ms = pw_snap_ri64(&r);
    if (!v3) elen = pw_snap_ru64(&r);
    if (!r.failed && elen > r.len - r.off) pw_snap_fail(&r, "engine section longer than the snapshot");
    if (!r.failed) {
        out->engine = r.p + r.off;
        out->engine_len = (size_t)elen;
        r.off += (size_t)elen;
        pw_snap_r er;
        pw_snap_r_init(&er, out->engine, out->engine_len);
        out->stream_time = pw_snap_ri64(&er); /* the engine section starts with stream time */
        if (er.failed) pw_snap_fail(&r, "engine section: %s", er.err);
    }
    uint32_t n = pw_snap_rcount(&r, 4 + 4 + 8, "partition offsets");
    if (!r.failed && n) out->offsets = calloc(n, sizeof *out->offsets);
    if (!r.failed && n && !out->offsets) pw_snap_fail(&r, "out of memory");
    for (uint32_t i = 0; i < n && !r.failed; i++) {
        const char *t;
        uint32_t tl;
        if (pw_snap_rstr(&r, &t, &tl, MAX_TOPIC) < 0) break;
        int32_t part = (int32_t)pw_snap_ru32(&r);
        int64_t next = pw_snap_ri64(&r);
        if (r.failed) break;
        if (tl == 0 || memchr(t, 0, tl) || part < 0 || next < 0) {
            pw_snap_fail(&r, "bad partition offset entry %u", i);
            break;
        }
        pw_snap_offset *o = &out->offsets[out->noffsets];
        o->topic = strndup(t, tl);
        if (!o->topic) { pw_snap_fail(&r, "out of memory"); break; }
        o->partition = part;
        o->next = next;
        out->noffsets++;
    }
    if (version >= 2) read_outbox(&r, out); /* version 1 had none */
    if (!r.failed && r.off != r.len) pw_snap_fail(&r, "%zu unexpected bytes before the trailer", r.len - r.off);
    if (r.failed) {
        snprintf(err, errlen, "invalid snapshot: %s", r.err);
        pw_snapshot_info_free(out);
        return -1;
    }
    return 0;
}

int pw_snapshot_restore(const void *p, size_t len, pw_engine *e,
                        void (*report)(const char *metric, int kept, void *ud), void *ud, pw_snapshot_info *info,
                        char *err, size_t errlen) {
    if (pw_snapshot_parse(p, len, info, err, errlen) < 0) return -1;
    if (pw_engine_load_version(e, info->engine, info->engine_len, info->version, report, ud, err, errlen) < 0) {
        pw_snapshot_info_free(info);
        return -1;
    }
    return 0;
}
