#!/usr/bin/env bash
# Scenario (issue 7): 10,000 generated malformed events interleaved with 5,000 valid ones, produced with
# kcat into the mock cluster, through the running daemon. tests/tools/gen_malformed.py mutates valid
# events (truncation, NaN, trailing garbage, BOM, not an object, nesting past the limit, invalid UTF-8,
# 1e400, oversize, bad or missing type and time, year 9999, far future, year 0, long ago...) and tallies
# what each must become. Checks:
#   - the daemon stays alive and answers /healthz while and after it reads them;
#   - consumed == applied + rejected, applied == the generator's valid count;
#   - /metrics pipewatch_events_rejected_total{reason} equals the generator's tally for every reason;
#   - the dead-letter topic holds exactly the rejected messages (same bytes, same reason header);
#   - the metric values of the valid events are exact (count and sum per region, and the number of
#     events whose amount was not a number, counted as unevaluable).
source "$(dirname "$0")/lib.bash"

start_kafka crm:8 dlq:4
base=$(( $(date +%s) - 1800 ))
python3 "$SRC/tests/tools/gen_malformed.py" --malformed 10000 --valid 5000 --seed 7 --base "$base" \
  --out "$T/events.txt" --tally "$T/tally.json" --rejected "$T/rejected.tsv"

mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    events: [order.placed]
    by: [region]
    window: 1d
    resolution: 1h
  - name: revenue
    events: [order.placed]
    aggregate: sum
    field: amount
    by: [region]
    window: 1d
    resolution: 1h
Y
PORT=$(free_port)
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: malformed
  dead_letter_topic: dlq
clock: event
events: {max_size: 1024, allowed_lateness: 1d, max_future: 1h}
rules: [rules]
http: {listen: "127.0.0.1:$PORT"}
Y

"$PW" run --config "$T/pipewatch.yaml" --metrics-out "$T/final.jsonl" >"$T/daemon.out" 2>"$T/daemon.log" &
DPID=$!
PIDS+=($DPID)
wait_assigned 40
# keyless messages spread over all partitions (librdkafka's sticky partitioner would fill one at a time,
# and the mock keeps only ~5 MB per partition)
# The generator's first line is a valid event: produce it alone and wait until it is applied, so that
# stream time exists before any `late` event arrives (partitions are consumed in no fixed order; a late
# event consumed first, with no stream time yet, would be applied).
head -n 1 "$T/events.txt" >"$T/first.txt"
tail -n +2 "$T/events.txt" >"$T/rest.txt"
kcat -P -b "$BOOTSTRAP" -t crm -X log_level=3 <"$T/first.txt" || fail "kcat could not produce the first event"
wait_for 30 sh -c "curl -fsS --max-time 5 http://127.0.0.1:$PORT/metrics | grep -qx 'pipewatch_events_applied_total 1'" \
  || fail "the first (valid) event was not applied"
kcat -P -b "$BOOTSTRAP" -t crm -X log_level=3 -X sticky.partitioning.linger.ms=0 <"$T/rest.txt" \
  || fail "kcat could not produce the events"

