"""``memcap diff A.json B.json``: what changed between two results files (of ``memcap sweep`` or
``memcap report``) beyond noise — the regression listing of memcap's own grid, usable in CI
(``memcap diff main.json pr.json || exit 1``).

Cells are matched by their key (construction, variant, executor, kind, n, p, r, dtype, sparsity,
seed, threads).  Listed:

* **times** (batch per input and single-input latency) whose quartile ranges (q25..q75 of each
  run's repeats) do not overlap *and* whose medians differ by at least ``threshold`` (1.2×);
* **counts and results**: any change in operation counts, exactness, status or sizes — these are
  deterministic, so any difference is a change;
* **added / removed**: cells present in one file only;
* **not compared**: the times of cells unstable in either run (``stable: false``, the stability
  rule of :mod:`kernels.harness.timing`), listed apart; they never make the exit code 1.

Exit code: 0 nothing changed beyond noise, 1 something did, 2 bad input.
"""

from __future__ import annotations

import json
import math

from kernels.harness import results

KEY = ("construction", "variant", "executor", "kind", "n", "p", "r", "dtype", "sparsity", "seed",
       "threads")
TIMES = {"batch_s_per_input": "batch_spread", "single_s": "single_spread"}
COUNTS = ("ops_mean", "ops_max", "mul_mean", "add_mean", "cmp_mean", "active_neurons_mean",
          "active_neurons_max", "active_weights_mean", "active_weights_max")
RESULTS = ("status", "exact", "inexact_points")
SIZES = ("neurons", "weights", "depth", "vertices", "model_bytes")
THRESHOLD = 1.2
EXIT_SAME, EXIT_CHANGED = 0, 1


def _key(row: dict) -> tuple:
    return tuple(row.get(a) for a in KEY)


def _name(row: dict) -> str:
    extra = "".join(f" {a}={row[a]}" for a in ("variant", "sparsity") if row.get(a) is not None)
    return (f"{row['construction']} {row['executor']} n={row['n']} p={row['p']} r={row['r']} "
            f"{row['dtype']}{extra}" + (f" threads={row['threads']}"
                                        if (row.get("threads") or 1) != 1 else ""))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)
    return a == b


def _quartiles(row: dict, metric: str):
    sp = row.get(TIMES[metric])
    if isinstance(sp, dict) and all(isinstance(sp.get(q), int | float) for q in ("q25", "q75")):
        return sp["q25"], sp["q75"]
    v = row.get(metric)
    return (v, v) if isinstance(v, int | float) else None


def time_change(a: dict, b: dict, metric: str, threshold: float) -> dict | None:
    """The change of timed ``metric`` from row ``a`` to ``b`` when it is beyond noise: quartile
    ranges apart and medians ``threshold``× apart; else None."""
    ma, mb = a.get(metric), b.get(metric)
    qa, qb = _quartiles(a, metric), _quartiles(b, metric)
    if not all(isinstance(v, int | float) and v > 0 for v in (ma, mb)) or None in (qa, qb):
        return None
    ratio = mb / ma
    apart = qa[1] < qb[0] or qb[1] < qa[0]
    if apart and max(ratio, 1 / ratio) >= threshold:
        return {"field": metric, "a": ma, "b": mb, "ratio": ratio,
                "a_quartiles": list(qa), "b_quartiles": list(qb)}
    return None


def unstable(row: dict) -> bool:
    return row.get("status") == "ok" and row.get("stable") is False


