#!/usr/bin/env bash
# Scenario: the delivery ledger (README "Snapshots"): after a kill -9 and a restart, notifications a sink
# delivered since the last snapshot are not sent again. Real redis-server (unix socket), the mock Kafka
# broker and local HTTP receivers, each in its own process.
#   1. The reviewer's probe: a webhook receiver answering 200, snapshots every 5 s. Two alerts fire, a
#      snapshot is written, two more fire and are delivered (and recorded in the ledger), the daemon is
#      killed with SIGKILL before the next snapshot and restarted: the receiver has each of the four
#      notifications exactly once, and the restarted daemon counts the two it did not re-send
#      (pipewatch_sink_notifications_suppressed_total, log line).
#   2. kill -9 at random moments: 20,000 generated events on one partition (clock: event, so the replay
#      makes the same notifications at the same stream times) with rules that fire, repeat, resolve and
#      fire again, a snapshot every 300 ms, a webhook sink. TRIALS kills (default 3; the soak script runs
#      more), then a run until the stream is consumed. Per fingerprint, the SEQUENCE of notifications the receiver got must be the uninterrupted
#      run's, except re-deliveries of notifications that were in flight at a kill: delivered before the
#      kill but not yet in the ledger Redis held at that moment (read from Redis right after each kill).
source "$(dirname "$0")/lib.bash"
command -v redis-server >/dev/null || skip "redis-server is not installed"

start_redis
start_kafka probe:1 crm:1

# ---------- 1. the probe ----------
mkdir -p "$T/rules1"
cat >"$T/rules1/orders.yaml" <<'Y'
metrics:
  - {name: orders, events: [order.placed], by: [region], window: 1h, resolution: 1m}
rules:
  - {name: busy_region, metric: orders, above: 2}
Y
start_receiver probe ok
cat >"$T/probe.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [probe]
  group: probe
  # a killed member holds its partitions until its session times out: keep that short
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
clock: event
rules: [rules1]
redis: {address: $T/redis.sock, key_prefix: "probe:", interval: 5s}
http: {listen: "127.0.0.1:0"}
sinks:
  - {name: hook, type: webhook, url: $RX_probe/hook, default: true}
Y
orders() { for r in "$@"; do for i in 1 2 3; do echo "{\"type\":\"order.placed\",\"ts\":\"$(now_ts)\",\"region\":\"$r\"}"; done; done; }
orders EU NA >"$T/first.jsonl"
orders APAC LATAM >"$T/second.jsonl"
hook_posts() { jl_count "$T/rx-probe.jsonl" 'True'; }
"$PW" run --config "$T/probe.yaml" >/dev/null 2>"$T/probe-1.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 grep -q 'assigned [1-9]' "$T/probe-1.log" || fail "probe: no assignment"
produce probe "$T/first.jsonl"
wait_for 30 jl_atleast 2 "$T/rx-probe.jsonl" 'True' || fail "probe: the first 2 alerts were not delivered"
wait_for 30 grep -q 'written: .* 0 undelivered' "$T/probe-1.log" || fail "probe: no snapshot after the first 2"
written=$(grep -c 'generation [0-9]* written' "$T/probe-1.log")
produce probe "$T/second.jsonl"
wait_for 10 jl_atleast 4 "$T/rx-probe.jsonl" 'True' || fail "probe: the next 2 alerts were not delivered"
wait_for 10 sh -c "[ \"\$(redis-cli -s '$T/redis.sock' hlen probe:delivered:hook)\" = 4 ]" \
  || fail "probe: the ledger does not hold the 4 deliveries: $(rcli hgetall probe:delivered:hook | tr '\n' ' ')"
kill -9 "$DPID"; wait "$DPID" 2>/dev/null || true
rcli hset probe:delivered:old-hook 0123456789abcdef "1 1 0123456789abcdef 5 5" >/dev/null # a removed sink's
[ "$(grep -c 'generation [0-9]* written' "$T/probe-1.log")" = "$written" ] \
  || fail "probe: a snapshot was written after the second pair (the kill came too late to test anything)"
"$PW" run --config "$T/probe.yaml" >/dev/null 2>"$T/probe-2.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 grep -q 'restored generation' "$T/probe-2.log" || fail "probe: no restore"
wait_for 60 grep -q 'assigned [1-9]' "$T/probe-2.log" || fail "probe: no assignment after the restart"
port="http://127.0.0.1:$(grep -o '(port [0-9]*)' "$T/probe-2.log" | head -n 1 | tr -dc 0-9)"
wait_for 30 sh -c "curl -fsS $port/metrics 2>/dev/null | grep -q '^pipewatch_sink_notifications_suppressed_total{sink=\"hook\"} 2\$'" \
  || fail "probe: suppressed counter: $(curl -fsS "$port/metrics" | grep suppressed)"
