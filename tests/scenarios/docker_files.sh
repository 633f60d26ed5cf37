#!/usr/bin/env bash
# Scenario: the docker/ files, checked without a Docker engine (there is none on CI machines).
#   - docker-compose.yml: `docker-compose config -q` (Debian's docker-compose; skipped with a note if not
#     installed) and structural checks in Python: the services, Kafka in KRaft mode (no ZooKeeper), every
#     mounted file exists, published ports bound to 127.0.0.1, no service running privileged or as root.
#   - Dockerfile (hadolint is not packaged in Debian 12): every FROM is debian:12-slim or a local stage,
#     the build stage installs the -dev packages of .ci/packages, the runtime stage the runtime libraries
#     only, runs as a non-root numeric USER, has a HEALTHCHECK, and ADDs nothing from a URL.
#   - prometheus.yml with `promtool check config`, alertmanager.yml with `amtool check-config` (each
#     skipped with a note when the tool is missing); the Grafana provisioning and dashboard JSON: valid, the
#     datasource uid matches, and every series is pipewatch_metric_value{metric="M"} with M a metric of rules/.
#   - docker/pipewatch.yaml, laid out as in the image (/etc/pipewatch with rules/) and with the image's ENV,
#     starts `pipewatch run`, and the HEALTHCHECK command succeeds against it.
source "$(dirname "$0")/lib.bash"
D="$SRC/docker"

if command -v docker-compose >/dev/null; then
  (cd "$D" && docker-compose -f docker-compose.yml config -q) >"$T/compose.log" 2>&1 \
    || fail "docker-compose config: $(cat "$T/compose.log")"
  pass "docker-compose config accepts docker/docker-compose.yml"
else
  [ "${CI:-}" = true ] && fail "required in CI: docker-compose"
  echo "ok - # SKIP docker-compose config not run: docker-compose is not installed (Debian package docker-compose)"
fi

# The Debian packages of the libraries the built binary links directly (NEEDED), so that a new
# dependency cannot be forgotten in the runtime stage (libc6 is in the base image).
needed_pkgs=""
for n in $(readelf -d "$PW" | awk '/NEEDED/ {gsub(/[][]/, "", $5); print $5}'); do
  lib=$(ldd "$PW" | awk -v n="$n" '$1 == n {print $3}')
  [ -n "$lib" ] || fail "ldd does not resolve $n"
  pkg=$( (dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null) | head -1 | cut -d: -f1)
  [ -n "$pkg" ] || fail "no Debian package owns $lib"
  case "$pkg" in
    libc6) ;;                                      # in the base image
    libasan* | libubsan* | liblsan* | libtsan*) ;; # a sanitizer build's runtimes, not the image's binary
    *) needed_pkgs="$needed_pkgs $pkg" ;;
  esac
done
export PW_NEEDED_PKGS="$needed_pkgs"

python3 - "$SRC" >"$T/struct.log" 2>&1 <<'PY' || fail "docker files: $(cat "$T/struct.log")"
import glob, json, os, re, sys, yaml
src = sys.argv[1]; d = os.path.join(src, "docker"); errs = []
def err(m): errs.append(m)

c = yaml.safe_load(open(os.path.join(d, "docker-compose.yml")))
svcs = c.get("services", {})
for s in ["kafka", "redis", "pipewatch", "prometheus", "alertmanager", "grafana"]:
    if s not in svcs: err("compose: no service " + s)
k = svcs.get("kafka", {}).get("environment", {})
if "controller" not in str(k.get("KAFKA_PROCESS_ROLES", "")) or any("ZOOKEEPER" in x for x in k):
    err("compose: kafka is not in KRaft mode (KAFKA_PROCESS_ROLES broker,controller, no ZooKeeper)")
for name, s in svcs.items():
    if s.get("privileged"): err(f"compose: {name} is privileged")
    if str(s.get("user", "")).split(":")[0] in ("root", "0"): err(f"compose: {name} runs as root")
    if ":latest" in str(s.get("image", "")) and "build" not in s: err(f"compose: {name} pulls a :latest image")
    for p in s.get("ports", []):
        if not str(p).startswith("127.0.0.1:"): err(f"compose: {name} publishes {p} beyond 127.0.0.1")
    for v in s.get("volumes", []):
        host = str(v).split(":")[0]
        if host.startswith("."):
            if not os.path.exists(os.path.join(d, host)): err(f"compose: {name} mounts missing {host}")
pw = svcs.get("pipewatch", {})
if pw.get("build", {}).get("dockerfile") != "docker/Dockerfile": err("compose: pipewatch is not built from docker/Dockerfile")
if pw.get("environment", {}).get("PIPEWATCH_HTTP_LISTEN", "").split(":")[0] != "0.0.0.0":
    err("compose: pipewatch must listen on 0.0.0.0 inside its container")

df = open(os.path.join(d, "Dockerfile")).read()
lines = [l.strip() for l in re.sub(r"\\\n", " ", df).splitlines() if l.strip() and not l.strip().startswith("#")]
stages, cur, body = [], None, {}
for l in lines:
    m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", l, re.I)
    if m:
        if m.group(1) not in ("debian:12-slim", "debian:bookworm-slim") and m.group(1) not in stages:
            err("Dockerfile: FROM " + m.group(1) + " (expected debian:12-slim or a local stage)")
        cur = m.group(2) or str(len(stages)); stages.append(cur); body[cur] = []
    elif cur: body[cur].append(l)
if len(stages) < 2: err("Dockerfile: not multi-stage")
final = body[stages[-1]] if stages else []
users = [l.split()[1] for l in final if l.upper().startswith("USER ")]
if not users or users[-1].split(":")[0] in ("root", "0") or not users[-1].split(":")[0].isdigit():
    err("Dockerfile: the final stage must end with a numeric non-root USER")
