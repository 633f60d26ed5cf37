#!/usr/bin/env bash
# Scenario: the webhook sink of `pipewatch run` against real local HTTP receivers
# (tests/tools/http_receiver.py), each in its own process: one answers 200, one 500, one never answers.
# Checks: the 200 receiver gets the notification JSON with the configured headers, and a Slack-style
# body template renders a hostile label value (quotes, backslash, newline, non-ASCII) as valid JSON;
# the 500 receiver gets exactly 1 + retries attempts and the failure is logged; while the hanging
# receiver holds its sink, later events still reach the 200 receiver promptly, consumption goes on, and
# what does not fit in the hanging sink's queue is dropped and logged;
# a token given as ${ENV} reaches the receivers (header and URL path) but never the daemon's output,
# even when the 500 receiver echoes it back in its error page; SIGTERM exits 0 within 10 s although a
# request is still hanging.
source "$(dirname "$0")/lib.bash"

export PW_SCENARIO_TOKEN="tok-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
export PW_SCENARIO_PATH_TOKEN="pth-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"

start_kafka crm:3
start_receiver ok ok
start_receiver bad 500 --echo
start_receiver hang hang

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1h
    resolution: 1m
rules:
  - name: orders_ok
    metric: orders
    above: 2
    severity: warning
    labels: {team: sales-ops}
    annotations: {summary: '{{ value }} orders in {{ labels.region }}'}
    notify: [ok, slack]
  - name: orders_failing
    metric: orders
    match: {region: EMEA}
    above: 2
    notify: [failing]
  - name: orders_hanging
    metric: orders
    above: 2
    notify: [hanging]
Y
# ${...} of the tokens are escaped: the daemon, not this shell, must expand them.
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: scenario-webhook
clock: event
log: {level: debug}
rules: [rules]
sinks:
  - name: ok
    type: webhook
    url: $RX_ok/hook
    headers: {Authorization: 'Bearer \${PW_SCENARIO_TOKEN}', X-Team: sales-ops}
  - name: slack
    type: webhook
    url: $RX_ok/services/T000/B000
    body: '{"text": "[{{ severity }}] {{ rule }}: {{ annotations.summary }}", "fp": "{{ fingerprint }}", "notification": {{ json }}}'
  - name: failing
    type: webhook
    url: $RX_bad/hooks/\${PW_SCENARIO_PATH_TOKEN}
    headers: {Authorization: 'Bearer \${PW_SCENARIO_TOKEN}'}
    retries: 3
    backoff: 100ms
    backoff_max: 400ms
  - name: hanging
    type: webhook
    url: $RX_hang/hook
    timeout: 60s
    retries: 0
    queue: 3
Y

