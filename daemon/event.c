/* event.c -- JSON payload -> decoded event view (type, time, referenced fields).
 *
 * Design
 *   A hand-written, single-pass, non-recursive RFC 8259 parser that validates
 *   the whole text and keeps only the fields the rule set reads. Rule sets read
 *   a few dozen paths out of events that carry many more, so the decoder never
 *   builds a tree: it walks the text once and drops each wanted value straight
 *   into its slot.
 *
 *   - Paths. At _new the fieldset's dotted paths become a small trie (segments
 *     split on '.'). While scanning, each open object carries the trie node its
 *     keys are matched against (or none); a key is either a wanted prefix
 *     (descend with that node), a wanted leaf (its value goes to a slot), both
 *     ("contact" and "contact.email"), or neither: then the value is validated
 *     and skipped without being stored. Arrays are never descended into (paths
 *     have no indices), and a wanted path whose value is an object or array
 *     yields PW_V_RAW: the raw JSON text span, num = member count. Each
 *     node's children sit in a small open-addressed hash table, keyed by the
 *     key's length and its bytes folded into two words (read with overlapping
 *     loads), so an unwanted key usually costs one multiply and one
 *     empty-entry probe, a wanted one a compare of three registers.
 *   - No allocation per event. The frame stack (max_depth frames) and the
 *     scratch buffer for unescaped strings (max_size bytes) are allocated at
 *     _new and reused. Unescaping never makes a string longer, so everything
 *     unescaped from one event fits in max_size. Strings without escapes
 *     point straight into the input.
 *   - Hot loops. String bodies are scanned 16 bytes at a time with SSE2
 *     (x86-64 always has it), else 8 bytes at a time (SWAR), testing for '"',
 *     '\\', bytes < 0x20 and bytes >= 0x80; only escapes and non-ASCII bytes
 *     leave the fast loop. Keys are compared by words. Numbers outside wanted fields are only
 *     grammar-checked, not converted, unless they could overflow a double
 *     (an exponent, or more than 300 integer digits), so "1e400" is refused
 *     wherever it appears. No per-byte function calls.
 *     Measured (tests/bench/run, README "Benchmarks"): 1M generated events of
 *     199 bytes on average decode at ~7.9M events/s on one core of the dev
 *     VM, 4.1x cJSON's parse+free and 0.73x simdjson's DOM parse in the same
 *     run.
 *   - Member memo. Producers write an event type's members in the same order
 *     every time, so after the member with key K in an event of type T the
 *     bytes `,"K2":` of the next member are usually those seen last time (and
 *     the first member's `"K1":` those of the last event's). The
 *     decoder remembers them (a 128-entry table indexed by the hashes of K and
 *     of T's value, learned as it goes) with what K2 resolved to in the trie,
 *     and when the next 16 bytes of input start with them it skips the key's
 *     scan, lookup and the ':' checks (measured: 15% off a decode, 5-6% off a
 *     replay). Correctness does not depend on the guess: the skipped bytes
 *     equal a pattern that passed the full path before, and the trie is fixed,
 *     so they resolve to the same slot. Only compact (no whitespace), unescaped
 *     members of at most 16 bytes of the top-level object whose key is a leaf
 *     or unwanted are learned (a prefix key's duplicate clears sub-slots,
 *     which stays on the full path). test_event.c and the fuzz target check
 *     that a decoder with a learned memo decodes exactly as a fresh one.
 *   - Time field: the usual UTC shape is parsed here with the midnight of the
 *     last date cached (parse_time); anything else goes to timeutil.c.
 *   - Slots are reset cheaply: the slots written by one decode are remembered
 *     (a dirty list bounded by the number of slots) and cleared at the start
 *     of the next one.
 *   - Duplicate keys: the last one wins. A leaf is simply overwritten; when a
 *     wanted prefix repeats ({"contact":{..},"contact":{..}}) every slot below
 *     it is cleared first, so nothing from the earlier object leaks through.
 *
 * Errors and their precedence: too_large is checked before parsing; then the
 * first JSON-level error in text order (not_json, too_deep, bad_utf8,
 * bad_number), then not_object (only for otherwise valid JSON), then the type
 * field (no_type/bad_type), then the time field (no_time/bad_time).
 *   - Invalid UTF-8 (overlongs, UTF-8-encoded surrogates, > U+10FFFF,
 *     truncated sequences, stray continuation bytes) anywhere in a string
 *     (keys included) and unpaired \u surrogate escapes -> bad_utf8. A high
 *     surrogate escape that is the last thing in a truncated text is not_json.
 *   - Unescaped control characters (< 0x20) in strings -> not_json.
 *   - A UTF-8 byte order mark is not JSON whitespace (RFC 8259 section 8.1
 *     lets a parser ignore it, we do not): not_json. Producers send no BOM.
 *   - Depth: the top-level object is depth 1; max_depth is accepted,
 *     max_depth + 1 is too_deep.
 *
 * Limits: keys that contain '.' cannot be addressed (fieldset.h); paths do not
 * index into arrays; \u0000 decodes to a NUL byte inside the string (strings
 * are length-delimited, never NUL-terminated); max_size must fit in 32 bits
 * (pw_value.len). pw_decoder_new() also returns NULL for a conf whose slots
 * are not in the fieldset. One decoder per thread.
 */
