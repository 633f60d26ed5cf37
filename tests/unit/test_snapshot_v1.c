/* test_snapshot_v1.c -- snapshots of the older format versions are read, so an upgrade keeps its state.
 * tests/corpus/snapshot_v1/snapshot.bin was written by version 1's own encoder (make_v1.c there says how),
 * tests/corpus/snapshot_v2/snapshot.bin by version 2's (make_v2.c), both after the first 300 events of
 * snapshot_v1/events.jsonl under snapshot_v1/rules.yaml (version 2's with an outbox of two sinks too).
 * Restored here, the engine must equal one that applied those 300 events itself, and both must then make
 * the same notifications and end in the same state over the remaining events. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "snapshot.h"

#define DIR PW_SOURCE_DIR "/tests/corpus/snapshot_v1/"
#define DIR2 PW_SOURCE_DIR "/tests/corpus/snapshot_v2/"

static void collect(const pw_notification *n, void *ud) {
    pw_notification_json(n, ud);
    pw_buf_putc(ud, '\n');
}

typedef struct dump { pw_buf *b; const pw_ruleset *rs; } dump;
static void dump_series(const pw_series_view *s, void *ud) {
    dump *d = ud;
    const pw_metric_def *m = &d->rs->metrics[s->metric_idx];
    uint64_t bits;
    memcpy(&bits, &s->value, sizeof bits);
    pw_buf_printf(d->b, "%s{", m->name);
    for (int i = 0; i < m->nby; i++) pw_buf_printf(d->b, "%s,", s->label_vals[i]);
    pw_buf_printf(d->b, "} def=%d v=%016llx n=%llu last=%lld", s->defined, s->defined ? (unsigned long long)bits : 0ULL,
                  (unsigned long long)s->count, (long long)s->last_ts);
    for (int i = 0; s->alerts && i < m->nrules; i++) /* seq and born are new in version 2: not compared */
        if (s->alerts[i].state)
            pw_buf_printf(d->b, " [%d %lld %lld %lld]", s->alerts[i].state, (long long)s->alerts[i].since,
                          (long long)s->alerts[i].fired_at, (long long)s->alerts[i].last_notified);
    pw_buf_putc(d->b, '\n');
}
static void dump_engine(pw_engine *e, const pw_ruleset *rs, pw_buf *b) {
    pw_buf_reset(b);
    dump d = {b, rs};
    pw_engine_foreach_series(e, dump_series, &d);
    const pw_engine_stats *st = pw_engine_get_stats(e);
    pw_buf_printf(b, "T=%lld events=%llu firing=%llu pending=%llu\n", (long long)pw_engine_time(e),
                  (unsigned long long)st->events, (unsigned long long)st->firing, (unsigned long long)st->pending);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Restore the snapshot file `snap_path` of format `version` and check it continues exactly like an engine
 * that saw the same 300 events. */
static void check_old_version(const char *snap_path, uint32_t version) {
    pw_diag d;
    pw_diag_init(&d);
    const char *paths[] = {DIR "rules.yaml"};
    pw_ruleset *rs = pw_ruleset_load(paths, 1, NULL, &d);
    if (!rs) pw_diag_print(&d, stderr);
    pw_diag_free(&d);
    cr_assert(rs);
    pw_decoder_conf dc = {rs->type_slot, rs->time_slot, rs->id_slot, 65536, 16};
    pw_decoder *dec = pw_decoder_new(rs->fields, &dc);
    size_t elen, slen;
    char *events = slurp(DIR "events.jsonl", &elen);
    char *snap = slurp(snap_path, &slen);
    pw_buf out_a, out_b, da, db;
    pw_buf_init(&out_a);
    pw_buf_init(&out_b);
    pw_buf_init(&da);
    pw_buf_init(&db);
    pw_buf_puts(&out_a, "");
    pw_buf_puts(&out_b, "");
    pw_engine *a = pw_engine_new(rs, NULL, collect, &out_a);
    pw_engine *b = pw_engine_new(rs, NULL, collect, &out_b);

    pw_snapshot_info info;
    char err[256];
    cr_assert_eq(pw_snapshot_restore(snap, slen, b, NULL, NULL, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.version, version);
    cr_assert_eq(info.offsets[0].topic[0], 'c');
    cr_assert_eq(info.offsets[0].next, 300);
    if (version == 1) {
        cr_assert_eq(info.noffsets, 1);
        cr_assert_eq(info.noutbox, 0);
    } else { /* make_v2.c's offsets and outbox */
        cr_assert_eq(info.noffsets, 2);
        cr_assert_eq(info.offsets[1].partition, 3);
        cr_assert_eq(info.offsets[1].next, 17);
        cr_assert_eq(info.noutbox, 2);
        cr_assert_str_eq(info.outbox[0].sink, "hook");
        cr_assert_eq(info.outbox[0].n, 2);
        cr_assert_eq(info.outbox[0].notes[0].fingerprint, 0x1122334455667788ULL);
        cr_assert_eq(info.outbox[0].notes[0].seq, 7);
        cr_assert_eq(info.outbox[0].notes[0].len, 18);
        cr_assert(!memcmp(info.outbox[0].notes[0].data, "{\"state\":\"firing\"}", 18));
        cr_assert_eq(info.outbox[0].notes[1].kind, 0);
        cr_assert_str_eq(info.outbox[1].sink, "am");
        cr_assert_eq(info.outbox[1].n, 0);
    }
    pw_snapshot_info_free(&info);

    int i = 0, firing = 0;
    for (char *line = events, *nl; *line; line = nl + 1, i++) {
        nl = strchr(line, '\n');
        cr_assert(nl);
        pw_event ev;
        cr_assert_eq(pw_decoder_decode(dec, line, (size_t)(nl - line), &ev), PW_EV_OK, "event %d", i);
        if (i == 300) { /* where the snapshot was taken */
            dump_engine(a, rs, &da);
            dump_engine(b, rs, &db);
            cr_assert_str_eq(db.data, da.data, "the restored version %u state differs", version);
            firing = (int)pw_engine_get_stats(b)->firing;
            pw_buf_reset(&out_a);
            pw_buf_puts(&out_a, "");
        }
        pw_engine_event(a, &ev);
        if (i >= 300) pw_engine_event(b, &ev);
    }
    cr_assert_eq(i, 400);
    cr_assert_gt(firing, 0, "the snapshot holds firing alerts");
    cr_assert_gt(out_a.len, 0, "the rest of the stream notifies something");
    cr_assert_str_eq(out_b.data, out_a.data, "notifications after the restore differ");
    dump_engine(a, rs, &da);
    dump_engine(b, rs, &db);
    cr_assert_str_eq(db.data, da.data, "final state differs");

    pw_engine_destroy(a);
    pw_engine_destroy(b);
    pw_buf_free(&out_a);
    pw_buf_free(&out_b);
    pw_buf_free(&da);
    pw_buf_free(&db);
    free(events);
    free(snap);
    pw_decoder_destroy(dec);
    pw_ruleset_destroy(rs);
}

Test(snapshot_v1, read_and_continues_identically) { check_old_version(DIR "snapshot.bin", 1); }

Test(snapshot_v2, read_and_continues_identically) { check_old_version(DIR2 "snapshot.bin", 2); }