# orders FILE REGION COUNT MINUTE [STEP]: COUNT order events of REGION, STEP seconds apart (default 60)
# from MINUTE minutes after a base time two hours ago (clock: event: only their order matters, and all
# stay within one 1h window so that nothing resolves).
BASE=$(( $(date +%s) - 7200 ))
WEIRD=$'Nord "Ost" \\ S\xc3\xbcd\n<&>'
orders() {
  python3 - "$1" "$2" "$3" "$4" "${5:-60}" "$BASE" >>"$1" <<'PY'
import json, sys, time
_, _, region, count, minute, step, base = sys.argv
for i in range(int(count)):
    t = int(base) + int(minute) * 60 + i * int(step)
    print(json.dumps({"type": "order.placed", "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                      "region": region, "amount": 100 + i}))
PY
}

start_daemon "$T/pipewatch.yaml"
wait_assigned

orders "$T/a.jsonl" EMEA 3 0
orders "$T/a.jsonl" "$WEIRD" 3 0
produce crm "$T/a.jsonl"

# --- the 200 receiver: the notification JSON, the headers, the Slack-style template
wait_for 30 jl_atleast 2 "$T/rx-ok.jsonl" 'r["path"] == "/hook"' || fail "the ok receiver got no notification"
wait_for 10 jl_atleast 2 "$T/rx-ok.jsonl" 'r["path"] == "/services/T000/B000"' \
  || fail "the Slack-style sink posted nothing"
python3 - "$T/rx-ok.jsonl" "$WEIRD" <<'PY' || fail "notification JSON or headers wrong (see above)"
import json, os, re, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
weird = sys.argv[2]
hook = {}
for r in recs:
    if r["path"] != "/hook":
        continue
    h = r["headers"]
    assert r["method"] == "POST", r["method"]
    assert h.get("authorization") == "Bearer " + os.environ["PW_SCENARIO_TOKEN"], "Authorization header from ${ENV}"
    assert h.get("x-team") == "sales-ops", h
    assert h.get("content-type") == "application/json", h
    assert h.get("user-agent", "").startswith("pipewatch/"), h
    n = json.loads(r["body"])
    region = n["labels"]["region"]
    assert n["rule"] == "orders_ok" and n["state"] == "firing" and n["severity"] == "warning", n
    assert n["metric"] == "orders" and n["labels"] == {"region": region, "team": "sales-ops"}, n
    assert n["value"] == 3 and n["threshold"] == 2, n
    assert n["annotations"] == {"summary": "3 orders in " + region}, n
    assert re.fullmatch(r"[0-9a-f]{16}", n["fingerprint"]), n
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", n["at"]), n
    hook[region] = n
assert set(hook) == {"EMEA", weird}, sorted(hook)
slack = {}
for r in recs:
    if r["path"] != "/services/T000/B000":
        continue
    assert "authorization" not in r["headers"], "headers of one sink leaked into another"
    b = json.loads(r["body"])  # the template must render valid JSON whatever the label holds
    region = b["notification"]["labels"]["region"]
    assert b["text"] == "[warning] orders_ok: 3 orders in " + region, b["text"]
    assert b["notification"] == hook[region], "{{ json }} differs from the plain body"
    assert b["fp"] == hook[region]["fingerprint"], b
    slack[region] = b
assert set(slack) == {"EMEA", weird}, sorted(slack)
PY
pass "200 receiver: notification JSON with the configured headers; Slack-style template escapes a hostile label"

# --- the 500 receiver: 1 + retries attempts, then the failure is logged
wait_for 30 grep -q 'webhook failing: .*HTTP 500.*1 notification failed after 4 attempts' "$T/daemon.log" \
  || fail "no failure logged for the 500 receiver"
sleep 1 # a fifth attempt would come within 0.4 s
n=$(jl_count "$T/rx-bad.jsonl" 'True')
[ "$n" = 4 ] || fail "the 500 receiver got $n requests, expected 1 + 3 retries"
[ "$(jl_count "$T/rx-bad.jsonl" 'b["rule"] == "orders_failing" and b["labels"]["region"] == "EMEA"')" = 4 ] \
  || fail "the 500 receiver got something other than the EMEA notification 4 times"
[ "$(jl_count "$T/rx-bad.jsonl" "r['path'] == '/hooks/$PW_SCENARIO_PATH_TOKEN'")" = 4 ] \
  || fail "the URL path token did not reach the 500 receiver"
grep -q 'webhook failing: .*retry 1/3' "$T/daemon.log" || fail "retries not logged"
pass "500 receiver: 1 + 3 retries, then 'failed after 4 attempts' logged"

# --- the hanging receiver holds its sink; the others and the consumer go on
wait_for 30 jl_atleast 1 "$T/rx-hang.jsonl" 'True' || fail "the hanging receiver got no request"
orders "$T/b.jsonl" NA 3 10
t0=$(date +%s.%N)
produce crm "$T/b.jsonl"
wait_for 20 jl_atleast 1 "$T/rx-ok.jsonl" 'r["path"] == "/hook" and b["labels"]["region"] == "NA"' \
  || fail "an alert raised while the hanging receiver holds its sink did not reach the ok receiver"
lat=$(python3 - "$T/rx-ok.jsonl" "$t0" <<'PY'
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1]) if '"NA"' in json.loads(l)["body"]]
print("%.1f" % (min(t) - float(sys.argv[2])))
PY
)
python3 -c "import sys; sys.exit(0 if float('$lat') < 5 else 1)" || fail "NA alert took ${lat}s to arrive"
[ "$(jl_count "$T/rx-hang.jsonl" 'True')" = 1 ] || fail "the hanging sink sent a second request: it was not held by the hanging one"
pass "a hanging receiver does not delay the other sinks (NA alert in ${lat}s after producing)"

# many more events: consumption must go on while the hanging sink's queue fills
orders "$T/c.jsonl" LATAM 300 20 1
produce crm "$T/c.jsonl"
wait_for 30 jl_atleast 1 "$T/rx-ok.jsonl" 'r["path"] == "/hook" and b["labels"]["region"] == "LATAM"' \
  || fail "no LATAM alert: consumption stalled behind the hanging receiver"
# the hanging sink holds 3 notifications (one in flight): the LATAM one is the 4th, dropped and logged
grep -q "webhook hanging: queue full (3): dropped the firing notification of rule 'orders_hanging'" "$T/daemon.log" \
  || fail "the notification beyond the hanging sink's queue was not dropped and logged"
pass "consumption goes on while a receiver hangs; its full queue drops and logs"

# --- SIGTERM with a request still hanging
stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC after SIGTERM"
[ "$DTOOK_MS" -le 10000 ] || fail "SIGTERM took ${DTOOK_MS} ms (more than 10 s) with a hanging receiver"
[ "$(daemon_stat consumed)" = 309 ] && [ "$(daemon_stat applied)" = 309 ] \
  || fail "event accounting wrong: $(grep 'stats' "$T/daemon.log" | tail -n 1)"
grep -q 'webhook hanging: .*\(abandoned\|undelivered\)' "$T/daemon.log" \
  || fail "the undelivered notifications of the hanging sink are not reported"
pass "SIGTERM: exit 0 in ${DTOOK_MS} ms with a hanging receiver; 309 events consumed"

# --- secrets: they reached the receivers, and the 500 receiver echoed them into the daemon's log
[ "$(jl_count "$T/rx-bad.jsonl" "r['headers'].get('authorization') == 'Bearer $PW_SCENARIO_TOKEN'")" = 4 ] \
  || fail "the header token did not reach the 500 receiver"
grep -q 'HTTP 500: internal error for' "$T/daemon.log" || fail "the 500 receiver's error page is not in the log"
for s in "$PW_SCENARIO_TOKEN" "$PW_SCENARIO_PATH_TOKEN"; do
  if grep -qF "$s" "$T/daemon.log" "$T/daemon.out"; then
    grep -nF "$s" "$T/daemon.log" "$T/daemon.out" | head -n 5 >&2
    fail "a secret from the environment appears in the daemon's output"
  fi
done
pass "secrets from \${ENV} reach the receivers but never the daemon's output (even when echoed back)"

stop_all
