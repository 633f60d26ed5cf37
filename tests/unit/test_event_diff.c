/* test_event_diff.c -- differential test of the event decoder against cJSON.
 *
 * A seeded PRNG builds random JSON trees (keys from a small vocabulary so that
 * the decoder's paths hit, duplicates, escaped keys, every string escape,
 * multi-byte UTF-8, numbers of every JSON form, deep nesting past the limit),
 * then mutates copies of them (byte flips biased toward structural and
 * UTF-8-significant bytes, truncation, insertion, deletion, duplication).
 * Every text is given to both parsers:
 *   - cJSON rejects -> the decoder must reject at the JSON level;
 *   - the decoder rejects at the JSON level -> cJSON must reject, unless the
 *     text shows one of cJSON's documented leniencies (below), and then the
 *     decoder's reason must be the one that leniency explains;
 *   - the decoder accepts -> cJSON must accept without any leniency;
 *   - both accept -> the decoder's not_object/type/time verdict and every
 *     extracted slot (type, number bits, string bytes, RAW member count) must
 *     equal what cJSON's tree says, with duplicate keys resolved last-wins.
 *
 * Documented differences (cJSON 1.7.15 is more lenient than RFC 8259; each is
 * detected in the text by cjson_leniencies() and skipped only for the reason
 * it explains):
 *   L_WS       cJSON treats every byte <= 0x20 as whitespace   -> not_json for us
 *   L_CTRL     cJSON accepts unescaped control bytes in strings -> not_json
 *   L_NUMSYN   cJSON hands [0-9+-.eE]* to strtod, so it accepts
 *              01, 1., -.5, 1.e5 ...                            -> not_json
 *   L_BOM      cJSON skips a leading UTF-8 BOM                  -> not_json
 *   L_HEX      cJSON reads a bad \uXXXX (\u12G4) as U+0000       -> not_json
 *   L_UTF8     cJSON does not validate UTF-8                    -> bad_utf8
 *   L_RANGE    cJSON turns 1e400 into inf                       -> bad_number
 *   L_DEPTH    cJSON nests to 1000, we stop at max_depth (64)   -> too_deep
 * And the other way round:
 *   cJSON copies at most 63 bytes of a number, so it rejects valid longer
 *   numbers: a document we accept that has such a number is skipped.
 *   cJSON cuts strings at a NUL byte (\u0000): texts containing that escape are
 *   checked for accept/reject only, not for extracted values.
 * cJSON_ParseWithLength ignores anything after the value; we count its verdict
 * as "accept" only if what follows is cJSON-whitespace (the same check its
 * require_null_terminated mode makes).
 */
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fieldset.h"
#include "timeutil.h"
#include "value.h"

#define NDOCS 15000       /* valid trees; each also yields 2 mutants */
#define MAXDOC (64 * 1024)
#define OUR_DEPTH 64

/* ---- PRNG ------------------------------------------------------------------------ */

static uint64_t rs;
static uint64_t rnd(void) { /* xorshift64* */
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return rs * 0x2545F4914F6CDD1DULL;
}
static int rn(int n) { return (int)(rnd() % (uint64_t)n); }

/* ---- generator -------------------------------------------------------------------- */

typedef struct gbuf {
    char *p;
    size_t n, cap;
} gbuf;

