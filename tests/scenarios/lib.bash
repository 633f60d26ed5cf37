# Shared helpers for scenario tests (sourced, not run).
# Each scenario gets: $PW (the pipewatch binary), $SRC (source dir), $T (a temp dir removed at exit),
# and helpers to start the mock Kafka broker in its own process and wait for conditions.
set -euo pipefail
PW="$1"
SRC="$2"
T="$(mktemp -d "${TMPDIR:-/tmp}/pw-scenario.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT

# skip MESSAGE: a missing optional tool; in CI (CI=true) every tool must be there, so it fails instead.
skip() {
  if [ "${CI:-}" = true ]; then fail "required in CI: $*"; fi
  echo "skip: $*"; exit 0
}
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }; done; exit 1; }
pass() { echo "ok - $*"; }

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds or time runs out.
wait_for() {
  local secs="$1"; shift
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
}

# start_kafka TOPIC:PARTS...: the mock broker in its own process; sets BOOTSTRAP and KAFKA_CTL (a fifo
# accepting "down"/"up" lines).
start_kafka() {
  local args=()
  for t in "$@"; do args+=(--topic "$t"); done
  mkfifo "$T/kafka.ctl"
  "$PW" kafka-mock "${args[@]}" --port-file "$T/kafka.addr" <"$T/kafka.ctl" >"$T/kafka.out" 2>"$T/kafka.log" &
  PIDS+=($!)
  KAFKA_PID=$!
  exec {KAFKA_FD}>"$T/kafka.ctl"     # keep the fifo open for writing
  wait_for 20 test -s "$T/kafka.addr" || fail "mock kafka did not start"
  BOOTSTRAP="$(cat "$T/kafka.addr")"
}
kafka_ctl() { echo "$1" >&"$KAFKA_FD"; }

# start_redis [ARGS...]: a private redis-server on the unix socket $T/redis.sock, no persistence, ARGS
# added to its command line; sets REDIS_PID (restartable: its log is appended to $T/redis.log).
start_redis() {
  command -v redis-server >/dev/null || skip "redis-server is not installed"
  redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 700 --save "" --appendonly no \
    --dir "$T" "$@" >>"$T/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=($REDIS_PID)
  wait_for 20 redis-cli -s "$T/redis.sock" ping || fail "redis-server did not start"
}
# rcli ARGS...: redis-cli against the redis-server of start_redis.
rcli() { redis-cli -s "$T/redis.sock" "$@"; }

# produce TOPIC FILE: one message per line, with kcat (an independent Kafka client from Debian).
produce() { kcat -P -b "$BOOTSTRAP" -t "$1" -X log_level=3 <"$2"; }

# ---------- helpers for the daemon_* scenarios ----------

# now_ts [OFFSET_S]: RFC 3339 UTC time, now + OFFSET_S seconds (may be negative), to the millisecond.
now_ts() { date -u -d "@$(( $(date +%s) + ${1:-0} ))" +%Y-%m-%dT%H:%M:%SZ; }

# free_port: a TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot report theirs).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_get URL: the body on stdout; fails on an HTTP error. curl if installed, else Python's urllib.
http_get() {
  if command -v curl >/dev/null; then curl -fsS --max-time 5 "$1"
  else python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
  fi
}

# start_receiver NAME MODE [ARGS...]: tests/tools/http_receiver.py (MODE ok, 500 or hang) in its own
# process. Sets RX_NAME to its base URL (http://127.0.0.1:PORT); requests are recorded in $T/rx-NAME.jsonl.
start_receiver() {
  local name="$1" mode="$2"; shift 2
  python3 "$SRC/tests/tools/http_receiver.py" --mode "$mode" --port-file "$T/rx-$name.port" \
    --record "$T/rx-$name.jsonl" "$@" 2>"$T/rx-$name.log" &
  PIDS+=($!)
  wait_for 20 test -s "$T/rx-$name.port" || fail "HTTP receiver $name did not start"
  touch "$T/rx-$name.jsonl"
  printf -v "RX_$name" 'http://127.0.0.1:%s' "$(cat "$T/rx-$name.port")"
}

# jl_count FILE EXPR: how many JSON lines of FILE make the Python expression EXPR true; the decoded
# line is `r`, and `b` is r["body"] decoded as JSON when it is JSON (else None).
jl_count() {
  python3 - "$1" "$2" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.strip():
        continue
    r = json.loads(line)
    try:
        b = json.loads(r["body"]) if isinstance(r, dict) and "body" in r else None
    except ValueError:
        b = None
    try:
        if eval(sys.argv[2]):
            n += 1
    except Exception:
        pass
print(n)
PY
}
# jl_atleast N FILE EXPR: succeeds once at least N lines match (for wait_for).
jl_atleast() { [ "$(jl_count "$2" "$3")" -ge "$1" ]; }

# start_daemon CONFIG: `pipewatch run` in its own process (stderr in $T/daemon.log, stdout in
# $T/daemon.out); sets DPID.
start_daemon() {
  # truncated here, not only by the redirection in the background job: a wait_for right after must not
  # see the previous daemon's lines (snapshot_restart once matched the old log's "restored generation")
  : >"$T/daemon.out"
  : >"$T/daemon.log"
  "$PW" run --config "$1" >"$T/daemon.out" 2>"$T/daemon.log" &
  DPID=$!
  PIDS+=($DPID)
}

# wait_assigned [SECONDS]: until the daemon's consumer has been assigned its partitions.
wait_assigned() {
  wait_for "${1:-30}" grep -q 'assigned [1-9][0-9]* partition' "$T/daemon.log" \
    || fail "the daemon was not assigned any partition"
}

# stop_daemon: SIGTERM, then wait (at most 20 s, then SIGKILL and fail). Sets DRC (exit status) and
# DTOOK_MS (how long it took).
stop_daemon() {
  local t0 i=0
  t0=$(date +%s%N)
  kill -TERM "$DPID"
  while kill -0 "$DPID" 2>/dev/null; do   # bash reaps its children as they exit
    if [ $i -ge 400 ]; then kill -9 "$DPID" 2>/dev/null; fail "the daemon did not stop within 20 s of SIGTERM"; fi
    sleep 0.05
    i=$((i + 1))
  done
  DTOOK_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  wait "$DPID" && DRC=0 || DRC=$?
}

# daemon_stat NAME: a counter from the daemon's last stats line ("consumed", "applied", "rejected", "redelivered").
daemon_stat() {
  grep 'stats.*consumed [0-9]*, applied' "$T/daemon.log" | tail -n 1 | grep -o "$1 [0-9]*" | head -n 1 | cut -d' ' -f2
}

# stop_all: at the end of a passing scenario, kill what it started and reap it quietly (the EXIT trap
# does the same on failure, where bash's "Killed" notices do no harm).
stop_all() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && { wait "$p" 2>/dev/null || true; }; done
  PIDS=()
}

# children_of PID: the pids of PID's child processes, one per line (from /proc: no procps needed).
children_of() {
  local parent="$1" f st
  for f in /proc/[0-9]*/stat; do
    st=$(cat "$f" 2>/dev/null) || continue
    set -- ${st##*) }   # after the command name: state, ppid, ...
    [ "${2:-}" = "$parent" ] && echo "${f//[^0-9]/}"
  done
  return 0
}