def compare(doc_a: dict, doc_b: dict, threshold: float = THRESHOLD) -> dict:
    """The differences of two results documents (module docstring); ``changed`` is a list of
    ``{"cell", "construction", "executor", "changes": [{"field", "a", "b", ...}]}``."""
    rows_a = {_key(r): r for r in doc_a["rows"]}
    rows_b = {_key(r): r for r in doc_b["rows"]}
    changed, not_compared = [], []
    for k in [k for k in rows_a if k in rows_b]:
        a, b = rows_a[k], rows_b[k]
        changes = [{"field": f, "a": a.get(f), "b": b.get(f)}
                   for f in RESULTS + COUNTS + SIZES
                   if (f in a or f in b) and not _same(a.get(f), b.get(f))]
        if a.get("status") == "ok" and b.get("status") == "ok":
            if unstable(a) or unstable(b):
                not_compared.append({"cell": _name(a), "construction": a["construction"],
                                     "executor": a["executor"],
                                     "unstable_in": [x for x, r in (("A", a), ("B", b))
                                                     if unstable(r)]})
            else:
                changes += [c for m in TIMES if (c := time_change(a, b, m, threshold))]
        if changes:
            changed.append({"cell": _name(a), "construction": a["construction"],
                            "executor": a["executor"], "changes": changes})
    added = [_name(rows_b[k]) for k in rows_b if k not in rows_a]
    removed = [_name(rows_a[k]) for k in rows_a if k not in rows_b]
    same = not (changed or added or removed)
    return {"threshold": threshold, "cells_a": len(rows_a), "cells_b": len(rows_b),
            "changed": changed, "added": added, "removed": removed,
            "not_compared": not_compared,
            "verdict": "no change beyond noise" if same else "changed"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v * 1e6:.4g} µs" if v < 1e-2 else f"{v:.6g}"
    return str(v)


def table(rec: dict) -> str:
    lines = []
    for c in rec["changed"]:
        for ch in c["changes"]:
            if "ratio" in ch:
                what = (f"{ch['field']} {_fmt(ch['a'])} -> {_fmt(ch['b'])} ({ch['ratio']:.2f}x, "
                        "quartiles apart)")
            else:
                what = f"{ch['field']} {_fmt(ch['a'])} -> {_fmt(ch['b'])}"
            lines.append(f"changed  {c['cell']}: {what}")
    lines += [f"added    {c}" for c in rec["added"]]
    lines += [f"removed  {c}" for c in rec["removed"]]
    lines += [f"not compared (unstable in {'+'.join(c['unstable_in'])})  {c['cell']}"
              for c in rec["not_compared"]]
    lines.append(f"{rec['verdict']}: {len(rec['changed'])} changed, {len(rec['added'])} added, "
                 f"{len(rec['removed'])} removed, {len(rec['not_compared'])} not compared "
                 f"(unstable), of {rec['cells_a']} / {rec['cells_b']} cells; times beyond "
                 f"{rec['threshold']:g}x with quartile ranges apart")
    return "\n".join(lines)


def main(args) -> int:
    """``memcap diff A.json B.json [--threshold X] [--json]``: 0 same, 1 changed, 2 bad input
    (a ValueError the CLI prints as one line)."""
    t = args.threshold
    if not (isinstance(t, float) and math.isfinite(t) and t >= 1.0):
        raise ValueError(f"--threshold must be a number >= 1 (a ratio of medians); got {t}")
    doc_a, doc_b = results.load(args.a), results.load(args.b)
    rec = compare(doc_a, doc_b, t)
    print(json.dumps(rec, indent=1) if args.json else table(rec))
    return EXIT_SAME if rec["verdict"] == "no change beyond noise" else EXIT_CHANGED


def add_parser(sub) -> None:
    """``memcap diff`` on the CLI's subcommands."""
    p = sub.add_parser("diff", help="what changed between two results files, beyond noise",
                       description="Compare two results files (of `memcap sweep` or `memcap "
                                   "report`) cell by cell: times whose quartile ranges do not "
                                   "overlap and whose medians differ by at least --threshold, "
                                   "any change in operation counts, exactness or sizes, and "
                                   "cells added or removed. Cells unstable in either run are "
                                   "listed apart as not compared. Exit status: 0 nothing "
                                   "changed beyond noise, 1 something changed, 2 bad input "
                                   "(CI: memcap diff main.json pr.json || exit 1).")
    p.add_argument("a", metavar="A.json", help="the earlier results (baseline)")
    p.add_argument("b", metavar="B.json", help="the later results")
    p.add_argument("--threshold", type=float, default=1.2,
                   help="smallest ratio of medians reported as a time change (default 1.2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)
