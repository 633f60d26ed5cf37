#!/usr/bin/env bash
# Failure drill (issue 7): SIGTERM while a forked snapshot writer is running. Redis is made slow with
# `DEBUG SLEEP` (it blocks Redis entirely), so the periodic writer is stuck in the middle of its write
# when SIGTERM arrives. Two cases:
#   A. Redis sleeps 2.5 s (less than redis.command_timeout 5 s): the writer finishes, then the final
#      snapshot is written; the restarted daemon has nothing to re-read.
#   B. Redis sleeps 8 s (more than redis.command_timeout 1 s): the writer and the final snapshot time out;
#      the newest complete snapshot stays in place and the restarted daemon re-reads what came after it
#      from Kafka.
# Checks, each case: a writer process existed at SIGTERM; the daemon exits 0 within its bound (case A
# 12 s, case B 2 x 1 s + 1 s for the writer + the final write + slack = 12 s); the log says what happened to
# the final snapshot; `pipewatch snapshot inspect` accepts the newest snapshot (complete, checksum valid:
# no half snapshot is visible); after a restart, every metric value equals what was produced (no event
# lost or counted twice).
source "$(dirname "$0")/lib.bash"

command -v redis-server >/dev/null || skip "redis-server is not installed"
start_redis --enable-debug-command yes
start_kafka crmA:4 crmB:4
mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1d
    resolution: 1h
  - name: revenue
    events: [order.placed]
    aggregate: sum
    field: amount
    by: [region]
    window: 1d
    resolution: 1h
Y
config() { # NAME GROUP PREFIX COMMAND_TIMEOUT CASE (topic crmCASE)
  cat >"$T/$1.yaml" <<Y
kafka: {brokers: "$BOOTSTRAP", topics: [crm$5], group: $2}
clock: event
rules: [rules]
redis: {address: "$T/redis.sock", key_prefix: "$3:", interval: 1s, command_timeout: $4}
Y
}
batch() { # N FIRST -> N orders, regions r0..r4
  python3 - "$1" "$2" <<'PY'
import sys
n, first = int(sys.argv[1]), int(sys.argv[2])
for i in range(first, first + n):
    print('{"type":"order.placed","ts":"2026-11-02T10:%02d:00Z","region":"r%d","amount":%d}' % (i % 60, i % 5, i % 100))
PY
}
consumed() { grep 'stats: consumed' "$T/$1.log" | tail -1 | grep -o 'consumed [0-9]*' | cut -d' ' -f2; }

# new_writer PID BEFORE: wait (up to 5 s) for a live snapshot writer of PID that is not in BEFORE (the
# children listed just before Redis was put to sleep), print its pid. A writer forked while Redis sleeps
# is stuck there, so it is found even if it started before this call (a slow producer under ASan).
new_writer() {
  local before="$2" c st i
  for i in $(seq 1 250); do
    for c in $(children_of "$1"); do
      case "$before" in *" $c "*) continue ;; esac
      st=$(cat "/proc/$c/stat" 2>/dev/null) || continue
      set -- "$1" ${st##*) }
      [ "$2" != Z ] && { echo "$c"; return 0; }
    done
    sleep 0.02
  done
  return 1
}