#include "event.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "timeutil.h"

typedef unsigned char uchar;

/* scan_str() runs for every key and string; inlining it into the parser's
 * two call sites measured ~4% faster on the benchmark event. */
#if defined(__GNUC__)
#define PW_ALWAYS_INLINE __attribute__((always_inline))
#else
#define PW_ALWAYS_INLINE
#endif

#define DEFAULT_MAX_SIZE (1024 * 1024)
#define DEFAULT_MAX_DEPTH 64
#define NULL_VALUE ((pw_value){.type = PW_V_NULL})
#define TRUE_VALUE ((pw_value){.type = PW_V_BOOL, .has_num = 1, .num = 1.0, .str = "true", .len = 4})
#define FALSE_VALUE ((pw_value){.type = PW_V_BOOL, .has_num = 1, .num = 0.0, .str = "false", .len = 5})

/* A child edge of the path trie, stored in its parent's hash table: the
 * key's length and its bytes folded into two words (key_words: the whole key
 * when it is at most 16 bytes long), the key itself for longer keys
 * (borrowed from the fieldset's path string, not NUL-terminated at len), and
 * the node it leads to. A lookup compares len and the two words in registers
 * and touches nothing else for keys of up to 16 bytes; node == 0 (the root,
 * never a child) marks an empty entry. */
typedef struct tkid {
    uint64_t w0, w1;
    const char *key;
    uint32_t len;
    int node;
} tkid;

typedef struct tnode {
    int slot;       /* slot of the path ending at this node, or -1 */
    int nkids;
    int h0;         /* children's hash table: d->htab[h0 .. h0 + hmask] */
    uint32_t hmask; /* table size - 1 (a power of two >= 2 * nkids) */
    int sub0;       /* slots strictly below this node: d->subs[sub0 .. sub0 + nsub) */
    int nsub;
} tnode;

/* A learned member prefix of the top-level object: the bytes `,"key":` (at
 * most 16, no whitespace) that followed the member whose key hashed to kh_prev
 * in an event whose type hashed to the same tag (ctx mixes both), and what
 * the key resolved to at the root. See "Member memo" in the design comment. */
#define MEMO_SIZE 128 /* entries, a power of two: ~6 KiB, in L1 */
typedef struct kmemo {
    uint64_t ctx;    /* 0 = empty */
    uint64_t p0, p1; /* the pattern's bytes, as words; bytes past plen are zero */
    uint64_t m0, m1; /* masks of the pattern's bytes */
    uint32_t plen;
    uint32_t kh;     /* the key's hash: the context of the next member */
    int slot;        /* the root's child's slot, or -1 (unwanted key) */
} kmemo;

/* One open object or array. */
typedef struct frame {
    const uchar *start; /* the '{' or '[', for a RAW slot */
    int node;           /* trie node matched by this object's keys, or -1 */
    int slot;           /* slot receiving this container as RAW, or -1 */
    uint32_t count;     /* members seen so far */
    uchar close;        /* '}' or ']' */
} frame;

struct pw_decoder {
    pw_decoder_conf conf;
    int nslots;
    pw_value *vals;     /* nslots */
    uint32_t *slot_gen; /* nslots: == gen when the slot was written this decode */
    int *dirty;         /* nslots: slots written by the last decode */
    int ndirty;
    tnode *nodes;       /* nodes[0] is the root */
    int nnodes;
    tkid *htab;         /* per node: open addressing, the children themselves, node 0 = empty */
    int *subs;
    uint32_t *node_gen; /* nnodes: == gen when that prefix was seen this decode */
    uint32_t gen;
    frame *stack;       /* max_depth + 1 frames, [0] unused */
    kmemo *memo;        /* MEMO_SIZE entries */
    char *scratch;      /* max_size bytes for unescaped strings */
    /* time cache: the date part ("YYYY-MM-DDT", 11 bytes) of the last UTC time that passed the full
     * RFC 3339 parser, and the instant of its midnight; see parse_time */
    char tc_date[11];
    int tc_valid;
    int64_t tc_day_ms;
};

const char *pw_ev_err_name(pw_ev_err e) {
    static const char *const names[PW_EV__COUNT] = {
        "ok",         "too_large",  "not_json", "not_object", "too_deep", "bad_utf8",
        "bad_number", "no_type",    "bad_type", "no_time",    "bad_time",
    };
    return (unsigned)e < PW_EV__COUNT ? names[e] : "unknown";
}

/* ---- construction ---------------------------------------------------------- */