if not any(l.upper().startswith("HEALTHCHECK ") for l in final): err("Dockerfile: no HEALTHCHECK in the final stage")
if re.search(r"^\s*ADD\s+\S*https?://", df, re.M | re.I): err("Dockerfile: ADD of a URL")
build = " ".join(body.get(stages[0], [])) if stages else ""
if "grep -E -- '-dev$' /tmp/ci-packages" not in build or "COPY .ci/packages" not in build:
    err("Dockerfile: the build stage does not install the -dev packages of .ci/packages")
runtime = " ".join(l for st in stages[1:] for l in body[st])
needed = os.environ["PW_NEEDED_PKGS"].split()
if len(needed) < 6: err("readelf/ldd found only %r as the binary's libraries" % needed)
for lib in needed:
    if not re.search(r"\b" + re.escape(lib) + r"\b", runtime): err("Dockerfile: runtime lacks " + lib)
if re.search(r"-dev\b", runtime): err("Dockerfile: a -dev package in a runtime stage")

metrics = set()
for f in glob.glob(os.path.join(src, "rules", "*.y*ml")):
    for m in (yaml.safe_load(open(f)) or {}).get("metrics", []) or []: metrics.add(m["name"])
ds = yaml.safe_load(open(os.path.join(d, "grafana/provisioning/datasources/prometheus.yml")))
uids = {x["uid"] for x in ds["datasources"]}
prov = yaml.safe_load(open(os.path.join(d, "grafana/provisioning/dashboards/pipewatch.yml")))
mounts = [str(v) for v in svcs.get("grafana", {}).get("volumes", [])]
for p in prov["providers"]:
    if not any(v.endswith(":" + p["options"]["path"] + ":ro") for v in mounts):
        err("grafana: provider path " + p["options"]["path"] + " is not mounted")
dashes = glob.glob(os.path.join(d, "grafana/dashboards/*.json"))
if not dashes: err("grafana: no dashboard")
seen = set()
for f in dashes:
    dash = json.load(open(f))
    for p in dash["panels"]:
        for t in p.get("targets", []):
            if t["datasource"]["uid"] not in uids: err(f"{f}: panel {p['title']}: unknown datasource")
            for name in re.findall(r'pipewatch_metric_value\{metric="([^"]+)"', t["expr"]):
                seen.add(name)
                if name not in metrics: err(f"{f}: panel {p['title']}: no metric {name} in rules/")
if len(seen) < 10: err(f"grafana: the dashboard charts only {len(seen)} sales metrics")
print("\n".join(errs) if errs else f"{len(svcs)} services, {len(stages)} stages, {len(seen)} metrics charted")
sys.exit(1 if errs else 0)
PY
pass "compose, Dockerfile and Grafana structure: $(tail -n 1 "$T/struct.log")"

if command -v promtool >/dev/null; then
  promtool check config "$D/prometheus.yml" >"$T/promtool.log" 2>&1 || fail "promtool: $(cat "$T/promtool.log")"
  pass "promtool check config docker/prometheus.yml"
else
  [ "${CI:-}" = true ] && fail "required in CI: promtool"
  echo "ok - # SKIP promtool not run: not installed (Debian package prometheus)"
fi
if command -v amtool >/dev/null; then
  amtool check-config "$D/alertmanager.yml" >"$T/amtool.log" 2>&1 || fail "amtool: $(cat "$T/amtool.log")"
  pass "amtool check-config docker/alertmanager.yml"
else
  [ "${CI:-}" = true ] && fail "required in CI: amtool"
  echo "ok - # SKIP amtool not run: not installed (Debian package prometheus-alertmanager)"
fi

# The container's config as the image lays it out, with the image's ENV (brokers unreachable, port free).
mkdir -p "$T/etc/pipewatch"
cp "$D/pipewatch.yaml" "$T/etc/pipewatch/pipewatch.yaml"
cp -r "$SRC/rules" "$T/etc/pipewatch/rules"
PORT="$(free_port)"
env_args=()
while read -r kv; do env_args+=("$kv"); done < <(python3 - "$D/Dockerfile" <<'PY'
import re, sys, shlex
df = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
for line in df.splitlines():
    if line.startswith("ENV ") and "DEBIAN_FRONTEND" not in line:
        for kv in shlex.split(line[4:]): print(kv)
PY
)
[ "${#env_args[@]}" -ge 2 ] || fail "no ENV defaults found in docker/Dockerfile"
env "${env_args[@]}" PIPEWATCH_KAFKA_BROKERS=127.0.0.1:1 PIPEWATCH_ALERTMANAGER_URL=http://127.0.0.1:1 \
  PIPEWATCH_HTTP_LISTEN="127.0.0.1:$PORT" \
  "$PW" run --config "$T/etc/pipewatch/pipewatch.yaml" >"$T/run.out" 2>"$T/run.log" &
RUN_PID=$!
PIDS+=($RUN_PID)
wait_for 20 grep -q 'pipewatch running:' "$T/run.log" || fail "docker/pipewatch.yaml did not start pipewatch run"
pass "docker/pipewatch.yaml with the image's environment starts pipewatch run"
hc="$(sed -n 's/^ *CMD \[\(.*\)\]$/\1/p' "$D/Dockerfile" | grep healthz | tr -d '",' | sed "s/:9464/:$PORT/")"
[ -n "$hc" ] || fail "no HEALTHCHECK command found in docker/Dockerfile"
wait_for 10 $hc || fail "the HEALTHCHECK command failed against the running daemon: $hc"
pass "the image's HEALTHCHECK command succeeds against the daemon"
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" = 0 ] || fail "pipewatch run exited $rc after SIGTERM"
