#!/usr/bin/env bash
# Soak: the kill -9 scenario of tests/scenarios/snapshot_restart.sh with many more kills, more events and
# partitions, several rounds. Not run by ctest (minutes per round). Usage:
#   tests/soak/snapshot_soak.sh [PIPEWATCH] [ROUNDS]      (defaults: build/pipewatch, 3)
# Each round: TRIALS kills (default 15) over COUNT events (default 300000) in PARTS partitions (default 64),
# then tests/scenarios/snapshot_ledger.sh with TRIALS kills (per-alert notification sequences, webhook sink).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
pw="${1:-$src/build/pipewatch}"
rounds="${2:-3}"
for r in $(seq 1 "$rounds"); do
  echo "== round $r"
  TRIALS="${TRIALS:-15}" COUNT="${COUNT:-300000}" PARTS="${PARTS:-64}" \
    bash "$src/tests/scenarios/snapshot_restart.sh" "$pw" "$src" 2>&1 | grep -E '^(ok|FAIL|  measured)|series equal|alerts, '
  TRIALS="${TRIALS:-15}" bash "$src/tests/scenarios/snapshot_ledger.sh" "$pw" "$src" 2>&1 | grep -E '^(ok|FAIL)|alerts, '
done