static inline uint64_t rd64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t rd32(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The words a key is matched by: for n <= 16 they determine the key (with its
 * length), read with overlapping loads that never leave the n bytes; longer
 * keys are also compared in full. */
static inline void key_words(const char *k, size_t n, uint64_t *w0, uint64_t *w1) {
    if (n >= 8) {
        *w0 = rd64(k);
        *w1 = rd64(k + n - 8);
    } else if (n >= 4) {
        *w0 = rd32(k);
        *w1 = rd32(k + n - 4);
    } else {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v |= (uint64_t)(unsigned char)k[i] << (8 * i);
        *w0 = v;
        *w1 = 0;
    }
}

/* Hash of a key for the per-node child tables, from its words: one multiply
 * chain on registers, run on every key of every event; an unwanted key
 * usually lands on an empty entry and costs no compare at all. */
static inline uint32_t key_hash(uint64_t w0, uint64_t w1, size_t n) {
    uint64_t h = (w0 ^ (w1 * 0x9E3779B97F4A7C15ULL) ^ n) * 0xC2B2AE3D27D4EB4FULL;
    return (uint32_t)(h >> 32);
}

/* Temporary tree node used while building the trie. */
typedef struct bnode {
    int parent;
    const char *key;
    uint32_t len;
    int slot;
} bnode;

static int build_trie(pw_decoder *d, const pw_fieldset *fs) {
    int n = d->nslots, cap = 1;
    for (int s = 0; s < n; s++) {
        const char *p = pw_fieldset_path(fs, s);
        cap++;
        for (; *p; p++) cap += *p == '.';
    }
    bnode *b = calloc((size_t)cap, sizeof *b);
    if (!b) return -1;
    int nb = 1;
    b[0].parent = -1;
    b[0].slot = -1;
    for (int s = 0; s < n; s++) {
        const char *path = pw_fieldset_path(fs, s);
        int cur = 0;
        for (;;) {
            const char *dot = strchr(path, '.');
            uint32_t len = (uint32_t)(dot ? (size_t)(dot - path) : strlen(path));
            int found = -1;
            for (int i = 1; i < nb && found < 0; i++)
                if (b[i].parent == cur && b[i].len == len && memcmp(b[i].key, path, len) == 0) found = i;
            if (found < 0) {
                found = nb++;
                b[found].parent = cur;
                b[found].key = path;
                b[found].len = len;
                b[found].slot = -1;
            }
            cur = found;
            if (!dot) break;
            path = dot + 1;
        }
        b[cur].slot = s;
    }
    /* Flatten: children of each node contiguous in kids[], slots below each
     * node contiguous in subs[]. Quadratic, but only at load and over tens of
     * paths. */
    int nsubs = 0;
    for (int i = 1; i < nb; i++)
        for (int a = b[i].parent; a >= 0 && b[i].slot >= 0; a = b[a].parent) nsubs++;
    d->nodes = calloc((size_t)nb, sizeof *d->nodes);
    /* each node's table: the smallest power of two >= 2 * its children, at least 2 (leaves too) */
    size_t nhtab = 0;
    for (int i = 0; i < nb; i++) {
        uint32_t kids = 0, size = 2;
        for (int j = 1; j < nb; j++) kids += b[j].parent == i;
        while (size < 2u * kids) size <<= 1;
        nhtab += size;
    }
    d->htab = calloc(nhtab, sizeof *d->htab);
    d->subs = calloc((size_t)nsubs + 1, sizeof *d->subs);
    d->node_gen = calloc((size_t)nb, sizeof *d->node_gen);
    if (!d->nodes || !d->htab || !d->subs || !d->node_gen) {
        free(b);
        return -1;
    }
    int ns = 0, nh = 0;
    for (int i = 0; i < nb; i++) {
        tnode *t = &d->nodes[i];
        t->slot = b[i].slot;
        t->nkids = 0;
        for (int j = 1; j < nb; j++) t->nkids += b[j].parent == i;
        uint32_t size = 2;
        while (size < 2u * (uint32_t)t->nkids) size <<= 1;
        t->h0 = nh;
        t->hmask = size - 1;
        nh += (int)size;
        for (int j = 1; j < nb; j++) {
            if (b[j].parent != i) continue;
            tkid k = {.key = b[j].key, .len = b[j].len, .node = j};
            key_words(k.key, k.len, &k.w0, &k.w1);
            uint32_t h = key_hash(k.w0, k.w1, k.len) & t->hmask;
            while (d->htab[t->h0 + (int)h].node) h = (h + 1) & t->hmask;
            d->htab[t->h0 + (int)h] = k;
        }
        t->sub0 = ns;
        for (int j = 1; j < nb; j++) {
            if (b[j].slot < 0 || j == i) continue;
            for (int a = b[j].parent; a >= 0; a = b[a].parent)
                if (a == i) {
                    d->subs[ns++] = b[j].slot;
                    break;
                }
        }
        t->nsub = ns - t->sub0;
    }
    d->nnodes = nb;
    free(b);
    return 0;
}

pw_decoder *pw_decoder_new(const pw_fieldset *fs, const pw_decoder_conf *conf) {
    if (!fs || !conf) return NULL;
    int n = pw_fieldset_count(fs);
    if (conf->type_slot < 0 || conf->type_slot >= n || conf->time_slot < 0 || conf->time_slot >= n ||
        conf->id_slot < -1 || conf->id_slot >= n || conf->max_size > UINT32_MAX)
        return NULL;
    pw_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->conf = *conf;
    if (d->conf.max_size == 0) d->conf.max_size = DEFAULT_MAX_SIZE;
    if (d->conf.max_depth <= 0) d->conf.max_depth = DEFAULT_MAX_DEPTH;
    d->nslots = n;
    d->gen = 1;
    d->vals = calloc((size_t)n, sizeof *d->vals);
    d->slot_gen = calloc((size_t)n, sizeof *d->slot_gen);
    d->dirty = calloc((size_t)n, sizeof *d->dirty);
    d->stack = calloc((size_t)d->conf.max_depth + 1, sizeof *d->stack);
    d->scratch = malloc(d->conf.max_size);
    d->memo = calloc(MEMO_SIZE, sizeof *d->memo);
    if (!d->vals || !d->slot_gen || !d->dirty || !d->stack || !d->scratch || !d->memo || build_trie(d, fs) < 0) {
        pw_decoder_destroy(d);
        return NULL;
    }
    return d;
}

void pw_decoder_destroy(pw_decoder *d) {
    if (!d) return;
    free(d->vals);
    free(d->slot_gen);
    free(d->dirty);
    free(d->nodes);
    free(d->htab);
    free(d->subs);
    free(d->node_gen);
    free(d->stack);
    free(d->scratch);
    free(d->memo);
    free(d);
}

/* ---- lexical helpers ------------------------------------------------------- */

/* JSON whitespace: space, \t, \n, \r. */
static const uchar ws_tbl[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};
/* Bytes a JSON number starts with: a string value that starts otherwise is not numeric. */
static const uchar num_start[256] = {['-'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
                                     ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1};
/* In line mode (pw_decoder_decode_line) '\n' ends the text instead. */
static const uchar ws_line_tbl[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1};

/* Bytes that end the fast path in a string body: '"', '\\', < 0x20, >= 0x80. */
static const uchar str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
    [0x80] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#define SKIP_WS(p, end)                          \
    do {                                         \
        while ((p) < (end) && *(p) <= ' ' && wst[*(p)]) (p)++; \
    } while (0)

static inline int hexval(uchar c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Four hex digits at p (caller checked they are in bounds), or -1. */
static inline long hex4(const uchar *p) {
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), e = hexval(p[3]);
    if ((a | b | c | e) < 0) return -1;
    return (long)(a << 12 | b << 8 | c << 4 | e);
}

/* Validate the escape at p (p[0] == '\\'). Returns the byte after it. */
static const uchar *scan_escape(const uchar *p, const uchar *end, pw_ev_err *err) {
    if (end - p < 2) goto not_json;
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 2;
    case 'u': {
        if (end - p < 6) goto not_json;
        long cp = hex4(p + 2);
        if (cp < 0) goto not_json;
        if (cp >= 0xDC00 && cp <= 0xDFFF) goto bad_utf8;
        if (cp < 0xD800 || cp > 0xDBFF) return p + 6;
        /* high surrogate: a \u low surrogate must follow at once */
        if (end - p < 8) {
            if (end - p == 6 || p[6] == '\\') goto not_json; /* truncated */
            goto bad_utf8;
        }
        if (p[6] != '\\' || p[7] != 'u') goto bad_utf8;
        if (end - p < 12) goto not_json;
        long lo = hex4(p + 8);
        if (lo < 0) goto not_json;
        if (lo < 0xDC00 || lo > 0xDFFF) goto bad_utf8;
        return p + 12;
    }
    default:
        goto not_json;
    }
not_json:
    *err = PW_EV_NOT_JSON;
    return NULL;
bad_utf8:
    *err = PW_EV_BAD_UTF8;
    return NULL;
}

/* Validate one UTF-8 sequence at p (p[0] >= 0x80), RFC 3629 table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static const uchar *scan_utf8(const uchar *p, const uchar *end, pw_ev_err *err) {
    uchar c = p[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0xC2) goto bad;
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        goto bad;
    }
    if (end - p < n) goto bad; /* truncated sequence */
    if (p[1] < lo || p[1] > hi) goto bad;
    for (int k = 2; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) goto bad;
    return p + n;
bad:
    *err = PW_EV_BAD_UTF8;
    return NULL;
}