metric() { # NAME{LABELS} -> value from /metrics (0 if absent)
  http_get "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}
wait_for 120 sh -c "[ \"\$(curl -fsS --max-time 5 http://127.0.0.1:$PORT/metrics | awk '\$1 == \"pipewatch_kafka_consumed_total\" {print \$2}')\" = 15000 ]" \
  || fail "the daemon did not consume the 15,000 messages (consumed $(metric pipewatch_kafka_consumed_total))"
kill -0 "$DPID" || fail "the daemon died"
http_get "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "/healthz does not answer"
pass "the daemon consumed 15,000 messages (10,000 malformed) and is alive"

http_get "http://127.0.0.1:$PORT/metrics" >"$T/metrics.txt"
python3 - "$T/tally.json" "$T/metrics.txt" <<'PY' || fail "rejection counts differ from the generator's tally"
import json, re, sys
tally = json.load(open(sys.argv[1]))
got, applied = {}, None
for line in open(sys.argv[2]):
    m = re.match(r'pipewatch_events_rejected_total\{reason="([a-z0-9_]+)"\} (\d+)', line)
    if m: got[m.group(1)] = int(m.group(2))
    m = re.match(r'pipewatch_events_applied_total (\d+)', line)
    if m: applied = int(m.group(1))
want = tally["rejected"]
bad = [(r, want.get(r, 0), got.get(r, 0)) for r in sorted(set(want) | set(got)) if want.get(r, 0) != got.get(r, 0)]
for r, w, g in bad: print("reason %s: expected %d, /metrics says %d" % (r, w, g))
if applied != tally["valid"]: print("applied %s, expected %d" % (applied, tally["valid"])); bad.append(1)
print("rejected by reason:", ", ".join("%s %d" % kv for kv in sorted(got.items()) if kv[1]))
sys.exit(1 if bad else 0)
PY
pass "rejected per reason and applied equal the generator's tally"

# The dead-letter topic: exactly the rejected messages, byte for byte, each with its reason.
wait_for 30 sh -c "[ \"\$(curl -fsS --max-time 5 http://127.0.0.1:$PORT/metrics | awk '\$1 == \"pipewatch_kafka_dead_lettered_total\" {print \$2}')\" = 10000 ]" \
  || fail "dead-lettered $(metric pipewatch_kafka_dead_lettered_total) of 10000"
kcat -C -b "$BOOTSTRAP" -t dlq -e -q -f '%h\n%R%s' -X log_level=3 >"$T/dlq.bin" || fail "cannot read the dead-letter topic"
python3 - "$T/rejected.tsv" "$T/dlq.bin" <<'PY' || fail "the dead-letter topic does not hold exactly the rejected messages"
import collections, re, struct, sys
want = collections.Counter()
for line in open(sys.argv[1]):
    reason, hexdata = line.rstrip("\n").split("\t")
    want[(reason, bytes.fromhex(hexdata))] += 1
got = collections.Counter()
b = open(sys.argv[2], "rb").read()
i = 0
while i < len(b):
    j = b.index(b"\n", i)
    headers = b[i:j].decode()
    (n,) = struct.unpack(">i", b[j + 1:j + 5])
    payload = b[j + 5:j + 5 + max(n, 0)]
    i = j + 5 + max(n, 0)
    m = re.search(r"pipewatch-reason=([a-z0-9_]+)", headers)
    got[(m.group(1) if m else "?", payload)] += 1
missing, extra = want - got, got - want
print("dead letters: %d, expected %d, missing %d, unexpected %d" % (sum(got.values()), sum(want.values()),
      sum(missing.values()), sum(extra.values())))
for (r, p), c in list(missing.items())[:5]: print("  missing %s %r" % (r, p[:80]))
for (r, p), c in list(extra.items())[:5]: print("  unexpected %s %r" % (r, p[:80]))
sys.exit(1 if missing or extra else 0)
PY
pass "the dead-letter topic holds exactly the 10,000 rejected messages with their reasons"

stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC after SIGTERM"
c=$(daemon_stat consumed); a=$(daemon_stat applied); r=$(daemon_stat rejected)
[ "$c" = 15000 ] && [ "$a" = 5000 ] && [ "$r" = 10000 ] || fail "stats line: consumed $c, applied $a, rejected $r"
python3 - "$T/tally.json" "$T/final.jsonl" "$T/metrics.txt" <<'PY' || fail "metric values of the valid events are wrong"
import json, re, sys
tally = json.load(open(sys.argv[1]))
vals = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    vals[(r["metric"], r["labels"]["region"])] = r["value"]
bad = 0
for region, t in tally["regions"].items():
    for metric, want in (("orders", t["count"]), ("revenue", t["sum"])):
        got = vals.get((metric, region))
        if got != want: print("%s{region=%s}: %s, expected %s" % (metric, region, got, want)); bad = 1
if len(vals) != 2 * len(tally["regions"]): print("series:", sorted(vals)); bad = 1
unev = [int(m.group(1)) for m in re.finditer(r'pipewatch_metric_events_unevaluable_total\{metric="revenue"\} (\d+)',
                                             open(sys.argv[3]).read())]
if unev != [tally["unevaluable"]]: print("revenue unevaluable %s, expected %d" % (unev, tally["unevaluable"])); bad = 1
sys.exit(bad)
PY
pass "exit 0; consumed 15000 = applied 5000 + rejected 10000; counts, sums and unevaluable per region exact"
stop_all
