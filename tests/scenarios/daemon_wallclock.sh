#!/usr/bin/env bash
# Scenario: `clock: wall` (the default) makes rules fire when events stop, with no event to move time.
# A `below` rule on a count (min_count 0) and an `absent: 3s` rule watch a short window (10s, resolution
# 1s). A few events stamped "now" are produced, then nothing: both alerts must fire on the wall clock
# alone, each at the instant its condition became true (absent: 3 s after the last event; below: when
# the last event's bucket left the window), and be logged within ~2 s of that instant. New events then
# resolve both.
source "$(dirname "$0")/lib.bash"

start_kafka crm:2

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 10s
    resolution: 1s
rules:
  - name: orders_stopped
    metric: orders
    below: 1
    min_count: 0
    severity: critical
  - name: orders_absent
    metric: orders
    absent: 3s
    severity: warning
Y
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario-wallclock
clock: wall
evaluate_every: 1s
log: {format: json}
rules: [rules]
sinks:
  - {name: file, type: log, path: alerts.jsonl, default: true}
Y
touch "$T/alerts.jsonl"

# now_events FILE N: N order events of region EMEA stamped with the current wall time (milliseconds).
now_events() {
  python3 - "$2" >"$1" <<'PY'
import json, sys, time
for i in range(int(sys.argv[1])):
    t = time.time()
    print(json.dumps({"type": "order.placed", "region": "EMEA", "amount": 10 + i,
                      "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)}))
PY
}

start_daemon "$T/pipewatch.yaml"
wait_assigned

now_events "$T/a.jsonl" 3
produce crm "$T/a.jsonl"
last_ts=$(tail -n 1 "$T/a.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["ts"])')

# Nothing else is produced from here on.
wait_for 30 grep -q '"rule":"orders_absent","state":"firing"' "$T/alerts.jsonl" \
  || fail "the absent rule did not fire on the wall clock (no events after $last_ts)"
wait_for 30 grep -q '"rule":"orders_stopped","state":"firing"' "$T/alerts.jsonl" \
  || fail "the below rule did not fire on the wall clock (no events after $last_ts)"
# the sink thread may write the file before the main thread logs: wait for both log lines too
wait_for 10 grep -q 'orders_absent firing' "$T/daemon.log" || fail "the absent alert was not logged"
wait_for 10 grep -q 'orders_stopped firing' "$T/daemon.log" || fail "the below alert was not logged"

python3 - "$T/alerts.jsonl" "$T/daemon.log" "$last_ts" <<'PY' || fail "alert times are off (see above)"
import json, re, sys
from datetime import datetime
def ts(s):  # RFC 3339 with any number of fractional digits
    m = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    frac = (m.group(2) or ".")[:7].ljust(7, "0")
    return datetime.fromisoformat(m.group(1) + frac + ("+00:00" if m.group(3) == "Z" else m.group(3))).timestamp()
last = ts(sys.argv[3])
notes = {}
for n in map(json.loads, open(sys.argv[1])):
    assert n["state"] == "firing" and n["rule"] not in notes, "unexpected notification %s" % n
    assert n["labels"] == {"region": "EMEA"}, n
    notes[n["rule"]] = n
logged = {}
for line in open(sys.argv[2]):
    e = json.loads(line)                       # log.format: json: every line must be one JSON object
    if e["module"] == "alert" and " firing " in e["msg"]:
        logged[e["msg"].split()[0]] = ts(e["ts"])
for rule, lo, hi in (("orders_absent", 3, 6), ("orders_stopped", 9, 13)):
    at = ts(notes[rule]["at"])
    # when the condition became true, relative to the last event: absent 3 s (at the next 1 s
    # boundary); below once the last event's 1 s bucket is out of the 10 s window (9..10 s after it)
    d = at - last
    assert lo - 0.001 <= d <= hi, "%s fired %.1f s after the last event, expected %d..%d s" % (rule, d, lo, hi)
    lag = logged[rule] - at
    assert -0.01 <= lag <= 3.0, "%s: at %s but logged %.2f s later" % (rule, notes[rule]["at"], lag)
    print("# %s: fired %.1f s after the last event, logged %.2f s after its 'at'" % (rule, d, lag))
PY
pass "with no events, absent and below alerts fire on the wall clock, logged within 3 s of their 'at'"

now_events "$T/b.jsonl" 2
produce crm "$T/b.jsonl"
wait_for 20 grep -q '"rule":"orders_absent","state":"resolved"' "$T/alerts.jsonl" || fail "absent alert not resolved by a new event"
wait_for 20 grep -q '"rule":"orders_stopped","state":"resolved"' "$T/alerts.jsonl" || fail "below alert not resolved by a new event"
pass "new events resolve both alerts"

stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC after SIGTERM"
[ "$(daemon_stat consumed)" = 5 ] && [ "$(daemon_stat applied)" = 5 ] \
  || fail "event accounting wrong: $(grep 'stats' "$T/daemon.log" | tail -n 1)"
pass "SIGTERM: exit 0 in ${DTOOK_MS} ms, 5 events applied"

stop_all