/* Scan a string body; p is just after the opening quote. Returns the byte
 * after the closing quote, or NULL with *err. *esc is set if any escape. */
PW_ALWAYS_INLINE static inline const uchar *scan_str(const uchar *p, const uchar *end, int *esc,
                                                     pw_ev_err *err) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (;;) {
#if defined(__SSE2__)
        /* 16 bytes per step: '"', '\\', and (as a signed compare) bytes < 0x20 or >= 0x80 */
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                                  _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
                                     _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (bits) {
                p += __builtin_ctz(bits);
                goto stop;
            }
            p += 16;
        }
#endif
        while (end - p >= 8) {
            uint64_t x, q, b;
            memcpy(&x, p, 8);
            q = x ^ (ones * '"');
            b = x ^ (ones * '\\');
            uint64_t m = (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x) & highs;
            if (m) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* The lowest flagged byte is always a true hit (borrows only
                 * propagate upwards from a hit), so jump straight to it. */
                p += __builtin_ctzll(m) >> 3;
#endif
                break;
            }
            p += 8;
        }
        while (p < end && !str_stop[*p]) p++;
#if defined(__SSE2__)
    stop:
#endif
        if (p == end) {
            *err = PW_EV_NOT_JSON;
            return NULL;
        }
        uchar c = *p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            *esc = 1;
            p = scan_escape(p, end, err);
        } else if (c < 0x20) {
            *err = PW_EV_NOT_JSON;
            return NULL;
        } else {
            p = scan_utf8(p, end, err);
        }
        if (!p) return NULL;
    }
}

