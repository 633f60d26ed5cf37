/* test_snapshot.c -- snapshots: state -> bytes -> state, and hostile bytes.
 *   - round trip: an engine with every aggregate, a ratio, a pair with pending starts and alerts in
 *     every state is saved at several points of a random stream, restored into a fresh engine, and
 *     both must show identical series (values to the last bit, counts, last event times, alert
 *     states) and then emit identical notifications for the rest of the stream;
 *   - the outbox (undelivered notifications per sink) comes back byte for byte;
 *   - refusal: every single-byte corruption, every truncation, another magic, another version, a
 *     length that disagrees; and with the checksum recomputed (so only validation protects), random
 *     corruption must be refused or load without a crash (ASan/UBSan run this too);
 *   - rules changed between save and load: unchanged metrics keep their state, changed ones start
 *     empty, and the report says which.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine_fixture.h"
#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "sink.h"
#include "snapshot.h"
#include "snapshot_metrics.h"

static const char *RULES =
    PW_TEST_SNAPSHOT_METRICS
    "rules:\n"
    "  - {name: few_orders, metric: orders, below: 3, for: 20m, repeat: 30m}\n"
    "  - {name: many_orders, metric: orders, above: 6, clear: 4, repeat: 20m}\n"
    "  - {name: silent, metric: orders, absent: 45m, repeat: 2h}\n"
    "  - {name: odd_avg, metric: avg_amount, outside: [30, 70], for: 10m}\n"
    "  - {name: big_p90, metric: p90, above: 85, for: 15m}\n"
    "  - {name: many_customers, metric: customers, above: 5}\n"
    "  - {name: low_rate, metric: win_rate, below: 0.3, min_count: 2, for: 10m}\n"
    "  - {name: long_cycle, metric: cycle, above: 50, repeat: 1h}\n"
    "  - {name: revenue_high, metric: revenue, above: 400, for: 5m}\n";


typedef struct dump { pw_buf *b; const pw_ruleset *rs; } dump;

/* Everything a series shows, values as exact bits. */
static void dump_series(const pw_series_view *s, void *ud) {
    dump *d = ud;
    const pw_metric_def *m = &d->rs->metrics[s->metric_idx];
    pw_buf_printf(d->b, "%s{", m->name);
    for (int i = 0; i < m->nby; i++) pw_buf_printf(d->b, "%s,", s->label_vals[i]);
    uint64_t bits;
    memcpy(&bits, &s->value, sizeof bits);
    pw_buf_printf(d->b, "} def=%d v=%016llx n=%llu last=%lld", s->defined, s->defined ? (unsigned long long)bits : 0ULL,
                  (unsigned long long)s->count, (long long)s->last_ts);
    for (int i = 0; s->alerts && i < m->nrules; i++)
        pw_buf_printf(d->b, " [%d %lld %lld %lld seq=%u born=%lld]", s->alerts[i].state, (long long)s->alerts[i].since,
                      (long long)s->alerts[i].fired_at, (long long)s->alerts[i].last_notified, s->alerts[i].seq,
                      (long long)s->alerts[i].born);
    pw_buf_putc(d->b, '\n');
}

static void dump_engine(pw_engine *e, const pw_ruleset *rs, pw_buf *b) {
    pw_buf_reset(b);
    dump d = {b, rs};
    pw_engine_foreach_series(e, dump_series, &d);
    const pw_engine_stats *st = pw_engine_get_stats(e);
    pw_buf_printf(b, "T=%lld events=%llu notifications=%llu firing=%llu pending=%llu\n", (long long)pw_engine_time(e),
                  (unsigned long long)st->events, (unsigned long long)st->notifications,
                  (unsigned long long)st->firing, (unsigned long long)st->pending);
    for (int i = 0; i < rs->nmetrics; i++) {
        const pw_metric_stats *ms = pw_engine_metric_stats(e, i);
        pw_buf_printf(b, "%s events=%llu late=%llu series=%llu pending=%llu starts=%llu\n", rs->metrics[i].name,
                      (unsigned long long)ms->events, (unsigned long long)ms->late, (unsigned long long)ms->series,
                      (unsigned long long)ms->pending, (unsigned long long)ms->pair_starts);
    }
}

