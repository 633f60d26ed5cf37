/* test_engine_ref.c -- the engine's final per-series values against a brute-force reference.
 *
 * The engine keeps incremental state built for speed: windows updated on add and rebuilt at head
 * moves, distinct sets that expire lazily (dead entries swept only when an insertion needs room),
 * pending pair starts with interned label tuples, a skipped sweep when no start can have expired,
 * memoised bucket indexes. This test recomputes every value from the raw event list in the simplest
 * way (loops over all accepted events) and requires the engine to agree exactly, over seeded random
 * streams with out-of-order and late events, gaps longer than the window, values seen again after
 * they left the window, pair keys started twice, ends without a start, and ends that lack the `by`
 * field (they take the start's label).
 *
 * Reference semantics (README "How pipewatch computes"): stream time T_i is the largest event time up
 * to event i; an event is late (dropped) if its bucket <= floor(T_i / R) - N; at the end the window
 * holds buckets (floor(T / R) - N, floor(T / R)]. count/sum: accepted events in the window. distinct:
 * values with an accepted sighting in the window. pair avg: per end event that finds a pending start
 * of its key (the first start of the key, unless a later start comes more than `timeout` after it)
 * with start <= end <= start + timeout, the duration in seconds, recorded at the end's time (late ends
 * consume their start too).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "timeutil.h"

static const char *RULES =
    "metrics:\n"
    "  - name: n\n"
    "    events: [order.placed]\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n"
    "  - name: total\n"
    "    events: [order.placed]\n"
    "    aggregate: sum\n"
    "    field: amount\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n"
    "  - name: customers\n"
    "    events: [order.placed]\n"
    "    aggregate: distinct\n"
    "    field: customer\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n"
    "  - name: cycle\n"
    "    pair: {start: lead.created, end: deal.won, key: lead, timeout: 30m}\n"
    "    aggregate: avg\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n";

enum { M_N, M_TOTAL, M_CUSTOMERS, M_CYCLE, NMET };
#define NREG 3
#define NEV 4000
#define R_MS (10 * PW_MS_PER_M)
#define NB 6
#define TIMEOUT (30 * PW_MS_PER_M)

static const char *const regions[NREG] = {"EU", "US", "APAC"};

typedef struct rev {
    int type;          /* 0 order, 1 lead.created, 2 deal.won */
    int64_t ts, T;     /* event time, stream time after it */
    int reg;           /* region index, -1: no region field (deal.won only) */
    int amount, customer, lead;
} rev;

static uint64_t rs_state;
static uint64_t rnd(void) {
    rs_state ^= rs_state << 13;
    rs_state ^= rs_state >> 7;
    rs_state ^= rs_state << 17;
    return rs_state;
}

static int64_t bucket(int64_t t) { return pw_floordiv(t, R_MS); }
static int accepted(const rev *e) { return bucket(e->ts) > bucket(e->T) - NB; }

typedef struct got {
    int seen[NMET][NREG];
    int defined[NMET][NREG];
    double value[NMET][NREG];
    uint64_t count[NMET][NREG];
} got;

static void on_series(const pw_series_view *s, void *ud) {
    got *g = ud;
    int r = -1;
    for (int i = 0; i < NREG; i++)
        if (!strcmp(s->label_vals[0], regions[i])) r = i;
    cr_assert(r >= 0, "unexpected label '%s'", s->label_vals[0]);
    g->seen[s->metric_idx][r] = 1;
    g->defined[s->metric_idx][r] = s->defined;
    g->value[s->metric_idx][r] = s->value;
    g->count[s->metric_idx][r] = s->count;
}

