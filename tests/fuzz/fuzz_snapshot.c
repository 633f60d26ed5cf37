/* fuzz_snapshot.c -- libFuzzer target for the snapshot decoder (daemon/snapshot.c and the load
 * functions it drives: pw_engine_load, pw_window_load, the outbox).
 *
 * Input: one control byte, then the bytes of a snapshot (what the daemon would find under the
 * snapshot key in Redis). With bit 0 of the control byte set, the target first rewrites the total
 * length (in the header; version 3: in the trailer) and the checksum to match the bytes (when there is room for them), so that
 * mutations reach the sections behind the checksum, which the fuzzer could not forge otherwise; with
 * it clear the bytes are decoded as they are (the framing checks themselves). The rule set is fixed
 * (every aggregate, a ratio, a pair, rules with `for` and `repeat`), written once to a scratch file.
 *
 * The contract (snapshot.h): decoding never crashes or leaks on any input; a refused snapshot is
 * refused with a message and is never used: the daemon restores into a fresh engine and destroys it
 * on refusal, so the running state cannot be half-loaded. Invariants checked:
 *   - pw_snapshot_restore returns 0 or -1; on -1 the message is non-empty and NUL-terminated, the
 *     info is left empty, and the scratch engine it filled can be destroyed (ASan: no double free, no
 *     leak); pw_snapshot_parse refusing implies pw_snapshot_restore refusing with the same message;
 *   - the engine the daemon runs (`live`, fed a few events before) is never touched by a restore
 *     into another engine: its series and stats are the same before and after;
 *   - on success: offsets have a topic and non-negative partition and offset; every outbox note's
 *     bytes lie inside the input and sink names are NUL-terminated with a known kind; the summary of
 *     pw_engine_saved_metrics is readable; the restored engine is usable (events, evaluate_all,
 *     every series' value finite or undefined); and saving it and restoring that again succeeds and
 *     gives the same series (labels, counts, values to the bit): a snapshot we accept we can write.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "engine.h"
#include "event.h"
#include "fuzz_common.h"
#include "ruleset.h"
#include "sink.h"
#include "snapshot.h"

#include "../unit/snapshot_metrics.h"

static const char RULES[] =
    PW_TEST_SNAPSHOT_METRICS
    "rules:\n"
    "  - {name: few_orders, metric: orders, below: 3, for: 20m, repeat: 30m}\n"
    "  - {name: many_orders, metric: orders, above: 1, clear: 0.5, repeat: 20m}\n"
    "  - {name: silent, metric: orders, absent: 45m, repeat: 2h}\n"
    "  - {name: odd_avg, metric: avg_amount, outside: [30, 70], for: 10m}\n"
    "  - {name: big_p90, metric: p90, above: 85, for: 15m}\n"
    "  - {name: many_customers, metric: customers, above: 1}\n"
    "  - {name: low_rate, metric: win_rate, below: 0.3, min_count: 2, for: 10m}\n"
    "  - {name: long_cycle, metric: cycle, above: 5, repeat: 1h}\n";

static const char *const EVENTS[] = {
    "{\"type\":\"order.placed\",\"ts\":1798761600000,\"region\":\"EU\",\"amount\":12.5,\"customer\":\"c1\","
    "\"id2\":\"k1\"}",
    "{\"type\":\"order.placed\",\"ts\":1798761900000,\"region\":\"US\",\"amount\":70,\"customer\":\"c2\","
    "\"id2\":\"k2\"}",
    "{\"type\":\"deal.won\",\"ts\":1798762200000,\"region\":\"EU\",\"id2\":\"k1\"}",
    "{\"type\":\"order.placed\",\"ts\":1798763400000,\"region\":\"EU\",\"amount\":99.9,\"customer\":\"c1\","
    "\"id2\":\"k3\"}",
};
#define NEVENTS ((int)(sizeof EVENTS / sizeof EVENTS[0]))

static pw_ruleset *g_rs;
static pw_decoder *g_dec;
static pw_engine *g_live;
static pw_buf g_live_dump;

static void no_notify(const pw_notification *n, void *ud) { (void)n; (void)ud; }

/* Series, counts and values, in order, as text (values by their bits). */
static void dump_series(const pw_series_view *v, void *ud) {
    pw_buf *b = ud;
    const pw_metric_def *d = &g_rs->metrics[v->metric_idx];
    pw_buf_printf(b, "%d", v->metric_idx);
    for (int i = 0; i < d->nby; i++) pw_buf_printf(b, "|%s", v->label_vals[i]);
    uint64_t bits = 0;
    if (v->defined) {
        FUZZ_CHECK(isfinite(v->value), "series of %s has a value that is not finite", d->name);
        memcpy(&bits, &v->value, sizeof bits);
    }
    pw_buf_printf(b, " d%d v%016llx c%llu t%lld", v->defined, (unsigned long long)bits,
                  (unsigned long long)v->count, (long long)v->last_ts);
    for (int i = 0; v->alerts && i < d->nrules; i++)
        pw_buf_printf(b, " [%u %lld %lld %lld]", v->alerts[i].state, (long long)v->alerts[i].since,
                      (long long)v->alerts[i].fired_at, (long long)v->alerts[i].last_notified);
    pw_buf_putc(b, '\n');
}

