#!/usr/bin/env bash
# Scenario: the alertmanager sink of `pipewatch run` against Debian's real prometheus-alertmanager.
# Checks, through Alertmanager's own API (GET /api/v2/alerts) and the webhook Alertmanager itself sends
# to a local receiver: a firing alert is there with alertname = rule name, severity, metric, the series
# labels (a dotted path sanitised to a valid label name, an empty one left out), the rule's labels,
# expanded annotations, startsAt = the alert's active_since and the generatorURL; pipewatch re-sends it
# (its endsAt moves on); when the rule resolves, Alertmanager sees it resolved at once, with endsAt =
# the time pipewatch resolved it (not by expiry), and no longer lists it.
source "$(dirname "$0")/lib.bash"

AM_BIN="$(command -v prometheus-alertmanager || true)"
[ -n "$AM_BIN" ] || skip "prometheus-alertmanager is not installed (Debian package prometheus-alertmanager)"

start_kafka crm:2
start_receiver amrx ok   # where Alertmanager sends its own notifications

cat >"$T/am.yml" <<Y
route:
  receiver: rx
  group_by: [alertname, region]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: rx
    webhook_configs:
      - url: $RX_amrx/am
        send_resolved: true
Y
# The port is picked before Alertmanager binds it: retry if someone took it meanwhile.
for attempt in 1 2 3; do
  AM_PORT=$(free_port)
  "$AM_BIN" --config.file="$T/am.yml" --storage.path="$T/am-data" --cluster.listen-address= \
    --web.listen-address="127.0.0.1:$AM_PORT" >"$T/alertmanager.out" 2>&1 &
  AM_PID=$!
  PIDS+=($AM_PID)
  AM="http://127.0.0.1:$AM_PORT"
  if wait_for 30 http_get "$AM/-/ready"; then break; fi
  kill -9 "$AM_PID" 2>/dev/null || true
  [ "$attempt" = 3 ] && { tail -n 20 "$T/alertmanager.out" >&2; fail "alertmanager did not start"; }
done
pass "prometheus-alertmanager $("$AM_BIN" --version 2>&1 | head -n 1 | grep -o 'version [0-9.]*') ready on $AM"

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: big_orders
    events: [order.placed]
    where: 'amount >= 1000'
    by: [region, customer.tier]
    window: 1h
    resolution: 5m
rules:
  - name: big_orders_spike
    metric: big_orders
    above: 2
    severity: critical
    labels: {team: sales-ops}
    annotations:
      summary: '{{ value }} big orders in {{ labels.region }}'
      runbook: 'https://runbooks.example/big-orders'
Y
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario-alertmanager
clock: event
rules: [rules]
sinks:
  - name: am
    type: alertmanager
    url: $AM
    resend: 3s
    generator_url: http://pipewatch.example/rules/big_orders_spike
    default: true
  - {name: file, type: log, path: alerts.jsonl, default: true}
Y
touch "$T/alerts.jsonl"

# event FILE TYPE MINUTE [JSON-FIELDS]: one event at MINUTE minutes after a base three hours ago.
BASE=$(( $(date +%s) - 3 * 3600 ))
event() {
  printf '{"type":"%s","ts":"%s"%s}\n' "$2" "$(date -u -d "@$((BASE + $3 * 60))" +%Y-%m-%dT%H:%M:%SZ)" "${4:-}" >>"$1"
}
for m in 0 1 2; do
  event "$T/a.jsonl" order.placed $m ',"region":"EMEA","customer":{"tier":"gold"},"amount":1500'
  event "$T/a.jsonl" order.placed $m ',"region":"APAC","amount":2500'          # no tier: label left out
  event "$T/a.jsonl" order.placed $m ',"region":"NA","customer":{"tier":"silver"},"amount":50'  # not big
done

start_daemon "$T/pipewatch.yaml"
wait_assigned
produce crm "$T/a.jsonl"

# am_alerts: the alerts Alertmanager lists now, one JSON object a line.
am_alerts() { http_get "$AM/api/v2/alerts" | python3 -c 'import json, sys; [print(json.dumps(a)) for a in json.load(sys.stdin)]'; }
am_has() { am_alerts >"$T/am-now.jsonl" && jl_atleast 1 "$T/am-now.jsonl" "$1"; }

wait_for 30 am_has 'r["labels"].get("region") == "EMEA"' || fail "the EMEA alert never appeared in Alertmanager"
wait_for 10 am_has 'r["labels"].get("region") == "APAC"' || fail "the APAC alert never appeared in Alertmanager"
wait_for 10 grep -q '"state":"firing".*"region":"APAC"' "$T/alerts.jsonl" || fail "the log sink has no APAC alert"
wait_for 10 grep -q '"state":"firing".*"region":"EMEA"' "$T/alerts.jsonl" || fail "the log sink has no EMEA alert"
am_alerts >"$T/am-firing.jsonl"
python3 - "$T/am-firing.jsonl" "$T/alerts.jsonl" <<'PY' || fail "the alert in Alertmanager is not what pipewatch notified"
import json, re, sys
from datetime import datetime, timezone
def ts(s):  # RFC 3339 with any number of fractional digits (Alertmanager may send 9)
    m = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    frac = (m.group(2) or ".")[:7].ljust(7, "0")
    return datetime.fromisoformat(m.group(1) + frac + ("+00:00" if m.group(3) == "Z" else m.group(3)))
