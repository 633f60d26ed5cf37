#!/usr/bin/env bash
# Failure drill (issue 7): a SIGHUP storm while the daemon consumes. 300 SIGHUPs 30 ms apart while
# 20,000 events are produced (signals that arrive while a reload is pending coalesce: the loop reloads at
# most once per Kafka poll, 100 ms when idle, so about a third of them cause a reload). Between signals
# the rule file gets one of: a valid variant written atomically (thresholds and one metric's window
# change), a YAML syntax error, an unknown aggregate, an empty file (an editor truncates before
# writing). Then the final valid content and one last SIGHUP. Checks:
#   - no crash; consumption never stops; consumed == applied == 20,000;
#   - no lost or double-counted event: the `orders` metric, whose definition is the same in every valid
#     variant (so reloads keep its windows), counts exactly the events produced per region;
#   - the final rules are the last valid ones (/api/v1/rules has the final rule, pipewatch_rules_loaded);
#   - reloads and failed reloads are counted in /metrics and failures logged with FILE:LINE:COL; an
#     empty rule set is refused (it would drop every window);
#   - memory bounded: RSS growth between the 100th SIGHUP and the end under 8 MiB (normal build; in the
#     ASan build LeakSanitizer checks the daemon's exit instead, since ASan's quarantine holds freed memory).
source "$(dirname "$0")/lib.bash"

start_kafka crm:4
mkdir -p "$T/rules"
variant() { # K -> a valid rule file; `orders` never changes
  cat <<Y
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1d
    resolution: 1h
  - name: amount
    events: [order.placed]
    aggregate: sum
    field: amount
    window: $(( $1 % 3 + 1 ))h
    resolution: 10m
rules:
  - {name: many_orders, metric: orders, above: $(( 1000 + $1 ))}
  - {name: big_amount, metric: amount, above: $(( 5000 + $1 )), for: ${1}m}
Y
}
variant 0 >"$T/rules/orders.yaml"
PORT=$(free_port)
cat >"$T/pipewatch.yaml" <<Y
kafka: {brokers: "$BOOTSTRAP", topics: [crm], group: hupstorm}
clock: event
rules: [rules]
http: {listen: "127.0.0.1:$PORT"}
Y
metric() { http_get "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$DPID/status"; }
asan=0
# grep without -q: with pipefail, grep -q quitting at the first match can kill nm with SIGPIPE and fail the test
nm "$PW" 2>/dev/null | grep __asan_init >/dev/null && asan=1

python3 - "$T" <<'PY'
import sys
for b in range(20):
    with open("%s/batch-%02d.jsonl" % (sys.argv[1], b), "w") as f:
        for i in range(1000):
            f.write('{"type":"order.placed","ts":"2026-11-02T10:%02d:00Z","region":"r%d","amount":%d}\n' % (b, (b * 1000 + i) % 7, i % 50))
PY

start_daemon "$T/pipewatch.yaml"
wait_assigned 40
( for f in "$T"/batch-*.jsonl; do produce crm "$f"; sleep 0.2; done ) &
PROD=$!
PIDS+=($PROD)

rss100=
for i in $(seq 1 300); do
  case $((i % 5)) in
    0|1) variant "$i" >"$T/new.yaml" && mv "$T/new.yaml" "$T/rules/orders.yaml" ;;   # atomic, as README advises
    2) printf 'metrics:\n  - name: orders\n    events: [order.placed\n    window: 1d\n' >"$T/rules/orders.yaml" ;;
    3) variant "$i" | sed 's/aggregate: sum/aggregate: p99/' >"$T/rules/orders.yaml" ;;
    4) : >"$T/rules/orders.yaml" ;;   # truncated, as an editor does before writing
  esac
  kill -HUP "$DPID" || fail "the daemon died at SIGHUP $i"
  sleep 0.03
  if [ "$i" = 100 ]; then sleep 0.5; rss100=$(rss_kib); fi
done
wait "$PROD" || fail "producing failed"
variant 9999 | sed 's/many_orders/final_rule/' >"$T/rules/orders.yaml"
kill -HUP "$DPID"
wait_for 30 sh -c "curl -fsS --max-time 5 http://127.0.0.1:$PORT/api/v1/rules | grep -q final_rule" \
  || fail "the final rules were not loaded"
wait_for 60 sh -c "curl -fsS --max-time 5 http://127.0.0.1:$PORT/metrics | grep -qx 'pipewatch_kafka_consumed_total 20000'" \
  || fail "consumption stalled: consumed $(metric pipewatch_kafka_consumed_total) of 20000"
sleep 1
http_get "http://127.0.0.1:$PORT/metrics" >"$T/metrics.txt"
rss_end=$(rss_kib)
reloads=$(metric pipewatch_reloads_total); failures=$(metric pipewatch_reload_failures_total)
kill -0 "$DPID" || fail "the daemon died"
[ "$reloads" -ge 50 ] || fail "only $reloads reloads were done for 301 SIGHUPs"
[ "$failures" -ge 10 ] || fail "only $failures failed reloads counted"
grep -Eq 'orders.yaml:[0-9]+:[0-9]+: ' "$T/daemon.log" || fail "reload errors not logged with FILE:LINE:COL"
grep -q 'reload refused: the rule files define no metric' "$T/daemon.log" || fail "an empty rule file was not refused"
grep -q 'metric orders: new or changed' "$T/daemon.log" && fail "the orders metric was reset by a reload"
[ "$(metric pipewatch_last_reload_success)" = 1 ] || fail "the last reload is not marked successful"
[ "$(metric pipewatch_rules_loaded)" = 2 ] || fail "rules loaded: $(metric pipewatch_rules_loaded)"
http_get "http://127.0.0.1:$PORT/api/v1/rules" | grep -q many_orders && fail "an older rule set is running"
if [ "$asan" = 0 ]; then
  [ $((rss_end - rss100)) -lt 8192 ] || fail "RSS grew by $((rss_end - rss100)) KiB from reload 100 to the end"
  memnote="RSS $rss100 KiB at SIGHUP 100, $rss_end KiB at the end"
else
  memnote="ASan build: leaks checked by LeakSanitizer at exit"
fi
pass "301 SIGHUPs: $reloads reloads ($failures refused), alive, final rules loaded; $memnote"

stop_daemon
[ "$DRC" = 0 ] || fail "exit $DRC after SIGTERM (under ASan, a leak report makes it non-zero)"
[ "$(daemon_stat consumed)" = 20000 ] && [ "$(daemon_stat applied)" = 20000 ] \
  || fail "stats: $(grep 'stats: consumed' "$T/daemon.log" | tail -1)"
python3 - "$T" <<'PY' || fail "orders per region differ from what was produced"
import collections, glob, json, re, sys
want = collections.Counter()
for f in glob.glob(sys.argv[1] + "/batch-*.jsonl"):
    for line in open(f):
        want[json.loads(line)["region"]] += 1
got = {m.group(1): float(m.group(2)) for m in
       re.finditer(r'^pipewatch_metric_value\{metric="orders",region="([^"]*)"\} (\S+)$', open(sys.argv[1] + "/metrics.txt").read(), re.M)}
print("orders per region:", dict(sorted(got.items())))
sys.exit(0 if got == {k: float(v) for k, v in want.items()} else 1)
PY
pass "SIGTERM: exit 0; consumed = applied = 20,000; orders per region exact (no event lost or counted twice)"
stop_all
