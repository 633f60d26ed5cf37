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

# produce TOPIC FILE: one message per line, with kcat (an independent Kafka client from Debian).
produce() { kcat -P -b "$BOOTSTRAP" -t "$1" -X log_level=3 <"$2"; }
