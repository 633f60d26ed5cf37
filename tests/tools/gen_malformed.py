#!/usr/bin/env python3
"""gen_malformed.py -- a deterministic stream of hostile events interleaved with valid ones (issue 7).

Writes one message per line (raw bytes; no message contains a newline byte, so `kcat -P` sends each line
as one message) and a JSON tally of what pipewatch must make of them:

  {"valid": N, "rejected": {"not_json": n, ...}, "regions": {"EMEA": {"count": c, "sum": s}, ...},
   "unevaluable": u, "malformed": M}

Malformed messages are made by mutating valid events: truncation, NaN/Infinity, trailing garbage, a
byte-order mark, single quotes, trailing commas, comments, not an object, nesting past the depth limit,
invalid UTF-8 (raw bytes, overlong forms, encoded surrogates, cut sequences, unpaired \\u escapes),
numbers beyond double range, messages past the size limit, missing / null / empty / non-string types,
missing / null / unparsable / out-of-range times, and times the daemon rejects (year 9999 and other
times past `events.max_future` -> `future`; year 0 and other times older than `events.allowed_lateness`
-> `late`). Each mutation's expected reason follows README "Events".

Valid events (order.placed, region in four values, integer amount) include documented oddities that are
applied: duplicate keys (the last one wins), amounts that are numeric strings (they count as numbers),
amounts of the wrong type or missing (the event counts, the sum metric counts it as unevaluable), nesting
just under the limit, escapes, an unknown event type (applied, no metric consumes it).

The expected reasons assume the daemon config of tests/scenarios/daemon_malformed.sh: events.max_size
1024, events.max_depth 64 (default), events.max_future 1h (default), events.allowed_lateness 1d, and a base
time near the wall clock (--base, epoch seconds; valid events are at base .. base + 20 min).

usage: gen_malformed.py --malformed N --valid N --seed S --base EPOCH_S --out FILE --tally FILE [--rejected FILE]
"""
import argparse
import json
import random
import time