alerts = {a["labels"]["region"]: a for a in map(json.loads, open(sys.argv[1]))}
notes = {n["labels"]["region"]: n for n in map(json.loads, open(sys.argv[2])) if n["state"] == "firing"}
assert set(alerts) == {"EMEA", "APAC"}, "Alertmanager lists %s" % sorted(alerts)
for region, labels in (("EMEA", {"customer_tier": "gold"}), ("APAC", {})):
    a = alerts[region]
    want = {"alertname": "big_orders_spike", "severity": "critical", "metric": "big_orders", "region": region,
            "team": "sales-ops", **labels}
    assert a["labels"] == want, "labels %s, expected %s" % (a["labels"], want)
    assert a["annotations"] == {"summary": "3 big orders in " + region,
                                "runbook": "https://runbooks.example/big-orders"}, a["annotations"]
    assert a["status"]["state"] == "active", a["status"]
    assert a["receivers"] and a["receivers"][0]["name"] == "rx", a["receivers"]
    assert a["generatorURL"] == "http://pipewatch.example/rules/big_orders_spike", a["generatorURL"]
    assert ts(a["startsAt"]) == ts(notes[region]["active_since"]), (a["startsAt"], notes[region]["active_since"])
    assert ts(a["endsAt"]) > datetime.now(timezone.utc), "a firing alert must end in the future: " + a["endsAt"]
PY
pass "firing alerts in Alertmanager: alertname, severity, metric, series and rule labels, annotations, startsAt"

wait_for 20 jl_atleast 1 "$T/rx-amrx.jsonl" \
  'b["status"] == "firing" and any(a["labels"]["region"] == "EMEA" for a in b["alerts"])' \
  || fail "Alertmanager did not route the firing alert to its receiver"
pass "Alertmanager routed the firing alert to its webhook receiver"

# Re-sends: pipewatch posts firing alerts again every `resend` (3s), each time with a later endsAt.
ends0=$(python3 -c 'import json, sys
print([a["endsAt"] for a in map(json.loads, open(sys.argv[1])) if a["labels"]["region"] == "EMEA"][0])' "$T/am-firing.jsonl")
wait_for 15 am_has "r['labels'].get('region') == 'EMEA' and r['endsAt'][:19] > '$ends0'[:19]" \
  || fail "pipewatch did not re-send the firing alert (endsAt stays $ends0)"
pass "firing alerts are re-sent (endsAt moved past $ends0)"

# Resolve: an event two hours later moves stream time on; the window of both series empties.
event "$T/b.jsonl" lead.created 130 ',"region":"NA"'
produce crm "$T/b.jsonl"
wait_for 30 grep -q '"state":"resolved".*"region":"EMEA"' "$T/alerts.jsonl" || fail "pipewatch did not resolve the alert"
wait_for 15 jl_atleast 1 "$T/rx-amrx.jsonl" \
  'b["status"] == "resolved" and any(a["labels"]["region"] == "EMEA" and a["status"] == "resolved" for a in b["alerts"])' \
  || fail "Alertmanager did not see the alert resolved"
python3 - "$T/rx-amrx.jsonl" "$T/alerts.jsonl" <<'PY' || fail "the alert resolved by expiry, not by pipewatch's endsAt"
import json, re, sys
from datetime import datetime
def ts(s):  # RFC 3339 with any number of fractional digits (Alertmanager may send 9)
    m = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    frac = (m.group(2) or ".")[:7].ljust(7, "0")
    return datetime.fromisoformat(m.group(1) + frac + ("+00:00" if m.group(3) == "Z" else m.group(3)))
res = [n for n in map(json.loads, open(sys.argv[2])) if n["state"] == "resolved" and n["labels"]["region"] == "EMEA"]
got = [a for r in map(json.loads, open(sys.argv[1])) for a in json.loads(r["body"])["alerts"]
       if a["status"] == "resolved" and a["labels"]["region"] == "EMEA"]
assert ts(got[0]["endsAt"]) == ts(res[0]["at"]), "endsAt %s, pipewatch resolved at %s" % (got[0]["endsAt"], res[0]["at"])
PY
am_none() { am_alerts >"$T/am-after.jsonl" && [ "$(jl_count "$T/am-after.jsonl" 'True')" = 0 ]; }
wait_for 10 am_none || fail "Alertmanager still lists alerts after they resolved: $(cat "$T/am-after.jsonl")"
pass "resolved: Alertmanager got endsAt = pipewatch's resolve time and no longer lists the alerts"

stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC after SIGTERM"
[ "$DTOOK_MS" -le 10000 ] || fail "SIGTERM took ${DTOOK_MS} ms"
! grep -q 'sink: alertmanager' "$T/daemon.log" || fail "the alertmanager sink reported a problem: $(grep 'sink: alertmanager' "$T/daemon.log" | head -n 3)"
pass "SIGTERM: exit 0 in ${DTOOK_MS} ms; no delivery problem logged"

stop_all