/* Unescape an already validated string body [s, e) into out; returns length.
 * Never longer than e - s. */
static size_t unescape(const uchar *s, const uchar *e, char *out) {
    char *o = out;
    while (s < e) {
        const uchar *bs = memchr(s, '\\', (size_t)(e - s));
        if (!bs) bs = e;
        memcpy(o, s, (size_t)(bs - s));
        o += bs - s;
        s = bs;
        if (s == e) break;
        uchar c = s[1];
        s += 2;
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned long cp = (unsigned long)hex4(s);
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)hex4(s + 2) - 0xDC00);
                s += 6;
            }
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | cp >> 12);
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | cp >> 18);
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: *o++ = (char)c; break; /* '"', '\\', '/' */
        }
    }
    return (size_t)(o - out);
}

/* Scan a number by the JSON grammar; p is at '-' or a digit. Returns the byte
 * after it or NULL. *risky is set when the value could overflow a double. */
static inline const uchar *scan_num(const uchar *p, const uchar *end, int *risky) {
    if (*p == '-' && ++p == end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        const uchar *d0 = p;
        while (p < end && (unsigned)(*p - '0') < 10) p++;
        if (p - d0 > 300) *risky = 1;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        if (++p == end || (unsigned)(*p - '0') >= 10) return NULL;
        while (p < end && (unsigned)(*p - '0') < 10) p++;
    }
    if (p < end && (*p | 0x20) == 'e') {
        *risky = 1;
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || (unsigned)(*p - '0') >= 10) return NULL;
        while (p < end && (unsigned)(*p - '0') < 10) p++;
    }
    return p;
}

/* ---- slots ----------------------------------------------------------------- */

static inline pw_value *slot_ref(pw_decoder *d, int slot) {
    if (d->slot_gen[slot] != d->gen) {
        d->slot_gen[slot] = d->gen;
        d->dirty[d->ndirty++] = slot;
    }
    return &d->vals[slot];
}

static inline int find_kid(const pw_decoder *d, int node, const char *k, size_t kn, uint32_t *khash) {
    const tnode *t = &d->nodes[node];
    const tkid *tab = d->htab + t->h0;
    uint64_t w0, w1;
    key_words(k, kn, &w0, &w1);
    uint32_t h = *khash = key_hash(w0, w1, kn);
    h &= t->hmask;
    for (const tkid *kid; (kid = &tab[h])->node; h = (h + 1) & t->hmask)
        if (kid->len == kn && kid->w0 == w0 && kid->w1 == w1 && (kn <= 16 || memcmp(kid->key, k, kn) == 0))
            return kid->node;
    return -1;
}

/* ---- the member memo -------------------------------------------------------- */

static inline uint32_t memo_index(uint32_t kh, uint32_t tt) { return (kh ^ tt * 0x9E3779B1u) & (MEMO_SIZE - 1); }
static inline uint64_t memo_ctx(uint32_t kh, uint32_t tt) { return ((uint64_t)kh << 32 | tt) | 1; }

/* The entry for context (kh, tt) if the 16 bytes at p (the caller checked they are there) start
 * with its pattern, else NULL. */
static inline const kmemo *memo_hit(const pw_decoder *d, const uchar *p, uint32_t kh, uint32_t tt) {
    const kmemo *m = &d->memo[memo_index(kh, tt)];
    if (m->ctx != memo_ctx(kh, tt)) return NULL;
    return (((rd64((const char *)p) ^ m->p0) & m->m0) | ((rd64((const char *)p + 8) ^ m->p1) & m->m1)) ? NULL : m;
}

/* Remember for context (kh, tt) the plen bytes at p (16 of them are there) as the member prefix that
 * resolves to slot, and key_h as the context of the member after it. */
static void memo_learn(pw_decoder *d, uint32_t kh, uint32_t tt, const uchar *p, uint32_t plen, uint32_t key_h,
                       int slot) {
    kmemo *m = &d->memo[memo_index(kh, tt)];
    m->m0 = plen >= 8 ? ~0ULL : ((1ULL << (8 * plen)) - 1);
    m->m1 = plen <= 8 ? 0 : plen >= 16 ? ~0ULL : ((1ULL << (8 * (plen - 8))) - 1);
    m->p0 = rd64((const char *)p) & m->m0;
    m->p1 = rd64((const char *)p + 8) & m->m1;
    m->plen = plen;
    m->kh = key_h;
    m->slot = slot;
    m->ctx = memo_ctx(kh, tt);
}

