#!/usr/bin/env python3
"""compare_notifications.py -- the notification sequences of a run with kill -9s against an uninterrupted run.

usage: compare_notifications.py --ref FILE --crash FILE --kills DIR N [--receiver] [--key state,at,active_since]

FILEs hold one notification per line: the JSON a log sink writes, or with --receiver the records of
tests/tools/http_receiver.py (the notification is the request body). DIR holds, for each kill k = 1..N,
what the test saw right after it: kill-k.received (how many lines the crash FILE had) and kill-k.ledger
(`redis-cli hgetall PREFIXdelivered:SINK`: field, then value "seq kind def_hash born written_ms at").

Per fingerprint, the crash run's sequence must be the reference's (compared on --key), except
re-deliveries of notifications that were in flight at a kill: delivered before the kill, but not yet
covered by the ledger Redis held at that moment. A notification is covered when the ledger entry of its
alert is for its life (the life starts at the alert's first notification active since the entry's birth)
and the entry's seq reaches it (seq counts the life's notifications from 1), unless the re-delivery was
evaluated later than the entry's `at` (the ledger sends those by design). Nothing may be missing.
Exit status 0 if so; prints every difference and a summary line.
"""
import argparse
import collections
import datetime
import json
import sys


def ms(s):
    return round(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def load(path, receiver, key):
    out = collections.defaultdict(list)  # fingerprint -> [(key tuple, line number, notification)]
    for i, line in enumerate(open(path, encoding="utf-8")):
        r = json.loads(line)
        n = json.loads(r["body"]) if receiver else r
        out[n["fingerprint"]].append((tuple(n[k] for k in key), i, n))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--crash", required=True)
    ap.add_argument("--kills", nargs=2, metavar=("DIR", "N"), required=True)
    ap.add_argument("--receiver", action="store_true")
    ap.add_argument("--key", default="state,at,active_since")
    a = ap.parse_args()
    key = a.key.split(",")
    ref, crash = load(a.ref, a.receiver, key), load(a.crash, a.receiver, key)
    kills = []
    for k in range(1, int(a.kills[1]) + 1):
        received = int(open(f"{a.kills[0]}/kill-{k}.received").read())
        v = open(f"{a.kills[0]}/kill-{k}.ledger").read().split()
        # HGETALL: field, then the value's 6 words "seq kind def_hash born written_ms at"
        kills.append((received, {v[i]: v[i + 1:i + 7] for i in range(0, len(v) - 6, 7)}))

    bad = dups = 0
    for fp in sorted(set(ref) | set(crash)):
        r = [k for k, _, _ in ref.get(fp, [])]
        j = 0
        aligned = []  # (reference index, line, notification) of the crash run's items so far
        for k_, line, n in crash.get(fp, []):
            if j < len(r) and k_ == r[j]:
                aligned.append((j, line, n))
                j += 1
                continue
            # a re-delivery: of a notification delivered before the last kill and not covered by the ledger then
            kill = max((k for k in range(len(kills)) if kills[k][0] <= line), default=None)
            prev = [(i, l) for i, l, _ in aligned if r[i] == k_]
            why = None
            if kill is None:
                why = "no kill before it"
            elif not prev or prev[0][1] >= kills[kill][0]:
                why = "not delivered before that kill"
            else:
                e = kills[kill][1].get(fp)
                if e:
                    seq, born = int(e[0]), int(e[3])
                    starts = [i for i, l, m in aligned if l < kills[kill][0] and ms(m["active_since"]) == born]
                    if starts and prev[0][0] <= starts[0] + seq - 1 and ms(n["at"]) <= int(e[5]):
                        # (one evaluated later than the entry's last delivered one is sent by design:
                        # a replay that re-derives it later must not be suppressed, README "Snapshots")
                        why = f"covered by the ledger at that kill (seq {seq})"
            if why:
                print(f"{fp}: {k_} at line {line}: neither the next expected "
                      f"({r[j] if j < len(r) else None}) nor in flight at kill {kill}: {why}")
                bad = 1
            dups += 1
        if j != len(r):
            print(f"{fp}: {len(r) - j} notification(s) lost, the first {r[j]}")
            bad = 1
    n = sum(len(v) for v in ref.values())
    print(f"{len(ref)} alerts, {n} notifications in the same order per alert after {len(kills)} kill(s); "
          f"{dups} re-delivered (in flight at a kill)")
    return bad


if __name__ == "__main__":
    sys.exit(main())