static void put(gbuf *b, const char *s, size_t n) {
    if (b->n + n >= b->cap) n = b->cap - b->n - 1; /* documents are bounded; truncation is fine */
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void puts_(gbuf *b, const char *s) { put(b, s, strlen(s)); }
static void ws(gbuf *b) {
    static const char w[] = " \t\n\r";
    if (rn(4) == 0)
        for (int i = rn(3); i >= 0; i--) put(b, &w[rn(4)], 1);
}

static void gen_number(gbuf *b) {
    char tmp[80];
    switch (rn(8)) {
    case 0: snprintf(tmp, sizeof tmp, "%d", rn(2000) - 1000); break;
    case 1: snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)(rnd() >> rn(64))); break;
    case 2: { /* shortest round-trip of a random double */
        uint64_t bits = rnd();
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) x = 1.5;
        snprintf(tmp, sizeof tmp, rn(2) ? "%.17g" : "%.6g", x);
        break;
    }
    case 3: snprintf(tmp, sizeof tmp, "%d.%02d", rn(100000), rn(100)); break; /* amounts */
    case 4:
        snprintf(tmp, sizeof tmp, "%s%dE%s%d", rn(2) ? "-" : "", rn(10), rn(2) ? "+" : "-", rn(30));
        break;
    case 5: snprintf(tmp, sizeof tmp, "%s0.%0*d", rn(2) ? "-" : "", 1 + rn(20), rn(1000)); break;
    case 6: { /* long integers up to 40 digits */
        int n = 1 + rn(40), o = 0;
        tmp[o++] = (char)('1' + rn(9));
        while (o < n) tmp[o++] = (char)('0' + rn(10));
        tmp[o] = 0;
        break;
    }
    default: {
        static const char *const special[] = {
            "-0",   "0",    "1E2",  "1e-2",  "1e308", "1e-320", "2.2250738585072011e-308", "9007199254740993",
            "0.1",  "-0.0", "1e22", "1e23",  "5e-324", "1.7976931348623157e308", "1.8e308", "1e309",
            "-2E400", "1e-400"};
        snprintf(tmp, sizeof tmp, "%s", special[rn((int)(sizeof special / sizeof *special))]);
    }
    }
    puts_(b, tmp);
}

static void gen_string_body(gbuf *b) {
    int parts = rn(6);
    for (int i = 0; i < parts; i++) {
        char tmp[32];
        switch (rn(10)) {
        case 0: case 1: case 2: { /* plain ASCII run, sometimes long (8-byte scan path) */
            int n = 1 + rn(rn(4) ? 8 : 40);
            for (int k = 0; k < n; k++) {
                char c = (char)(0x20 + rn(95));
                if (c == '"' || c == '\\') c = 'q';
                put(b, &c, 1);
            }
            break;
        }
        case 3: {
            static const char *const esc[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
            puts_(b, esc[rn(8)]);
            break;
        }
        case 4: { /* \uXXXX, BMP, no surrogates, no NUL */
            unsigned cp;
            do cp = 1 + (unsigned)rn(0xFFFF); while (cp >= 0xD800 && cp <= 0xDFFF);
            snprintf(tmp, sizeof tmp, rn(2) ? "\\u%04x" : "\\u%04X", cp);
            puts_(b, tmp);
            break;
        }
        case 5: { /* surrogate pair */
            unsigned cp = 0x10000 + (unsigned)rn(0x100000);
            snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
                     0xDC00 + (cp & 0x3FF));
            puts_(b, tmp);
            break;
        }
        case 6: puts_(b, "\xc3\xa9"); break;              /* raw UTF-8 */
        case 7: puts_(b, rn(2) ? "\xe2\x82\xac" : "\xef\xbf\xbf"); break;
        case 8: puts_(b, rn(2) ? "\xf0\x9f\x98\x80" : "\xf4\x8f\xbf\xbf"); break;
        default:
            if (rn(4)) {
                gen_number(b); /* numeric-looking text */
            } else { /* a UTF-8 edge case, valid or not (the oracle decides) */
                static const char *const edge[] = {
                    "\xed\x9f\xbf", "\xee\x80\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
                    "\xc2\x80", "\xdf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xc0\xaf", "\xc1\xbf",
                    "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff",
                    "\x80", "\xbf", "\xc2", "\xe2\x82", "\xf0\x9f\x98", "\xc3\x28", "\xe2\x28\xa1"};
                puts_(b, edge[rn((int)(sizeof edge / sizeof *edge))]);
            }
            break;
        }
    }
}

static void gen_string(gbuf *b) {
    puts_(b, "\"");
    if (rn(4) == 0) { /* a whole numeric string, sometimes padded */
        if (rn(5) == 0) puts_(b, " ");
        gen_number(b);
    } else {
        gen_string_body(b);
    }
    puts_(b, "\"");
}

static const char *const vocab[] = {"a", "b", "c", "d", "type", "ts", "id", "\xc3\xa9", "x", ""};

static void gen_key(gbuf *b) {
    const char *k = vocab[rn((int)(sizeof vocab / sizeof *vocab))];
    puts_(b, "\"");
    if (rn(6) == 0 && k[0] && (unsigned char)k[0] < 0x80) { /* escaped spelling of the same key */
        char tmp[8];
        snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned char)k[0]);
        puts_(b, tmp);
        puts_(b, k + 1);
    } else {
        puts_(b, k);
    }
    puts_(b, "\"");
}