/* ---------- a seeded random stream ---------- */

static uint64_t rng;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *REGIONS[] = {"EU", "NA", "APAC"};

/* Event i of the stream seeded with `seed` (times go forward by 0..4 min with some disorder and a few gaps). */
static void make_events(uint64_t seed, int n, char ***out) {
    rng = seed;
    char **v = calloc((size_t)n, sizeof *v);
    int64_t t = 1798761600000LL; /* 2027-01-01 */
    for (int i = 0; i < n; i++) {
        t += (int64_t)(rnd() % 240) * 1000;
        if (rnd() % 97 == 0) t += (int64_t)(rnd() % 5) * 3600000; /* a quiet gap */
        int64_t ts = t - (int64_t)(rnd() % 4 == 0 ? rnd() % 1800 : 0) * 1000; /* some out of order */
        char buf[512];
        const char *region = REGIONS[rnd() % 3];
        if (rnd() % 3) {
            snprintf(buf, sizeof buf,
                     "{\"type\":\"order.placed\",\"ts\":%lld,\"region\":\"%s\",\"amount\":%.2f,\"customer\":\"c%d\","
                     "\"id2\":\"k%d\"}",
                     (long long)ts, region, (double)(rnd() % 10000) / 100.0, (int)(rnd() % 12), (int)(rnd() % 40));
        } else {
            snprintf(buf, sizeof buf, "{\"type\":\"deal.won\",\"ts\":%lld,\"region\":\"%s\",\"id2\":\"k%d\"}",
                     (long long)ts, region, (int)(rnd() % 40));
        }
        v[i] = strdup(buf);
    }
    *out = v;
}

typedef tfx_run run;




static void snapshot_of(pw_engine *e, pw_buf *b) {
    pw_buf_init(b);
    pw_snap_offset offs[2] = {{"crm", 0, 1234}, {"crm", 7, 99}};
    pw_snap_note notes[2] = {{.fingerprint = 0x1122334455667788ULL, .at = 1799999999000LL, .firing = 1,
                              .kind = PW_NOTE_REPEAT, .seq = 0xfffffffeu, .born = -5, .rule_hash = 0x8877665544332211ULL,
                              .data = "{\"state\":\"firing\"}", .len = 18},
                             {.fingerprint = 42, .at = 1799999999500LL, .firing = 0, .kind = PW_NOTE_RESOLVED,
                              .seq = 3, .rule_hash = 5, .data = "", .len = 0}};
    pw_snap_outbox ob[2] = {{.sink = "hook", .kind = PW_SINK_WEBHOOK, .notes = notes, .n = 2},
                            {.sink = "am", .kind = PW_SINK_ALERTMANAGER, .notes = NULL, .n = 0}};
    pw_snapshot_encode(b, e, 1800000000000LL, offs, 2, ob, 2);
}

/* ---------- round trip ---------- */

/* The outbox snapshot_of writes comes back note for note (bytes, fingerprint, time, state, sink and kind). */
static void check_outbox(const pw_snapshot_info *info) {
    cr_assert_eq(info->noutbox, 2);
    cr_assert_eq(info->outbox_notes, 2);
    cr_assert_str_eq(info->outbox[0].sink, "hook");
    cr_assert_eq(info->outbox[0].kind, PW_SINK_WEBHOOK);
    cr_assert_eq(info->outbox[0].n, 2);
    const pw_snap_note *n = info->outbox[0].notes;
    cr_assert_eq(n[0].fingerprint, 0x1122334455667788ULL);
    cr_assert_eq(n[0].at, 1799999999000LL);
    cr_assert_eq(n[0].firing, 1);
    cr_assert_eq(n[0].kind, PW_NOTE_REPEAT);
    cr_assert_eq(n[0].seq, 0xfffffffeu);
    cr_assert_eq(n[0].born, -5);
    cr_assert_eq(n[0].rule_hash, 0x8877665544332211ULL);
    cr_assert_eq(n[0].len, 18);
    cr_assert(!memcmp(n[0].data, "{\"state\":\"firing\"}", 18));
    cr_assert_eq(n[1].fingerprint, 42);
    cr_assert_eq(n[1].firing, 0);
    cr_assert_eq(n[1].kind, PW_NOTE_RESOLVED);
    cr_assert_eq(n[1].seq, 3);
    cr_assert_eq(n[1].rule_hash, 5);
    cr_assert_eq(n[1].len, 0);
    cr_assert_str_eq(info->outbox[1].sink, "am");
    cr_assert_eq(info->outbox[1].kind, PW_SINK_ALERTMANAGER);
    cr_assert_eq(info->outbox[1].n, 0);
}

