#!/usr/bin/env bash
# Scenario: the snapshot writer's watchdog fires. A forked writer that never finishes would block every
# later snapshot; the loop kills one that runs past connect timeout + 2 x command timeout + a margin (10 s,
# or 3 x the last writer's time). A Redis that is stopped (SIGSTOP) or in one long DEBUG SLEEP does not
# make the writer hang: its first command times out and it fails by itself. What does is a Redis that
# answers every command, each one slowly: here a redis-cli loop keeps Redis in back-to-back `DEBUG SLEEP
# 0.3`, so each command waits up to ~0.3 s (under the 1 s command timeout) and a snapshot written in ~180
# chunks (PIPEWATCH_SNAPSHOT_CHUNK_BYTES, a test knob) takes far longer than the watchdog's limit
# (12.5 s here; more when the last successful writer was slower than 3.3 s: the margin is 3 x its time).
# Checked: the writer is killed (the log says so, the process is gone), /metrics counts the failure, the
# daemon keeps consuming, and once Redis answers normally again the next snapshot succeeds and is valid.
source "$(dirname "$0")/lib.bash"

start_kafka crm:1
start_redis --enable-debug-command yes

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [customer]
    window: 1h
    resolution: 1m
Y
cat >"$T/pipewatch.yaml" <<Y
kafka: {brokers: $BOOTSTRAP, topics: [crm], group: scenario-watchdog}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "wd:", interval: 2s, connect_timeout: 500ms, command_timeout: 1s}
http: {listen: "127.0.0.1:0"}
sinks:
  - {name: out, type: log, path: alerts.jsonl, default: true}
Y
# 3,000 series: a snapshot of ~180 KB, in 1,000-byte chunks
python3 -c '
for i in range(3000):
    print("{\"type\":\"order.placed\",\"ts\":\"2026-11-02T10:%02d:00Z\",\"customer\":\"c%05d\"}" % (i % 60, i))
' >"$T/a.jsonl"
python3 -c '
for i in range(100):
    print("{\"type\":\"order.placed\",\"ts\":\"2026-11-02T10:59:%02dZ\",\"customer\":\"late%03d\"}" % (i % 60, i))
' >"$T/b.jsonl"

export PIPEWATCH_SNAPSHOT_CHUNK_BYTES=1000
start_daemon "$T/pipewatch.yaml"
wait_assigned
port="http://127.0.0.1:$(grep -o '(port [0-9]*)' "$T/daemon.log" | head -n 1 | tr -dc 0-9)"
metric() { curl -fsS "$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
produce crm "$T/a.jsonl"
wait_for 30 sh -c "curl -fsS $port/metrics | grep -q '^pipewatch_events_applied_total 3000\$'" || fail "events not applied"
# a snapshot that holds them (written normally: Redis is fast)
wait_for 20 sh -c "grep 'generation [0-9]* written' '$T/daemon.log' | tail -n 1 | grep -q 'written: [0-9]\{6\} bytes'" \
  || fail "no snapshot of the 3000 series: $(grep 'written' "$T/daemon.log" | tail -n 2)"
ok0=$(metric pipewatch_snapshots_total)
failed0=$(metric pipewatch_snapshot_failures_total)

# Redis slow on every command from now on
redis-cli -s "$T/redis.sock" -r -1 DEBUG SLEEP 0.3 >/dev/null 2>&1 &  # not rcli: $! must be redis-cli itself
SLOW=$!
PIDS+=($SLOW)
produce crm "$T/b.jsonl"   # consumption goes on meanwhile
wait_for 60 grep -q 'snapshot failed ([0-9]* in a row; .*): the writer process (pid [0-9]*) did not finish within [0-9.]* s: killed' "$T/daemon.log" \
  || fail "the watchdog did not kill the writer: $(grep snapshot "$T/daemon.log" | tail -n 3)"
kill "$SLOW"; wait "$SLOW" 2>/dev/null || true
writer=$(grep -o 'the writer process (pid [0-9]*) did not finish' "$T/daemon.log" | head -n 1 | tr -dc 0-9)
[ ! -e "/proc/$writer" ] || fail "the writer $writer still exists after the watchdog"
[ "$(metric pipewatch_snapshot_failures_total)" -gt "$failed0" ] || fail "the failure is not counted in /metrics"
[ "$(metric pipewatch_events_applied_total)" = 3100 ] || fail "consumption stalled: $(metric pipewatch_events_applied_total) applied"
wait_for 10 rcli ping || fail "redis does not answer"

# Redis answers normally again: the next snapshot succeeds (retried after 1 s) and is complete
wait_for 20 sh -c "[ \$(curl -fsS $port/metrics | awk '\$1 == \"pipewatch_snapshots_total\" {print \$2}') -gt $ok0 ]" \
  || fail "no snapshot succeeded after Redis recovered: $(grep snapshot "$T/daemon.log" | tail -n 3)"
"$PW" snapshot inspect --config "$T/pipewatch.yaml" >"$T/inspect.txt" 2>"$T/inspect.err" \
  || fail "the newest snapshot is refused: $(cat "$T/inspect.err")"
grep -q '^total  *3100 series' "$T/inspect.txt" || fail "the snapshot after the recovery: $(cat "$T/inspect.txt")"
stop_daemon
[ "$DRC" = 0 ] || fail "exit status $DRC"
pass "a writer stuck on a slow Redis is killed by the watchdog (counted), and the next snapshot succeeds"
stop_all