static void gen_value(gbuf *b, int depth);

static void gen_container(gbuf *b, int depth, int object) {
    puts_(b, object ? "{" : "[");
    int n = depth > 4 ? rn(2) : rn(6);
    for (int i = 0; i < n; i++) {
        if (i) puts_(b, ",");
        ws(b);
        if (object) {
            gen_key(b);
            ws(b);
            puts_(b, ":");
            ws(b);
        }
        gen_value(b, depth + 1);
        ws(b);
    }
    puts_(b, object ? "}" : "]");
}

static void gen_value(gbuf *b, int depth) {
    int r = rn(depth > 5 ? 6 : 10);
    switch (r) {
    case 0: gen_number(b); break;
    case 1: case 2: gen_string(b); break;
    case 3: puts_(b, "true"); break;
    case 4: puts_(b, "false"); break;
    case 5: puts_(b, "null"); break;
    case 6: case 7: gen_container(b, depth, 1); break;
    default: gen_container(b, depth, 0); break;
    }
}

static void gen_time(gbuf *b) {
    char tmp[64];
    switch (rn(8)) {
    case 0:
        snprintf(tmp, sizeof tmp, "\"2026-%02d-%02dT%02d:%02d:%02dZ\"", 1 + rn(12), 1 + rn(28), rn(24),
                 rn(60), rn(60));
        break;
    case 1: snprintf(tmp, sizeof tmp, "\"2026-11-02T09:15:00.%dZ\"", rn(1000000)); break;
    case 2:
        snprintf(tmp, sizeof tmp, "\"2026-11-02T09:15:00%c%02d:%02d\"", rn(2) ? '+' : '-', rn(24), rn(60));
        break;
    case 3: snprintf(tmp, sizeof tmp, "%d", 1700000000 + rn(100000000)); break;
    case 4: snprintf(tmp, sizeof tmp, "%lld", 1700000000000LL + rn(1000000000)); break;
    case 5: snprintf(tmp, sizeof tmp, "\"%d\"", 1700000000 + rn(1000)); break;
    case 6: snprintf(tmp, sizeof tmp, "%d.%03d", 1700000000 + rn(1000), rn(1000)); break;
    default: gen_value(b, 3); return; /* anything: mostly bad_time */
    }
    puts_(b, tmp);
}

/* A random event-shaped document: mostly objects with type and ts. */
static void gen_doc(gbuf *b) {
    b->n = 0;
    ws(b);
    if (rn(40) == 0) { /* deep nesting around the limit */
        int d = OUR_DEPTH - 3 + rn(6); /* total depth, counting the top object */
        char open[128];
        for (int i = 1; i < d; i++) open[i] = (char)rn(2);
        puts_(b, "{\"type\":\"t\",\"ts\":0,\"a\":");
        for (int i = 1; i < d; i++) puts_(b, open[i] ? "[" : "{\"a\":");
        puts_(b, "1");
        for (int i = d - 1; i >= 1; i--) puts_(b, open[i] ? "]" : "}");
        puts_(b, "}");
        return;
    }
    if (rn(25) == 0) { /* top level not an object */
        gen_value(b, 1);
        ws(b);
        return;
    }
    puts_(b, "{");
    int first = 1;
    if (rn(20)) {
        puts_(b, "\"type\":");
        if (rn(15)) gen_string(b);
        else gen_value(b, 3);
        first = 0;
    }
    if (rn(20)) {
        puts_(b, first ? "" : ",");
        puts_(b, "\"ts\":");
        gen_time(b);
        first = 0;
    }
    int n = rn(8);
    for (int i = 0; i < n; i++) {
        puts_(b, first ? "" : ",");
        first = 0;
        ws(b);
        gen_key(b);
        puts_(b, ":");
        ws(b);
        gen_value(b, 1);
    }
    puts_(b, "}");
    ws(b);
}

