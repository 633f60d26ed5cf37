#!/usr/bin/env bash
# Scenario: Redis snapshots (README "Snapshots"), with a real redis-server on a unix socket and the mock
# Kafka broker in its own process.
#   1. kill -9 at random moments: 150,000 events over 32 partitions go through `pipewatch run` (clock:
#      event, a snapshot every 300 ms); the daemon is killed with SIGKILL a few times and restarted, and
#      at the end its final series (--metrics-out) must equal those of an uninterrupted run over the same
#      stream, and per alert (fingerprint) the sequence of its notifications too, except re-deliveries of
#      notifications in flight at a kill: written by the log sink before the kill but not yet in the
#      delivery ledger Redis held at that moment (tests/tools/compare_notifications.py). The metrics and
#      rules are chosen so that the result does not depend on how partitions interleave (count, sum and
#      distinct over a window longer than the stream; thresholds crossed once, never cleared), so the
#      notifications are compared on their state only (their times depend on the interleaving).
#   2. Redis killed and restarted while the daemon runs: snapshots fail and are retried, consumption
#      never stops, and a snapshot succeeds again after Redis is back.
#   3. A snapshot written with an older rule set (one metric changed): the unchanged metrics are restored,
#      the changed one starts empty, the log and `pipewatch snapshot inspect` say which.
# Soak variant with many trials: tests/soak/snapshot_soak.sh. TRIALS (default 3) sets the number of kills.
source "$(dirname "$0")/lib.bash"
command -v redis-server >/dev/null || skip "redis-server is not installed"
TRIALS="${TRIALS:-3}"
COUNT="${COUNT:-150000}"
PARTS="${PARTS:-32}"

start_redis
start_kafka "crm:$PARTS"

"$PW" gen --leads-per-day 10000 --count "$COUNT" --seed 11 >"$T/events.jsonl"
total=$(wc -l <"$T/events.jsonl")
# Produced in 20 slices while the crash run consumes, so that the kills land in the middle of the stream;
# keyed by line number so that messages spread evenly (the mock keeps only ~5 MB per partition).
awk '{print NR "\t" $0}' "$T/events.jsonl" >"$T/keyed.tsv"
split -n l/20 "$T/keyed.tsv" "$T/slice."
produce_slowly() {
  for f in "$T"/slice.*; do kcat -P -b "$BOOTSTRAP" -t crm -K $'\t' -X log_level=3 <"$f"; sleep 0.4; done
}

mkdir -p "$T/rules"
write_rules() { # SUM_WINDOW
  cat >"$T/rules/r.yaml" <<Y
metrics:
  - name: all_events
    events: [lead.created, deal.won, deal.lost, order.placed, subscription.started, subscription.cancelled,
             email.sent, email.clicked]
    window: 30d
    resolution: 1d
  - {name: by_type, events: [lead.created, deal.won, deal.lost, order.placed, email.sent], by: [type],
     window: 30d, resolution: 1d}
  - {name: revenue, events: [order.placed], aggregate: sum, field: amount, by: [region], window: $1,
     resolution: 1d}
  - {name: customers, events: [order.placed], aggregate: distinct, field: customer_id, window: 30d,
     resolution: 1d}
  - {name: leads, events: [lead.created], by: [origin], window: 30d, resolution: 1d}
rules:
  - {name: all_consumed, metric: all_events, above: $((total - 1))}
  - {name: busy_type, metric: by_type, above: 5000}
  - {name: big_region, metric: revenue, above: 100000}
  - {name: many_customers, metric: customers, above: 1000}
  - {name: channel_alive, metric: leads, above: 2000}
Y
}
write_rules 30d
config() { # FILE GROUP PREFIX
  cat >"$1" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: $2
  # a killed member holds its partitions until its session times out: keep that short
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "$3", interval: 300ms}
sinks:
  - {name: file, type: log, path: alerts-$2.jsonl, default: true}