REGIONS = ["EMEA", "NA", "LATAM", "APAC"]
MAX_SIZE = 1024
MAX_DEPTH = 64


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Gen:
    def __init__(self, seed, base):
        self.r = random.Random(seed)
        self.base = base
        self.n = 0

    def ts(self):
        return self.base + self.r.randrange(0, 1200)

    def event(self, region=None, amount=None, ts=None):
        """A valid event as an ordered list of (key, JSON text) pairs, so mutations can edit it."""
        self.n += 1
        region = region or self.r.choice(REGIONS)
        amount = self.r.randrange(1, 1000) if amount is None else amount
        return [("type", '"order.placed"'), ("ts", '"%s"' % iso(ts or self.ts())), ("id", '"o-%d"' % self.n),
                ("region", '"%s"' % region), ("amount", str(amount)), ("product", '"plan-%d"' % (self.n % 7))]

    @staticmethod
    def text(kv):
        return "{" + ",".join('"%s":%s' % (k, v) for k, v in kv) + "}"

    @staticmethod
    def setf(kv, key, val):
        out = [(k, v) for k, v in kv if k != key]
        if val is not None:
            out.insert(1, (key, val))
        return out

    # ---- malformed: each returns (bytes, reason) ----
    def m_truncated(self):
        t = self.text(self.event())
        return t[: self.r.randrange(1, len(t))].encode(), "not_json"

    def m_nan(self):
        return self.text(self.setf(self.event(), "amount", self.r.choice(["NaN", "Infinity", "-Infinity", "nan"]))).encode(), "not_json"

    def m_syntax(self):
        t = self.text(self.event())
        variants = [t + "x", t + "}", t + " {}", "\ufeff" + t, t.replace('"', "'"), t[:-1] + ",}",
                    t[:1] + "/* c */" + t[1:], t.replace(":", " ", 1), t.replace(",", ",,", 1), "{" + t,
                    t.replace('"amount":', '"amount":01', 1), t.replace('"amount":', '"amount":+', 1),
                    t.replace('"amount":', '"amount":.5,"x":', 1), t.replace('"type"', "type", 1), "   ", "\t"]
        return self.r.choice(variants).encode(), "not_json"  # (kcat skips empty lines: no empty message here)

    def m_not_object(self):
        t = self.text(self.event())
        return self.r.choice(["[" + t + "]", "42", '"order.placed"', "null", "true", "[]", "-1.5e3"]).encode(), "not_object"

    def m_deep(self):
        d = self.r.randrange(MAX_DEPTH, MAX_DEPTH + 60)  # the object itself is level 1: d more levels exceed it (and stay < MAX_SIZE)
        inner = self.r.choice(["[" * d + "]" * d, '{"a":' * d + "1" + "}" * d])
        return self.text(self.setf(self.event(), "nest", inner)).encode(), "too_deep"

    def m_utf8(self):
        bad = self.r.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80",
                             b"\x80", b"\xf4\x90\x80\x80", b"\\ud800", b"\\udc00x", b"\\ud800\\u0041"])
        kv = self.event()
        key = self.r.choice(["region", "product", "id"])
        t = self.text(kv).encode()
        old = dict(kv)[key].encode()
        return t.replace(old, old[:-1] + bad + b'"', 1), "bad_utf8"

    def m_number(self):
        big = self.r.choice(["1e400", "-1e400", "1e999", "123456789e308", "-2e308"])
        return self.text(self.setf(self.event(), self.r.choice(["amount", "other"]), big)).encode(), "bad_number"

    def m_large(self):
        pad = "z" * self.r.randrange(MAX_SIZE, MAX_SIZE + 300)
        return self.text(self.setf(self.event(), "pad", '"%s"' % pad)).encode(), "too_large"

    def m_type(self):
        kv = self.event()
        v, reason = self.r.choice([(None, "no_type"), ("null", "no_type"), ('""', "no_type"), ("42", "bad_type"),
                                   ("true", "bad_type"), ('["order.placed"]', "bad_type"), ('{"a":1}', "bad_type")])
        return self.text(self.setf(kv, "type", v)).encode(), reason

    def m_time(self):
        kv = self.event()
        v, reason = self.r.choice([
            (None, "no_time"), ("null", "no_time"), ('"yesterday"', "bad_time"), ('"2026-13-01T00:00:00Z"', "bad_time"),
            ('"2026-02-30T10:00:00Z"', "bad_time"), ('"2026-11-02T25:00:00Z"', "bad_time"), ("true", "bad_time"),
            ('{"t":1}', "bad_time"), ('"10000-01-01T00:00:00Z"', "bad_time"), ('""', "bad_time"),
            ('"2026-11-02 10:00"', "bad_time"), ("[1]", "bad_time"), ("1e300", "bad_time")])
        return self.text(self.setf(kv, "ts", v)).encode(), reason

    def m_future(self):
        v = self.r.choice(['"9999-12-31T23:59:59Z"', '"%s"' % iso(self.base + 86400 * self.r.randrange(1, 3000)),
                           str((self.base + 7200 + self.r.randrange(0, 10 ** 6)) * 1000), str(self.base + 86400 * 400)])
        return self.text(self.setf(self.event(), "ts", v)).encode(), "future"

    def m_late(self):
        v = self.r.choice(['"0000-01-01T00:00:00Z"', '"1970-01-01T00:00:00Z"', '"2000-02-29T12:00:00Z"', "0",
                           '"%s"' % iso(self.base - 86400 * self.r.randrange(2, 400))])
        return self.text(self.setf(self.event(), "ts", v)).encode(), "late"

    MUTATIONS = ["m_truncated", "m_nan", "m_syntax", "m_not_object", "m_deep", "m_utf8", "m_number", "m_large",
                 "m_type", "m_time", "m_future", "m_late"]

    # ---- valid, possibly odd: each returns (bytes, region or None, amount or None) ----
    def valid(self):
        kind = self.r.randrange(10)
        region = self.r.choice(REGIONS)
        amount = self.r.randrange(1, 1000)
        kv = self.event(region, amount)
        if kind == 1:  # duplicate keys: the last one wins
            kv = [("region", '"XX"')] + kv + [("amount", str(amount))]
            kv.insert(1, ("amount", "999999"))
        elif kind == 2:  # a numeric string counts as a number
            kv = self.setf(kv, "amount", '"%d"' % amount)
        elif kind == 3:  # wrong type or missing: counted, but not summed
            kv = self.setf(kv, "amount", self.r.choice(['"abc"', "true", "null", "[1]", '{"v":1}', None]))
            amount = None
        elif kind == 4:  # nesting just under the limit (object = level 1)
            d = MAX_DEPTH - 2
            kv = kv + [("nest", "[" * d + "]" * d)]
        elif kind == 5:  # escapes and non-ASCII text elsewhere
            kv = kv + [("note", '"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \u00e9\u4e2d"')]
        elif kind == 6:  # a type no metric consumes: applied, counts nowhere
            kv = self.setf(kv, "type", '"order.refunded"')
            region = None
        return self.text(kv).encode("utf-8"), region, amount


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--malformed", type=int, default=10000)
    ap.add_argument("--valid", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--base", type=int, required=True, help="epoch seconds of the first valid event time")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tally", required=True)
    ap.add_argument("--rejected", help="also write every malformed message as: REASON TAB HEX(PAYLOAD)")
    a = ap.parse_args()
    g = Gen(a.seed, a.base)
    kinds = ["bad"] * a.malformed + ["ok"] * a.valid
    g.r.shuffle(kinds)
    if kinds and kinds[0] != "ok" and "ok" in kinds:  # a valid event first: `late` needs a stream time
        i = kinds.index("ok")
        kinds[0], kinds[i] = kinds[i], kinds[0]
    tally = {"valid": 0, "malformed": 0, "rejected": {}, "regions": {r: {"count": 0, "sum": 0} for r in REGIONS},
             "unevaluable": 0}
    rej = open(a.rejected, "w") if a.rejected else None
    with open(a.out, "wb") as f:
        for k in kinds:
            if k == "bad":
                data, reason = getattr(g, g.r.choice(Gen.MUTATIONS))()
                tally["malformed"] += 1
                tally["rejected"][reason] = tally["rejected"].get(reason, 0) + 1
                if rej:
                    rej.write("%s\t%s\n" % (reason, data.hex()))
            else:
                data, region, amount = g.valid()
                tally["valid"] += 1
                if region:
                    tally["regions"][region]["count"] += 1
                    if amount is None:
                        tally["unevaluable"] += 1
                    else:
                        tally["regions"][region]["sum"] += amount
            assert b"\n" not in data
            f.write(data + b"\n")
    if rej:
        rej.close()
    with open(a.tally, "w") as f:
        json.dump(tally, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