static void mutate(gbuf *b) {
    static const unsigned char interesting[] = {
        '"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', '-', '+', 'e', '.', 'u', 'n',
        ' ', 0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff};
    int nmut = 1 + rn(3);
    for (int m = 0; m < nmut && b->n > 0; m++) {
        size_t at = (size_t)rn((int)b->n);
        unsigned char c = rn(2) ? interesting[rn((int)sizeof interesting)] : (unsigned char)rn(256);
        switch (rn(6)) {
        case 0: case 1: b->p[at] = (char)c; break;                             /* flip */
        case 2: b->n = at; break;                                              /* truncate */
        case 3:                                                                /* insert */
            if (b->n + 1 < b->cap) {
                memmove(b->p + at + 1, b->p + at, b->n - at);
                b->p[at] = (char)c;
                b->n++;
            }
            break;
        case 4: { /* delete a range */
            size_t k = (size_t)rn(4) + 1;
            if (at + k > b->n) k = b->n - at;
            memmove(b->p + at, b->p + at + k, b->n - at - k);
            b->n -= k;
            break;
        }
        default: { /* duplicate a short range */
            size_t k = (size_t)rn(6) + 1;
            if (at + k > b->n) k = b->n - at;
            if (b->n + k < b->cap) {
                memmove(b->p + at + k, b->p + at, b->n - at);
                b->n += k;
            }
        }
        }
    }
}

/* ---- independent reference checks used by the oracle -------------------------------- */

/* JSON number grammar, written as a plain state walk (independent of value.c). */
static int json_number_text(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return 0;
    if (i < n && s[i] == '.') {
        size_t st = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == st) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t st = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == st) return 0;
    }
    return i == n;
}

static double strtod_n(const char *s, size_t n) {
    char tmp[4096];
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return strtod(tmp, NULL);
}

/* Length of a valid UTF-8 sequence at s (decode, then check the code point
 * range for the length), or 0. */