drill() { # CASE SLEEP_S COMMAND_TIMEOUT
  local c="$1" prefix="drill$1" t0 took child rc
  config "$c" "$prefix" "$prefix" "$3" "$c"
  "$PW" run --config "$T/$c.yaml" >"$T/$c.out" 2>"$T/$c.log" &
  local pid=$!
  PIDS+=($pid)
  wait_for 40 grep -q 'assigned [1-9][0-9]* partition' "$T/$c.log" || fail "$c: not assigned"
  batch 3000 0 >"$T/$c-1.jsonl"
  kcat -P -b "$BOOTSTRAP" -t "crm$c" -X log_level=3 <"$T/$c-1.jsonl"
  wait_for 30 grep -q 'snapshot: generation [0-9]* written' "$T/$c.log" || fail "$c: no snapshot before the drill"
  local before
  before=" $(children_of "$pid" | tr '\n' ' ') "
  redis-cli -s "$T/redis.sock" DEBUG SLEEP "$2" >/dev/null &
  sleep 0.2
  batch 2000 3000 >"$T/$c-2.jsonl"           # consumption goes on while Redis sleeps
  kcat -P -b "$BOOTSTRAP" -t "crm$c" -X log_level=3 <"$T/$c-2.jsonl"
  child=$(new_writer "$pid" "$before") || fail "$c: no snapshot writer started while Redis sleeps"
  t0=$(date +%s%N)   # at once: in case B the writer gives up after command_timeout
  kill -TERM "$pid"
  wait "$pid" && rc=0 || rc=$?
  took=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$rc" = 0 ] || fail "$c: exit $rc after SIGTERM during a snapshot"
  [ "$took" -le 12000 ] || fail "$c: the stop took $took ms"
  kill -0 "$child" 2>/dev/null && fail "$c: the snapshot writer $child outlived the daemon"
  wait_for 15 rcli ping || fail "redis did not wake up"
  [ "$(consumed "$c")" = 5000 ] || fail "$c: consumed $(consumed "$c") of 5000 before stopping"
  "$PW" snapshot inspect --config "$T/$c.yaml" >"$T/$c-inspect.txt" 2>"$T/$c-inspect.err" \
    || fail "$c: the newest snapshot is refused: $(cat "$T/$c-inspect.err")"
  grep -q "stopping: waiting up to [0-9]* ms for the running snapshot writer (pid $child)" "$T/$c.log" \
    || fail "$c: the log does not say that the stop waits for the writer"
  WRITER_NOTE=$(grep -Eo 'the running snapshot writer (finished|failed|did not)[^(]*' "$T/$c.log" | head -1)
  [ -n "$WRITER_NOTE" ] || fail "$c: the log does not say what became of the running writer"
  SNAP_NOTE=$(grep -o 'final snapshot[^(]*' "$T/$c.log" | head -1)
  [ -n "$SNAP_NOTE" ] || fail "$c: the log does not say what became of the final snapshot"
  TOOK=$took

  # restart: the restored state plus what Kafka re-delivers after the snapshot's offsets = everything.
  # (A fresh consumer group, so as not to wait for the mock cluster's group rebalance; the snapshot's
  # offsets decide where each partition starts anyway.)
  config "$c-r" "$prefix-r" "$prefix" "$3" "$c"
  "$PW" run --config "$T/$c-r.yaml" --metrics-out "$T/$c-final.jsonl" >"$T/$c-2.out" 2>"$T/$c-2.log" &
  pid=$!
  PIDS+=($pid)
  wait_for 40 grep -q 'snapshot: restored generation' "$T/$c-2.log" || fail "$c: nothing restored: $(grep snapshot "$T/$c-2.log")"
  wait_for 40 grep -q 'assigned [1-9][0-9]* partition' "$T/$c-2.log" || fail "$c: restart not assigned"
  sleep 3
  kill -TERM "$pid"
  wait "$pid" || fail "$c: restarted daemon exit $?"
  REREAD=$(consumed "$c-2")
  python3 - "$T/$c-1.jsonl" "$T/$c-2.jsonl" "$T/$c-final.jsonl" <<'PY' || fail "$c: values after the restart differ from what was produced"
import collections, json, sys
cnt, amt = collections.Counter(), collections.Counter()
for f in sys.argv[1:3]:
    for line in open(f):
        e = json.loads(line); cnt[e["region"]] += 1; amt[e["region"]] += e["amount"]
got = {(r["metric"], r["labels"]["region"]): r["value"] for r in map(json.loads, open(sys.argv[3]))}
want = {**{("orders", k): v for k, v in cnt.items()}, **{("revenue", k): v for k, v in amt.items()}}
if got != want:
    print("got", sorted(got.items())); print("want", sorted(want.items())); sys.exit(1)
PY
}

drill A 2.5 5s
grep -q 'final snapshot: generation' "$T/A.log" || fail "A: final snapshot not written: $SNAP_NOTE"
grep -q 'the running snapshot writer finished: generation' "$T/A.log" || fail "A: the writer did not finish: $WRITER_NOTE"
[ "$REREAD" = 0 ] || fail "A: the restarted daemon re-read $REREAD events although the final snapshot had them all"
pass "A (Redis sleeps 2.5 s): writer pid existed at SIGTERM, exit 0 in $TOOK ms, '$WRITER_NOTE', '$SNAP_NOTE', snapshot valid, restart exact (0 re-read)"

drill B 8 1s
grep -q 'final snapshot failed' "$T/B.log" || fail "B: expected the final snapshot to time out: $SNAP_NOTE"
pass "B (Redis sleeps 8 s, timeout 1 s): exit 0 in $TOOK ms, '$WRITER_NOTE', '$SNAP_NOTE', the previous snapshot stays valid, restart exact ($REREAD re-read from Kafka)"
stop_all
