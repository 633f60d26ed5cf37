#!/usr/bin/env bash
# Scenario: `pipewatch test` over the shipped rule unit tests (tests/ruletests/*.yaml), as a user runs it.
# Checks: every shipped case passes (exit 0, "N passed, 0 failed"); the deliberately failing file
# (tests/ruletests/fail/) exits 1 with "FAIL file:line name", an expected/got diff with the differing
# fields and "1 passed, 3 failed"; mistakes in test files and rule files are FILE:LINE:COL messages
# with exit 1; an event the decoder rejects fails its case; paths are relative to the test file
# whatever the working directory; usage errors exit 2.
source "$(dirname "$0")/lib.bash"
R="$SRC/tests/ruletests"

# run NAME ARGS...: pipewatch test ARGS, stdout to $T/NAME.out, stderr to $T/NAME.log, exit code in $RC
run() {
  local name="$1"; shift
  set +e
  "$PW" test "$@" >"$T/$name.out" 2>"$T/$name.log"
  RC=$?
  set -e
}
# has NAME PATTERN: the output (stdout and stderr) of run NAME holds a line matching the fixed string
has() {
  grep -qF -- "$2" "$T/$1.out" "$T/$1.log" && return 0
  cat "$T/$1.out" "$T/$1.log" >&2
  fail "$1: no line with: $2"
}
# last NAME LINE: the last line of stdout of run NAME is exactly LINE (the summary)
last() {
  tail -n 1 "$T/$1.out" | grep -qxF -- "$2" || fail "$1: last line is '$(tail -n 1 "$T/$1.out")', not '$2'"
}