static int utf8_ok(const unsigned char *s, size_t avail) {
    int n;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) { n = 2; cp = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { n = 3; cp = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { n = 4; cp = s[0] & 0x07; }
    else return 0;
    if ((size_t)n > avail) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

enum {
    L_WS = 1, L_CTRL = 2, L_NUMSYN = 4, L_BOM = 8, L_UTF8 = 16, L_RANGE = 32, L_DEPTH = 64, L_LONGNUM = 128,
    L_HEX = 256
};

/* Lex a text the way cJSON does (only meaningful for texts cJSON accepted, or
 * texts we accepted for L_LONGNUM) and report which leniencies it relies on. */
static int cjson_leniencies(const unsigned char *t, size_t n) {
    int l = 0, depth = 0;
    size_t i = 0;
    if (n >= 3 && t[0] == 0xEF && t[1] == 0xBB && t[2] == 0xBF) {
        l |= L_BOM;
        i = 3;
    }
    while (i < n) {
        unsigned char c = t[i];
        if (c <= 0x20) {
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') l |= L_WS;
            i++;
        } else if (c == '"') {
            for (i++; i < n && t[i] != '"';) {
                if (t[i] == '\\') {
                    if (i + 1 < n && t[i + 1] == 'u') {
                        for (size_t h = i + 2; h < i + 6; h++)
                            if (h >= n || !isxdigit(t[h])) l |= L_HEX;
                    }
                    i += 2;
                    continue;
                }
                if (t[i] < 0x20) l |= L_CTRL;
                int k = utf8_ok(t + i, n - i);
                if (!k) {
                    l |= L_UTF8;
                    k = 1;
                }
                i += (size_t)k;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t run = 0;
            while (i + run < n && strchr("0123456789+-.eE", t[i + run]) && t[i + run]) run++;
            if (run >= 63) l |= L_LONGNUM;
            char tmp[64];
            size_t cp = run < 63 ? run : 63;
            memcpy(tmp, t + i, cp);
            tmp[cp] = 0;
            char *endp;
            double v = strtod(tmp, &endp);
            size_t k = (size_t)(endp - tmp);
            if (k == 0) k = 1;
            if (!json_number_text(tmp, k)) l |= L_NUMSYN;
            if (isinf(v)) l |= L_RANGE;
            i += k;
        } else {
            if (c == '{' || c == '[') {
                if (++depth > OUR_DEPTH) l |= L_DEPTH;
            } else if (c == '}' || c == ']') {
                depth--;
            }
            i++;
        }
    }
    return l;
}

/* ---- the oracle ------------------------------------------------------------------- */

static const cJSON *lookup_last(const cJSON *obj, const char *key) {
    const cJSON *found = NULL;
    if (!cJSON_IsObject(obj)) return NULL;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) found = c;
    return found;
}

static const cJSON *resolve(const cJSON *root, const char *path) {
    char seg[64];
    const cJSON *cur = root;
    while (cur) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        memcpy(seg, path, n);
        seg[n] = 0;
        cur = lookup_last(cur, seg);
        if (!dot) break;
        path = dot + 1;
    }
    return cur;
}

/* Write a mismatch reason; always returns 1. */
static int fail(char *why, size_t wn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t wn, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, wn, fmt, ap);
    va_end(ap);
    return 1;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* 0 if v is what cJSON says the field is; else 1 with a reason in why. */
static int compare_value(const pw_value *v, const cJSON *it, char *why, size_t wn) {
    if (!it || cJSON_IsNull(it)) {
        if (v->type != PW_V_NULL) return fail(why, wn, "want null, got type %d", v->type);
        return 0;
    }
    if (cJSON_IsString(it)) {
        size_t cl = strlen(it->valuestring);
        if (v->type != PW_V_STR) return fail(why, wn, "want string, got type %d", v->type);
        if (v->len != cl || memcmp(v->str, it->valuestring, cl) != 0)
            return fail(why, wn, "string '%.*s' != cJSON '%s'", (int)v->len, v->str, it->valuestring);
        int want_num = json_number_text(v->str, v->len) && isfinite(strtod_n(v->str, v->len));
        if (v->has_num != want_num) return fail(why, wn, "has_num %d for '%s'", v->has_num, it->valuestring);
        if (want_num && !same_bits(v->num, strtod_n(v->str, v->len)))
            return fail(why, wn, "numeric string '%s' -> %.17g", it->valuestring, v->num);
        return 0;
    }
    if (cJSON_IsNumber(it)) {
        if (v->type != PW_V_NUM || !v->has_num) return fail(why, wn, "want number, got type %d", v->type);
        if (!same_bits(v->num, it->valuedouble))
            return fail(why, wn, "number %.17g != cJSON %.17g", v->num, it->valuedouble);
        if (!json_number_text(v->str, v->len) || !same_bits(strtod_n(v->str, v->len), v->num))
            return fail(why, wn, "number text '%.*s' does not match", (int)v->len, v->str);
        return 0;
    }
    if (cJSON_IsBool(it)) {
        int t = cJSON_IsTrue(it);
        if (v->type != PW_V_BOOL || !v->has_num || v->num != t || v->len != (t ? 4u : 5u) ||
            memcmp(v->str, t ? "true" : "false", v->len) != 0)
            return fail(why, wn, "want bool %d", t);
        return 0;
    }
    /* object or array */
    if (v->type != PW_V_RAW) return fail(why, wn, "want RAW, got type %d", v->type);
    if (v->num != cJSON_GetArraySize(it))
        return fail(why, wn, "RAW members %g != %d", v->num, cJSON_GetArraySize(it));
    cJSON *sub = cJSON_ParseWithLength(v->str, v->len);
    int obj = cJSON_IsObject(it);
    int ok = sub && cJSON_IsObject(sub) == obj && cJSON_GetArraySize(sub) == cJSON_GetArraySize(it);
    cJSON_Delete(sub);
    if (!ok || v->str[0] != (obj ? '{' : '[') || v->str[v->len - 1] != (obj ? '}' : ']'))
        return fail(why, wn, "RAW text '%.*s' is not the member", (int)v->len, v->str);
    return 0;
}

/* The type/time verdict cJSON's tree implies, and the time when OK. */
static pw_ev_err expected_event(const cJSON *root, int64_t *ms) {
    const cJSON *t = lookup_last(root, "type");
    if (!t || cJSON_IsNull(t) || (cJSON_IsString(t) && !t->valuestring[0])) return PW_EV_NO_TYPE;
    if (!cJSON_IsString(t)) return PW_EV_BAD_TYPE;
    const cJSON *ts = lookup_last(root, "ts");
    if (!ts || cJSON_IsNull(ts)) return PW_EV_NO_TIME;
    if (cJSON_IsString(ts)) {
        const char *s = ts->valuestring;
        size_t n = strlen(s);
        if (pw_time_parse_rfc3339(s, n, ms) == 0) return PW_EV_OK;
        if (json_number_text(s, n) && pw_time_from_number(strtod(s, NULL), ms) == 0) return PW_EV_OK;
        return PW_EV_BAD_TIME;
    }
    if (cJSON_IsNumber(ts)) return pw_time_from_number(ts->valuedouble, ms) == 0 ? PW_EV_OK : PW_EV_BAD_TIME;
    return PW_EV_BAD_TIME;
}

/* ---- the fixture -------------------------------------------------------------------- */

static pw_fieldset *fs;
static pw_decoder *dec;
static const char *slot_path[128];
static int nslots;

static void add_path(const char *p) { slot_path[nslots++] = p; }

static void setup(void) {
    static char store[128][16];
    static const char *const seg[] = {"a", "b", "c", "d"};
    fs = pw_fieldset_new();
    add_path("type");
    add_path("ts");
    add_path("id");
    add_path("\xc3\xa9");
    add_path("x");
    int k = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(store[k], sizeof store[k], "%s", seg[i]);
        add_path(store[k++]);
        for (int j = 0; j < 4; j++) {
            snprintf(store[k], sizeof store[k], "%s.%s", seg[i], seg[j]);
            add_path(store[k++]);
            for (int m = 0; m < 4; m += 2) { /* a subset of depth 3 */
                snprintf(store[k], sizeof store[k], "%s.%s.%s", seg[i], seg[j], seg[m]);
                add_path(store[k++]);
            }
        }
    }
    for (int i = 0; i < nslots; i++)
        cr_assert(pw_fieldset_intern(fs, slot_path[i], (int)strlen(slot_path[i])) == i);
    pw_decoder_conf conf = {.type_slot = 0, .time_slot = 1, .id_slot = 2, .max_depth = OUR_DEPTH};
    dec = pw_decoder_new(fs, &conf);
    cr_assert(dec);
}