static int count_states(const char *dump_text, int state) {
    char pat[8];
    snprintf(pat, sizeof pat, "[%d ", state);
    int n = 0;
    for (const char *p = dump_text; (p = strstr(p, pat)); p++) n++;
    return n;
}

Test(snapshot, round_trip_continues_identically) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    const int N = 3000;
    char **evs;
    make_events(42, N, &evs);
    int splits[] = {1, 17, 400, 1111, 2000, 2999};
    int saw_pending = 0, saw_firing = 0, saw_pairs = 0;
    for (size_t si = 0; si < sizeof splits / sizeof splits[0]; si++) {
        int split = splits[si];
        run a;
        tfx_run_init(&a, rs, NULL);
        for (int i = 0; i < split; i++) tfx_run_event(&a, evs[i]);
        pw_buf snap;
        snapshot_of(a.eng, &snap);

        run b;
        tfx_run_init(&b, rs, NULL);
        pw_snapshot_info info;
        char err[256];
        int rc = pw_snapshot_restore(snap.data, snap.len, b.eng, NULL, NULL, &info, err, sizeof err);
        cr_assert_eq(rc, 0, "restore at %d: %s", split, err);
        cr_assert_eq(info.noffsets, 2);
        cr_assert_str_eq(info.offsets[1].topic, "crm");
        cr_assert_eq(info.offsets[1].partition, 7);
        cr_assert_eq(info.offsets[1].next, 99);
        cr_assert_eq(info.created_ms, 1800000000000LL);
        cr_assert_eq(info.stream_time, pw_engine_time(a.eng));
        check_outbox(&info);
        pw_snapshot_info_free(&info);

        pw_buf da, db;
        pw_buf_init(&da);
        pw_buf_init(&db);
        dump_engine(a.eng, rs, &da);
        dump_engine(b.eng, rs, &db);
        cr_assert_str_eq(db.data, da.data, "state after restore at event %d differs", split);
        saw_pending += count_states(da.data, PW_ALERT_PENDING);
        saw_firing += count_states(da.data, PW_ALERT_FIRING);
        saw_pairs += pw_engine_metric_stats(a.eng, rs->nmetrics - 1)->pending > 0;

        /* saving the restored engine and restoring that gives the same state again (the sizes may
         * differ: buckets are written sparsely, and a restored window may have evicted a bucket that the
         * original had not yet, lazily, at the same stream time) */
        pw_buf snap2;
        snapshot_of(b.eng, &snap2);
        {
            run c;
            tfx_run_init(&c, rs, NULL);
            pw_snapshot_info info2;
            cr_assert_eq(pw_snapshot_restore(snap2.data, snap2.len, c.eng, NULL, NULL, &info2, err, sizeof err), 0,
                         "re-encoded restore at %d: %s", split, err);
            pw_snapshot_info_free(&info2);
            pw_buf dc;
            pw_buf_init(&dc);
            dump_engine(c.eng, rs, &dc);
            cr_assert_str_eq(dc.data, da.data, "state after a second save and restore at %d differs", split);
            pw_buf_free(&dc);
            tfx_run_free(&c);
        }

        size_t before_a = a.out.len, before_b = b.out.len;
        for (int i = split; i < N; i++) {
            tfx_run_event(&a, evs[i]);
            tfx_run_event(&b, evs[i]);
        }
        pw_engine_advance(a.eng, pw_engine_time(a.eng) + 5 * 3600000LL);
        pw_engine_advance(b.eng, pw_engine_time(b.eng) + 5 * 3600000LL);
        cr_assert(a.out.len - before_a > 0 || split > 2900, "the rest of the stream notifies something");
        cr_assert_str_eq(b.out.data + before_b, a.out.data + before_a,
                         "notifications after restore at %d differ", split);
        dump_engine(a.eng, rs, &da);
        dump_engine(b.eng, rs, &db);
        cr_assert_str_eq(db.data, da.data, "final state after restore at %d differs", split);
        pw_buf_free(&da);
        pw_buf_free(&db);
        pw_buf_free(&snap);
        pw_buf_free(&snap2);
        tfx_run_free(&a);
        tfx_run_free(&b);
    }
    cr_assert(saw_pending > 0 && saw_firing > 0 && saw_pairs > 0,
              "the splits cover pending (%d) and firing (%d) alerts and pending pair starts (%d)", saw_pending,
              saw_firing, saw_pairs);
    for (int i = 0; i < N; i++) free(evs[i]);
    free(evs);
    pw_ruleset_destroy(rs);
}

