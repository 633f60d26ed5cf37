/* test_engine.c -- engine properties that the rule unit tests (tests/ruletests) cannot show:
 *   - skipping quiet boundaries across long gaps changes nothing: a seeded differential test runs the
 *     same random streams (with gaps of hours to weeks) through an engine that evaluates every boundary
 *     and one that skips, and requires identical notifications and final series;
 *   - a jump to year 9999 costs a bounded number of evaluations (it used to cost one per boundary);
 *   - reload (pw_engine_adopt) keeps the windows and alert states of unchanged metrics and rules and
 *     starts changed ones empty.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine_fixture.h"
#include "engine.h"
#include "event.h"
#include "ruleset.h"
#include "timeutil.h"

static const char *RULES =
    "metrics:\n"
    "  - name: orders\n"
    "    events: [order.placed]\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n"
    "  - name: amount\n"
    "    events: [order.placed]\n"
    "    aggregate: avg\n"
    "    field: amount\n"
    "    by: [region]\n"
    "    window: 30m\n"
    "    resolution: 5m\n"
    "  - name: won\n"
    "    events: [deal.won]\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n"
    "  - name: win_rate\n"
    "    ratio: {numerator: won, denominator: orders}\n"
    "  - name: cycle\n"
    "    pair: {start: order.placed, end: deal.won, key: id2, timeout: 2h}\n"
    "    aggregate: max\n"
    "    unit: m\n"
    "    by: [region]\n"
    "    window: 2h\n"
    "    resolution: 20m\n"
    "rules:\n"
    "  - {name: few_orders, metric: orders, below: 2, for: 20m, repeat: 30m}\n"
    "  - {name: many_orders, metric: orders, above: 3, clear: 2}\n"
    "  - {name: silent, metric: orders, absent: 45m, repeat: 2h}\n"
    "  - {name: odd_amount, metric: amount, outside: [20, 80], for: 10m}\n"
    "  - {name: low_rate, metric: win_rate, below: 0.5, min_count: 2}\n"
    "  - {name: long_cycle, metric: cycle, above: 50, repeat: 1h}\n"
    "  - {name: no_deals, metric: won, absent: 3h, match: {region: EU}}\n";


static void collect_series(const pw_series_view *s, void *ud) {
    pw_buf *b = ud;
    pw_buf_printf(b, "%d", s->metric_idx);
    for (int i = 0; i < 1 && s->label_vals[i]; i++) pw_buf_printf(b, " %s", s->label_vals[i]);
    pw_buf_printf(b, " %d %.9g %llu\n", s->defined, s->defined ? s->value : 0.0, (unsigned long long)s->count);
}

typedef tfx_run run;

static void run_init(run *r, const pw_ruleset *rs, int no_skip) {
    pw_engine_opts o = {0};
    o.no_skip = no_skip;
    tfx_run_init(r, rs, &o);
}




static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

Test(engine, skipping_quiet_boundaries_changes_nothing) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    static const char *regions[] = {"EU", "US", "APAC"};
    int streams_with_gaps = 0;
    for (int trial = 0; trial < 150; trial++) {
        rng_state = 0x9E3779B97F4A7C15ULL * (uint64_t)(trial + 1);
        run a, b;
        run_init(&a, rs, 1);
        run_init(&b, rs, 0);
        int64_t t = 1793491200000LL; /* 2026-11-01 */
        int gaps = 0;
        for (int i = 0; i < 200; i++) {
            uint64_t x = rnd();
            if (x % 40 == 0) { t += (int64_t)(rnd() % (14 * PW_MS_PER_D)); gaps++; } /* up to two weeks */
            else t += (int64_t)(rnd() % (15 * PW_MS_PER_M));
            int64_t ts = t - (int64_t)(rnd() % 3 == 0 ? rnd() % (40 * PW_MS_PER_M) : 0); /* some out of order */
            char tsb[40], json[256];
            pw_time_format_s(ts, tsb, sizeof tsb);
            const char *reg = regions[rnd() % 3];
            if (rnd() % 3)
                snprintf(json, sizeof json, "{\"type\":\"order.placed\",\"ts\":\"%s\",\"region\":\"%s\",\"amount\":%d,\"id2\":\"k%d\"}",
                         tsb, reg, (int)(rnd() % 100), (int)(rnd() % 30));
            else
                snprintf(json, sizeof json, "{\"type\":\"deal.won\",\"ts\":\"%s\",\"region\":\"%s\",\"id2\":\"k%d\"}", tsb, reg,
                         (int)(rnd() % 30));
            tfx_run_event(&a, json);
            tfx_run_event(&b, json);
        }
        int64_t end = t + (int64_t)(rnd() % (30 * PW_MS_PER_D));
        pw_engine_advance(a.eng, end);
        pw_engine_advance(b.eng, end);
        if (gaps) streams_with_gaps++;
        cr_assert_str_eq(b.out.data ? b.out.data : "", a.out.data ? a.out.data : "", "trial %d: notifications differ", trial);
        pw_buf sa, sb;
        pw_buf_init(&sa);
        pw_buf_init(&sb);
        pw_engine_foreach_series(a.eng, collect_series, &sa);
        pw_engine_foreach_series(b.eng, collect_series, &sb);
        /* forgetting may happen earlier when skipping, never later: every series b keeps, a keeps too */
        const char *p = sb.data ? sb.data : "";
        while (*p) {
            const char *nl = strchr(p, '\n');
            char line[256];
            snprintf(line, sizeof line, "%.*s", (int)(nl - p + 1), p);
            cr_assert(sa.data && strstr(sa.data, line), "trial %d: series '%s' only when skipping", trial, line);
            p = nl + 1;
        }
        cr_assert_leq(pw_engine_get_stats(b.eng)->evaluations, pw_engine_get_stats(a.eng)->evaluations);
        pw_buf_free(&sa);
        pw_buf_free(&sb);
        tfx_run_free(&a);
        tfx_run_free(&b);
    }
    cr_assert_gt(streams_with_gaps, 100, "the streams must contain long gaps");
    pw_ruleset_destroy(rs);
}

