#!/usr/bin/env bash
# Scenario: `pipewatch run` against the mock Kafka broker in its own process.
# Checks: alerts reach the log sink and the Kafka alert topic (keyed by fingerprint); a malformed
# message is counted and dead-lettered with its reason; SIGHUP with a broken rule file keeps the old
# rules (error reported as FILE:LINE:COL) and a fixed file is applied with state kept; the broker going
# down and coming back loses no event; SIGTERM stops within 10 s with exit code 0.
source "$(dirname "$0")/lib.bash"

start_kafka crm:4 alerts:1 dlq:1

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1h
    resolution: 10m
rules:
  - name: many_orders
    metric: orders
    above: 3
    severity: info
    annotations: {summary: '{{ value }} orders in {{ labels.region }}'}
Y
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario
  dead_letter_topic: dlq
clock: event
rules: [rules]
sinks:
  - {name: file, type: log, path: alerts.jsonl, default: true}
  - {name: topic, type: kafka, topic: alerts, default: true}
Y

orders() { # REGION FIRST_MINUTE COUNT -> JSON lines
  for i in $(seq 0 $(($3 - 1))); do
    printf '{"type":"order.placed","ts":"2026-11-02T10:%02d:00Z","region":"%s","amount":%d}\n' $(($2 + i)) "$1" $((100 + i))
  done
}
orders EMEA 0 4 >"$T/a.jsonl"
echo 'this is not json' >>"$T/a.jsonl"
produce crm "$T/a.jsonl"

"$PW" run --config "$T/pipewatch.yaml" 2>"$T/daemon.log" &
DPID=$!
PIDS+=($DPID)

wait_for 40 grep -q '"rule":"many_orders","state":"firing".*"region":"EMEA"' "$T/alerts.jsonl" \
  || fail "no EMEA alert in the log sink"
pass "alert delivered to the log sink"

fp=$(grep -o '"fingerprint":"[0-9a-f]*"' "$T/alerts.jsonl" | head -1 | cut -d'"' -f4)
wait_for 20 sh -c "kcat -C -b '$BOOTSTRAP' -t alerts -e -q -f '%k %s\n' | grep -q '^$fp .*many_orders'" \
  || fail "alert not on the Kafka topic keyed by its fingerprint $fp"
pass "alert produced to the alert topic, key = fingerprint"

wait_for 20 sh -c "kcat -C -b '$BOOTSTRAP' -t dlq -e -q -f '%h %s\n' | grep -q 'pipewatch-reason=not_json.*this is not json'" \
  || fail "malformed message not dead-lettered with its reason"
grep -q 'rejected message crm/.*: not_json' "$T/daemon.log" || fail "malformed message not logged"
pass "malformed message counted, logged and dead-lettered"

# A broken rule file: reload must fail and keep the running rules.
cp "$T/rules/orders.yaml" "$T/orders.good"
printf 'metrics:\n  - name: orders\n    events: [order.placed]\n    aggregate: p99\n    window: 1h\n' >"$T/rules/orders.yaml"
kill -HUP $DPID
wait_for 20 grep -q 'reload failed' "$T/daemon.log" || fail "broken reload not reported"
grep -q "orders.yaml:4:16: unknown aggregate 'p99'" "$T/daemon.log" || fail "reload error lacks FILE:LINE:COL"
orders NA 10 4 >"$T/b.jsonl"
produce crm "$T/b.jsonl"
wait_for 30 grep -q '"state":"firing".*"region":"NA"' "$T/alerts.jsonl" || fail "old rules not kept after a bad reload"
pass "SIGHUP with a broken rule file keeps the old rules"

# A good change: a new rule on the same metric. The metric's windows must be kept.
cp "$T/orders.good" "$T/rules/orders.yaml"
cat >>"$T/rules/orders.yaml" <<'Y'
  - name: no_orders
    metric: orders
    absent: 2h
Y
kill -HUP $DPID
wait_for 20 grep -q 'reloaded: 1 metrics, 2 rules' "$T/daemon.log" || fail "good reload not applied"
grep -q 'metric orders: unchanged, state kept' "$T/daemon.log" || fail "reload did not keep the unchanged metric"
pass "SIGHUP with a fixed rule file applies it and keeps unchanged state"

# The broker goes down and comes back: nothing produced meanwhile or after may be lost.
kafka_ctl down
sleep 3
kafka_ctl up
orders LATAM 20 4 >"$T/c.jsonl"
produce crm "$T/c.jsonl"
wait_for 60 grep -q '"state":"firing".*"region":"LATAM"' "$T/alerts.jsonl" || fail "no alert after the broker came back"
pass "broker down and up: consumption resumes"

start=$(date +%s)
kill -TERM $DPID
wait $DPID && rc=0 || rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" = 0 ] || fail "exit code $rc after SIGTERM"
[ "$took" -le 10 ] || fail "SIGTERM took ${took}s"
grep -q 'consumed 13, applied 12, rejected 1' "$T/daemon.log" || fail "event accounting wrong: $(grep stats "$T/daemon.log" | tail -1)"
pass "SIGTERM: exit 0 in ${took}s, all 12 events applied, 1 rejected"