Test(snapshot, empty_engine_round_trip) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    run a, b;
    tfx_run_init(&a, rs, NULL);
    tfx_run_init(&b, rs, NULL);
    pw_buf snap;
    snapshot_of(a.eng, &snap);
    pw_snapshot_info info;
    char err[256];
    cr_assert_eq(pw_snapshot_restore(snap.data, snap.len, b.eng, NULL, NULL, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.stream_time, INT64_MIN);
    pw_snapshot_info_free(&info);
    tfx_run_event(&b, "{\"type\":\"order.placed\",\"ts\":1798761600000,\"region\":\"EU\",\"amount\":1}");
    cr_assert_eq(pw_engine_time(b.eng), 1798761600000LL);
    pw_buf_free(&snap);
    tfx_run_free(&a);
    tfx_run_free(&b);
    pw_ruleset_destroy(rs);
}

/* ---------- refusal ---------- */

static pw_buf small_snapshot(pw_ruleset *rs) {
    run a;
    tfx_run_init(&a, rs, NULL);
    char **evs;
    make_events(7, 60, &evs);
    for (int i = 0; i < 60; i++) { tfx_run_event(&a, evs[i]); free(evs[i]); }
    free(evs);
    pw_buf snap;
    snapshot_of(a.eng, &snap);
    tfx_run_free(&a);
    return snap;
}

static int try_restore(const pw_ruleset *rs, const void *p, size_t len, char *err, size_t errlen) {
    pw_engine *e = pw_engine_new(rs, NULL, NULL, NULL);
    pw_snapshot_info info;
    int rc = pw_snapshot_restore(p, len, e, NULL, NULL, &info, err, errlen);
    if (rc == 0) pw_snapshot_info_free(&info);
    pw_engine_destroy(e);
    return rc;
}

Test(snapshot, every_single_byte_corruption_is_refused) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    pw_buf snap = small_snapshot(rs);
    unsigned char *copy = malloc(snap.len);
    char err[256];
    for (size_t i = 0; i < snap.len; i++) {
        static const unsigned char flips[] = {0x01, 0x80, 0xff};
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(copy, snap.data, snap.len);
            copy[i] ^= flips[f];
            cr_assert_eq(try_restore(rs, copy, snap.len, err, sizeof err), -1, "byte %zu ^ %02x accepted", i, flips[f]);
            cr_assert(err[0], "a refusal says why");
        }
    }
    free(copy);
    pw_buf_free(&snap);
    pw_ruleset_destroy(rs);
}