Y
}
config "$T/ref.yaml" ref "ref:"
config "$T/crash.yaml" crash "crash:"
touch "$T/alerts-ref.jsonl" "$T/alerts-crash.jsonl"

# The crash run: kill -9 at random moments while the stream arrives, restart each time.
produce_slowly &
PRODUCER=$!
kills=0
for trial in $(seq 1 "$TRIALS"); do
  "$PW" run --config "$T/crash.yaml" >/dev/null 2>"$T/crash-$trial.log" &
  DPID=$!; PIDS+=($DPID)
  wait_for 60 grep -q 'assigned [1-9]' "$T/crash-$trial.log" || fail "crash run $trial: no assignment"
  sleep "$(python3 -c "import random; print(round(random.uniform(0.05, 1.5), 2))")"
  kill -9 "$DPID"; wait "$DPID" 2>/dev/null || true
  kills=$((kills + 1))
  wc -l <"$T/alerts-crash.jsonl" >"$T/kill-$kills.received"
  rcli hgetall crash:delivered:file >"$T/kill-$kills.ledger"
done
wait "$PRODUCER" || fail "producing the stream failed"
# Then run (and stop with SIGTERM) until the whole stream is in: the final series must count every event.
for attempt in $(seq 1 10); do
  "$PW" run --config "$T/crash.yaml" --metrics-out "$T/crash-metrics.jsonl" >/dev/null 2>"$T/crash-final-$attempt.log" &
  DPID=$!; PIDS+=($DPID)
  wait_for 60 grep -q 'assigned [1-9]' "$T/crash-final-$attempt.log" || fail "final crash run: no assignment"
  sleep 2
  kill -TERM "$DPID"; wait "$DPID" || fail "crash run exit code $?"
  grep -q "\"metric\":\"all_events\",\"labels\":{},\"value\":$total," "$T/crash-metrics.jsonl" && break
done
cat "$T"/crash-*.log >"$T/crash.log"
restores=$(grep -c 'restored generation' "$T/crash.log" || true)
[ "$restores" -ge "$kills" ] || fail "only $restores restores after $kills kills"
redelivered=$({ grep -o 'redelivered [1-9][0-9]*' "$T/crash.log" || true; } | awk '{s+=$2} END {print s+0}')

# The reference: one uninterrupted run over the same stream.
start_daemon "$T/ref.yaml"
wait_for 180 grep -q '"rule":"all_consumed"' "$T/alerts-ref.jsonl" || fail "reference run did not consume all $total events"
kill -TERM "$DPID"; wait "$DPID" || fail "reference run exit code $?"
"$PW" run --config "$T/ref.yaml" --metrics-out "$T/ref-metrics.jsonl" >/dev/null 2>"$T/ref2.log" &
DPID=$!; PIDS+=($DPID)
wait_for 60 grep -q 'restored generation' "$T/ref2.log" || fail "reference restart did not restore"
sleep 1; kill -TERM "$DPID"; wait "$DPID" || fail "reference restart exit code $?"
[ -s "$T/ref-metrics.jsonl" ] || fail "no --metrics-out from the reference run"
pass "reference run: $total events, $(wc -l <"$T/alerts-ref.jsonl") notifications, $(wc -l <"$T/ref-metrics.jsonl") series"

python3 - "$T" <<'PY' || fail "crash run differs from the reference (see above)"
import json, sys
T = sys.argv[1]
def metrics(f):
    return {(r["metric"], json.dumps(r["labels"], sort_keys=True)): (r["value"], r["count"]) for r in map(json.loads, open(f))}
a, b = metrics(T + "/ref-metrics.jsonl"), metrics(T + "/crash-metrics.jsonl")
bad = 0
if a.keys() != b.keys():
    print("series differ:", sorted(a.keys() ^ b.keys())[:10]); bad = 1
for k in a.keys() & b.keys():
    (va, ca), (vb, cb) = a[k], b[k]
    if ca != cb or (va is None) != (vb is None) or (va is not None and abs(va - vb) > 1e-9 * max(1, abs(va))):
        print("series", k, "reference", a[k], "after kills", b[k]); bad = 1
