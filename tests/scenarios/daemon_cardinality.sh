#!/usr/bin/env bash
# Scenario (issue 7): engine.max_series in the running daemon. A metric capped at 20 series receives
# 2,000 events with distinct label values plus a control label value sent throughout. Checks:
#   - the overflow is logged once per stats interval and per metric, with the number dropped since the
#     last report and the total (not once per event): a burst gives one line (two if a stats tick falls
#     in the middle of it), the numbers add up exactly, and nothing is logged while nothing overflows
#     (the stats interval is shortened to 1 s with PIPEWATCH_STATS_INTERVAL_MS);
#   - /metrics shows pipewatch_metric_series_dropped_total and pipewatch_metric_series at the cap;
#   - the control series stays exact (count and sum), and applied events are all accounted for.
source "$(dirname "$0")/lib.bash"

start_kafka crm:4
mkdir -p "$T/rules"
cat >"$T/rules/leads.yaml" <<'Y'
metrics:
  - name: leads
    events: [lead.created]
    by: [campaign]
    window: 1d
    resolution: 1h
  - name: spend
    events: [lead.created]
    aggregate: sum
    field: cost
    by: [campaign]
    window: 1d
    resolution: 1h
Y
PORT=$(free_port)
cat >"$T/pipewatch.yaml" <<Y
kafka: {brokers: "$BOOTSTRAP", topics: [crm], group: cardinality}
clock: event
engine: {max_series: 20}
rules: [rules]
http: {listen: "127.0.0.1:$PORT"}
Y

burst() { # FIRST COUNT -> distinct campaigns c-FIRST.., every 4th event the control campaign
  python3 - "$1" "$2" "$(now_ts -600)" <<'PY'
import sys
first, n, ts = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(first, first + n):
    c = "control" if i % 4 == 0 else "c-%d" % i
    print('{"type":"lead.created","ts":"%s","campaign":"%s","cost":%d}' % (ts, c, i % 10))
PY
}
burst 0 1000 >"$T/a.jsonl"
burst 1000 1000 >"$T/b.jsonl"
ctl_count=$(cat "$T/a.jsonl" "$T/b.jsonl" | grep -c '"control"')
ctl_sum=$(cat "$T/a.jsonl" "$T/b.jsonl" | grep '"control"' | grep -o '"cost":[0-9]*' | awk -F: '{s += $2} END {print s}')

# reports METRIC -> "LINES SUM_OF_SINCE LAST_TOTAL" over the overflow report lines of METRIC so far.
# A burst is consumed in a few ms, so it is normally one line; a stats tick in the middle of it may split
# it in two, hence the sums rather than exact lines.
reports() {
  grep -o "metric $1: [0-9]* events dropped since the last report: .* reached ([0-9]* dropped in total)" "$T/daemon.log" \
    | awk '{n++; s += $3; t = $0; sub(/.*reached \(/, "", t); sub(/ .*/, "", t)} END {printf "%d %d %d\n", n, s, t}'
}

PIPEWATCH_STATS_INTERVAL_MS=1000 "$PW" run --config "$T/pipewatch.yaml" --metrics-out "$T/final.jsonl" \
  >"$T/daemon.out" 2>"$T/daemon.log" &
DPID=$!
PIDS+=($DPID)
wait_assigned 40
produce crm "$T/a.jsonl"
# 1000 events: 250 control, 750 distinct; 19 of those get a series, 731 are dropped per metric
wait_for 30 grep -q 'metric spend: .*(731 dropped in total)' "$T/daemon.log" \
  || fail "no overflow report for the first burst: $(grep 'dropped' "$T/daemon.log" | head -3)"
sleep 3 # three more stats intervals without overflow: no more report lines
read -r n1 s1 t1 <<<"$(reports leads)"
[ "$s1" = 731 ] && [ "$t1" = 731 ] && [ "$n1" -le 2 ] || fail "leads after the first burst: $n1 lines, $s1 reported, total $t1"
[ "$(reports spend)" = "$n1 731 731" ] || fail "spend after the first burst: $(reports spend)"
pass "first burst: 731 dropped per metric, reported in $n1 line(s) per metric; nothing logged while nothing overflows"

produce crm "$T/b.jsonl"
wait_for 30 grep -q 'metric spend: .*(1481 dropped in total)' "$T/daemon.log" \
  || fail "no overflow report for the second burst: $(grep 'dropped' "$T/daemon.log" | tail -3)"
sleep 2
read -r n2 s2 t2 <<<"$(reports leads)"
[ "$s2" = 1481 ] && [ "$t2" = 1481 ] && [ $((n2 - n1)) -le 2 ] || fail "leads after the second burst: $n2 lines, $s2 reported, total $t2"
m=$(http_get "http://127.0.0.1:$PORT/metrics")
grep -qx 'pipewatch_metric_series_dropped_total{metric="leads"} 1481' <<<"$m" || fail "/metrics: $(grep series_dropped <<<"$m")"
grep -qx 'pipewatch_metric_series{metric="leads"} 20' <<<"$m" || fail "/metrics: $(grep 'pipewatch_metric_series{' <<<"$m")"
pass "second burst: 750 more dropped, reported in $((n2 - n1)) line(s) (1481 in total), visible in /metrics"

stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC"
[ "$(daemon_stat applied)" = 2000 ] || fail "applied $(daemon_stat applied) of 2000"
grep -qx "{\"metric\":\"leads\",\"labels\":{\"campaign\":\"control\"},\"value\":$ctl_count,\"count\":$ctl_count}" "$T/final.jsonl" \
  || fail "control series count: $(grep control "$T/final.jsonl")"
grep -qx "{\"metric\":\"spend\",\"labels\":{\"campaign\":\"control\"},\"value\":$ctl_sum,\"count\":$ctl_count}" "$T/final.jsonl" \
  || fail "control series sum: $(grep control "$T/final.jsonl")"
pass "control series exact: $ctl_count events, sum $ctl_sum"
stop_all