Test(snapshot, every_truncation_is_refused) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    pw_buf snap = small_snapshot(rs);
    char err[256];
    for (size_t n = 0; n < snap.len; n++) {
        unsigned char *p = malloc(n + 1); /* exact-size copy so ASan sees any read past the end */
        memcpy(p, snap.data, n);
        cr_assert_eq(try_restore(rs, p, n, err, sizeof err), -1, "truncation to %zu bytes accepted", n);
        free(p);
    }
    cr_assert_eq(try_restore(rs, snap.data, snap.len, err, sizeof err), 0, "the whole snapshot loads: %s", err);
    pw_buf_free(&snap);
    pw_ruleset_destroy(rs);
}

/* Rewrite the checksum after a change, so that only validation stands between the bytes and the engine. */
static void fix_checksum(unsigned char *p, size_t len) {
    uint64_t h = pw_snap_checksum_version(p, len - 8, PW_SNAPSHOT_VERSION);
    for (int i = 0; i < 8; i++) p[len - 8 + (size_t)i] = (unsigned char)(h >> (8 * i));
}

Test(snapshot, corruption_behind_a_valid_checksum_never_crashes) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    pw_buf snap = small_snapshot(rs);
    unsigned char *copy = malloc(snap.len);
    char err[256];
    rng = 99;
    int refused = 0, loaded = 0;
    for (int trial = 0; trial < 4000; trial++) {
        memcpy(copy, snap.data, snap.len);
        int nflips = 1 + (int)(rnd() % 4);
        for (int k = 0; k < nflips; k++) {
            size_t at = 16 + rnd() % (snap.len - 24); /* past magic, version and length */
            copy[at] = (unsigned char)(rnd() % 4 == 0 ? 0xff : copy[at] ^ (1u << (rnd() % 8)));
        }
        fix_checksum(copy, snap.len);
        if (try_restore(rs, copy, snap.len, err, sizeof err) < 0) refused++;
        else loaded++;
    }
    cr_assert(refused > 1000, "validation catches most structural damage (%d refused, %d loaded)", refused, loaded);
    free(copy);
    pw_buf_free(&snap);
    pw_ruleset_destroy(rs);
}

Test(snapshot, foreign_and_other_versions_are_refused_by_name) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    pw_buf snap = small_snapshot(rs);
    char err[256];
    unsigned char *copy = malloc(snap.len);

    memcpy(copy, snap.data, snap.len);
    memcpy(copy, "RDB011", 6);
    cr_assert_eq(try_restore(rs, copy, snap.len, err, sizeof err), -1);
    cr_assert(strstr(err, "not a pipewatch snapshot"), "%s", err);

    memcpy(copy, snap.data, snap.len);
    copy[6] = 4;
    fix_checksum(copy, snap.len);
    cr_assert_eq(try_restore(rs, copy, snap.len, err, sizeof err), -1);
    cr_assert(strstr(err, "version 4, this pipewatch reads versions 1 to 3"), "%s", err);
    memcpy(copy, snap.data, snap.len);
    copy[6] = 0;
    fix_checksum(copy, snap.len);
    cr_assert_eq(try_restore(rs, copy, snap.len, err, sizeof err), -1);
    cr_assert(strstr(err, "version 0, this pipewatch reads versions 1 to 3"), "%s", err);

    /* a version 3 snapshot labelled version 1 or 2 is not read as one: their lengths are in the header and
     * their checksums differ (real older snapshots are read: test_snapshot_v1.c) */
    for (unsigned char v = 1; v <= 2; v++) {
        memcpy(copy, snap.data, snap.len);
        copy[6] = v;
        fix_checksum(copy, snap.len);
        cr_assert_eq(try_restore(rs, copy, snap.len, err, sizeof err), -1, "labelled version %u", v);
        cr_assert(strstr(err, "truncated or padded") || strstr(err, "checksum mismatch"), "%s", err);
    }

    cr_assert_eq(try_restore(rs, "", 0, err, sizeof err), -1);
    cr_assert_eq(try_restore(rs, "{\"json\": true}", 14, err, sizeof err), -1);

    /* one byte appended: the length in the trailer disagrees */
    unsigned char *longer = malloc(snap.len + 1);
    memcpy(longer, snap.data, snap.len);
    longer[snap.len] = 0;
    cr_assert_eq(try_restore(rs, longer, snap.len + 1, err, sizeof err), -1);
    cr_assert(strstr(err, "truncated or padded"), "%s", err);

    /* the checksum is checked */
    memcpy(copy, snap.data, snap.len);
    copy[snap.len / 2] ^= 4;
    cr_assert_eq(try_restore(rs, copy, snap.len, err, sizeof err), -1);
    cr_assert(strstr(err, "checksum mismatch"), "%s", err);
    free(longer);
    free(copy);
    pw_buf_free(&snap);
    pw_ruleset_destroy(rs);
}