static void teardown(void) {
    pw_decoder_destroy(dec);
    pw_fieldset_destroy(fs);
}

TestSuite(event_diff, .init = setup, .fini = teardown);

static int json_level(pw_ev_err e) {
    return e == PW_EV_NOT_JSON || e == PW_EV_TOO_DEEP || e == PW_EV_BAD_UTF8 || e == PW_EV_BAD_NUMBER;
}

static int cjson_accepts(const char *t, size_t n, cJSON **root) {
    const char *endp = NULL;
    *root = cJSON_ParseWithLengthOpts(t, n, &endp, 0);
    if (!*root) return 0;
    for (const char *p = endp; p < t + n; p++)
        if ((unsigned char)*p > 0x20) return 0;
    return 1;
}

typedef struct stats {
    int docs, both_reject, lenient_skips, longnum_skips, values_compared, ok_events, nul_skips;
    int not_object, event_errors;
} stats;

/* Run one text through both parsers. Returns 0 if they agree, else 1 and a
 * message. Exposed to the self-test below, which proves it can fail. */
static int check_text(const char *text, size_t n, stats *st, char *why, size_t wn) {
    pw_event ev;
    cJSON *root = NULL;
    /* an exact-size heap copy, so ASan sees any read past n */
    char *t = malloc(n ? n : 1);
    cr_assert(t);
    if (n) memcpy(t, text, n);
    pw_ev_err ours = pw_decoder_decode(dec, t, n, &ev);
    int cj = cjson_accepts(t, n, &root);
    int rc = 0;
    st->docs++;
    if (!cj) {
        if (json_level(ours)) {
            st->both_reject++;
        } else if (cjson_leniencies((const unsigned char *)t, n) & L_LONGNUM) {
            st->longnum_skips++; /* cJSON cannot read numbers longer than 63 bytes */
        } else {
            rc = fail(why, wn, "cJSON rejects, we say %s", pw_ev_err_name(ours));
        }
        goto done;
    }
    if (json_level(ours)) {
        int l = cjson_leniencies((const unsigned char *)t, n);
        int explained = (ours == PW_EV_NOT_JSON && (l & (L_WS | L_CTRL | L_NUMSYN | L_BOM | L_HEX))) ||
                        (ours == PW_EV_BAD_UTF8 && (l & L_UTF8)) ||
                        (ours == PW_EV_BAD_NUMBER && (l & L_RANGE)) ||
                        (ours == PW_EV_TOO_DEEP && (l & L_DEPTH));
        if (explained) st->lenient_skips++;
        else rc = fail(why, wn, "cJSON accepts, we say %s (leniencies 0x%x)", pw_ev_err_name(ours), l);
        goto done;
    }
    /* We accept: cJSON's acceptance must not rest on a leniency, or we
     * accepted something RFC 8259 forbids (invalid UTF-8, 1e400, 01, ...). */
    int lax = cjson_leniencies((const unsigned char *)t, n) & ~L_LONGNUM;
    if (lax) {
        rc = fail(why, wn, "we say %s, but the text needs cJSON leniencies 0x%x", pw_ev_err_name(ours), lax);
        goto done;
    }
    if (ours == PW_EV_TOO_LARGE) {
        rc = fail(why, wn, "too_large on a small text");
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        st->not_object++;
        if (ours != PW_EV_NOT_OBJECT)
            rc = fail(why, wn, "top level not an object, we say %s", pw_ev_err_name(ours));
        goto done;
    }
    if (ours == PW_EV_NOT_OBJECT) {
        rc = fail(why, wn, "we say not_object for an object");
        goto done;
    }
    int64_t ms = 0;
    pw_ev_err want = expected_event(root, &ms);
    if (ours != want) {
        rc = fail(why, wn, "event verdict %s, cJSON tree says %s", pw_ev_err_name(ours),
                  pw_ev_err_name(want));
        goto done;
    }
    if (ours != PW_EV_OK) {
        st->event_errors++;
        goto done;
    }
    st->ok_events++;
    if (ev.ts != ms) {
        rc = fail(why, wn, "ts %lld != %lld", (long long)ev.ts, (long long)ms);
        goto done;
    }
    /* cJSON cuts strings and keys at a NUL byte: only accept/reject is compared */
    for (size_t i = 0; i + 6 <= n; i++)
        if (t[i] == '\\' && t[i + 1] == 'u' && t[i + 2] == '0' && t[i + 3] == '0' && t[i + 4] == '0' &&
            t[i + 5] == '0') {
            st->nul_skips++;
            goto done;
        }
    for (int s = 0; s < nslots; s++) {
        char w[200];
        if (compare_value(&ev.fields[s], resolve(root, slot_path[s]), w, sizeof w)) {
            rc = fail(why, wn, "slot '%s': %s", slot_path[s], w);
            goto done;
        }
        st->values_compared++;
    }
    const cJSON *t0 = lookup_last(root, "type");
    if (ev.type_len != strlen(t0->valuestring) || memcmp(ev.type, t0->valuestring, ev.type_len) != 0)
        rc = fail(why, wn, "event type differs");
    const char *ls;
    uint32_t ll;
    pw_value_label(&ev.fields[2], &ls, &ll);
    if (ev.id_len != ll || memcmp(ev.id, ls, ll) != 0) rc = fail(why, wn, "id is not the id label");
done:
    cJSON_Delete(root);
    free(t);
    return rc;
}