# 1. the shipped cases pass; run from another directory, with absolute paths
cd "$T"
run shipped -v "$R"/*.yaml
n=$(grep -c '^ok ' "$T/shipped.out" || true)
[ "$RC" = 0 ] || { cat "$T/shipped.out" "$T/shipped.log" >&2; fail "shipped rule tests failed (exit $RC)"; }
[ "$n" -ge 40 ] || fail "expected at least 40 shipped cases, ran $n"
last shipped "$n passed, 0 failed"
[ ! -s "$T/shipped.log" ] || { cat "$T/shipped.log" >&2; fail "shipped rule tests wrote to stderr"; }
pass "$n shipped rule test cases pass"

# 2. relative paths from the source directory give the same result
cd "$SRC"
run relative tests/ruletests/*.yaml
[ "$RC" = 0 ] || fail "shipped rule tests failed from the source directory (exit $RC)"
has relative "$n passed, 0 failed"
pass "relative paths"

# 3. the failing file: exit 1, a FAIL line per failing case, a diff, the summary
run failing tests/ruletests/fail/wrong_expectations.yaml
[ "$RC" = 1 ] || fail "failing tests: exit $RC, expected 1"
has failing "FAIL tests/ruletests/fail/wrong_expectations.yaml:10 wrong value"
has failing '  - {"rule":"above_rule","state":"firing","value":4,"at":"2026-11-01T00:02:00Z"}   (line 16)'
has failing '  + {"rule":"above_rule","state":"firing","severity":"warning","metric":"leads",'
has failing '"labels":{"origin":"above"},"value":3,"threshold":2,"at":"2026-11-01T00:02:00Z",'
has failing "      value: expected 4, got 3"
has failing "FAIL tests/ruletests/fail/wrong_expectations.yaml:18 missing and unexpected notifications"
has failing '    {"rule":"above_rule","state":"firing","at":"2026-11-01T00:02:00Z"}'
has failing '  - {"rule":"below_rule","state":"firing"}   (line 26)'
has failing '  + {"rule":"above_rule","state":"resolved",'
has failing "FAIL tests/ruletests/fail/wrong_expectations.yaml:29 wrong metric values"
has failing '  - {"metric":"leads","labels":{"origin":"social"},"value":2,"count":2}   (line 33)'
has failing '  + {"metric":"leads","labels":{"origin":"social"},"value":1,"count":1}'
has failing "      count: expected 2, got 1"
has failing '  + no live series {"metric":"leads","labels":{"origin":"email"}}'
grep -q "FAIL .* passes$" "$T/failing.out" && fail "the passing case was reported as failing"
last failing "1 passed, 3 failed"
pass "a failing test file exits 1 with a diff"

# 4. mistakes in a test file: all reported with their location, nothing runs
E=tests/ruletests/errors
run errors "$E/test_errors.yaml"
[ "$RC" = 1 ] || fail "test file errors: exit $RC, expected 1"
has errors "$E/test_errors.yaml:5:5: unknown key 'evnts' in test case (did you mean 'events'?)"
has errors "$E/test_errors.yaml:6:12: until: 'yesterday' is not an RFC 3339 time"
has errors "$E/test_errors.yaml:8:16: no rule named 'above_rul' in the rule files\
 (did you mean 'above_rule'?)"
has errors "$E/test_errors.yaml:8:34: state must be firing or resolved"
has errors "$E/test_errors.yaml:8:45: at: '2026-13-01T00:00:00Z' is not an RFC 3339 time"
has errors "$E/test_errors.yaml:10:33: metric 'leads' has no label 'region'"
has errors "$E/test_errors.yaml:11:9: labels must give every label of metric 'leads' (missing: origin)"
has errors "$E/test_errors.yaml:15:16: negative duration '-5m'"
has errors "$E/test_errors.yaml:18:9: repeat block needs exactly one of \`for\` (a duration) and \`count\`"
has errors "$E/test_errors.yaml:24:14: repeat block makes 86400000000 events, more than 10000000"
has errors "$E/test_errors.yaml:25:18: events_file '$E/data/missing.jsonl': No such file or directory"
has errors "$E/test_errors.yaml:26:5: a test case needs \`name\`"
has errors "$E/test_errors.yaml:26:14: expected an event (a mapping) or a repeat block, got a list"
has errors "$E/test_errors.yaml: not run (14 errors)"
has errors "0 passed, 0 failed, 1 file with errors"
pass "test file mistakes are FILE:LINE:COL errors"

# 5. rule file problems: a missing file at its rule_files entry, errors inside rule files at their place
run rulefiles "$E/rule_file_errors.yaml"
[ "$RC" = 1 ] || fail "rule file errors: exit $RC, expected 1"
has rulefiles "$E/rule_file_errors.yaml:3:33: rule file '$E/rules/missing.yaml': No such file or directory"
has rulefiles "$E/rules/broken.yaml:4:16: unknown aggregate 'p999'"
run rulefile "$E/broken_rules.yaml"    # rule_files given as one string
[ "$RC" = 1 ] || fail "broken rule file: exit $RC, expected 1"
has rulefile "$E/rules/broken.yaml:4:16: unknown aggregate 'p999'"
pass "rule file problems are FILE:LINE:COL errors"

# 6. an event the decoder rejects fails its case with the event's location
run badevent "$E/bad_event.yaml"
[ "$RC" = 1 ] || fail "bad event: exit $RC, expected 1"
has badevent "$E/bad_event.yaml:7:9: event rejected by the decoder: no_time"
has badevent "FAIL $E/bad_event.yaml:4 event without a time"
pass "a rejected event fails its case"

# 7. several files: one summary; one failing file makes the whole run fail
run mixed tests/ruletests/aggregates.yaml tests/ruletests/fail/wrong_expectations.yaml
[ "$RC" = 1 ] || fail "mixed: exit $RC, expected 1"
last mixed "7 passed, 3 failed"
pass "one summary over several files"

# 8. hostile and odd input never crashes (exit 1 with a message, not a signal)
printf 'a: &x [*x, *x]\nrule_files: *x\ntests: *x\n' >"$T/alias.yaml"
printf '\x00\xff\xfe garbage' >"$T/binary.yaml"
open="$(printf '{a: %.0s' $(seq 40))"; close="$(printf '}%.0s' $(seq 40))"
printf 'rule_files: [%s]\ntests:\n  - name: x\n    events: [{type: t, ts: 0, x: %s1%s}]\n    %s\n' \
  "$R/rules/window.yaml" "$open" "$close" "notifications: []" >"$T/deep.yaml"
printf 'rule_files: [%s]\ntests:\n  - name: x\n    events: [&a {type: t, ts: 0, x: [*a]}]\n    %s\n' \
  "$R/rules/window.yaml" "notifications: []" >"$T/cycle.yaml"
: >"$T/empty.yaml"
for f in alias binary deep cycle empty; do
  run "odd_$f" "$T/$f.yaml"
  [ "$RC" = 1 ] || { cat "$T/odd_$f.out" "$T/odd_$f.log" >&2; fail "$f.yaml: exit $RC, expected 1"; }
done
has odd_deep "deep.yaml:4:158: an inline event nests deeper than 32 levels"
has odd_cycle "an inline event nests deeper than 32 levels"
run nofile "$T/does-not-exist.yaml"
[ "$RC" = 1 ] || fail "missing test file: exit $RC, expected 1"
pass "odd input is refused cleanly"

# 9. usage
run usage
[ "$RC" = 2 ] || fail "no arguments: exit $RC, expected 2"
run badopt --frobnicate x.yaml
[ "$RC" = 2 ] || fail "unknown option: exit $RC, expected 2"
run help --help
[ "$RC" = 0 ] || fail "--help: exit $RC, expected 0"
pass "usage"
