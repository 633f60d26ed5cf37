#!/usr/bin/env bash
# Scenario: the notification outbox in snapshots (README "Snapshots"), with a real redis-server on a unix
# socket, the mock Kafka broker and local HTTP receivers, each in its own process.
# For a webhook receiver that answers 500, then for one that never answers: eight alerts fire while the
# receiver is down, so their notifications wait in the webhook sink's queue (one being retried or hanging,
# seven queued); a snapshot holding them is written; the daemon is killed with SIGKILL. The receiver then
# comes back on the same port answering 200, the daemon restarts from the snapshot, and the receiver must
# get exactly the fingerprints of the eight firing notifications (each once: the alert states are
# restored too, so nothing fires again), the same set the log sink of the same rules wrote before the kill.
# `pipewatch snapshot inspect` shows the outbox before the restart.
# Then an alertmanager sink: after a kill -9 the restarted daemon re-sends the firing alerts at once (its
# re-send table is rebuilt from the restored alert states).
source "$(dirname "$0")/lib.bash"
command -v redis-server >/dev/null || skip "redis-server is not installed"

start_redis
start_kafka crm:3

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - {name: orders, events: [order.placed], by: [region], window: 1h, resolution: 1m}
rules:
  - {name: busy_region, metric: orders, above: 2}
Y
regions=(EU US APAC LATAM MEA NORDICS DACH UK)
for r in "${regions[@]}"; do
  for i in 1 2 3; do echo "{\"type\":\"order.placed\",\"ts\":\"$(now_ts)\",\"region\":\"$r\"}"; done
done >"$T/events.jsonl"

for mode in 500 hang; do
  port=$(free_port)
  rx() { # MODE NAME: a receiver on $port
    python3 "$SRC/tests/tools/http_receiver.py" --mode "$1" --port "$port" --port-file "$T/rx-$2.port" \
      --record "$T/rx-$2.jsonl" 2>"$T/rx-$2.log" &
    RX_PID=$!
    PIDS+=($RX_PID)
    wait_for 20 test -s "$T/rx-$2.port" || fail "HTTP receiver $2 did not start"
    touch "$T/rx-$2.jsonl"
  }
  rx "$mode" "down-$mode"
  cat >"$T/pw-$mode.yaml" <<Y
kafka: {brokers: $BOOTSTRAP, topics: [crm], group: outbox-$mode}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "outbox-$mode:", interval: 300ms}
sinks:
  - {name: file, type: log, path: $T/alerts-$mode.jsonl, default: true}
  - {name: hook, type: webhook, url: http://127.0.0.1:$port/hook, default: true, timeout: 60s,
     retries: 1000, backoff: 50ms, backoff_max: 200ms}
Y
  : >"$T/alerts-$mode.jsonl"
  "$PW" run --config "$T/pw-$mode.yaml" >/dev/null 2>"$T/daemon-$mode-1.log" &
  DPID=$!; PIDS+=($DPID)
  wait_for 60 grep -q 'assigned [1-9]' "$T/daemon-$mode-1.log" || fail "$mode: no assignment"
  produce crm "$T/events.jsonl"
  wait_for 30 jl_atleast 8 "$T/alerts-$mode.jsonl" 'r["state"] == "firing"' || fail "$mode: the 8 alerts did not fire"
  wait_for 30 jl_atleast 1 "$T/rx-down-$mode.jsonl" 'True' || fail "$mode: the webhook was not attempted"
  # a snapshot written after all eight were queued holds them (the one being delivered included)
  wait_for 30 grep -q 'written: .* 8 undelivered notifications' "$T/daemon-$mode-1.log" \
    || fail "$mode: no snapshot with the 8 undelivered notifications: $(grep 'written' "$T/daemon-$mode-1.log" | tail -3)"
  kill -9 "$DPID"; wait "$DPID" 2>/dev/null || true
  [ "$(jl_count "$T/rx-down-$mode.jsonl" 'True')" -ge 1 ] || fail "$mode: the receiver saw nothing"
  "$PW" snapshot inspect --config "$T/pw-$mode.yaml" >"$T/inspect-$mode.txt" 2>&1 || fail "$mode: inspect failed"
  grep -q '^outbox       8 undelivered notifications' "$T/inspect-$mode.txt" || fail "$mode: inspect: $(cat "$T/inspect-$mode.txt")"
  grep -q '^  hook  *webhook  *8$' "$T/inspect-$mode.txt" || fail "$mode: inspect per sink: $(cat "$T/inspect-$mode.txt")"

  kill "$RX_PID"; wait "$RX_PID" 2>/dev/null || true
  rx ok "up-$mode"
  "$PW" run --config "$T/pw-$mode.yaml" >/dev/null 2>"$T/daemon-$mode-2.log" &
  DPID=$!; PIDS+=($DPID)
  wait_for 60 grep -q 'restored generation' "$T/daemon-$mode-2.log" || fail "$mode: no restore"
  grep -q "sink 'hook': re-queued 8 undelivered notifications" "$T/daemon-$mode-2.log" || fail "$mode: not re-queued"
  wait_for 30 jl_atleast 8 "$T/rx-up-$mode.jsonl" 'True' || fail "$mode: the re-queued notifications were not delivered"
  sleep 2 # anything extra (a second delivery, a re-fired alert) would arrive meanwhile
  kill -TERM "$DPID"; wait "$DPID" || fail "$mode: exit code $?"
  python3 - "$T/alerts-$mode.jsonl" "$T/rx-up-$mode.jsonl" "$T/rx-down-$mode.jsonl" <<'PY' || fail "$mode: delivered set differs"
