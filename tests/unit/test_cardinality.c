/* test_cardinality.c -- engine.max_series under a label explosion (issue 7).
 *
 * 10,000,000 events through the decoder and the engine, each with a label value never seen before
 * (`origin: "v<i>"`), except every 10th one, which carries the control value `origin: "control"`.
 * The metric is capped at max_series = 5,000. What an operator relies on, checked here:
 *   - memory stays bounded: once the cap is reached, the resident set grows by less than 4 MiB between
 *     event 1,000,000 and event 10,000,000 (a leak of even 1 byte per dropped event would be 9 MB);
 *   - the control series stays exact: its count and its sum equal the generator's own tally;
 *   - every dropped event is counted: overflow = events - control events - (max_series - 1) other
 *     series created, and the series count is exactly max_series.
 * Events go through pw_decoder_decode from generated JSON text, as in the daemon, so the label values
 * are fresh strings each time (no interning could hide a leak).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "engine_fixture.h"
#include "event.h"

#define N_EVENTS 10000000L
#define MAX_SERIES 5000u

static const char *RULES =
    "metrics:\n"
    "  - name: leads\n"
    "    events: [lead.created]\n"
    "    by: [origin]\n"
    "    window: 1h\n"
    "    resolution: 1m\n"
    "  - name: amount\n"
    "    events: [lead.created]\n"
    "    aggregate: sum\n"
    "    field: amount\n"
    "    by: [origin]\n"
    "    window: 1h\n"
    "    resolution: 1m\n"
    "rules:\n"
    "  - {name: many, metric: leads, above: 1000000000}\n";

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(f);
    long size = 0, res = 0;
    cr_assert_eq(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct control { int found; double count, sum; uint64_t n; } control;

static void find_control(const pw_series_view *s, void *ud) {
    control *c = ud;
    if (strcmp(s->label_vals[0], "control") != 0) return;
    c->found++;
    if (s->metric_idx == 0) { c->count = s->value; c->n = s->count; }
    else c->sum = s->value;
}

Test(cardinality, ten_million_distinct_labels_bounded_memory_exact_control, .timeout = 600) {
    pw_ruleset *rs = tfx_load_rules(RULES);
    pw_engine_opts o = {.max_series = MAX_SERIES};
    tfx_run r;
    tfx_run_init(&r, rs, &o);
    /* all events inside one minute of one window: nothing is ever forgotten, so the cap is what bounds */
    const long long t0 = 1793613600000LL; /* 2026-11-02T10:00:00Z */
    char json[256];
    uint64_t ctl_events = 0, ctl_sum = 0;
    long rss_1m = 0;
    for (long i = 0; i < N_EVENTS; i++) {
        int amount = (int)(i % 97);
        int n;
        if (i % 10 == 0) {
            n = snprintf(json, sizeof json,
                         "{\"type\":\"lead.created\",\"ts\":%lld,\"origin\":\"control\",\"amount\":%d}",
                         t0 + (i % 50000), amount);
            ctl_events++;
            ctl_sum += (uint64_t)amount;
        } else {
            n = snprintf(json, sizeof json, "{\"type\":\"lead.created\",\"ts\":%lld,\"origin\":\"v%ld\",\"amount\":%d}",
                         t0 + (i % 50000), i, amount);
        }
        pw_event ev;
        pw_ev_err err = pw_decoder_decode(r.dec, json, (size_t)n, &ev);
        if (err != PW_EV_OK) cr_assert_fail("event %ld not decoded: %s", i, json);
        pw_engine_event(r.eng, &ev);
        if (i + 1 == 1000000) rss_1m = rss_kib();
    }
    long rss_10m = rss_kib();

    for (int k = 0; k < 2; k++) {
        const pw_metric_stats *st = pw_engine_metric_stats(r.eng, k);
        cr_assert_eq(st->series, MAX_SERIES, "metric %d: %llu live series", k, (unsigned long long)st->series);
        /* the control series and MAX_SERIES - 1 of the distinct values got a series; the rest overflowed */
        uint64_t expect_overflow = (uint64_t)N_EVENTS - ctl_events - (MAX_SERIES - 1);
        cr_assert_eq(st->overflow, expect_overflow, "metric %d: overflow %llu, expected %llu", k,
                     (unsigned long long)st->overflow, (unsigned long long)expect_overflow);
        cr_assert_eq(st->events + st->overflow, (uint64_t)N_EVENTS, "metric %d: applied + dropped != sent", k);
    }
    control c = {0};
    pw_engine_foreach_series(r.eng, find_control, &c);
    cr_assert_eq(c.found, 2, "the control series must exist in both metrics");
    cr_assert_eq(c.n, ctl_events);
    cr_assert_eq(c.count, (double)ctl_events, "control count %.17g, expected %llu", c.count,
                 (unsigned long long)ctl_events);
    cr_assert_eq(c.sum, (double)ctl_sum, "control sum %.17g, expected %llu", c.sum, (unsigned long long)ctl_sum);

    fprintf(stderr, "cardinality: RSS %ld KiB at 1M events, %ld KiB at 10M events (growth %ld KiB)\n", rss_1m,
            rss_10m, rss_10m - rss_1m);
    cr_assert_lt(rss_10m - rss_1m, 4096, "RSS grew by %ld KiB between 1M and 10M events", rss_10m - rss_1m);
    tfx_run_free(&r);
    pw_ruleset_destroy(rs);
}
