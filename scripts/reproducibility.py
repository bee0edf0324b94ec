"""How far two runs of one grid on one commit agree: the figures behind the README's
reproducibility paragraph.

    memcap sweep ... --out reports/aa/run1.json     # twice, each with its own empty cache
    python scripts/reproducibility.py reports/aa/run1.json reports/aa/run2.json

Prints, over every timed figure (batch per input and single latency) of the cells both runs
measured: the distribution of the two runs' ratio (max/min: median, 95th percentile, max); the
figures of at least ``--floor`` seconds apart by more than ``--within`` (1.5×) that neither run
flags ``stable: false`` (there should be none); the unstable cells of each run; the pairs of
executors of one cell that either run separates by more than ``--within`` and the other orders
the other way (there should be none); and ``memcap diff``'s verdict.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from kernels.harness import diff

TIMES = ("batch_s_per_input", "single_s")


def timed(doc: dict) -> dict:
    """The rows of ``doc`` that were timed, by diff's cell key."""
    return {diff._key(r): r for r in doc["rows"]
            if r.get("status") == "ok" and r.get("stable") is not None}


def check(doc_a: dict, doc_b: dict, floor: float, within: float) -> dict:
    a, b = timed(doc_a), timed(doc_b)
    both = sorted(set(a) & set(b), key=str)
    ratios, apart = [], []
    for key in both:
        for metric in TIMES:
            x, y = a[key].get(metric), b[key].get(metric)
            if not (x and y):
                continue
            ratio = max(x, y) / min(x, y)
            ratios.append(ratio)
            flagged = a[key]["stable"] is False or b[key]["stable"] is False
            if max(x, y) >= floor and ratio > within and not flagged:
                apart.append((diff._name(a[key]), metric, x, y))
    flipped = []
    def cell(key):  # the cell of a row: its key without the executor
        return str(tuple(v for name, v in zip(diff.KEY, key, strict=True) if name != "executor"))

    groups = itertools.groupby(sorted(both, key=cell), key=cell)
    for _, members in groups:
        for k1, k2 in itertools.combinations(list(members), 2):
            ta = a[k1]["batch_s_per_input"], a[k2]["batch_s_per_input"]
            tb = b[k1]["batch_s_per_input"], b[k2]["batch_s_per_input"]
            sep = max(max(ta) / min(ta), max(tb) / min(tb))
            if sep > within and (ta[0] < ta[1]) != (tb[0] < tb[1]):
                flipped.append((diff._name(a[k1]), a[k2]["executor"], ta, tb))
    verdict = diff.compare(doc_a, doc_b)
    r = np.asarray(ratios)
    return {
        "cells": len(both), "figures": int(r.size),
        "ratio": {"median": float(np.median(r)), "p95": float(np.quantile(r, 0.95)),
                  "max": float(r.max())},
        "apart_and_stable": apart,
        "unstable": [sum(row["stable"] is False for row in run.values()) for run in (a, b)],
        "flipped": flipped,
        "diff_exit": diff.EXIT_SAME if verdict["verdict"] == "no change beyond noise"
        else diff.EXIT_CHANGED,
        "diff": {k: len(v) for k, v in verdict.items() if isinstance(v, list)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--floor", type=float, default=1e-6,
                        help="figures below this many seconds are not judged (default 1 µs)")
    parser.add_argument("--within", type=float, default=1.5, help="agreement asked (default 1.5)")
    args = parser.parse_args(argv)
    rec = check(json.loads(args.a.read_text()), json.loads(args.b.read_text()), args.floor,
                args.within)
    print(f"{rec['cells']} cells timed in both runs, {rec['figures']} figures; ratio of the two "
          f"runs (max/min): median {rec['ratio']['median']:.3f}, 95th percentile "
          f"{rec['ratio']['p95']:.3f}, max {rec['ratio']['max']:.2f}")
    print(f"unstable cells: {rec['unstable'][0]} and {rec['unstable'][1]} of {rec['cells']} "
          f"({100 * max(rec['unstable']) / max(rec['cells'], 1):.1f}% at most)")
    print(f"figures ≥ {args.floor:g} s apart by more than {args.within}× and stable in both: "
          f"{len(rec['apart_and_stable'])}")
    for name, metric, x, y in rec["apart_and_stable"]:
        print(f"  {name} {metric}: {x:.3g} s against {y:.3g} s")
    print(f"executor pairs separated by more than {args.within}× and ordered the other way: "
          f"{len(rec['flipped'])}")
    for name, other, ta, tb in rec["flipped"]:
        print(f"  {name} against {other}: {ta} then {tb}")
    print(f"memcap diff: exit {rec['diff_exit']} {rec['diff']}")
    bad = rec["apart_and_stable"] or rec["flipped"] or rec["diff_exit"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