Test(engine_ref, final_values_match_a_brute_force_reference, .timeout = 120) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    static rev evs[NEV];
    int checked_distinct = 0, checked_pairs = 0;
    for (int trial = 0; trial < 40; trial++) {
        rs_state = 0x2545F4914F6CDD1DULL * (uint64_t)(trial + 7);
        tfx_run run;
        tfx_run_init(&run, rs, NULL);
        int64_t t = 1793491200000LL, T = INT64_MIN; /* 2026-11-01 */
        for (int i = 0; i < NEV; i++) {
            rev *e = &evs[i];
            uint64_t x = rnd();
            if (x % 500 == 0) t += (int64_t)(rnd() % (3 * PW_MS_PER_H)); /* gaps longer than the window */
            else t += (int64_t)(rnd() % (40 * 1000));
            e->ts = t - (rnd() % 5 == 0 ? (int64_t)(rnd() % (80 * PW_MS_PER_M)) : 0); /* out of order, some late */
            T = e->ts > T ? e->ts : T;
            e->T = T;
            e->type = (int)(rnd() % 3);
            e->reg = (int)(rnd() % NREG);
            e->amount = (int)(rnd() % 1000);
            e->customer = (int)(rnd() % (trial % 2 ? 40 : 400)); /* few values (re-sightings) or many */
            e->lead = (int)(rnd() % 60);
            if (e->type == 2 && rnd() % 4 == 0) e->reg = -1;
            char tsb[40], json[256];
            pw_time_format_s(e->ts, tsb, sizeof tsb);
            if (e->type == 0)
                snprintf(json, sizeof json,
                         "{\"type\":\"order.placed\",\"ts\":\"%s\",\"region\":\"%s\",\"amount\":%d,\"customer\":\"c%d\"}",
                         tsb, regions[e->reg], e->amount, e->customer);
            else if (e->type == 1)
                snprintf(json, sizeof json, "{\"type\":\"lead.created\",\"ts\":\"%s\",\"region\":\"%s\",\"lead\":\"l%d\"}",
                         tsb, regions[e->reg], e->lead);
            else if (e->reg >= 0)
                snprintf(json, sizeof json, "{\"type\":\"deal.won\",\"ts\":\"%s\",\"region\":\"%s\",\"lead\":\"l%d\"}", tsb,
                         regions[e->reg], e->lead);
            else
                snprintf(json, sizeof json, "{\"type\":\"deal.won\",\"ts\":\"%s\",\"lead\":\"l%d\"}", tsb, e->lead);
            tfx_run_event(&run, json);
        }

        /* reference */
        int64_t head = bucket(T);
        uint64_t cnt[NREG] = {0};
        double sum[NREG] = {0}, dsum[NREG] = {0};
        uint64_t dn[NREG] = {0};
        int64_t last_seen[NREG][400];
        for (int r = 0; r < NREG; r++)
            for (int c = 0; c < 400; c++) last_seen[r][c] = INT64_MIN;
        int64_t pend_ts[60];
        int pend_reg[60];
        for (int k = 0; k < 60; k++) pend_ts[k] = INT64_MIN;
        for (int i = 0; i < NEV; i++) {
            const rev *e = &evs[i];
            int in_win = accepted(e) && bucket(e->ts) > head - NB;
            if (e->type == 0) {
                if (!in_win) continue;
                cnt[e->reg]++;
                sum[e->reg] += e->amount;
                last_seen[e->reg][e->customer] = 1;
            } else if (e->type == 1) {
                int64_t *p = &pend_ts[e->lead];
                if (*p != INT64_MIN && e->ts - *p <= TIMEOUT) continue; /* the first start pairs */
                *p = e->ts;
                pend_reg[e->lead] = e->reg;
            } else {
                int64_t *p = &pend_ts[e->lead];
                if (*p == INT64_MIN || *p > e->ts || e->ts - *p > TIMEOUT) continue; /* unmatched */
                int reg = e->reg >= 0 ? e->reg : pend_reg[e->lead];
                if (in_win) {
                    dsum[reg] += (double)(e->ts - *p) / 1000.0;
                    dn[reg]++;
                }
                *p = INT64_MIN;
            }
        }
        got g;
        memset(&g, 0, sizeof g);
        pw_engine_foreach_series(run.eng, on_series, &g);
        for (int r = 0; r < NREG; r++) {
            uint64_t distinct = 0;
            for (int c = 0; c < 400; c++) distinct += last_seen[r][c] != INT64_MIN;
            /* a series may be forgotten once its window is empty; if present it must agree */
            if (cnt[r] || g.seen[M_N][r]) {
                cr_assert(g.seen[M_N][r], "trial %d %s: count series missing", trial, regions[r]);
                cr_assert_eq(g.count[M_N][r], cnt[r], "trial %d %s: count %llu, want %llu", trial, regions[r],
                             (unsigned long long)g.count[M_N][r], (unsigned long long)cnt[r]);
                cr_assert_eq(g.value[M_TOTAL][r], sum[r], "trial %d %s: sum %.17g, want %.17g", trial, regions[r],
                             g.value[M_TOTAL][r], sum[r]);
                cr_assert_eq(g.value[M_CUSTOMERS][r], (double)distinct, "trial %d %s: distinct %g, want %llu", trial,
                             regions[r], g.value[M_CUSTOMERS][r], (unsigned long long)distinct);
                checked_distinct += distinct > 0;
            }
            if (dn[r] || g.seen[M_CYCLE][r]) {
                cr_assert(g.seen[M_CYCLE][r], "trial %d %s: pair series missing", trial, regions[r]);
                cr_assert_eq(g.count[M_CYCLE][r], dn[r], "trial %d %s: pairs %llu, want %llu", trial, regions[r],
                             (unsigned long long)g.count[M_CYCLE][r], (unsigned long long)dn[r]);
                if (dn[r]) {
                    double want = dsum[r] / (double)dn[r];
                    cr_assert(g.defined[M_CYCLE][r] && fabs(g.value[M_CYCLE][r] - want) <= 1e-9 * fabs(want),
                              "trial %d %s: avg %.17g, want %.17g", trial, regions[r], g.value[M_CYCLE][r], want);
                    checked_pairs++;
                }
            }
        }
        tfx_run_free(&run);
    }
    cr_assert_gt(checked_distinct, 60, "the streams must end with live distinct values");
    cr_assert_gt(checked_pairs, 40, "the streams must end with recorded pairs");
    pw_ruleset_destroy(rs);
}

