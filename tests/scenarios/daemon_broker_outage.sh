#!/usr/bin/env bash
# Scenario: the broker goes down for ~5 s in the middle of a stream of 20,000 events (from
# `pipewatch gen`) spread over a 6-partition topic, while `pipewatch run` consumes it, then comes back.
# The consumer's session (3 s) is shorter than the outage, so it loses its partitions and gets them
# back from the last commit, behind what it had processed: the broker delivers those messages again.
# The producer (kcat, idempotent, so that its own retries cannot duplicate a message) keeps going across
# the outage. Afterwards every event must have been consumed exactly once: in the final stats line,
# consumed == applied + rejected == the number produced, and messages the broker delivered again after
# the outage ("redelivered", dropped by the daemon's per-partition check) must not be in `applied`.
# How we know the daemon has read everything before stopping it: after the stream, one sentinel event is
# produced into each partition, and a rule fires once all six are in (a partition is read in order).
source "$(dirname "$0")/lib.bash"

PARTS=6
N=20000
CHUNK=1000
start_kafka crm:$PARTS

mkdir -p "$T/rules"
cat >"$T/rules/pipeline.yaml" <<'Y'
metrics:
  - name: leads
    events: [lead.created]
    by: [origin]
    window: 1d
    resolution: 1h
  - name: revenue
    events: [order.placed]
    aggregate: sum
    field: amount
    by: [region]
    window: 1d
    resolution: 1h
  - name: sentinels
    events: [test.sentinel]
    window: 1h
    resolution: 1m
rules:
  - name: many_leads
    metric: leads
    above: 500
  - name: all_partitions_read
    metric: sentinels
    above: 5
Y
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario-outage
  assignment: roundrobin
  # A session shorter than the outage: the consumer loses its partitions while the broker is down and
  # gets them back from the last commit, as it would after a longer outage with the default 45 s.
  properties: {session.timeout.ms: '3000', heartbeat.interval.ms: '500'}
clock: event
rules: [rules]
sinks:
  - {name: file, type: log, path: alerts.jsonl, default: true}
Y
touch "$T/alerts.jsonl"

"$PW" gen --start "$(now_ts $((-3 * 86400)))" --days 3 --leads-per-day 4000 --count $N --out "$T/events.jsonl"
[ "$(wc -l <"$T/events.jsonl")" = $N ] || fail "pipewatch gen did not write $N events"

# kcat settings: idempotent (a retry after a lost ack cannot write a message twice), each message to a
# random partition (librdkafka's sticky partitioner would put long runs in one), -E: carry on through
# the outage (kcat gives up when all brokers are down otherwise), messages may wait 60 s for the broker.
KCAT_P=(-E -X enable.idempotence=true -X sticky.partitioning.linger.ms=0 -X message.timeout.ms=60000 -X log_level=0)

start_daemon "$T/pipewatch.yaml"
wait_assigned

# The producer: one kcat fed at RATE events/s through a fifo (so the stream lasts ~8 s), in the
# background; the feeder writes how many lines it has passed on to $T/fed. Both are separate processes
# in PIDS, so that a failing run kills them too.
RATE=2500
mkfifo "$T/feed"
kcat -P -b "$BOOTSTRAP" -t crm "${KCAT_P[@]}" <"$T/feed" 2>"$T/producer.log" &
PROD=$!
PIDS+=($PROD)
python3 - "$T/events.jsonl" "$T/fed" "$RATE" >"$T/feed" <<'PY' &
import sys, time
src, fed, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
t0 = time.monotonic()
with open(src) as f:
    for i, line in enumerate(f, 1):
        sys.stdout.write(line)
        if i % 100 == 0:
            sys.stdout.flush()
            with open(fed, "w") as g:
                g.write("%d\n" % i)
            ahead = t0 + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
sys.stdout.flush()
with open(fed, "w") as g:
    g.write("%d\n" % i)
PY
PIDS+=($!)

fed() { cat "$T/fed" 2>/dev/null || echo 0; }
fed_atleast() { [ "$(fed)" -ge "$1" ]; }
producer_done() { ! kill -0 "$PROD" 2>/dev/null; }
wait_for 30 fed_atleast 6000 || fail "the producer is stuck"
before=$(fed)
kafka_ctl down
sleep 5
during=$(fed)
kafka_ctl up
wait_for 5 sh -c "[ \$(grep -c '^ok' '$T/kafka.out') -ge 2 ]" || fail "the mock broker did not acknowledge down/up: $(cat "$T/kafka.out")"
wait_for 40 producer_done || fail "the producer did not finish within 40 s of the outage"
wait "$PROD" || fail "the producer failed: $(tail -n 5 "$T/producer.log")"
[ "$(fed)" = $N ] || fail "the feeder stopped at $(fed) of $N events"
[ "$during" -gt "$before" ] || fail "nothing was fed during the outage"
pass "broker down for 5 s after $before of $N events (the stream went on: $during fed by its end)"

# One sentinel per partition, after the stream.
for p in $(seq 0 $((PARTS - 1))); do
  printf '{"type":"test.sentinel","ts":"%s","partition":%d}\n' "$(now_ts)" "$p" \
    | kcat -P -b "$BOOTSTRAP" -t crm -p "$p" "${KCAT_P[@]}" || fail "cannot produce the sentinel of partition $p"
done
wait_for 40 grep -q '"rule":"all_partitions_read","state":"firing"' "$T/alerts.jsonl" \
  || fail "the daemon did not read all partitions to the end after the outage"
pass "the daemon read every partition to the end after the outage"

# What the topic holds, read by an independent client: nothing lost or doubled by the producer.
in_topic=$(kcat -C -b "$BOOTSTRAP" -t crm -e -q -X log_level=0 -f '%o\n' | wc -l)
[ "$in_topic" = $((N + PARTS)) ] || fail "the topic holds $in_topic messages, $((N + PARTS)) were produced"

# The daemon must have noticed the outage and lost its partitions (else this test proved nothing).
grep -q 'Connection refused\|Disconnected\|consumer error\|transport failure' "$T/daemon.log" \
  || fail "the daemon's log shows no sign of the broker outage"
[ "$(grep -c 'kafka: assigned [1-9]' "$T/daemon.log")" -ge 2 ] \
  || fail "the consumer kept its partitions through the outage: the session timeout did not expire"

stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC after SIGTERM"
[ "$DTOOK_MS" -le 10000 ] || fail "SIGTERM took ${DTOOK_MS} ms"
total=$((N + PARTS))
consumed=$(daemon_stat consumed)
applied=$(daemon_stat applied)
rejected=$(daemon_stat rejected)
redelivered=$(daemon_stat redelivered)
[ -n "$consumed" ] || fail "no stats line after SIGTERM"
[ "$consumed" = "$total" ] && [ $((applied + rejected)) = "$total" ] \
  || fail "events lost or counted twice: produced $total, consumed $consumed, applied $applied, rejected $rejected, redelivered $redelivered"
[ "$rejected" = 0 ] || fail "$rejected events rejected: $(grep rejected "$T/daemon.log" | head -n 3)"
pass "after the outage: produced $total, consumed $consumed = applied $applied + rejected $rejected (redelivered $redelivered, not counted)"

stop_all