import json, sys
want = sorted(r["fingerprint"] for r in map(json.loads, open(sys.argv[1])) if r["state"] == "firing")
got = sorted(json.loads(r["body"])["fingerprint"] for r in map(json.loads, open(sys.argv[2])))
down = {json.loads(r["body"])["fingerprint"] for r in map(json.loads, open(sys.argv[3]))}
if len(want) != 8 or len(set(want)) != 8:
    print("expected 8 distinct firing notifications in the log sink, got", want); sys.exit(1)
if got != want:
    print("the receiver got", got, "expected", want); sys.exit(1)
print(f"8 notifications delivered after the restart, each once; {len(down)} of them had reached the down receiver")
PY
  pass "receiver $mode while 8 notifications queued, kill -9 after a snapshot: all 8 delivered after the restart, once each"
done

# Alertmanager: its sink's table of firing alerts (re-sent every `resend` so that Alertmanager keeps them)
# is not in the snapshot; after a kill -9 the restarted daemon rebuilds it from the restored alert states
# and re-sends every firing alert at once (resend is 1h here: nothing else would send them within it).
start_receiver am ok
cat >"$T/pw-am.yaml" <<Y
kafka: {brokers: $BOOTSTRAP, topics: [crm], group: outbox-am}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "outbox-am:", interval: 300ms}
sinks:
  - {name: am, type: alertmanager, url: $RX_am, default: true, resend: 1h}
