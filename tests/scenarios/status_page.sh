#!/usr/bin/env bash
# Scenario: the status page in a real browser. `pipewatch run` against the mock Kafka broker with an
# `http:` listen address; events make a rule fire; Debian's headless chromium loads http://.../ and
#   - its DOM after the page's scripts ran (--dump-dom, virtual time) names the firing rule and holds
#     at least one sparkline <svg>;
#   - a screenshot exists, is larger than 10 KB and is not a single colour (PNG decoded with zlib).
# Skips (exit 0, "skip: ...") when chromium is missing, except in CI (CI=true), where that fails.
source "$(dirname "$0")/lib.bash"

command -v chromium >/dev/null || skip "chromium is not installed"

start_kafka crm:2
PORT=$(free_port)
mkdir -p "$T/rules"
cat >"$T/rules/orders.yaml" <<'Y'
metrics:
  - name: orders
    help: Orders by region
    events: [order.placed]
    by: [region]
    window: 1h
    resolution: 5m
rules:
  - name: orders_surge_status_page
    metric: orders
    above: 3
    severity: critical
    annotations: {summary: '{{ value }} orders in {{ labels.region }}'}
Y
cat >"$T/pipewatch.yaml" <<Y
kafka:
  brokers: $BOOTSTRAP
  topics: [crm]
  group: status-page
clock: event
rules: [rules]
http:
  listen: 127.0.0.1:$PORT
sinks:
  - {name: file, type: log, path: alerts.jsonl, default: true}
Y
for i in $(seq 0 11); do
  printf '{"type":"order.placed","ts":"2026-11-02T10:%02d:00Z","region":"EMEA","amount":%d}\n' \
    $((i * 4)) $((100 + i))
done >"$T/a.jsonl"
printf '{"type":"order.placed","ts":"2026-11-02T10:30:00Z","region":"NA","amount":5}\n' >>"$T/a.jsonl"
produce crm "$T/a.jsonl"

start_daemon "$T/pipewatch.yaml"
wait_for 30 http_get "http://127.0.0.1:$PORT/healthz" || fail "/healthz does not answer (daemon dead or not serving)"
pass "/healthz answers"

wait_for 40 grep -q '"rule":"orders_surge_status_page","state":"firing"' "$T/alerts.jsonl" \
  || fail "the rule did not fire"
wait_for 20 sh -c "curl -fsS http://127.0.0.1:$PORT/api/v1/alerts | grep -q orders_surge_status_page" \
  || fail "/api/v1/alerts does not list the firing alert"
pass "the alert is firing and listed by /api/v1/alerts"

CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir="$T/chrome" --window-size=1280,900)
timeout 90 "${CHROME[@]}" --virtual-time-budget=5000 --dump-dom "http://127.0.0.1:$PORT/" \
  >"$T/dom.html" 2>"$T/chrome-dom.log" || fail "chromium --dump-dom failed"
grep -q 'orders_surge_status_page' "$T/dom.html" || fail "the rendered page does not name the firing rule"
grep -q '<svg[^>]*class="spark"' "$T/dom.html" || fail "the rendered page has no sparkline <svg>"
grep -q 'class="alert critical' "$T/dom.html" || fail "the firing alert is not shown with its severity"
pass "rendered DOM shows the firing alert and sparklines"

timeout 90 "${CHROME[@]}" --virtual-time-budget=5000 --screenshot="$T/page.png" "http://127.0.0.1:$PORT/" \
  >"$T/chrome-shot.log" 2>&1 || fail "chromium --screenshot failed"
[ -f "$T/page.png" ] || fail "no screenshot written"
python3 - "$T/page.png" <<'PY' || fail "screenshot check failed"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
assert len(data) > 10 * 1024, f"only {len(data)} bytes"
pos, idat, w = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), f"unexpected PNG format depth={depth} type={ctype}"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
colours, prev = set(), bytearray(stride)
for y in range(h):  # undo the PNG row filters (RFC 2083, 6) to read real pixel values
    f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: row[i] = (row[i] + a) & 255
        elif f == 2: row[i] = (row[i] + b) & 255
        elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, stride, bpp * 2):
            colours.add(bytes(row[x:x + bpp]))
    prev = row
assert len(colours) >= 16, f"only {len(colours)} distinct colours: a blank page?"
print(f"screenshot {w}x{h}, {len(data)} bytes, {len(colours)} distinct colours sampled")
PY
pass "screenshot is a real page"

stop_daemon
[ "$DRC" = 0 ] || fail "exit code $DRC after SIGTERM"
stop_all
