#!/usr/bin/env bash
# Scenario: the systemd files as `cmake --install` puts them on a machine.
# Installs the build into a temporary root (DESTDIR, prefix /usr) and checks: the files are where the
# README says (config, rules and the 0600 environment file under /etc/pipewatch, the unit, sysusers.d);
# `systemd-analyze verify` prints nothing for the installed unit (its exit code is 0 even on errors, so
# any output fails; ExecStart must exist, so a temporary copy points it at the installed binary);
# `systemd-analyze security --offline=true` rates it 2.0 or better; systemd-sysusers creates the unit's
# User= from the sysusers file; the installed config with its installed rules is accepted by
# `pipewatch run` (it gets as far as consuming, then stops on SIGTERM with exit 0).
# Needs no running systemd (PID 1 may be anything). Skips only when systemd-analyze is missing.
source "$(dirname "$0")/lib.bash"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian package systemd)"
BUILD="$(dirname "$PW")"
[ -f "$BUILD/CMakeCache.txt" ] || fail "$BUILD is not a CMake build directory (needed for cmake --install)"

R="$T/root"
DESTDIR="$R" cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 || fail "cmake --install: $(cat "$T/install.log")"
for f in usr/bin/pipewatch usr/lib/systemd/system/pipewatch.service usr/lib/sysusers.d/pipewatch.conf \
         etc/pipewatch/pipewatch.yaml etc/pipewatch/pipewatch.env usr/share/pipewatch/examples/pipewatch.yaml; do
  [ -f "$R/$f" ] || fail "cmake --install did not install /$f"
done
ls "$R"/etc/pipewatch/rules/*.yaml >/dev/null 2>&1 || fail "no rules installed in /etc/pipewatch/rules"
[ "$(stat -c %a "$R/etc/pipewatch/pipewatch.env")" = 600 ] || fail "/etc/pipewatch/pipewatch.env is not mode 0600"
UNIT="$R/usr/lib/systemd/system/pipewatch.service"
cmp -s "$UNIT" "$SRC/systemd/pipewatch.service" || fail "with prefix /usr the installed unit must equal systemd/pipewatch.service"
pass "cmake --install puts binary, unit, sysusers, config, rules and env file in place"

# A second install keeps what an operator edited.
echo "# edited" >>"$R/etc/pipewatch/pipewatch.yaml"
DESTDIR="$R" cmake --install "$BUILD" --prefix /usr >"$T/install2.log" 2>&1 || fail "second cmake --install failed"
grep -q '^# edited' "$R/etc/pipewatch/pipewatch.yaml" || fail "a second install overwrote /etc/pipewatch/pipewatch.yaml"
pass "a second install keeps the edited /etc/pipewatch/pipewatch.yaml"

# The directives the README promises (verify accepts a unit that lacks them, so check them here).
for d in 'Type=notify' 'NotifyAccess=main' 'ExecStart=/usr/bin/pipewatch run --config /etc/pipewatch/pipewatch.yaml' \
         'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'WatchdogSec=30s' 'User=pipewatch' \
         'Group=pipewatch' 'ConfigurationDirectory=pipewatch' 'StateDirectory=pipewatch'; do
  grep -qxF "$d" "$UNIT" || fail "the unit lacks '$d'"
done
pass "the unit has Type=notify, the watchdog, reload by SIGHUP, its user and directories"

# verify: ExecStart must exist, so check a copy whose ExecStart is the installed binary's real path.
mkdir -p "$T/verify"
sed "s|^ExecStart=/usr/bin/pipewatch |ExecStart=$R/usr/bin/pipewatch |" "$UNIT" >"$T/verify/pipewatch.service"
grep -q "^ExecStart=$R/" "$T/verify/pipewatch.service" || fail "could not point ExecStart at the installed binary"
(cd "$T/verify" && systemd-analyze verify --man=false ./pipewatch.service) >"$T/verify.out" 2>&1 || true
[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify printed: $(cat "$T/verify.out")"
pass "systemd-analyze verify prints nothing"

systemd-analyze security --offline=true --no-pager "$UNIT" >"$T/security.out" 2>&1 || true
score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$T/security.out")"
[ -n "$score" ] || fail "no exposure level in systemd-analyze security output: $(tail -n 5 "$T/security.out")"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure level $score is above 2.0: $(grep '✗' "$T/security.out")"
pass "systemd-analyze security --offline=true rates the unit $score (limit 2.0)"

# sysusers.d creates the user the unit runs as.
mkdir -p "$T/sysroot/etc"
systemd-sysusers --root="$T/sysroot" "$R/usr/lib/sysusers.d/pipewatch.conf" >"$T/sysusers.log" 2>&1 \
  || fail "systemd-sysusers: $(cat "$T/sysusers.log")"
grep -q '^pipewatch:x:[0-9]*:[0-9]*:[^:]*:/var/lib/pipewatch:/usr/sbin/nologin$' "$T/sysroot/etc/passwd" \
  || fail "sysusers did not create the pipewatch user: $(cat "$T/sysroot/etc/passwd")"
grep -q '^pipewatch:' "$T/sysroot/etc/group" || fail "sysusers did not create the pipewatch group"
pass "systemd-sysusers creates user and group pipewatch (no login shell)"

# The installed config and rules start the daemon (brokers and receivers unreachable: it must still run).
"$R/usr/bin/pipewatch" check "$R/etc/pipewatch/rules" >"$T/check.log" 2>&1 || fail "installed rules: $(cat "$T/check.log")"
PIPEWATCH_KAFKA_BROKERS=127.0.0.1:1 PIPEWATCH_SLACK_WEBHOOK_URL=http://127.0.0.1:1/hook \
  "$R/usr/bin/pipewatch" run --config "$R/etc/pipewatch/pipewatch.yaml" >"$T/run.out" 2>"$T/run.log" &
RUN_PID=$!
PIDS+=($RUN_PID)
wait_for 20 grep -q 'pipewatch running:' "$T/run.log" || fail "the installed config did not start the daemon"
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" = 0 ] || fail "pipewatch run exited $rc after SIGTERM"
pass "the installed config with the installed rules starts pipewatch run"