/* ---------- rules changed between save and load ---------- */

typedef struct kept_log { char text[1024]; } kept_log;
static void on_kept(const char *metric, int kept, void *ud) {
    kept_log *k = ud;
    size_t l = strlen(k->text);
    snprintf(k->text + l, sizeof k->text - l, "%s=%d ", metric, kept);
}

Test(snapshot, changed_rules_restore_unchanged_metrics_only) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    run a;
    tfx_run_init(&a, rs, NULL);
    char **evs;
    make_events(5, 500, &evs);
    for (int i = 0; i < 500; i++) tfx_run_event(&a, evs[i]);
    pw_buf snap;
    snapshot_of(a.eng, &snap);

    /* revenue's window changes; many_orders's threshold changes; a new metric appears; max_amount goes */
    char *rules2 = strdup(RULES);
    char *p = strstr(rules2, "field: amount, by: [region], window: 1h,");
    cr_assert(p);
    memcpy(p + strlen("field: amount, by: [region], window: "), "2h", 2);
    p = strstr(rules2, "above: 6, clear: 4");
    memcpy(p, "above: 7", 8);
    p = strstr(rules2, "name: max_amount");
    memcpy(p + 6, "max_amoun2", 10);
    pw_ruleset *rs2 = tfx_load_rules(rules2);
    pw_engine *e2 = pw_engine_new(rs2, NULL, NULL, NULL);
    kept_log kl = {""};
    pw_snapshot_info info;
    char err[256];
    cr_assert_eq(pw_snapshot_restore(snap.data, snap.len, e2, on_kept, &kl, &info, err, sizeof err), 0, "%s", err);
    pw_snapshot_info_free(&info);
    cr_assert(strstr(kl.text, "orders=1 "), "%s", kl.text);
    cr_assert(strstr(kl.text, "revenue=0 "), "%s", kl.text);
    cr_assert(strstr(kl.text, "max_amoun2=0 "), "%s", kl.text);
    cr_assert(strstr(kl.text, "p90=1 "), "%s", kl.text);
    cr_assert(strstr(kl.text, "cycle=1 "), "%s", kl.text);
    for (int i = 0; i < rs2->nmetrics; i++) {
        const char *name = rs2->metrics[i].name;
        uint64_t n2 = pw_engine_metric_stats(e2, i)->series;
        int oi = -1;
        for (int j = 0; j < rs->nmetrics; j++)
            if (!strcmp(rs->metrics[j].name, name)) oi = j;
        if (!strcmp(name, "revenue") || !strcmp(name, "max_amoun2")) cr_assert_eq(n2, 0, "%s starts empty", name);
        else cr_assert_eq(n2, pw_engine_metric_stats(a.eng, oi)->series, "%s keeps its series", name);
    }
    cr_assert_eq(pw_engine_time(e2), pw_engine_time(a.eng), "stream time carries over");
    /* the changed rule's states are dropped; the unchanged ones on the same metric kept */
    pw_engine_destroy(e2);
    free(rules2);
    for (int i = 0; i < 500; i++) free(evs[i]);
    free(evs);
    pw_buf_free(&snap);
    tfx_run_free(&a);
    pw_ruleset_destroy(rs2);
    pw_ruleset_destroy(rs);
}

/* ---------- streaming (format version 3) ---------- */

