/* fuzz_event.c -- libFuzzer target for the event decoder (daemon/event.c).
 *
 * Each input is one Kafka message payload. It is decoded by three decoders:
 *   A: a fieldset with flat, nested and overlapping paths ("contact" and
 *      "contact.email", "a.b" and "a.b.c") plus type/ts/id;
 *   B: only type and ts, no id slot, same limits as A;
 *   C: A's fieldset with tiny limits (depth 3, 64 bytes) to reach too_deep
 *      and too_large often.
 * Invariants checked (an abort() makes libFuzzer keep the input as a crash):
 *   - decoding is deterministic, and A and B return the same error (the
 *     fieldset must not change what is valid JSON or which type/time it has);
 *   - A, which has learned member prefixes from every earlier input (its
 *     member memo), decodes exactly as a fresh decoder with A's fieldset;
 *   - read as JSON lines, pw_decoder_decode_line accepts exactly the lines
 *     pw_decoder_decode accepts, with the same length and values;
 *   - on PW_EV_OK every string lies inside the input or inside the decoder's
 *     scratch block (found through ASan's allocator: the only heap block of
 *     its size), every len is within the input, STR values are valid UTF-8,
 *     NUM text re-parses to num, RAW text is a whole container, BOOL is
 *     "true"/"false", NULL is empty, ts is in years 0000..9999;
 *   - a following decode of a minimal event leaves no stale values behind.
 * The decoder limits in the contract (max_size, max_depth) are what the run
 * script's -max_len 4096 is sized for.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "event.h"
#include "fieldset.h"
#include "fuzz_common.h"
#include "value.h"

/* Distinct sizes so that each decoder's scratch block can be told apart. */
#define A_MAX_SIZE 4093
#define C_MAX_SIZE 61

#define MIN_TS_MS (-62167219200000LL)  /* 0000-01-01T00:00:00Z */
#define MAX_TS_MS 253402300799999LL    /* 9999-12-31T23:59:59.999Z */

static const char *const paths_a[] = {
    "type", "ts", "id", "amount", "region", "contact", "contact.email", "contact.name", "a.b", "a.b.c",
    "o.p.q.r", "s", "n", "v", "lead_id", "customer_id", "mrr", "x.y",
};

static pw_fieldset *fs_a, *fs_b;
static pw_decoder *dec_a, *dec_b, *dec_c;
static int nslots_a;

