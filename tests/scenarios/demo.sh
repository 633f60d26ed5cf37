#!/usr/bin/env bash
# Scenario: `pipewatch demo`, the Quick start's main job, at high speed: a private broker, redis (when
# installed) and status page come up, the generated incidents are caught by the example rules, the status
# page answers while it runs, and it stops by itself with exit code 0.
source "$(dirname "$0")/lib.bash"
cd "$SRC"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PW" demo --days 21 --speed 250000 --http "127.0.0.1:$port" >"$T/demo.out" 2>"$T/demo.log" &
DPID=$!
PIDS+=($DPID)
wait_for 30 python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=2)" \
  || fail "the demo's status page does not answer"
pass "status page answers on 127.0.0.1:$port while the demo runs"
wait $DPID && rc=0 || rc=$?
[ "$rc" = 0 ] || fail "demo exited with $rc"
grep -q 'kafka broker:  127.0.0.1:[0-9]* (topic crm)' "$T/demo.log" || fail "the broker address is not printed"
for rule in paid_search_leads_low cancellations_high conversion_emea_low; do
  grep -q "alert: $rule firing" "$T/demo.log" || fail "incident not caught: $rule"
done
pass "the incidents are caught: paid_search_leads_low, cancellations_high, conversion_emea_low"
if command -v redis-server >/dev/null; then
  grep -q 'snapshot: final snapshot: generation' "$T/demo.log" || fail "no final snapshot with redis installed"
  pass "snapshots to a private redis-server"
fi
grep -q 'pipewatch demo: done' "$T/demo.log" || fail "no closing line"
pass "the demo stops by itself with exit code 0"