/* What a streaming writer emitted: the bytes, the size of every piece, and where `last` was set. */
typedef struct pieces {
    pw_buf all;
    size_t sizes[400000];
    int n, last_at, fail_at; /* last_at: index of the piece with last = 1 (-1: none); fail_at: refuse that piece */
} pieces;

static int collect_piece(const void *p, size_t n, int last, void *ud) {
    pieces *c = ud;
    cr_assert_lt(c->n, 400000);
    cr_assert_eq(c->last_at, -1, "a piece after the last one");
    if (c->n == c->fail_at) { c->n++; return -1; }
    pw_buf_append(&c->all, p, n);
    c->sizes[c->n] = n;
    if (last) c->last_at = c->n;
    c->n++;
    return 0;
}

static pieces *stream(pw_engine *e, size_t chunk, int fail_at, int *rc, uint64_t *total) {
    pieces *c = calloc(1, sizeof *c);
    pw_buf_init(&c->all);
    c->last_at = -1;
    c->fail_at = fail_at;
    pw_snap_offset offs[2] = {{"crm", 0, 1234}, {"crm", 7, 99}};
    pw_snap_note notes[1] = {{.fingerprint = 9, .at = 1799999999000LL, .firing = 1, .kind = PW_NOTE_FIRING, .seq = 2,
                              .born = 5, .rule_hash = 3, .data = "{\"state\":\"firing\"}", .len = 18}};
    pw_snap_outbox ob[1] = {{.sink = "hook", .kind = PW_SINK_WEBHOOK, .notes = notes, .n = 1}};
    pw_snap_w w;
    pw_snap_w_init(&w, chunk, collect_piece, c);
    *rc = pw_snapshot_write(&w, e, 1800000000000LL, offs, 2, ob, 1, total);
    if (chunk) cr_assert_lt(w.b.cap, 2 * chunk + 64 * 1024, "the writer holds about one chunk (%zu bytes for chunks of %zu)", w.b.cap,
                 chunk);
    pw_snap_w_free(&w);
    return c;
}

/* An engine with 400 series of every aggregate (a series' encoding ranges from tens to hundreds of bytes). */
static void fill(run *a) {
    char **evs;
    make_events(11, 3000, &evs);
    for (int i = 0; i < 3000; i++) { tfx_run_event(a, evs[i]); free(evs[i]); }
    free(evs);
    for (int i = 0; i < 400; i++) {
        char ev[256];
        snprintf(ev, sizeof ev, "{\"type\":\"order.placed\",\"ts\":%lld,\"region\":\"r%d\",\"amount\":%d.25,"
                                "\"customer\":\"c%d\",\"id2\":\"k%d\"}",
                 (long long)pw_engine_time(a->eng), i, i, i % 7, i);
        tfx_run_event(a, ev);
    }
}

