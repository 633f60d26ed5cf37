#!/usr/bin/env bash
# Scenario (issue 7, security): secrets given through ${ENV} never appear in process arguments or logs.
# Planted secrets: the Redis password (redis.password: ${...}; the test's redis-server gets it from a
# config file, not from its arguments), a webhook header token (headers: Authorization: Bearer ${...}),
# and the HTTP reload token (http.reload_token_env). The daemon runs at log level debug, with Redis
# snapshots every 300 ms, a webhook receiving alerts, a reload over HTTP (a wrong token, then the right
# one) and a SIGHUP. Checks:
#   - the secrets work: Redis accepts the password (snapshots written), the receiver gets the header,
#     POST /-/reload answers 401 without the token and 202 with it;
#   - /proc/PID/cmdline of the daemon and of every forked snapshot writer seen (Redis is put to sleep
#     with DEBUG SLEEP so that a writer lives long enough to be inspected) holds none of the secrets;
#   - the daemon's stderr, stdout and alert file hold none of them, nor does the log of a second daemon
#     given a wrong Redis password (the AUTH error path);
# tests/scenarios/daemon_webhook.sh checks the same for webhook URLs with a token in the path and for a
# receiver that echoes the token back in its error page.
source "$(dirname "$0")/lib.bash"

command -v redis-server >/dev/null || skip "redis-server is not installed"
rand() { od -An -tx1 -N12 /dev/urandom | tr -d ' \n'; }
export PW_SEC_REDIS="redispw-$(rand)" PW_SEC_HOOK="hooktok-$(rand)" PW_SEC_RELOAD="reloadtok-$(rand)"
SECRETS=("$PW_SEC_REDIS" "$PW_SEC_HOOK" "$PW_SEC_RELOAD")

umask 077
printf 'port 0\nunixsocket %s\nsave ""\nappendonly no\nenable-debug-command yes\nrequirepass %s\ndir %s\n' \
  "$T/redis.sock" "$PW_SEC_REDIS" "$T" >"$T/redis.conf"
redis-server "$T/redis.conf" >"$T/redis.log" 2>&1 &
PIDS+=($!)
wait_for 20 sh -c "REDISCLI_AUTH='$PW_SEC_REDIS' redis-cli -s '$T/redis.sock' ping | grep -q PONG" || fail "redis did not start"
rcli() { REDISCLI_AUTH="$PW_SEC_REDIS" redis-cli -s "$T/redis.sock" "$@"; }
start_kafka crm:2
start_receiver hook ok
mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - {name: orders, events: [order.placed], by: [region], window: 1h, resolution: 1m}
rules:
  - {name: many_orders, metric: orders, above: 2}
Y
PORT=$(free_port)
config() { # FILE PASSWORD_VAR
  cat >"$1" <<Y
kafka: {brokers: "$BOOTSTRAP", topics: [crm], group: sec-$(basename "$1" .yaml)}
clock: event
rules: [rules]
log: {level: debug}
redis: {address: "$T/redis.sock", password: "\${$2}", interval: 300ms, command_timeout: 3s}
http: {listen: "127.0.0.1:$PORT", reload_token_env: PW_SEC_RELOAD}
sinks:
  - name: hook
    type: webhook
    default: true
    url: $RX_hook/hook
    headers: {Authorization: "Bearer \${PW_SEC_HOOK}"}
  - {name: file, type: log, path: "$T/alerts.jsonl", default: true}
Y
}
config "$T/pw.yaml" PW_SEC_REDIS
start_daemon "$T/pw.yaml"
wait_assigned 40
for i in 1 2 3 4; do printf '{"type":"order.placed","ts":"2026-11-02T10:00:0%dZ","region":"EMEA"}\n' "$i"; done >"$T/a.jsonl"
produce crm "$T/a.jsonl"
wait_for 30 jl_atleast 1 "$T/rx-hook.jsonl" "r['headers'].get('authorization') == 'Bearer $PW_SEC_HOOK'" \
  || fail "the webhook did not receive the header token"
wait_for 30 grep -q 'snapshot: generation [0-9]* written' "$T/daemon.log" || fail "no snapshot: Redis AUTH failed?"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/-/reload")
[ "$code" = 401 ] || fail "reload without the token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer wrong-$(rand)" "http://127.0.0.1:$PORT/-/reload")
[ "$code" = 401 ] || fail "reload with a wrong token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $PW_SEC_RELOAD" "http://127.0.0.1:$PORT/-/reload")
[ "$code" = 202 ] || fail "reload with the token: HTTP $code"
wait_for 20 grep -q 'reloaded: 1 metrics, 1 rules' "$T/daemon.log" || fail "the authorised reload did not happen"
kill -HUP "$DPID"
pass "the secrets work: Redis AUTH (snapshots written), webhook header, reload token (401 without, 202 with)"

# process arguments: the daemon's and those of its forked snapshot writers (kept alive by a sleeping Redis)
check_cmdline() { # PID
  local f="/proc/$1/cmdline" s
  [ -r "$f" ] || return 0
  tr '\0' ' ' <"$f" >"$T/cmdline.txt" 2>/dev/null || return 0
  for s in "${SECRETS[@]}"; do grep -qF "$s" "$T/cmdline.txt" && fail "a secret is in the arguments of pid $1: $(cat "$T/cmdline.txt")"; done
  return 0
}
check_cmdline "$DPID"
seen=0
rcli DEBUG SLEEP 2 >/dev/null &
SLEEPER=$!
for _ in $(seq 1 40); do
  for c in $(children_of "$DPID"); do check_cmdline "$c"; seen=$((seen + 1)); done
  sleep 0.05
done
wait "$SLEEPER" || true
[ "$seen" -gt 0 ] || fail "no snapshot writer was seen to check its arguments"
pass "no secret in the arguments of the daemon or of its snapshot writers ($seen sightings)"

# a second daemon with a wrong Redis password: the AUTH error must not print what it tried
export PW_SEC_WRONG="wrongpw-$(rand)"
SECRETS+=("$PW_SEC_WRONG")
config "$T/wrong.yaml" PW_SEC_WRONG
sed -i "s/127.0.0.1:$PORT/127.0.0.1:$(free_port)/" "$T/wrong.yaml"
"$PW" run --config "$T/wrong.yaml" >"$T/wrong.out" 2>"$T/wrong.log" &
WPID=$!
PIDS+=($WPID)
wait_for 20 grep -qi 'snapshot.*\(auth\|password\|WRONGPASS\)' "$T/wrong.log" \
  || fail "the wrong Redis password is not reported: $(grep snapshot "$T/wrong.log" | head -3)"
check_cmdline "$WPID"
kill -TERM "$WPID"; wait "$WPID" || true

stop_daemon
[ "$DRC" = 0 ] || fail "exit $DRC"
for s in "${SECRETS[@]}"; do
  if grep -qF "$s" "$T/daemon.log" "$T/daemon.out" "$T/alerts.jsonl" "$T/wrong.log" "$T/wrong.out"; then
    grep -nF "$s" "$T/daemon.log" "$T/daemon.out" "$T/alerts.jsonl" "$T/wrong.log" "$T/wrong.out" | head -n 5 >&2
    fail "a planted secret appears in the output"
  fi
done
for l in 'alert: many_orders firing' 'snapshot: generation' 'reload requested over HTTP' 'reloaded: 1 metrics'; do
  grep -q "$l" "$T/daemon.log" || fail "the log lacks '$l': the grep below would prove nothing"
done
pass "no secret in $(wc -l <"$T/daemon.log") debug log lines, stdout, the alert file, or the wrong-password daemon's log"
stop_all