static pw_decoder *make(pw_fieldset *fs, int with_id, size_t max_size, int max_depth) {
    pw_decoder_conf conf = {
        .type_slot = pw_fieldset_find(fs, "type", 4),
        .time_slot = pw_fieldset_find(fs, "ts", 2),
        .id_slot = with_id ? pw_fieldset_find(fs, "id", 2) : -1,
        .max_size = max_size,
        .max_depth = max_depth,
    };
    pw_decoder *d = pw_decoder_new(fs, &conf);
    FUZZ_CHECK(d != NULL, "pw_decoder_new");
    return d;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fs_a = pw_fieldset_new();
    fs_b = pw_fieldset_new();
    FUZZ_CHECK(fs_a && fs_b, "pw_fieldset_new");
    for (size_t i = 0; i < sizeof paths_a / sizeof paths_a[0]; i++)
        FUZZ_CHECK(pw_fieldset_intern(fs_a, paths_a[i], (int)strlen(paths_a[i])) >= 0, "intern");
    FUZZ_CHECK(pw_fieldset_intern(fs_b, "ts", 2) >= 0 && pw_fieldset_intern(fs_b, "type", 4) >= 0, "intern");
    nslots_a = pw_fieldset_count(fs_a);
    dec_a = make(fs_a, 1, A_MAX_SIZE, 64);
    dec_b = make(fs_b, 0, A_MAX_SIZE, 64);
    dec_c = make(fs_a, 1, C_MAX_SIZE, 3);
    return 0;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, <= U+10FFFF. NUL is
 * fine (\u0000 decodes to it). */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (n - i < k || s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

/* A string produced by the decoder: in the input, or in the scratch block. */
static int in_input_or_scratch(const char *p, size_t n, const uint8_t *buf, size_t len, size_t scratch) {
    if (n == 0) return 1;
    return fuzz_inside(p, n, buf, len) || fuzz_in_heap_block(p, n, scratch);
}

static void check_value(const pw_value *v, int slot, const uint8_t *buf, size_t len, size_t scratch) {
    FUZZ_CHECK(v->len <= len, "slot %d: len %u > input %zu", slot, v->len, len);
    switch (v->type) {
    case PW_V_NULL:
        FUZZ_CHECK(v->len == 0, "slot %d: null with len %u", slot, v->len);
        break;
    case PW_V_BOOL:
        FUZZ_CHECK((v->num == 1.0 && v->len == 4 && memcmp(v->str, "true", 4) == 0) ||
                       (v->num == 0.0 && v->len == 5 && memcmp(v->str, "false", 5) == 0),
                   "slot %d: bad bool", slot);
        break;
    case PW_V_NUM: {
        double d;
        FUZZ_CHECK(fuzz_inside(v->str, v->len, buf, len), "slot %d: number text outside the input", slot);
        FUZZ_CHECK(v->has_num && isfinite(v->num), "slot %d: number not finite", slot);
        FUZZ_CHECK(pw_value_parse_num(v->str, v->len, &d) && (d == v->num), "slot %d: text != num", slot);
        break;
    }
    case PW_V_STR:
        FUZZ_CHECK(in_input_or_scratch(v->str, v->len, buf, len, scratch),
                   "slot %d: string %p+%u neither in the input %p+%zu nor in scratch", slot, (void *)v->str,
                   v->len, (void *)buf, len);
        FUZZ_CHECK(valid_utf8((const unsigned char *)v->str, v->len), "slot %d: string is not UTF-8", slot);
        if (v->has_num) {
            double d;
            FUZZ_CHECK(isfinite(v->num) && pw_value_parse_num(v->str, v->len, &d) && d == v->num,
                       "slot %d: numeric string mismatch", slot);
        }
        break;
    case PW_V_RAW:
        FUZZ_CHECK(v->len >= 2 && fuzz_inside(v->str, v->len, buf, len), "slot %d: raw outside input", slot);
        FUZZ_CHECK((v->str[0] == '{' && v->str[v->len - 1] == '}') ||
                       (v->str[0] == '[' && v->str[v->len - 1] == ']'),
                   "slot %d: raw text is not a container", slot);
        FUZZ_CHECK(v->num >= 0 && v->num == floor(v->num) && v->num <= (double)len, "slot %d: raw count", slot);
        FUZZ_CHECK(!v->has_num, "slot %d: raw has_num", slot);
        break;
    default:
        FUZZ_CHECK(0, "slot %d: type %d", slot, (int)v->type);
    }
}

static void check_ok(const pw_event *ev, int nslots, int type_slot, const uint8_t *buf, size_t len,
                     size_t scratch) {
    FUZZ_CHECK(ev->nfields == nslots, "nfields %d != %d", ev->nfields, nslots);
    FUZZ_CHECK(ev->type_len > 0 && ev->type_len <= len, "type_len %u", ev->type_len);
    FUZZ_CHECK(in_input_or_scratch(ev->type, ev->type_len, buf, len, scratch), "type outside");
    FUZZ_CHECK(ev->fields[type_slot].type == PW_V_STR && ev->fields[type_slot].str == ev->type &&
                   ev->fields[type_slot].len == ev->type_len,
               "type slot and type differ");
    FUZZ_CHECK(ev->ts >= MIN_TS_MS && ev->ts <= MAX_TS_MS, "ts %lld out of range", (long long)ev->ts);
    FUZZ_CHECK(ev->id != NULL && ev->id_len <= len, "id");
    FUZZ_CHECK(ev->id_len == 0 || in_input_or_scratch(ev->id, ev->id_len, buf, len, scratch) ||
                   (ev->id_len == 4 && memcmp(ev->id, "true", 4) == 0) ||
                   (ev->id_len == 5 && memcmp(ev->id, "false", 5) == 0),
               "id outside");
    for (int i = 0; i < ev->nfields; i++) check_value(&ev->fields[i], i, buf, len, scratch);
}

static int same_value(const pw_value *x, const pw_value *y) {
    return x->type == y->type && x->has_num == y->has_num && memcmp(&x->num, &y->num, sizeof x->num) == 0 &&
           x->len == y->len && (x->len == 0 || memcmp(x->str, y->str, x->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    pw_event ev, ev2, evb, evc;
    int ts_a = pw_fieldset_find(fs_a, "type", 4);

    pw_ev_err ea = pw_decoder_decode(dec_a, buf, size, &ev);
    FUZZ_CHECK((unsigned)ea < PW_EV__COUNT, "error %d", (int)ea);
    FUZZ_CHECK(ea != PW_EV_TOO_LARGE || size > A_MAX_SIZE, "too_large for %zu bytes", size);
    pw_value saved[sizeof paths_a / sizeof paths_a[0]];
    if (ea == PW_EV_OK) {
        check_ok(&ev, nslots_a, ts_a, data, size, A_MAX_SIZE);
        memcpy(saved, ev.fields, (size_t)nslots_a * sizeof *saved);
    }

    /* deterministic: the same bytes again give the same answer */
    pw_ev_err ea2 = pw_decoder_decode(dec_a, buf, size, &ev2);
    FUZZ_CHECK(ea2 == ea, "second decode: %s then %s", pw_ev_err_name(ea), pw_ev_err_name(ea2));
    if (ea == PW_EV_OK) {
        FUZZ_CHECK(ev2.ts == ev.ts && ev2.type_len == ev.type_len && ev2.id_len == ev.id_len, "event differs");
        for (int i = 0; i < nslots_a; i++)
            FUZZ_CHECK(same_value(&saved[i], &ev2.fields[i]), "slot %d differs on second decode", i);
    }

    /* the member memo never changes a result: dec_a has learned from every earlier input (and from
     * this one, by now), a fresh decoder has learned nothing */
    pw_decoder *fresh = make(fs_a, 1, A_MAX_SIZE, 64);
    pw_event evf;
    pw_ev_err ef = pw_decoder_decode(fresh, buf, size, &evf);
    FUZZ_CHECK(ef == ea, "memo: decoder A says %s, a fresh one %s", pw_ev_err_name(ea), pw_ev_err_name(ef));
    if (ef == PW_EV_OK) {
        FUZZ_CHECK(evf.ts == ev.ts, "memo: ts differs");
        for (int i = 0; i < nslots_a; i++)
            FUZZ_CHECK(same_value(&saved[i], &evf.fields[i]), "memo: slot %d differs from a fresh decoder", i);
    }
    pw_decoder_destroy(fresh);

    /* line mode: the input as JSON lines; decode_line accepts a line exactly when decode does, with
     * the same length and values */
    {
        static pw_decoder *dl;
        if (!dl) dl = make(fs_a, 1, A_MAX_SIZE, 64);
        pw_decoder *dr = make(fs_a, 1, A_MAX_SIZE, 64);
        size_t pos = 0;
        while (pos < size) {
            const char *rest = buf + pos, *nl = memchr(rest, '\n', size - pos);
            size_t avail = size - pos, truth = nl ? (size_t)(nl - rest) : avail, n = 0;
            pw_event e1, e2;
            int got = pw_decoder_decode_line(dl, rest, avail, &e1, &n);
            pw_ev_err want = pw_decoder_decode(dr, rest, truth, &e2);
            FUZZ_CHECK(got == (want == PW_EV_OK), "line at %zu: decode_line %d, decode %s", pos, got,
                       pw_ev_err_name(want));
            if (got) {
                FUZZ_CHECK(n == truth && e1.ts == e2.ts, "line at %zu: length %zu of %zu, or ts", pos, n, truth);
                for (int i = 0; i < nslots_a; i++)
                    FUZZ_CHECK(same_value(&e1.fields[i], &e2.fields[i]), "line at %zu: slot %d differs", pos, i);
            }
            pos += truth + (nl != NULL);
        }
        pw_decoder_destroy(dr);
    }

    /* the fieldset must not change validity, type or time */
    pw_ev_err eb = pw_decoder_decode(dec_b, buf, size, &evb);
    FUZZ_CHECK(eb == ea, "decoder A says %s, decoder B says %s", pw_ev_err_name(ea), pw_ev_err_name(eb));
    if (eb == PW_EV_OK) {
        check_ok(&evb, 2, pw_fieldset_find(fs_b, "type", 4), data, size, A_MAX_SIZE);
        FUZZ_CHECK(evb.ts == ev.ts && evb.type_len == ev.type_len && memcmp(evb.type, ev.type, ev.type_len) == 0,
                   "A and B disagree on type/ts");
        FUZZ_CHECK(evb.id_len == 0, "no id slot but id '%.*s'", (int)evb.id_len, evb.id);
    }

    /* tiny limits */
    pw_ev_err ec = pw_decoder_decode(dec_c, buf, size, &evc);
    if (size > C_MAX_SIZE) FUZZ_CHECK(ec == PW_EV_TOO_LARGE, "C: %zu bytes gave %s", size, pw_ev_err_name(ec));
    if (ec == PW_EV_OK) {
        check_ok(&evc, nslots_a, ts_a, data, size, C_MAX_SIZE);
        FUZZ_CHECK(ea == PW_EV_OK && evc.ts == ev.ts, "C accepts what A (larger limits) refused: %s",
                   pw_ev_err_name(ea));
    }

    /* nothing from this input may leak into the next event */
    static const char minimal[] = "{\"type\":\"t\",\"ts\":0}";
    pw_event em;
    FUZZ_CHECK(pw_decoder_decode(dec_a, minimal, sizeof minimal - 1, &em) == PW_EV_OK, "minimal event");
    for (int i = 0; i < nslots_a; i++) {
        const char *p = pw_fieldset_path(fs_a, i);
        if (strcmp(p, "type") == 0 || strcmp(p, "ts") == 0) continue;
        FUZZ_CHECK(em.fields[i].type == PW_V_NULL, "stale value in slot %d (%s) after a minimal event", i, p);
    }
    return 0;
}