static void dump(pw_engine *e, pw_buf *b) {
    pw_buf_reset(b);
    pw_buf_printf(b, "T%lld\n", (long long)pw_engine_time(e));
    pw_engine_foreach_series(e, dump_series, b);
}

static void apply(pw_engine *e, const char *json) {
    pw_event ev;
    if (pw_decoder_decode(g_dec, json, strlen(json), &ev) == PW_EV_OK) pw_engine_event(e, &ev);
}

static void on_saved(const pw_saved_metric *m, void *ud) {
    (void)ud;
    FUZZ_CHECK(m->name && fuzz_readable(m->name, strlen(m->name) + 1), "saved metric name not readable");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = fuzz_tmp_path("snapshot-rules", ".yaml");
    fuzz_write_file(path, (const uint8_t *)RULES, sizeof RULES - 1);
    pw_diag d;
    pw_diag_init(&d);
    g_rs = pw_ruleset_load(&path, 1, NULL, &d);
    if (!g_rs) pw_diag_print(&d, stderr);
    pw_diag_free(&d);
    FUZZ_CHECK(g_rs != NULL, "the target's rule set does not load");
    pw_decoder_conf dc = {g_rs->type_slot, g_rs->time_slot, g_rs->id_slot, 4096, 16};
    g_dec = pw_decoder_new(g_rs->fields, &dc);
    g_live = pw_engine_new(g_rs, NULL, no_notify, NULL);
    FUZZ_CHECK(g_dec && g_live, "out of memory");
    for (int i = 0; i < NEVENTS; i++) apply(g_live, EVENTS[i]);
    pw_buf_init(&g_live_dump);
    dump(g_live, &g_live_dump);
    return 0;
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fix = data[0] & 1;
    size--;
    /* an exact-size heap copy: ASan catches a read one byte past the snapshot */
    unsigned char *p = malloc(size ? size : 1);
    FUZZ_CHECK(p != NULL, "out of memory");
    if (size) memcpy(p, data + 1, size);
    if (fix && size >= 24) {
        uint32_t version = (uint32_t)p[6] | (uint32_t)p[7] << 8;
        put64(version >= 3 ? p + size - 16 : p + 8, (uint64_t)size); /* version 3 keeps it in the trailer */
        put64(p + size - 8, pw_snap_checksum_version(p, size - 8, version));
    }

    char perr[256] = "", err[256] = "";
    pw_snapshot_info pinfo;
    int prc = pw_snapshot_parse(p, size, &pinfo, perr, sizeof perr);
    FUZZ_CHECK(prc == 0 || prc == -1, "parse returned %d", prc);
    if (prc == 0) {
        for (int i = 0; i < pinfo.noffsets; i++) {
            const pw_snap_offset *o = &pinfo.offsets[i];
            FUZZ_CHECK(o->topic && o->topic[0] && o->partition >= 0 && o->next >= 0, "bad offset %d accepted", i);
        }
        uint64_t notes = 0;
        for (int i = 0; i < pinfo.noutbox; i++) {
            const pw_snap_outbox *ob = &pinfo.outbox[i];
            FUZZ_CHECK(ob->sink && ob->sink[0] && fuzz_readable(ob->sink, strlen(ob->sink) + 1),
                       "outbox sink name");
            FUZZ_CHECK(ob->kind >= PW_SINK_LOG && ob->kind <= PW_SINK_KAFKA, "outbox kind %d", ob->kind);
            for (uint32_t j = 0; j < ob->n; j++) {
                const pw_snap_note *n = &ob->notes[j];
                FUZZ_CHECK(n->len == 0 || fuzz_inside(n->data, n->len, p, size), "note bytes outside the input");
                FUZZ_CHECK(n->firing == 0 || n->firing == 1, "firing %d", n->firing);
                FUZZ_CHECK(n->kind >= 0 && n->kind <= 2 && n->firing == (n->kind != 0), "kind %d firing %d", n->kind,
                           n->firing);
            }
            notes += ob->n;
        }
        FUZZ_CHECK(notes == pinfo.outbox_notes, "outbox_notes %llu, counted %llu",
                   (unsigned long long)pinfo.outbox_notes, (unsigned long long)notes);
        FUZZ_CHECK(fuzz_inside(pinfo.engine, pinfo.engine_len, p, size), "engine section outside the input");
        char e2[256];
        int src = pw_engine_saved_metrics(pinfo.engine, pinfo.engine_len, pinfo.version, on_saved, NULL, e2, sizeof e2);
        FUZZ_CHECK(src == 0 || src == -1, "saved_metrics returned %d", src);
        pw_snapshot_info_free(&pinfo);
    } else {
        FUZZ_CHECK(perr[0] && memchr(perr, 0, sizeof perr), "a refusal without a message");
        FUZZ_CHECK(pinfo.offsets == NULL && pinfo.noffsets == 0 && pinfo.outbox == NULL && pinfo.noutbox == 0,
                   "a refused parse left info filled");
    }

    pw_engine *e = pw_engine_new(g_rs, NULL, no_notify, NULL);
    FUZZ_CHECK(e != NULL, "out of memory");
    pw_snapshot_info info;
    int rc = pw_snapshot_restore(p, size, e, NULL, NULL, &info, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "restore returned %d", rc);
    if (prc < 0) {
        FUZZ_CHECK(rc < 0 && !strcmp(err, perr), "parse refused (%s) but restore said %d (%s)", perr, rc, err);
    }
    if (rc < 0) {
        FUZZ_CHECK(err[0] && memchr(err, 0, sizeof err), "a refusal without a message");
        FUZZ_CHECK(info.offsets == NULL && info.outbox == NULL, "a refused restore left info filled");
        pw_engine_destroy(e); /* what the daemon does with a refused snapshot's engine */
    } else {
        pw_snapshot_info_free(&info);
        pw_buf d1, d2, snap;
        pw_buf_init(&d1);
        pw_buf_init(&d2);
        pw_buf_init(&snap);
        dump(e, &d1); /* also checks that every value is finite or undefined */
        pw_snapshot_encode(&snap, e, 1, NULL, 0, NULL, 0);
        pw_engine *e3 = pw_engine_new(g_rs, NULL, no_notify, NULL);
        FUZZ_CHECK(e3 != NULL, "out of memory");
        int rc3 = pw_snapshot_restore(snap.data, snap.len, e3, NULL, NULL, &info, err, sizeof err);
        FUZZ_CHECK(rc3 == 0, "an accepted snapshot, saved again, is refused: %s", err);
        pw_snapshot_info_free(&info);
        dump(e3, &d2);
        FUZZ_CHECK(!strcmp(d1.data, d2.data), "saving and restoring a restored engine changed it:\n%s\nvs\n%s",
                   d1.data, d2.data);
        /* the restored engine is usable */
        for (int i = 0; i < NEVENTS; i++) apply(e, EVENTS[i]);
        pw_engine_evaluate_all(e);
        int64_t T = pw_engine_time(e);
        if (T == INT64_MIN) pw_engine_advance(e, 1798761600000LL);
        else if (T < INT64_MAX - 7200000LL) pw_engine_advance(e, T + 7200000LL);
        dump(e, &d1);
        pw_engine_destroy(e3);
        pw_engine_destroy(e);
        pw_buf_free(&d1);
        pw_buf_free(&d2);
        pw_buf_free(&snap);
    }
    /* the running engine was never touched */
    pw_buf now;
    pw_buf_init(&now);
    dump(g_live, &now);
    FUZZ_CHECK(!strcmp(now.data, g_live_dump.data), "a restore into another engine changed the running one");
    pw_buf_free(&now);
    free(p);
    return 0;
}