Test(snapshot, streamed_in_chunks_is_the_same_snapshot) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    run a;
    tfx_run_init(&a, rs, NULL);
    fill(&a);
    pieces *whole = stream(a.eng, 0, -1, &(int){0}, &(uint64_t){0}); /* chunk 0: one piece, all in memory */
    size_t len = whole->all.len;
    cr_assert_eq(whole->n, 1);
    cr_assert_eq(whole->last_at, 0);
    cr_assert_gt(len, 20000, "a snapshot of many series (%zu bytes)", len);
    /* the same bytes as pw_snapshot_encode, which restores */
    pw_buf enc;
    pw_buf_init(&enc);
    pw_snap_offset offs[2] = {{"crm", 0, 1234}, {"crm", 7, 99}};
    pw_snap_note notes[1] = {{.fingerprint = 9, .at = 1799999999000LL, .firing = 1, .kind = PW_NOTE_FIRING, .seq = 2,
                              .born = 5, .rule_hash = 3, .data = "{\"state\":\"firing\"}", .len = 18}};
    pw_snap_outbox ob[1] = {{.sink = "hook", .kind = PW_SINK_WEBHOOK, .notes = notes, .n = 1}};
    pw_snapshot_encode(&enc, a.eng, 1800000000000LL, offs, 2, ob, 1);
    cr_assert_eq(enc.len, len);
    cr_assert(!memcmp(enc.data, whole->all.data, len));
    char err[256];
    cr_assert_eq(try_restore(rs, enc.data, enc.len, err, sizeof err), 0, "%s", err);

    /* chunk sizes whose boundaries fall inside series, inside the header, the trailer and the checksum; a
     * snapshot exactly one chunk long (one piece), one byte longer (two), exactly two chunks long */
    size_t chunks[] = {1, 7, 8, 31, 100, 1000, 4096, len / 3, len / 2, len - 30, len - 9, len - 8, len - 1, len,
                       len + 1, 2 * len};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        size_t chunk = chunks[k];
        int rc;
        uint64_t total;
        pieces *c = stream(a.eng, chunk, -1, &rc, &total);
        cr_assert_eq(rc, 0);
        cr_assert_eq(total, len, "chunk %zu: total %llu", chunk, (unsigned long long)total);
        cr_assert_eq(c->all.len, len, "chunk %zu", chunk);
        cr_assert(!memcmp(c->all.data, whole->all.data, len), "chunk %zu: other bytes", chunk);
        cr_assert_eq(c->last_at, c->n - 1, "chunk %zu: the last piece says so", chunk);
        cr_assert_eq((size_t)c->n, (len + chunk - 1) / chunk, "chunk %zu: %d pieces of %zu bytes", chunk, c->n, len);
        for (int i = 0; i + 1 < c->n; i++) cr_assert_eq(c->sizes[i], chunk, "chunk %zu: piece %d", chunk, i);
        cr_assert(c->sizes[c->n - 1] >= 1 && c->sizes[c->n - 1] <= chunk);
        pw_buf_free(&c->all);
        free(c);
    }
    pw_buf_free(&whole->all);
    free(whole);
    pw_buf_free(&enc);
    tfx_run_free(&a);
    pw_ruleset_destroy(rs);
}

Test(snapshot, a_failed_piece_fails_the_write_and_nothing_follows_it) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    run a;
    tfx_run_init(&a, rs, NULL);
    fill(&a);
    for (int fail_at = 0; fail_at < 5; fail_at++) {
        int rc;
        uint64_t total;
        pieces *c = stream(a.eng, 1000, fail_at, &rc, &total);
        cr_assert_eq(rc, -1, "failing piece %d fails the snapshot", fail_at);
        cr_assert_eq(c->n, fail_at + 1, "no piece is emitted after the failed one (%d emitted)", c->n);
        cr_assert_eq(c->last_at, -1);
        pw_buf_free(&c->all);
        free(c);
    }
    tfx_run_free(&a);
    pw_ruleset_destroy(rs);
}

Test(snapshot, the_checksum_streams_and_sees_every_byte) {
    unsigned char p[300];
    rng = 5;
    for (size_t i = 0; i < sizeof p; i++) p[i] = (unsigned char)rnd();
    for (size_t n = 0; n <= sizeof p; n += 1 + n / 8) {
        uint64_t one = pw_snap_checksum_version(p, n, 3);
        for (int trial = 0; trial < 20; trial++) { /* the same bytes in pieces of any size give the same sum */
            pw_snap_sum s;
            pw_snap_sum_init(&s);
            for (size_t off = 0; off < n;) {
                size_t k = rnd() % 70;
                if (k > n - off) k = n - off;
                pw_snap_sum_update(&s, p + off, k);
                off += k;
            }
            cr_assert_eq(pw_snap_sum_final(&s), one, "%zu bytes in pieces", n);
        }
        for (size_t i = 0; i < n; i++) /* any changed byte changes it */
            for (int bit = 0; bit < 8; bit += 7) {
                p[i] ^= (unsigned char)(1u << bit);
                cr_assert_neq(pw_snap_checksum_version(p, n, 3), one, "byte %zu bit %d of %zu", i, bit, n);
                p[i] ^= (unsigned char)(1u << bit);
            }
        if (n) cr_assert_neq(pw_snap_checksum_version(p, n - 1, 3), one, "the length counts");
    }
}
