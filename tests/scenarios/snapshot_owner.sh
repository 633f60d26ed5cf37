#!/usr/bin/env bash
# Scenario: one daemon per Redis key prefix (the owner lock, PREFIX owner), with a real redis-server.
#  1. A second daemon with the same prefix refuses to start (exit 1) with the prefix, the holder (pid,
#     host, since when) and how to fix it, before joining the consumer group; the first one is untouched.
#     With its own prefix the same config starts.
#  2. kill -9 of the owner, then a restart on the same host: it takes the lock over at once (the holder's
#     process is gone) instead of waiting for the lock to expire (30 s).
#  3. The lock replaced behind the daemon's back (another owner): it stops writing snapshots and the
#     ledger, logs an error, counts it in /metrics, and does not overwrite the other's lock, not even at
#     SIGTERM (no final snapshot, no release).
#  4. An orderly stop releases the lock: the key is gone.
source "$(dirname "$0")/lib.bash"

start_kafka crm:1
start_redis

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1h
    resolution: 1m
Y
config() { # config FILE PREFIX
  cat >"$1" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario-owner-$2
  # a killed member holds its partitions until its session times out: keep that short
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
clock: event
rules: [$T/rules]
redis: {address: $T/redis.sock, key_prefix: "$2:", interval: 1s}
http: {listen: "127.0.0.1:0"}
sinks:
  - {name: out, type: log, path: $T/alerts.jsonl, default: true}
Y
}
config "$T/a.yaml" own
config "$T/other.yaml" other
port_of() { echo "http://127.0.0.1:$(grep -o '(port [0-9]*)' "$1" | head -n 1 | tr -dc 0-9)"; }

# ---- 1. a second daemon on the same prefix
start_daemon "$T/a.yaml"
A=$DPID
wait_assigned
wait_for 10 grep -q 'generation 1 written' "$T/daemon.log" || fail "no snapshot"
holder=$(rcli GET own:owner)
case "$holder" in "$(hostname):$A:"*) ;; *) fail "owner value: '$holder' (want $(hostname):$A:...)";; esac
set +e
timeout 20 "$PW" run --config "$T/a.yaml" >"$T/second.out" 2>"$T/second.log.txt"
rc=$?
set -e
[ "$rc" = 1 ] || fail "the second daemon on prefix own: exited with $rc (want 1): $(cat "$T/second.log.txt")"
grep -q "$T/a.yaml: redis.key_prefix 'own:' is already used by another pipewatch (pid $A on host $(hostname), owner since 20[0-9-]*T[0-9:.]*Z; it is running on this host): two daemons on one prefix would overwrite each other's snapshots and delivery ledger. Stop the other daemon, or give this one its own redis.key_prefix. Not starting." "$T/second.log.txt" \
  || fail "the refusal message: $(cat "$T/second.log.txt")"
! grep -q 'kafka: assigned\|pipewatch running' "$T/second.log.txt" || fail "the second daemon went as far as Kafka"
kill -0 "$A" || fail "the first daemon died"
[ "$(rcli GET own:owner)" = "$holder" ] || fail "the lock changed"
"$PW" run --config "$T/other.yaml" >"$T/other.out" 2>"$T/other.log" &
O=$!
PIDS+=($O)
wait_for 20 grep -q 'owner of redis prefix other:' "$T/other.log" || fail "a daemon with its own prefix did not start"
kill -TERM "$O"; wait "$O" || fail "the daemon on prefix other: exited with $?"
pass "a second daemon on the same prefix refuses to start (exit 1, holder named); one with its own prefix starts"

# ---- 2. kill -9 and restart: no waiting for the lock to expire
kill -9 "$A"; wait "$A" 2>/dev/null || true
mv "$T/daemon.log" "$T/daemon-1.log.txt"
t0=$(date +%s%N)
start_daemon "$T/a.yaml"
wait_for 20 grep -q 'owner of redis prefix own:' "$T/daemon.log" || fail "the restarted daemon did not take the lock"
took=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "took over the owner lock of redis prefix own: from pid $A on host $(hostname), owner since .*: its process no longer runs" "$T/daemon.log" \
  || fail "takeover not logged: $(grep -i owner "$T/daemon.log")"
[ "$took" -lt 10000 ] || fail "the restart took $took ms to take the lock (it must not wait for the 30 s expiry)"
grep -q 'restored generation' "$T/daemon.log" || fail "the restart did not restore the snapshot"
B=$DPID
pass "kill -9 + restart: lock taken over in $took ms (the lock's ttl is 30 s)"

# ---- 3. the lock taken by someone else while running
wait_assigned 60
port=$(port_of "$T/daemon.log")
wait_for 20 sh -c "curl -fsS $port/metrics | grep -q '^pipewatch_snapshot_owner 1\$'" || fail "owner gauge"
fake="otherhost:4242:0123456789abcdef since=1 boot=x pidns=1 start=1"
rcli SET own:owner "$fake" PX 600000 >/dev/null
wait_for 20 grep -q "the owner lock of redis prefix own: is held by another pipewatch (pid 4242 on host otherhost" "$T/daemon.log" \
  || fail "a stolen lock was not noticed"
wait_for 5 sh -c "curl -fsS $port/metrics | grep -q '^pipewatch_snapshot_owner_conflicts_total 1\$'" || fail "conflict not counted"
curl -fsS "$port/metrics" | grep -q '^pipewatch_snapshot_owner 0$' || fail "owner gauge still 1"
latest=$(rcli GET own:latest)
failed0=$(curl -fsS "$port/metrics" | awk '$1 == "pipewatch_snapshot_failures_total" {print $2}')
sleep 3
[ "$(rcli GET own:latest)" = "$latest" ] || fail "snapshots still written after the lock was lost"
failed1=$(curl -fsS "$port/metrics" | awk '$1 == "pipewatch_snapshot_failures_total" {print $2}')
[ "$failed1" -gt "$failed0" ] || fail "snapshots not written are not counted as failed ($failed0 -> $failed1)"
grep -q 'snapshot failed .*not written: another pipewatch holds the owner lock' "$T/daemon.log" || fail "skipped snapshot not logged"
[ "$(rcli GET own:owner)" = "$fake" ] || fail "the daemon overwrote the other's lock"
stop_daemon
[ "$DRC" = 0 ] || fail "exit status $DRC"
grep -q 'final snapshot not written: another pipewatch holds the owner lock of redis prefix own:' "$T/daemon.log" \
  || fail "final snapshot"
[ "$(rcli GET own:latest)" = "$latest" ] || fail "a final snapshot was written"
[ "$(rcli GET own:owner)" = "$fake" ] || fail "the daemon released the other's lock at exit"
pass "a lock taken by another: no more snapshots (counted as failed), conflict counted, the other's lock untouched"

# ---- 4. an orderly stop releases the lock
rcli DEL own:owner >/dev/null
mv "$T/daemon.log" "$T/daemon-2.log.txt"
start_daemon "$T/a.yaml"
wait_for 20 grep -q 'owner of redis prefix own:' "$T/daemon.log" || fail "no lock"
wait_assigned 60
stop_daemon
[ "$DRC" = 0 ] || fail "exit status $DRC"
grep -q 'released the owner lock of redis prefix own:' "$T/daemon.log" || fail "release not logged"
[ "$(rcli EXISTS own:owner)" = 0 ] || fail "the lock is still there after SIGTERM"
pass "SIGTERM releases the lock"
stop_all