#ifdef PW_FUZZ_MAKE_SEEDS
/* The seed corpus (tests/fuzz/corpus/snapshot): valid snapshots of this target's rule set after 0..4
 * events, with offsets and an outbox, each as control byte 1 (fix up) + the snapshot, plus the empty
 * engine's as control byte 0 (decoded as is). Regenerate with (from the repository root):
 *   S="snapshot engine window sketch distinct alert ruleset yamlnode template diag expr event fieldset value timeutil buf"
 *   clang -std=c11 -D_GNU_SOURCE -DPW_FUZZ_MAKE_SEEDS -Idaemon -Itests/fuzz tests/fuzz/fuzz_snapshot.c \
 *       $(for f in $S; do echo daemon/$f.c; done) -lyaml -lm -o /tmp/mkseeds && /tmp/mkseeds tests/fuzz/corpus/snapshot
 */
#include <stdio.h>

static void write_seed(const char *dir, const char *name, int control, const pw_buf *b) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", path);
    fputc(control, f);
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: mkseeds DIR\n"); return 2; }
    LLVMFuzzerInitialize(&argc, &argv);
    pw_snap_offset offs[2] = {{"crm", 0, 1234}, {"crm", 7, 99}};
    pw_snap_note notes[2] = {{.fingerprint = 0x1122334455667788ULL, .at = 1798761600000LL, .firing = 1,
                              .kind = PW_NOTE_FIRING, .seq = 7, .born = 1798761000000LL, .rule_hash = 0x0102030405060708ULL,
                              .data = "{\"state\":\"firing\"}", .len = 18},
                             {.fingerprint = 42, .at = 1798761900000LL, .firing = 0, .kind = PW_NOTE_RESOLVED,
                              .seq = 8, .rule_hash = 0x0102030405060708ULL, .data = "[]", .len = 2}};
    pw_snap_outbox ob[2] = {{.sink = "hook", .kind = PW_SINK_WEBHOOK, .notes = notes, .n = 2},
                            {.sink = "am", .kind = PW_SINK_ALERTMANAGER, .notes = NULL, .n = 0}};
    for (int k = 0; k <= NEVENTS; k++) {
        pw_engine *e = pw_engine_new(g_rs, NULL, no_notify, NULL);
        for (int i = 0; i < k; i++) apply(e, EVENTS[i]);
        pw_buf b;
        pw_buf_init(&b);
        pw_snapshot_encode(&b, e, 1798761600000LL + k, offs, k % 3, ob, k % 2 ? 2 : 0);
        char name[64];
        snprintf(name, sizeof name, "after-%d-events", k);
        write_seed(argv[1], name, 1, &b);
        if (k == 0) write_seed(argv[1], "empty-as-is", 0, &b);
        pw_buf_free(&b);
        pw_engine_destroy(e);
    }
    return 0;
}
#endif