static void show(const char *t, size_t n) {
    fprintf(stderr, "text (%zu bytes): ", n);
    for (size_t i = 0; i < n && i < 600; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 0x20 && c < 0x7f) fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

Test(event_diff, random_documents_agree_with_cjson) {
    static char a[MAXDOC], m[MAXDOC];
    gbuf g = {a, 0, sizeof a};
    stats st = {0};
    char why[512];
    rs = 0x5eed2026ULL;
    for (int i = 0; i < NDOCS; i++) {
        gen_doc(&g);
        if (check_text(a, g.n, &st, why, sizeof why)) {
            show(a, g.n);
            cr_assert_fail("doc %d (valid tree): %s", i, why);
        }
        for (int k = 0; k < 2; k++) {
            memcpy(m, a, g.n);
            gbuf mb = {m, g.n, sizeof m};
            mutate(&mb);
            if (check_text(m, mb.n, &st, why, sizeof why)) {
                show(m, mb.n);
                cr_assert_fail("doc %d mutant %d: %s", i, k, why);
            }
        }
    }
    cr_log_info("docs %d: ok %d (values compared %d), event errors %d, not_object %d, both reject %d, "
                "cJSON-lenient skips %d, long-number skips %d, \\u0000 skips %d",
                st.docs, st.ok_events, st.values_compared, st.event_errors, st.not_object, st.both_reject,
                st.lenient_skips, st.longnum_skips, st.nul_skips);
    /* the test must have exercised every branch, not skipped its way to green */
    cr_expect(st.docs >= 3 * NDOCS && st.docs >= 20000);
    cr_expect(st.ok_events >= NDOCS / 3, "ok events %d", st.ok_events);
    cr_expect(st.values_compared >= 50 * (NDOCS / 3), "values compared %d", st.values_compared);
    cr_expect(st.both_reject >= NDOCS / 2, "both reject %d", st.both_reject);
    cr_expect(st.event_errors >= 100 && st.not_object >= 100, "event errors %d, not_object %d",
              st.event_errors, st.not_object);
    cr_expect(st.lenient_skips <= st.docs / 5, "too many skips: %d", st.lenient_skips);
}

/* The comparator must notice a wrong decoder. Feed it texts whose decoded
 * slots we then tamper with through a second, deliberately wrong path. */
Test(event_diff, oracle_detects_wrong_results) {
    char why[256];
    const char *doc = "{\"type\":\"t\",\"ts\":0,\"a\":{\"b\":1.5,\"c\":\"s\\n\"},\"b\":[1,2],\"c\":true}";
    cJSON *root = cJSON_Parse(doc);
    cr_assert(root);
    pw_event ev;
    cr_assert(pw_decoder_decode(dec, doc, strlen(doc), &ev) == PW_EV_OK);
    int ab = pw_fieldset_find(fs, "a.b", 3), ac = pw_fieldset_find(fs, "a.c", 3);
    int b = pw_fieldset_find(fs, "b", 1), c = pw_fieldset_find(fs, "c", 1), a = pw_fieldset_find(fs, "a", 1);
    for (int s = 0; s < nslots; s++)
        cr_expect(compare_value(&ev.fields[s], resolve(root, slot_path[s]), why, sizeof why) == 0, "%s", why);
    pw_value v = ev.fields[ab];
    v.num = nextafter(v.num, 2); /* one ulp off */
    cr_expect(compare_value(&v, resolve(root, "a.b"), why, sizeof why) == 1);
    v = ev.fields[ac];
    v.len--; /* string cut short */
    cr_expect(compare_value(&v, resolve(root, "a.c"), why, sizeof why) == 1);
    v = ev.fields[b];
    v.num = 3; /* wrong member count */
    cr_expect(compare_value(&v, resolve(root, "b"), why, sizeof why) == 1);
    v = ev.fields[c];
    v.num = 0; /* true read as false */
    cr_expect(compare_value(&v, resolve(root, "c"), why, sizeof why) == 1);
    v = ev.fields[a];
    v.type = PW_V_NULL; /* object lost */
    cr_expect(compare_value(&v, resolve(root, "a"), why, sizeof why) == 1);
    cJSON_Delete(root);

    /* verdicts: a text cJSON rejects that we were to accept would be flagged */
    stats st = {0};
    cr_expect(check_text("{\"type\":\"t\",\"ts\":0}", 19, &st, why, sizeof why) == 0);
    cr_expect(check_text("{\"type\":\"t\",\"ts\":0,}", 20, &st, why, sizeof why) == 0, "both reject");
    /* leniency detection is specific: a plain valid text has none */
    cr_expect(cjson_leniencies((const unsigned char *)"{\"a\":[1,\"\\u00e9\xc3\xa9\"]}\n", 20) == 0);
    cr_expect(cjson_leniencies((const unsigned char *)"[01]", 4) == L_NUMSYN);
    cr_expect(cjson_leniencies((const unsigned char *)"[\"\xc0\xaf\"]", 6) == L_UTF8);
    cr_expect(cjson_leniencies((const unsigned char *)"[1e400]", 7) == L_RANGE);
    cr_expect(cjson_leniencies((const unsigned char *)"[\"\x01\"]", 5) == L_CTRL);
    cr_expect(cjson_leniencies((const unsigned char *)"[1,\x0b" "2]", 6) == L_WS);
}
