#!/usr/bin/env bash
# Scenario: with `clock: event`, rules added by a reload are evaluated once at stream time right after it,
# so an `absent` rule and a threshold rule that already hold fire without waiting for traffic (before,
# nothing happened until the next event or bucket boundary). Then: the snapshot asked for right after the
# reload keeps that evaluation's alert states, so kill -9 + restart sends neither alert again and both
# are still firing (a restart does not replay the reload's evaluation: it restores its result).
source "$(dirname "$0")/lib.bash"

start_kafka crm:1
start_redis

mkdir -p "$T/rules"
rules() { # rules FILE [extra rules...]: the metric, a rule that never fires, and the extra ones
  cat >"$T/rules/tmp.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1h
    resolution: 1m
rules:
  - name: orders_huge
    metric: orders
    above: 100000
Y
  cat >>"$T/rules/tmp.yaml"
  mv "$T/rules/tmp.yaml" "$T/rules/orders.yaml"
}
rules </dev/null
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario-reload-eval
  # a killed member holds its partitions until its session times out: keep that short
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "reval:", interval: 1h}
http: {listen: "127.0.0.1:0"}
sinks:
  - {name: file, type: log, path: alerts.jsonl, default: true}
Y
touch "$T/alerts.jsonl"

# APAC orders once at 10:00, EMEA every minute from 10:00 to 10:20: stream time 10:20:30, APAC silent 20 m.
{
  echo '{"type":"order.placed","ts":"2026-11-02T10:00:00Z","region":"APAC"}'
  for m in $(seq 0 20); do printf '{"type":"order.placed","ts":"2026-11-02T10:%02d:30Z","region":"EMEA"}\n' "$m"; done
} >"$T/events.jsonl"

start_daemon "$T/pipewatch.yaml"
wait_assigned
port="http://127.0.0.1:$(grep -o '(port [0-9]*)' "$T/daemon.log" | head -n 1 | tr -dc 0-9)"
produce crm "$T/events.jsonl"
wait_for 30 sh -c "curl -fsS $port/metrics | grep -q '^pipewatch_events_applied_total 22\$'" \
  || fail "the 22 events were not applied"
sleep 0.5
[ "$(jl_count "$T/alerts.jsonl" 'True')" = 0 ] || fail "an alert before the reload: $(cat "$T/alerts.jsonl")"

# New rules that already hold at stream time; no event is produced from here on.
rules <<'Y'
  - name: orders_absent
    metric: orders
    absent: 10m
  - name: orders_few
    metric: orders
    match: {region: EMEA}
    below: 50
    min_count: 0
Y
kill -HUP "$DPID"
wait_for 20 grep -q 'reloaded: 1 metrics, 3 rules' "$T/daemon.log" || fail "the reload did not happen"
wait_for 10 jl_atleast 2 "$T/alerts.jsonl" 'r["state"] == "firing"' \
  || fail "the new rules did not fire right after the reload (clock: event)"
grep -q 'rules evaluated once at stream time 2026-11-02T10:20:30Z (clock: event): 2 notifications' "$T/daemon.log" \
  || fail "the reload's evaluation was not logged"
[ "$(jl_count "$T/alerts.jsonl" 'r["rule"] == "orders_absent" and r["labels"] == {"region": "APAC"} and r["at"] == "2026-11-02T10:20:30Z" and r["value"] == 1230')" = 1 ] \
  || fail "absent alert: $(cat "$T/alerts.jsonl")"
[ "$(jl_count "$T/alerts.jsonl" 'r["rule"] == "orders_few" and r["labels"] == {"region": "EMEA"} and r["at"] == "2026-11-02T10:20:30Z" and r["value"] == 21')" = 1 ] \
  || fail "below alert: $(cat "$T/alerts.jsonl")"
[ "$(jl_count "$T/alerts.jsonl" 'True')" = 2 ] || fail "more than the two alerts: $(cat "$T/alerts.jsonl")"
pass "rules added by a reload fire at once with clock: event (absent at 1230 s, below at 21)"

# The snapshot taken right after the reload (the interval is 1 h: it is the reload that asks for it).
wait_for 20 grep -q 'generation 1 written' "$T/daemon.log" || fail "no snapshot after the reload"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
mv "$T/daemon.log" "$T/daemon-1.log.txt"
start_daemon "$T/pipewatch.yaml"
wait_assigned 60
grep -q 'restored generation 1' "$T/daemon.log" || fail "the restart did not restore the snapshot"
port="http://127.0.0.1:$(grep -o '(port [0-9]*)' "$T/daemon.log" | head -n 1 | tr -dc 0-9)"
wait_for 10 sh -c "curl -fsS $port/api/v1/alerts | grep -q orders_few" || fail "alerts API after the restart"
alerts=$(curl -fsS "$port/api/v1/alerts")
python3 - "$alerts" <<'PY' || fail "alert states after the restart: $alerts"
import json, sys
a = json.loads(sys.argv[1])
a = a.get("alerts", a) if isinstance(a, dict) else a
firing = sorted(x["rule"] for x in a if x["state"] == "firing")
assert firing == ["orders_absent", "orders_few"], firing
PY
sleep 1
[ "$(jl_count "$T/alerts.jsonl" 'True')" = 2 ] || fail "the restart sent an alert again: $(cat "$T/alerts.jsonl")"
stop_daemon
[ "$DRC" = 0 ] || fail "exit status $DRC"
pass "kill -9 after the reload's snapshot: both alerts still firing after the restart, none sent again"
stop_all