Test(engine, jump_to_year_9999_is_bounded) {
    /* the rules of RULES without `repeat` (repeats are real notifications: 8,000 years of them are not
     * a cost the engine can avoid) */
    pw_ruleset *rs = tfx_load_rules(
        "metrics:\n"
        "  - {name: orders, events: [order.placed], by: [region], window: 1h, resolution: 10m}\n"
        "  - {name: won, events: [deal.won], by: [region], window: 1h, resolution: 10m}\n"
        "  - {name: win_rate, ratio: {numerator: won, denominator: orders}}\n"
        "rules:\n"
        "  - {name: few_orders, metric: orders, below: 2, for: 20m}\n"
        "  - {name: silent, metric: orders, absent: 45m}\n"
        "  - {name: low_rate, metric: win_rate, below: 0.5}\n");
    run r;
    run_init(&r, rs, 0);
    tfx_run_event(&r, "{\"type\":\"order.placed\",\"ts\":\"2026-11-01T00:00:00Z\",\"region\":\"EU\",\"amount\":50}");
    tfx_run_event(&r, "{\"type\":\"order.placed\",\"ts\":\"9999-12-31T23:00:00Z\",\"region\":\"US\",\"amount\":50}");
    const pw_engine_stats *st = pw_engine_get_stats(r.eng);
    /* one evaluation per boundary would be ~420 million; skipping leaves a few per rule and series */
    cr_assert_lt(st->evaluations, 1000, "evaluations %llu for a jump of 8000 years", (unsigned long long)st->evaluations);
    /* and the alerts that had to fire did: few_orders (after `for`), silent, low_rate for EU */
    cr_assert(strstr(r.out.data, "\"rule\":\"few_orders\",\"state\":\"firing\""));
    cr_assert(strstr(r.out.data, "\"rule\":\"silent\",\"state\":\"firing\""));
    cr_assert(strstr(r.out.data, "\"at\":\"2026-11-01T00:50:00Z\""), "silent fires at the first boundary 45m after: %s",
              r.out.data);
    tfx_run_free(&r);
    pw_ruleset_destroy(rs);
}