/* ---- the time field -------------------------------------------------------- */

/* Two decimal digits at s, or -1. */
static inline int dig2(const char *s) {
    unsigned a = (unsigned)(uchar)s[0] - '0', b = (unsigned)(uchar)s[1] - '0';
    return a < 10 && b < 10 ? (int)(a * 10 + b) : -1;
}

/* pw_time_parse_rfc3339 with a fast path for the usual shape, UTC with an optional fraction
 * ("2026-11-01T00:00:12.666Z"): events arrive in time order, so consecutive ones share their
 * date, and re-validating it and converting it to days (Hinnant's algorithm) measured ~5% of a
 * replay. The time of day is always parsed and range-checked here; the date part must equal, byte
 * for byte, the date of the last time that the full parser accepted in this shape, whose midnight
 * is cached. Anything else (another date, an offset, a leap second, junk) goes to the full parser,
 * so the result is the full parser's in every case (test_event.c checks this differentially). */
static int parse_time(pw_decoder *d, const char *s, size_t n, int64_t *out) {
    if (n < 20 || s[13] != ':' || s[16] != ':') return pw_time_parse_rfc3339(s, n, out);
    int h = dig2(s + 11), mi = dig2(s + 14), sec = dig2(s + 17);
    if (h < 0 || mi < 0 || sec < 0 || h > 23 || mi > 59 || sec > 59) return pw_time_parse_rfc3339(s, n, out);
    size_t i = 19;
    int ms = 0;
    if (s[i] == '.') { /* the full parser's fraction: first three digits count, the rest must be digits */
        static const int scale[3] = {100, 10, 1};
        for (i++; i < n && (unsigned)(uchar)s[i] - '0' < 10; i++)
            if (i < 23) ms += (s[i] - '0') * scale[i - 20];
        if (i == 20) return pw_time_parse_rfc3339(s, n, out);
    }
    if (i != n - 1 || (s[i] != 'Z' && s[i] != 'z')) return pw_time_parse_rfc3339(s, n, out);
    int64_t tod = ((int64_t)(h * 60 + mi) * 60 + sec) * 1000 + ms;
    /* the 11 date bytes as two overlapping words (s has >= 20 bytes): no call to memcmp */
    if (d->tc_valid && rd64(s) == rd64(d->tc_date) && rd64(s + 3) == rd64(d->tc_date + 3)) {
        *out = d->tc_day_ms + tod;
        return 0;
    }
    if (pw_time_parse_rfc3339(s, n, out) != 0) return -1;
    memcpy(d->tc_date, s, sizeof d->tc_date);
    d->tc_day_ms = *out - tod;
    d->tc_valid = 1;
    return 0;
}

/* ---- the parser ------------------------------------------------------------ */

/* The parser, inlined into its two callers: whole messages (line = 0), and line mode (line = 1),
 * where '\n' is not whitespace but the end of the text: the top-level value must be followed by
 * whitespace and a '\n', or by end; *stop is then where that '\n' (or end) is. A '\n' anywhere
 * else is an unexpected byte, as the end of the text would be. */