sleep 1 # a re-sent notification would arrive meanwhile
kill -TERM "$DPID"; wait "$DPID" || fail "probe: exit code $?"
grep -q "sink 'hook': 2 notifications not sent again: already delivered before the restart" "$T/probe-2.log" \
  || fail "probe: no log line for the suppressed notifications"
[ "$(rcli exists probe:delivered:old-hook)" = 0 ] && grep -q 'deleted delivered:old-hook' "$T/probe-2.log" \
  || fail "probe: the hash of a sink that is gone was not deleted"
python3 - "$T/rx-probe.jsonl" <<'PY' || fail "probe: the receiver did not get each notification once"
import collections, json, sys
got = collections.Counter((b["labels"]["region"], b["state"]) for b in (json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])))
want = {(r, "firing"): 1 for r in ("EU", "NA", "APAC", "LATAM")}
if dict(got) != want:
    print("got", dict(got), "want", want); sys.exit(1)
PY
pass "probe: 2 alerts, snapshot, 2 more delivered, kill -9 before the next snapshot, restart: 4 POSTs, each once; 2 counted as suppressed"

# ---------- 2. random kills, sequences compared ----------
"$PW" gen --leads-per-day 2000 --count 20000 --seed 5 >"$T/events.jsonl"
total=$(wc -l <"$T/events.jsonl")
split -n l/20 "$T/events.jsonl" "$T/slice."
mkdir -p "$T/rules2"
cat >"$T/rules2/r.yaml" <<Y
metrics:
  - {name: leads, events: [lead.created], by: [region], window: 1h, resolution: 5m}
  - {name: emails, events: [email.sent], by: [region], window: 30m, resolution: 5m}
  - {name: all_events, events: [lead.created, deal.won, deal.lost, order.placed, subscription.started,
     subscription.cancelled, email.sent, email.clicked], window: 30d, resolution: 1d}
rules:
  - {name: lead_surge, metric: leads, above: 12, clear: 8, repeat: 2h}
  - {name: lead_drought, metric: leads, below: 3, for: 15m}
  - {name: email_burst, metric: emails, above: 20, clear: 15, repeat: 1h}
  - {name: all_consumed, metric: all_events, above: $((total - 1))}
Y
start_receiver ref ok
start_receiver crash ok
config() { # NAME
  local url_var="RX_$1"
  cat >"$T/$1.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: $1
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
clock: event
rules: [rules2]
redis: {address: $T/redis.sock, key_prefix: "$1:", interval: 300ms}
sinks:
  - {name: hook, type: webhook, url: ${!url_var}/hook, default: true}
Y
}
config ref
config crash
( for f in "$T"/slice.*; do produce crm "$f"; sleep 0.3; done ) &
PRODUCER=$!
kills=0
for trial in $(seq 1 "${TRIALS:-3}"); do
  "$PW" run --config "$T/crash.yaml" >/dev/null 2>"$T/crash-$trial.log" &
  DPID=$!; PIDS+=($DPID)
  wait_for 60 grep -q 'assigned [1-9]' "$T/crash-$trial.log" || fail "crash run $trial: no assignment"
  sleep "$(python3 -c "import random; print(round(random.uniform(0.1, 2.0), 2))")"
  kill -9 "$DPID"; wait "$DPID" 2>/dev/null || true
  kills=$((kills + 1))
  # what the receiver had and what the ledger said at the kill
  wc -l <"$T/rx-crash.jsonl" >"$T/kill-$trial.received"
  rcli hgetall crash:delivered:hook >"$T/kill-$trial.ledger"
done
wait "$PRODUCER" || fail "producing the stream failed"
"$PW" run --config "$T/crash.yaml" >/dev/null 2>"$T/crash-final.log" &
DPID=$!; PIDS+=($DPID)
wait_for 90 jl_atleast 1 "$T/rx-crash.jsonl" 'b["rule"] == "all_consumed"' || fail "the crash run did not consume the stream"
sleep 1
kill -TERM "$DPID"; wait "$DPID" || fail "crash run exit code $?"
cat "$T"/crash-*.log >"$T/crash.log"
suppressed=$({ grep -o "[0-9]* notifications\? not sent again" "$T/crash.log" || true; } | awk '{s+=$1} END {print s+0}')

"$PW" run --config "$T/ref.yaml" >/dev/null 2>"$T/ref.log" &
DPID=$!; PIDS+=($DPID)
wait_for 90 jl_atleast 1 "$T/rx-ref.jsonl" 'b["rule"] == "all_consumed"' || fail "the reference run did not consume the stream"
sleep 1
kill -TERM "$DPID"; wait "$DPID" || fail "reference run exit code $?"

python3 "$SRC/tests/tools/compare_notifications.py" --receiver --ref "$T/rx-ref.jsonl" --crash "$T/rx-crash.jsonl" \
  --kills "$T" "$kills" || fail "the notifications after kills differ from the uninterrupted run's (see above)"
pass "killed -9 $kills times: same notification sequence per alert as the uninterrupted run; $suppressed not re-sent (ledger)"
stop_all
