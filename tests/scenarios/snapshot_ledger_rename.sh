#!/usr/bin/env bash
# Scenario: the delivery ledger stays bounded by the configured sinks when reloads rename a sink. 200
# SIGHUPs, each renaming the one log sink (s1, s2, ... s200); every 20th is preceded by an event that
# fires a new alert, so the current sink delivers it and the ledger records it in Redis
# (delivered:<sink>). Checked: every reload succeeds, the daemon's per-sink ledger state stays at one
# sink (/metrics pipewatch_delivery_ledger_sinks; it grew by one per rename before, each with a 640 KiB
# acknowledgement buffer), and no ledger hash of a renamed sink is left in Redis (deleted at the reload,
# as at a start).
source "$(dirname "$0")/lib.bash"

start_kafka crm:1
start_redis
RELOADS=${RELOADS:-200}

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1h
    resolution: 1m
rules:
  - name: order_seen
    metric: orders
    above: 0
Y
config() { # config N: the config with the sink named sN (written atomically)
  cat >"$T/tmp.yaml" <<Y
kafka: {brokers: $BOOTSTRAP, topics: [crm], group: scenario-ledger-rename}
clock: event
rules: [rules]
redis: {address: $T/redis.sock, key_prefix: "ren:", interval: 1h}
http: {listen: "127.0.0.1:0"}
sinks:
  - {name: s$1, type: log, path: alerts.jsonl, default: true}
Y
  mv "$T/tmp.yaml" "$T/pipewatch.yaml"
}
config 0
touch "$T/alerts.jsonl"
start_daemon "$T/pipewatch.yaml"
wait_assigned
port="http://127.0.0.1:$(grep -o '(port [0-9]*)' "$T/daemon.log" | head -n 1 | tr -dc 0-9)"
metric() { curl -fsS "$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

python3 - "$DPID" "$port" "$T" "$RELOADS" "$BOOTSTRAP" <<'PY' || fail "reload loop (see above)"
import os, signal, subprocess, sys, time, urllib.request
pid, port, T, n, bootstrap = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def metrics():
    out = {}
    for line in urllib.request.urlopen(port + "/metrics", timeout=5).read().decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
alerts = 0
for i in range(1, n + 1):
    if i % 20 == 1:  # a new alert, delivered by the current sink and recorded in its ledger hash
        ev = '{"type":"order.placed","ts":"2026-11-02T10:%02d:00Z","region":"r%d"}\n' % (i // 20, i)
        subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "crm", "-X", "log_level=3"], input=ev.encode(), check=True)
        alerts += 1
        deadline = time.time() + 20
        while sum(1 for _ in open(T + "/alerts.jsonl")) < alerts:
            assert time.time() < deadline, f"alert {alerts} not delivered"
            time.sleep(0.02)
        time.sleep(0.3)  # the loop writes the acknowledgement within ~100 ms
    with open(T + "/tmp.yaml", "w") as f:
        f.write(open(T + "/pipewatch.yaml").read().replace(f"name: s{i - 1},", f"name: s{i},"))
    os.rename(T + "/tmp.yaml", T + "/pipewatch.yaml")
    os.kill(pid, signal.SIGHUP)
    deadline = time.time() + 20
    while metrics().get("pipewatch_reloads_total", 0) < i:
        assert time.time() < deadline, f"reload {i} not done"
        time.sleep(0.01)
    if i in (10, n):
        print(f"reload {i}: VmRSS {rss()} KiB, ledger sinks {metrics().get('pipewatch_delivery_ledger_sinks')}")
m = metrics()
assert m.get("pipewatch_reload_failures_total", 0) == 0, m.get("pipewatch_reload_failures_total")
PY
[ "$(grep -c 'reloaded: 1 metrics, 1 rules' "$T/daemon.log")" = "$RELOADS" ] || fail "not every reload succeeded"
# acknowledgements are taken every loop turn: let the current sink's one reach the gauge
wait_for 5 sh -c "curl -fsS $port/metrics | grep -q '^pipewatch_delivery_ledger_sinks 1\$'" \
  || fail "ledger sinks after $RELOADS renames: $(metric pipewatch_delivery_ledger_sinks) (want 1)"
[ "$(jl_count "$T/alerts.jsonl" 'r["state"] == "firing"')" = $(( (RELOADS + 19) / 20 )) ] || fail "alerts: $(cat "$T/alerts.jsonl")"
# every alert was delivered by a sink that a later reload renamed: no ledger hash may be left
hashes=$(rcli --scan --pattern 'ren:delivered:*' | sort | tr '\n' ' ')
[ -z "$hashes" ] || fail "ledger hashes of renamed sinks left in Redis: $hashes"
stop_daemon
[ "$DRC" = 0 ] || fail "exit status $DRC"
pass "$RELOADS renames of a sink: ledger state for 1 sink, no ledger hash of a renamed sink left in Redis"
stop_all