/* Hundreds of thousands of pending starts: the table grows through every size up to 12 MiB (from
 * 2 MiB on, its own mapping with huge pages); every start must still be found by its end, and give
 * it its label. */
Test(engine_ref, many_pending_starts_are_all_matched, .timeout = 120) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    tfx_run run;
    tfx_run_init(&run, rs, NULL);
    enum { NKEYS = 200000 };
    int64_t t = 1793491200000LL;
    char tsb[40], json[256];
    for (int i = 0; i < NKEYS; i++) {
        pw_time_format_s(t + i / 100, tsb, sizeof tsb); /* 100 starts per ms: all within the timeout */
        snprintf(json, sizeof json, "{\"type\":\"lead.created\",\"ts\":\"%s\",\"region\":\"%s\",\"lead\":\"l%d\"}", tsb,
                 regions[i % NREG], i);
        tfx_run_event(&run, json);
    }
    const pw_metric_stats *st = pw_engine_metric_stats(run.eng, M_CYCLE);
    cr_assert_eq(st->pending, NKEYS);
    for (int i = NKEYS - 1; i >= 0; i--) { /* ends without a region: the start's label is used */
        pw_time_format_s(t + NKEYS / 100 + 1000, tsb, sizeof tsb);
        snprintf(json, sizeof json, "{\"type\":\"deal.won\",\"ts\":\"%s\",\"lead\":\"l%d\"}", tsb, i);
        tfx_run_event(&run, json);
    }
    cr_assert_eq(st->pending, 0);
    cr_assert_eq(st->pair_unmatched, 0);
    cr_assert_eq(st->events, NKEYS, "every end recorded a duration");
    got g;
    memset(&g, 0, sizeof g);
    pw_engine_foreach_series(run.eng, on_series, &g);
    for (int r = 0; r < NREG; r++)
        cr_assert_eq(g.count[M_CYCLE][r], (uint64_t)(NKEYS / NREG + (r < NKEYS % NREG)), "%s", regions[r]);
    tfx_run_free(&run);
    pw_ruleset_destroy(rs);
}
