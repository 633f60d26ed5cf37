#!/usr/bin/env bash
# Scenario: `pipewatch replay` reads a file the same way whichever path it takes. A regular file is
# mapped and decoded in place (the decoder finds each line's end while parsing); a pipe is read in
# blocks and split into lines first. Both must give the same notifications, the same skipped-line
# messages (with their line numbers) and the same summary, over a file of generated events mixed with
# what real files hold: blank and whitespace-only lines, CRLF line ends, invalid JSON, JSON split over
# two lines, trailing garbage, a line of exactly --max-event-size bytes and one of a byte more, and a
# last line without '\n'. The summary accounts for every line: lines = applied + skipped + blank.
source "$(dirname "$0")/lib.bash"

"$PW" gen --seed 7 --leads-per-day 2000 --count 20000 --out "$T/gen.jsonl"
python3 - "$T/gen.jsonl" "$T/events.jsonl" <<'PY'
import random, sys
random.seed(3)
events = open(sys.argv[1]).read().splitlines()
exact = '{"type":"order.placed","ts":"2026-11-02T00:00:00Z","region":"NA","amount":5,"pad":"'
exact += "x" * (512 - len(exact) - 2) + '"}'
odd = ["", "   ", "\t\r", "{\"type\":\"order.placed\",", "\"ts\":\"2026-11-02T00:00:00Z\"}",
       "not json", "{\"type\":\"order.placed\",\"ts\":\"2026-11-02T00:00:00Z\"} x", "[1,2]",
       exact, exact[:-2] + "x\"}", "{\"type\":\"lead.created\",\"ts\":\"2026-11-02T00:00:00Z\"}\r"]
out = []
for e in events:
    out.append(e + ("\r" if random.random() < 0.05 else ""))
    if random.random() < 0.02:
        out.append(random.choice(odd))
open(sys.argv[2], "w").write("\n".join(out + ["{\"type\":\"email.sent\",\"ts\":\"2026-11-30T00:00:00Z\"}"]))
PY
[ "$(wc -c <"$T/events.jsonl")" -gt 1000000 ] || fail "the test file is too small"
tail -c 1 "$T/events.jsonl" | od -c | grep -q '}' || fail "the last line should have no newline"

R="$SRC/rules"
args=(replay --rules "$R" --max-event-size 512 --events)
"$PW" "${args[@]}" "$T/events.jsonl" >"$T/mapped.out" 2>"$T/mapped.log" || fail "replay of the file failed"
cat "$T/events.jsonl" | "$PW" "${args[@]}" - >"$T/piped.out" 2>"$T/piped.log" || fail "replay of the pipe failed"

[ -s "$T/mapped.out" ] || fail "no notification at all: the rules or the data are not what this test needs"
cmp -s "$T/mapped.out" "$T/piped.out" || { diff "$T/mapped.out" "$T/piped.out" | head >&2; fail "notifications differ"; }
sed -e 's/ in [0-9.]* s$//' -e "s|$T/events.jsonl|F|; s|-:|F:|" "$T/mapped.log" >"$T/mapped.norm"
sed -e 's/ in [0-9.]* s$//' -e "s|$T/events.jsonl|F|; s|-:|F:|" "$T/piped.log" >"$T/piped.norm"
cmp -s "$T/mapped.norm" "$T/piped.norm" || { diff "$T/mapped.norm" "$T/piped.norm" >&2; fail "stderr differs"; }

summary=$(tail -n 1 "$T/mapped.log")
lines=$(sed -nE 's/^pipewatch replay: ([0-9]+) lines,.*/\1/p' <<<"$summary")
applied=$(sed -nE 's/.* ([0-9]+) events applied,.*/\1/p' <<<"$summary")
skipped=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$summary")
blank=$(sed -nE 's/.*, ([0-9]+) blank,.*/\1/p' <<<"$summary")
[ -n "$blank" ] && [ "$blank" -gt 0 ] || fail "no blank count in: $summary"
want=$(wc -l <"$T/events.jsonl")
want=$((want + 1)) # the last line has no '\n'
[ "$lines" = "$want" ] || fail "replay read $lines lines, the file has $want: $summary"
[ $((applied + skipped + blank)) = "$lines" ] || fail "lines $lines != applied $applied + skipped $skipped + blank $blank"
grep -q 'skipped event: too_large' "$T/mapped.log" || fail "the 513-byte line was not refused as too_large"
grep -q 'skipped event: not_json' "$T/mapped.log" || fail "no not_json line reported"
pass "mapped file and pipe agree: $summary"