Y
"$PW" run --config "$T/pw-am.yaml" >/dev/null 2>"$T/daemon-am-1.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 grep -q 'assigned [1-9]' "$T/daemon-am-1.log" || fail "am: no assignment"
am_posted() {
  python3 -c "
import json
print(sum(sum(1 for a in json.loads(r['body']) if a['labels'].get('alertname') == 'busy_region')
          for r in map(json.loads, open('$T/rx-am.jsonl'))))"
}
# the 8 alerts may reach Alertmanager in more than one POST: wait for all of them (a snapshot line alone
# can come before the alerts fire)
am_all_posted() { [ "$(am_posted)" -ge 8 ]; }
wait_for 30 am_all_posted || true
wait_for 30 grep -q 'written: .* 0 undelivered' "$T/daemon-am-1.log" || fail "am: no snapshot"
n1=$(am_posted)
[ "$n1" = 8 ] || fail "am: $n1 alerts posted before the kill, expected 8"
n_written=$(grep -c 'generation [0-9]* written' "$T/daemon-am-1.log")
wait_for 30 sh -c "[ \$(grep -c 'generation [0-9]* written' '$T/daemon-am-1.log') -gt $n_written ]" || fail "am: no later snapshot"
kill -9 "$DPID"; wait "$DPID" 2>/dev/null || true
posts=$(wc -l <"$T/rx-am.jsonl")
"$PW" run --config "$T/pw-am.yaml" >/dev/null 2>"$T/daemon-am-2.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 grep -q 're-sending 8 firing alerts to alertmanager sinks' "$T/daemon-am-2.log" || fail "am: no rebuild"
wait_for 30 sh -c "[ \$(wc -l <'$T/rx-am.jsonl') -gt $posts ]" || fail "am: nothing re-sent after the restart"
sleep 1
kill -TERM "$DPID"; wait "$DPID" || fail "am: exit code $?"
python3 - "$T/rx-am.jsonl" "$posts" <<'PY' || fail "am: the re-sent alerts differ"
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
alerts = [a for r in rows for a in json.loads(r["body"])]
regions = sorted(a["labels"]["region"] for a in alerts if a["labels"].get("alertname") == "busy_region")
now = datetime.datetime.now(datetime.timezone.utc)
future = all(datetime.datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00")) > now for a in alerts)
if regions != sorted(["EU", "US", "APAC", "LATAM", "MEA", "NORDICS", "DACH", "UK"]) or not future:
    print("re-sent after the restart:", regions, "endsAt in the future:", future); sys.exit(1)
PY
pass "alertmanager: the 8 firing alerts were re-sent (endsAt ahead) right after a kill -9 and restart"

# A reload that rebuilds the sinks, then SIGTERM, with the receiver answering 500 throughout: the 8
# undelivered notifications move to the new webhook sink at the reload, then go into the final snapshot
# at SIGTERM (the sinks flush until shutdown_timeout first); after a restart with the receiver back they
# are delivered, each once.
port=$(free_port)
rx() { # MODE NAME
  python3 "$SRC/tests/tools/http_receiver.py" --mode "$1" --port "$port" --port-file "$T/rx-$2.port" \
    --record "$T/rx-$2.jsonl" 2>"$T/rx-$2.log" &
  RX_PID=$!
  PIDS+=($RX_PID)
  wait_for 20 test -s "$T/rx-$2.port" || fail "HTTP receiver $2 did not start"
  touch "$T/rx-$2.jsonl"
}
rx 500 term-down
term_config() { # TIMEOUT
  cat >"$T/pw-term.yaml" <<Y
kafka: {brokers: $BOOTSTRAP, topics: [crm], group: outbox-term}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "outbox-term:", interval: 300ms}
shutdown_timeout: 1s
sinks:
  - {name: file, type: log, path: $T/alerts-term.jsonl, default: true}
  - {name: hook, type: webhook, url: http://127.0.0.1:$port/hook, default: true, timeout: $1,
     retries: 1000, backoff: 50ms, backoff_max: 200ms}
Y
}
term_config 60s
: >"$T/alerts-term.jsonl"
"$PW" run --config "$T/pw-term.yaml" >/dev/null 2>"$T/daemon-term-1.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 jl_atleast 8 "$T/alerts-term.jsonl" 'r["state"] == "firing"' || fail "term: the 8 alerts did not fire"
wait_for 30 jl_atleast 1 "$T/rx-term-down.jsonl" 'True' || fail "term: the webhook was not attempted"
term_config 59s
kill -HUP "$DPID"
wait_for 30 grep -q "reload: sink 'hook': re-queued 8 undelivered notifications" "$T/daemon-term-1.log" \
  || fail "term: the reload did not move the 8 notifications: $(grep reload "$T/daemon-term-1.log")"
kill -TERM "$DPID"; wait "$DPID" || fail "term: exit code $?"
grep -q 'final snapshot: generation [0-9]*, [0-9]* bytes, 8 undelivered notifications' "$T/daemon-term-1.log" \
  || fail "term: the final snapshot does not hold the 8: $(grep 'final snapshot' "$T/daemon-term-1.log")"
kill "$RX_PID"; wait "$RX_PID" 2>/dev/null || true
rx ok term-up
"$PW" run --config "$T/pw-term.yaml" >/dev/null 2>"$T/daemon-term-2.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 grep -q "restore: sink 'hook': re-queued 8 undelivered notifications" "$T/daemon-term-2.log" \
  || fail "term: not re-queued at the restart"
wait_for 30 jl_atleast 8 "$T/rx-term-up.jsonl" 'True' || fail "term: the 8 were not delivered after the restart"
sleep 1
kill -TERM "$DPID"; wait "$DPID" || fail "term: exit code $?"
python3 - "$T/alerts-term.jsonl" "$T/rx-term-up.jsonl" <<'PY' || fail "term: delivered set differs"
import json, sys
want = sorted(r["fingerprint"] for r in map(json.loads, open(sys.argv[1])) if r["state"] == "firing")
got = sorted(json.loads(r["body"])["fingerprint"] for r in map(json.loads, open(sys.argv[2])))
if len(set(want)) != 8 or got != want:
    print("the receiver got", got, "expected", want); sys.exit(1)
PY
pass "reload then SIGTERM with the receiver down: the 8 moved to the new sink, went into the final snapshot and were delivered once after the restart"
stop_all