static const char *RELOADED =
    "metrics:\n"
    "  - name: orders\n"
    "    events: [order.placed]\n"
    "    by: [region]\n"
    "    window: 1h\n"
    "    resolution: 10m\n"
    "    help: same definition, new help text\n"
    "  - name: amount\n"
    "    events: [order.placed]\n"
    "    aggregate: sum\n" /* changed: avg -> sum */
    "    field: amount\n"
    "    by: [region]\n"
    "    window: 30m\n"
    "    resolution: 5m\n"
    "rules:\n"
    "  - {name: many_orders, metric: orders, above: 3, clear: 2}\n"
    "  - {name: few_orders, metric: orders, below: 1}\n"; /* changed threshold */

typedef struct kept { char names[8][32]; int kept[8]; int n; } kept;
static void on_kept(const char *m, int k, void *ud) {
    kept *kp = ud;
    snprintf(kp->names[kp->n], 32, "%s", m);
    kp->kept[kp->n++] = k;
}

static void find_series(const pw_series_view *s, void *ud) {
    double *v = ud;
    if (s->metric_idx == 0 && !strcmp(s->label_vals[0], "EU")) {
        v[0] = s->value;
        v[1] = s->alerts ? s->alerts[0].state : 0;
    }
    if (s->metric_idx == 1 && !strcmp(s->label_vals[0], "EU")) v[2] = s->value;
}

Test(engine, reload_keeps_unchanged_state) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    run r;
    run_init(&r, rs, 0);
    for (int i = 0; i < 5; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"type\":\"order.placed\",\"ts\":\"2026-11-01T00:0%d:00Z\",\"region\":\"EU\",\"amount\":%d}", i, 10 * (i + 1));
        tfx_run_event(&r, json);
    }
    cr_assert(strstr(r.out.data, "\"rule\":\"many_orders\",\"state\":\"firing\""), "many_orders fires before reload");
    pw_ruleset *rs2 = tfx_load_rules(RELOADED);
    pw_buf out2;
    pw_buf_init(&out2);
    pw_engine *e2 = pw_engine_new(rs2, NULL, tfx_collect, &out2);
    kept kp = {0};
    pw_engine_adopt(e2, r.eng, on_kept, &kp);
    r.eng = e2;
    cr_assert_eq(kp.n, 2);
    cr_assert_str_eq(kp.names[0], "orders");
    cr_assert_eq(kp.kept[0], 1, "orders is unchanged: kept");
    cr_assert_str_eq(kp.names[1], "amount");
    cr_assert_eq(kp.kept[1], 0, "amount changed: starts empty");
    double v[3] = {-1, -1, -1};
    pw_engine_foreach_series(e2, find_series, v);
    cr_assert_eq(v[0], 5, "the orders window survived the reload");
    cr_assert_eq(v[1], PW_ALERT_FIRING, "many_orders is still firing (unchanged rule)");
    cr_assert_eq(v[2], -1, "amount has no series after the reload");
    cr_assert_eq(pw_engine_get_stats(e2)->firing, 1);
    /* no duplicate firing notification: the state was carried, not recomputed */
    tfx_run_event(&r, "{\"type\":\"order.placed\",\"ts\":\"2026-11-01T00:06:00Z\",\"region\":\"EU\",\"amount\":1}");
    cr_assert(!out2.data || !strstr(out2.data, "many_orders"), "no re-notification after reload: %s", out2.data);
    pw_buf_free(&out2);
    tfx_run_free(&r);
    pw_ruleset_destroy(rs);
    pw_ruleset_destroy(rs2);
}