PW_ALWAYS_INLINE static inline pw_ev_err parse_text(pw_decoder *d, const uchar *p, const uchar *end, int line,
                                                    const uchar **stop) {
    const uchar *const wst = line ? ws_line_tbl : ws_tbl;
    frame *const st = d->stack;
    const int maxd = d->conf.max_depth;
    frame *f = NULL;
    int depth = 0;
    int node = 0, slot = -1; /* what the next value is wanted as */
    char *sc = d->scratch;   /* next free scratch byte */
    pw_ev_err err = PW_EV_NOT_JSON;
    const uchar *q;
    int esc, risky;
    uchar top;
    /* member memo (top-level object only): the hash of the last key, the type's tag, and where the
     * current member's `,"` began when it is a learning candidate */
    uint32_t kh = 0, tt = 0;
    const uchar *lm = NULL;
    const kmemo *m;

    SKIP_WS(p, end);
    if (p == end) return PW_EV_NOT_JSON;
    top = *p;

value: /* p < end, at the first byte of a value */
    switch (*p) {
    case '{':
        if (depth == maxd) return PW_EV_TOO_DEEP;
        f = &st[++depth];
        f->start = p;
        f->node = node >= 0 && d->nodes[node].nkids ? node : -1;
        f->slot = slot;
        f->count = 0;
        f->close = '}';
        p++;
        SKIP_WS(p, end);
        if (p == end) return PW_EV_NOT_JSON;
        if (*p == '}') {
            p++;
            goto close;
        }
        if (depth == 1 && end - p >= 16 && *p == '"') {
            /* the first member of the top-level object: its own context (tt = 2 is no type's tag,
             * those are odd), learned and used like the others. Contexts can collide (a key whose hash
             * is 0 before the type leads to this one), which is harmless as long as a pattern only
             * meets the position it was learned in: here every learned pattern starts with '"', after
             * a member with ','; so a '"' is required here as a ',' is there (found by a review:
             * without it, `{,"type":..` was accepted after an event starting with `{"":0,`). */
            tt = 2;
            if ((m = memo_hit(d, p, 0, tt))) goto memo_take;
            lm = p;
        }
        goto key;
    case '[':
        if (depth == maxd) return PW_EV_TOO_DEEP;
        f = &st[++depth];
        f->start = p;
        f->node = -1;
        f->slot = slot;
        f->count = 0;
        f->close = ']';
        p++;
        SKIP_WS(p, end);
        if (p == end) return PW_EV_NOT_JSON;
        if (*p == ']') {
            p++;
            goto close;
        }
        node = -1;
        slot = -1;
        goto value;
    case '"':
        esc = 0;
        q = scan_str(p + 1, end, &esc, &err);
        if (!q) return err;
        if (slot >= 0) {
            const char *s = (const char *)p + 1;
            size_t n = (size_t)(q - 1 - (p + 1));
            if (esc) {
                n = unescape(p + 1, q - 1, sc);
                s = sc;
                sc += n;
            }
            pw_value *v = slot_ref(d, slot);
            v->type = PW_V_STR;
            v->str = s;
            v->len = (uint32_t)n;
            v->num = 0;
            if (slot == d->conf.type_slot) { /* the member memo's context */
                uint64_t w0, w1;
                key_words(s, n, &w0, &w1);
                tt = key_hash(w0, w1, n) | 1;
            }
            /* cheap first-byte test: most strings are not numeric. The time field's string is
             * tested after parsing, only if it is not a time (pw_decoder_decode): an RFC 3339
             * time is never a number, and parsing "2026-..." as one cost ~5% of a decode. */
            v->has_num = n && num_start[(uchar)s[0]] && slot != d->conf.time_slot &&
                         pw_value_parse_num(s, n, &v->num);
        }
        p = q;
        goto after;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        risky = 0;
        q = scan_num(p, end, &risky);
        if (!q) return PW_EV_NOT_JSON;
        if (slot >= 0 || risky) {
            double num;
            if (!pw_value_parse_num((const char *)p, (size_t)(q - p), &num)) return PW_EV_BAD_NUMBER;
            if (slot >= 0) {
                pw_value *v = slot_ref(d, slot);
                v->type = PW_V_NUM;
                v->has_num = 1;
                v->num = num;
                v->str = (const char *)p;
                v->len = (uint32_t)(q - p);
            }
        }
        p = q;
        goto after;
    }
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) return PW_EV_NOT_JSON;
        if (slot >= 0) *slot_ref(d, slot) = TRUE_VALUE;
        p += 4;
        goto after;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) return PW_EV_NOT_JSON;
        if (slot >= 0) *slot_ref(d, slot) = FALSE_VALUE;
        p += 5;
        goto after;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) return PW_EV_NOT_JSON;
        /* an explicit null still overwrites an earlier duplicate */
        if (slot >= 0) *slot_ref(d, slot) = NULL_VALUE;
        p += 4;
        goto after;
    default:
        return PW_EV_NOT_JSON;
    }

key: /* p < end, inside object f, where a key must start */
    if (*p != '"') return PW_EV_NOT_JSON;
    esc = 0;
    q = scan_str(p + 1, end, &esc, &err);
    if (!q) return err;
    node = -1;
    slot = -1;
    if (f->node >= 0) {
        const char *k = (const char *)p + 1;
        size_t kn = (size_t)(q - 1 - (p + 1));
        if (esc) { /* unescape into free scratch without keeping it */
            kn = unescape(p + 1, q - 1, sc);
            k = sc;
        }
        uint32_t h;
        int c = find_kid(d, f->node, k, kn, &h);
        if (c >= 0) {
            const tnode *t = &d->nodes[c];
            slot = t->slot;
            if (t->nkids) {
                node = c;
                lm = NULL; /* a prefix key has effects beyond its slot: never memoized */
                if (d->node_gen[c] == d->gen) { /* duplicate prefix key: last wins */
                    for (int i = 0; i < t->nsub; i++)
                        d->vals[d->subs[t->sub0 + i]] = NULL_VALUE;
                } else {
                    d->node_gen[c] = d->gen;
                }
            }
        }
        if (depth == 1) {
            /* learn `,"key":` when it is compact, unescaped and short (lm is set only then at depth 1) */
            if (lm && !esc && q < end && *q == ':' && (size_t)(q + 1 - lm) <= 16 && end - lm >= 16)
                memo_learn(d, kh, tt, lm, (uint32_t)(q + 1 - lm), h, slot);
            kh = h;
        }
    }
    lm = NULL;
    p = q;
    SKIP_WS(p, end);
    if (p == end || *p != ':') return PW_EV_NOT_JSON;
    p++;
    SKIP_WS(p, end);
    if (p == end) return PW_EV_NOT_JSON;
    goto value;

memo_take: /* a learned member prefix m is at p (top-level object): the key resolves as it did then */
    p += m->plen;
    kh = m->kh;
    node = -1;
    slot = m->slot;
    SKIP_WS(p, end);
    if (p == end) return PW_EV_NOT_JSON;
    goto value;