print(f"{len(a)} series equal")
sys.exit(bad)
PY
python3 "$SRC/tests/tools/compare_notifications.py" --key state --ref "$T/alerts-ref.jsonl" \
  --crash "$T/alerts-crash.jsonl" --kills "$T" "$kills" || fail "crash run notifications differ from the reference (see above)"
pass "killed -9 $kills time(s), restored $restores time(s), $redelivered re-deliveries dropped: same series and notifications as the uninterrupted run"
grep -o 'fork [0-9.]* ms (loop stall), child [0-9.]* ms' "$T/crash.log" | tail -n 1 | sed 's/^/  measured: /'

# 2. Redis killed and restarted while the daemon runs.
start_daemon "$T/crash.yaml"
wait_for 60 grep -q 'generation [0-9]* written' "$T/daemon.log" || fail "no snapshot before the Redis outage"
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
wait_for 30 grep -q 'snapshot failed (2 in a row' "$T/daemon.log" || fail "snapshot failures not reported during the outage"
for i in $(seq 1 2100); do echo '{"type":"lead.created","ts":"2026-11-05T23:00:00Z","origin":"outage_test","region":"EU"}'; done >"$T/more.jsonl"
produce crm "$T/more.jsonl"
wait_for 60 grep -q '"rule":"channel_alive".*"origin":"outage_test"' "$T/alerts-crash.jsonl" \
  || fail "consumption stopped while Redis was down"
n_written=$(grep -c 'generation [0-9]* written' "$T/daemon.log")
start_redis
wait_for 60 sh -c "[ \$(grep -c 'generation [0-9]* written' '$T/daemon.log') -gt $n_written ]" \
  || fail "no snapshot succeeded after Redis came back"
pass "Redis down: snapshots failed and were retried, events kept flowing, snapshots resumed after Redis returned"
stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC"
grep -q 'final snapshot: generation' "$T/daemon.log" || fail "no final snapshot at SIGTERM"

# 3. An older rule set: revenue's window changes, the other metrics are unchanged.
write_rules 29d
"$PW" snapshot inspect --config "$T/crash.yaml" >"$T/inspect.txt" 2>"$T/inspect.err" || fail "inspect: $(cat "$T/inspect.err")"
grep -q '^  revenue  *changed' "$T/inspect.txt" || fail "inspect does not show revenue as changed: $(cat "$T/inspect.txt")"
grep -q '^  by_type  *unchanged' "$T/inspect.txt" || fail "inspect does not show by_type unchanged"
grep -q "^partitions   $PARTS\$" "$T/inspect.txt" || fail "inspect partitions: $(grep partitions "$T/inspect.txt")"
start_daemon "$T/crash.yaml"
wait_for 60 grep -q 'restored generation' "$T/daemon.log" || fail "no restore with the changed rules"
grep -q 'metric revenue: new or changed, starts empty' "$T/daemon.log" || fail "changed metric not reported"
grep -q 'metric by_type: unchanged, state restored' "$T/daemon.log" || fail "unchanged metric not restored"
stop_daemon
pass "older rule set: unchanged metrics restored, the changed one starts empty; inspect agrees"

# inspect refuses a corrupt snapshot with a clear message
gen=$(rcli get crash:latest)
rcli setrange "crash:snap:$gen" 100 XXXX >/dev/null
"$PW" snapshot inspect --config "$T/crash.yaml" >/dev/null 2>"$T/inspect.err" && fail "inspect accepted a corrupt snapshot"
grep -q 'checksum mismatch' "$T/inspect.err" || fail "inspect message: $(cat "$T/inspect.err")"
start_daemon "$T/crash.yaml"
wait_for 60 grep -q 'restored generation .*(the previous one: the newest was refused)' "$T/daemon.log" \
  || fail "the previous generation was not used: $(grep snapshot "$T/daemon.log" | head)"
stop_daemon
pass "a corrupt newest snapshot is refused by name; the daemon falls back to the previous generation"
stop_all
