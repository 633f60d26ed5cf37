#!/usr/bin/env python3
"""plot.py -- the README's benchmark plot: throughput and memory per series against series count.

    python3 tests/bench/plot.py SWEEP.TSV OUT.PNG [SUBTITLE]

SWEEP.TSV is written by tests/bench/run (series sweep), one line per size:
    SERIES EPS_MEDIAN EPS_MIN EPS_MAX RUNS RSS_MEDIAN RSS_MIN RSS_MAX RUNS EVENTS_PER_LABEL_VALUE
(events/s of decoder + engine from bench_memory; RSS growth per series in bytes; the events each label
value got: the sweep feeds the same number of events at every size). Two panels side by side, series on a log axis, medians with min-max bars; the memory panel
shows issue 8's budget (1 KiB per scalar series). Needs matplotlib (Debian: python3-matplotlib); uses
the Agg back end, so no display is needed.
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the back end is chosen)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: plot.py SWEEP.TSV OUT.PNG [SUBTITLE]")
    rows = []
    for line in open(sys.argv[1], encoding="utf-8"):
        f = line.split()
        if len(f) != 10:
            continue
        rows.append([float(x) for x in f])
    if not rows:
        sys.exit("plot.py: no data in " + sys.argv[1])
    rows.sort()
    x = [r[0] for r in rows]

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    eps = [r[1] / 1e6 for r in rows]
    a1.errorbar(x, eps, yerr=[[(r[1] - r[2]) / 1e6 for r in rows], [(r[3] - r[1]) / 1e6 for r in rows]],
                marker="o", capsize=4, color="tab:blue")
    for r, yi in zip(rows, eps):
        a1.annotate("%.2fM\n(%d ev/value)" % (yi, r[9]), (r[0], yi), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=8)
    a1.set_xscale("log")
    a1.set_xlabel("live series (count + sum, by one label)")
    a1.set_ylabel("million events/s (decoder + engine, one thread)")
    a1.set_title("Throughput, the same events each time")
    a1.set_ylim(bottom=0, top=max(r[3] for r in rows) / 1e6 * 1.35)
    a1.grid(True, which="both", alpha=0.3)

    rss = [r[5] for r in rows]
    a2.errorbar(x, rss, yerr=[[r[5] - r[6] for r in rows], [r[7] - r[5] for r in rows]], marker="s", capsize=4,
                color="tab:green", label="RSS growth / series")
    for xi, yi in zip(x, rss):
        a2.annotate("%.0f B" % yi, (xi, yi), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    a2.axhline(1024, color="tab:red", linestyle="--", label="issue 8 budget: 1 KiB")
    a2.set_xscale("log")
    a2.set_xlabel("live series (count + sum, by one label)")
    a2.set_ylabel("bytes per series (RSS growth)")
    a2.set_title("Memory, 60 buckets per window")
    a2.set_ylim(bottom=0, top=max(1200, max(r[7] for r in rows) * 1.2))
    a2.legend(loc="lower right", fontsize=8)
    a2.grid(True, which="both", alpha=0.3)

    title = "pipewatch: tests/bench/run, bench_memory (medians, min-max bars)"
    if len(sys.argv) == 4:
        title += "\n" + sys.argv[3]
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