after: /* a value just ended at p */
    if (depth == 0) {
        SKIP_WS(p, end);
        if (p != end && !(line && *p == '\n')) return PW_EV_NOT_JSON;
        *stop = p;
        return top == '{' ? PW_EV_OK : PW_EV_NOT_OBJECT;
    }
    f = &st[depth];
    f->count++;
    if (depth == 1 && f->close == '}' && end - p >= 16 && *p == ',' && p[1] == '"') {
        /* member memo: the next `,"key":` is the one that followed the last key in an event of this
         * type; if its bytes are there, the key resolves as it did then */
        if ((m = memo_hit(d, p, kh, tt))) goto memo_take;
        lm = p; /* not known: learn it on the way */
    }
    SKIP_WS(p, end);
    if (p == end) return PW_EV_NOT_JSON;
    if (*p == ',') {
        p++;
        SKIP_WS(p, end);
        if (p == end) return PW_EV_NOT_JSON;
        if (f->close == '}') goto key;
        node = -1;
        slot = -1;
        goto value;
    }
    if (*p != f->close) return PW_EV_NOT_JSON;
    p++;
    /* fall through */

close: /* container st[depth] just ended at p */
    f = &st[depth];
    if (f->slot >= 0) {
        pw_value *v = slot_ref(d, f->slot);
        v->type = PW_V_RAW;
        v->has_num = 0;
        v->num = (double)f->count;
        v->str = (const char *)f->start;
        v->len = (uint32_t)(p - f->start);
    }
    depth--;
    goto after;
}

static pw_ev_err parse(pw_decoder *d, const uchar *p, const uchar *end) {
    const uchar *stop = NULL;
    return parse_text(d, p, end, 0, &stop);
}

static void reset_slots(pw_decoder *d) {
    for (int i = 0; i < d->ndirty; i++) d->vals[d->dirty[i]] = NULL_VALUE;
    d->ndirty = 0;
    if (++d->gen == 0) { /* wrapped after 2^32 decodes: forget all marks */
        memset(d->slot_gen, 0, (size_t)d->nslots * sizeof *d->slot_gen);
        memset(d->node_gen, 0, (size_t)d->nnodes * sizeof *d->node_gen);
        d->gen = 1;
    }
}

static pw_ev_err finish(pw_decoder *d, pw_event *out);

pw_ev_err pw_decoder_decode(pw_decoder *d, const char *buf, size_t len, pw_event *out) {
    if (len > d->conf.max_size) return PW_EV_TOO_LARGE;
    reset_slots(d);
    pw_ev_err err = parse(d, (const uchar *)buf, (const uchar *)buf + len);
    if (err != PW_EV_OK) return err;
    return finish(d, out);
}

int pw_decoder_decode_line(pw_decoder *d, const char *buf, size_t avail, pw_event *out, size_t *len) {
    /* never parse past max_size + 1 bytes: a longer line is refused by pw_decoder_decode */
    size_t lim = avail <= d->conf.max_size ? avail : d->conf.max_size + 1;
    const uchar *stop = NULL;
    reset_slots(d);
    if (parse_text(d, (const uchar *)buf, (const uchar *)buf + lim, 1, &stop) != PW_EV_OK) return 0;
    size_t n = (size_t)((const char *)stop - buf);
    if (n > d->conf.max_size || (n == lim && lim < avail)) return 0; /* too long, or cut at the limit */
    if (finish(d, out) != PW_EV_OK) return 0;
    *len = n;
    return 1;
}

/* The type and time checks after a successful parse, and *out. */
static pw_ev_err finish(pw_decoder *d, pw_event *out) {
    const pw_value *tv = &d->vals[d->conf.type_slot];
    if (tv->type == PW_V_NULL || (tv->type == PW_V_STR && tv->len == 0)) return PW_EV_NO_TYPE;
    if (tv->type != PW_V_STR) return PW_EV_BAD_TYPE;

    pw_value *ts = &d->vals[d->conf.time_slot];
    int64_t ms;
    switch (ts->type) {
    case PW_V_NULL:
        return PW_EV_NO_TIME;
    case PW_V_STR:
        if (parse_time(d, ts->str, ts->len, &ms) == 0) break;
        ts->has_num = ts->len && pw_value_parse_num(ts->str, ts->len, &ts->num); /* the test parse() left out */
        if (ts->has_num && pw_time_from_number(ts->num, &ms) == 0) break;
        return PW_EV_BAD_TIME;
    case PW_V_NUM:
        if (pw_time_from_number(ts->num, &ms) == 0) break;
        return PW_EV_BAD_TIME;
    default:
        return PW_EV_BAD_TIME;
    }

    out->fields = d->vals;
    out->nfields = d->nslots;
    out->type = tv->str;
    out->type_len = tv->len;
    out->ts = ms;
    if (d->conf.id_slot >= 0) {
        pw_value_label(&d->vals[d->conf.id_slot], &out->id, &out->id_len);
    } else {
        out->id = "";
        out->id_len = 0;
    }
    return PW_EV_OK;
}
