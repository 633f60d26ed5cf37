/* snapshot_metrics.h -- the metric definitions shared by the snapshot round-trip tests
 * (tests/unit/test_snapshot.c) and the snapshot decoder's fuzz target (tests/fuzz/fuzz_snapshot.c): one
 * metric of every aggregate, a ratio and a pair, so that a snapshot holds every kind of window state.
 * Plain C (no Criterion): the fuzz target includes it too. Each includer appends its own "rules:". */
#ifndef PW_TEST_SNAPSHOT_METRICS_H
#define PW_TEST_SNAPSHOT_METRICS_H

#define PW_TEST_SNAPSHOT_METRICS \
    "metrics:\n" \
    "  - {name: orders, events: [order.placed], by: [region], window: 1h, resolution: 10m}\n" \
    "  - {name: revenue, events: [order.placed], aggregate: sum, field: amount, by: [region], window: 1h," \
    " resolution: 10m}\n" \
    "  - {name: avg_amount, events: [order.placed], aggregate: avg, field: amount, window: 30m, resolution: 5m}\n" \
    "  - {name: min_amount, events: [order.placed], aggregate: min, field: amount, window: 30m, resolution: 5m}\n" \
    "  - {name: max_amount, events: [order.placed], aggregate: max, field: amount, by: [region], window: 30m," \
    " resolution: 5m}\n" \
    "  - {name: last_amount, events: [order.placed], aggregate: last, field: amount, window: 30m," \
    " resolution: 5m}\n" \
    "  - {name: p90, events: [order.placed], aggregate: quantile, q: 0.9, field: amount, by: [region]," \
    " window: 1h, resolution: 10m}\n" \
    "  - {name: customers, events: [order.placed], aggregate: distinct, field: customer, by: [region]," \
    " window: 1h, resolution: 10m}\n" \
    "  - {name: won, events: [deal.won], by: [region], window: 1h, resolution: 10m}\n" \
    "  - name: win_rate\n" \
    "    ratio: {numerator: won, denominator: orders}\n" \
    "  - name: cycle\n" \
    "    pair: {start: order.placed, end: deal.won, key: id2, timeout: 2h}\n" \
    "    aggregate: max\n" \
    "    unit: m\n" \
    "    by: [region]\n" \
    "    window: 2h\n" \
    "    resolution: 20m\n"

#endif
