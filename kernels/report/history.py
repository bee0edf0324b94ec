"""``memcap history``: a regression history across commits that opens offline.

It reads asv's results folder (``.asv/results``: one folder per machine, one JSON file per commit
and environment, ``benchmarks.json`` for units) and, when given, memcap results files (one per
commit), and writes one self-contained HTML page — figures as base64 PNG, no script, no network
address — with, per benchmark, the value at every commit (commits ordered by their date) and its
spread (asv's interquartile range, memcap's min..max of the repeats), and the steps that asv's own
step detection (:mod:`asv.step_detect`) finds, listed as regressions and improvements with the
commit range in which each happened.  asv's own web UI (``asv publish``) loads jQuery, flot and
bootstrap from CDNs, so it is blank offline; this page shows the same series without them.
"""

from __future__ import annotations

import itertools
import json
import math
import os

from kernels.harness import results
from kernels.report.markup import _e, figure_html, table
from kernels.report.style import CSS, STYLE, plt, png

MIN_STEP = 0.05  # relative change below which a detected step is not listed


def _columns(doc: dict) -> dict:
    """{benchmark: {column: value}} of one asv results file (api_version 2)."""
    cols = doc.get("result_columns") or ["result", "params"]
    return {name: dict(zip(cols, row, strict=False)) for name, row in doc["results"].items()}


def read_asv(folder: str) -> dict:
    """{(machine, benchmark, parameters): {commit: (date, value, low, high)}} and the units,
    from an asv results folder."""
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: no such folder (run `asv run` first, or give --asv DIR)")
    units = {}
    meta = os.path.join(folder, "benchmarks.json")
    if os.path.isfile(meta):
        units = {k: v.get("unit", "") for k, v in _load(meta).items() if isinstance(v, dict)}
    out = {}
    for machine in sorted(os.listdir(folder)):
        mdir = os.path.join(folder, machine)
        if not os.path.isdir(mdir):
            continue
        for fname in sorted(os.listdir(mdir)):
            if not fname.endswith(".json") or fname == "machine.json":
                continue
            doc = _load(os.path.join(mdir, fname))
            if "results" not in doc or "commit_hash" not in doc:
                continue
            for name, col in _columns(doc).items():
                _add_asv(out, machine, name, col, doc["commit_hash"], doc.get("date") or 0)
    return {"series": out, "units": units}


def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from None


def _add_asv(out, machine, name, col, commit, date) -> None:
    value, params = col.get("result"), col.get("params") or []
    combos = list(itertools.product(*params)) if params else [()]
    values = value if isinstance(value, list) and params else [value]
    q25 = col.get("stats_q_25") or [None] * len(combos)
    q75 = col.get("stats_q_75") or [None] * len(combos)
    for combo, v, lo, hi in zip(combos, values, q25, q75, strict=False):
        if isinstance(v, int | float) and math.isfinite(v):
            key = (machine, name, ", ".join(str(c) for c in combo))
            out.setdefault(key, {})[commit] = (date, float(v), lo if lo is not None else v,
                                               hi if hi is not None else v)


def read_memcap(paths: list[str]) -> dict:
    """The same shape from memcap results files: one commit each (its ``git_commit``), one series
    per cell (construction/executor, n, p, dtype), batch seconds per input with its min..max."""
    out = {}
    for k, path in enumerate(paths):
        doc = results.load(path)
        env = doc.get("environment") or {}
        commit = str(env.get("git_commit") or os.path.basename(path))
        machine = (env.get("cpu") or env.get("host") or "memcap")
        for r in doc.get("rows", []):
            t = r.get("batch_s_per_input")
            if r.get("status") != "ok" or not isinstance(t, int | float):
                continue
            sp = r.get("batch_spread") or {}
            key = (str(machine), f"memcap {r['construction']}/{r['executor']}",
                   f"n={r['n']}, p={r['p']}, {r['dtype']}")
            out.setdefault(key, {})[commit] = (k, t, sp.get("min", t), sp.get("max", t))
    return {"series": out, "units": {}}


def steps(points: list[tuple[str, float]]) -> list[dict]:
    """Regressions (the value rose) and improvements (it fell) between the segments that
    :func:`asv.step_detect.detect_steps` fits to one series, each with its commit range: the last
    commit of the segment before and the first of the segment after."""
    from asv.step_detect import detect_steps

    if len(points) < 2:
        return []
    out = []
    segs = detect_steps([v for _, v in points])
    for (_, r0, v0, _, _), (l1, _, v1, _, _) in itertools.pairwise(segs):
        change = v1 / v0 if v0 else math.inf
        if abs(change - 1) < MIN_STEP:
            continue
        out.append({"kind": "regression" if v1 > v0 else "improvement",
                    "from": points[r0 - 1][0], "to": points[l1][0], "before": v0, "after": v1,
                    "ratio": change})
    return out


def _ordered(series: dict) -> list[tuple[str, float, float, float, float]]:
    """[(commit, value, low, high, date)] oldest first."""
    return [(c, v, lo, hi, d) for c, (d, v, lo, hi) in sorted(series.items(),
                                                               key=lambda kv: (kv[1][0], kv[0]))]


def _figure(bench: str, lines: dict, unit: str, commits: list[str]) -> str:
    """One benchmark's figure: a line per parameter set over the commits, spread as error bars."""
    pos = {c: i for i, c in enumerate(commits)}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 3.2))
        for label, pts in sorted(lines.items())[:12]:
            xs = [pos[p[0]] for p in pts]
            ys = [p[1] for p in pts]
            err = [[max(p[1] - p[2], 0) for p in pts], [max(p[3] - p[1], 0) for p in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=3, capsize=2, lw=1.2,
                        label=label or "(no parameters)")
        ax.set_xticks(range(len(commits)), [c[:8] for c in commits], rotation=45, ha="right")
        ax.set_xlabel("commit (oldest first)")
        ax.set_ylabel(unit or "value")
        if all(p[1] > 0 for pts in lines.values() for p in pts):
            ax.set_yscale("log")
        ax.set_title(bench)
        if len(lines) > 1 or next(iter(lines)):
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return png(fig)


def render(data: dict, sources: list[str]) -> str:
    """The page: a table of every step found, then one figure per benchmark."""
    by_bench = {}
    for (machine, bench, params), series in sorted(data["series"].items()):
        by_bench.setdefault((machine, bench), {})[params] = _ordered(series)
    found, figs = [], []
    for (machine, bench), lines in by_bench.items():
        dates = {p[0]: p[4] for pts in lines.values() for p in pts}
        commits = sorted(dates, key=lambda c: (dates[c], c))
        for params, pts in lines.items():
            for s in steps([(p[0], p[1]) for p in pts]):
                found.append([_e(s["kind"]), _e(bench), _e(params), _e(machine),
                              f"<code>{_e(s['from'][:8])}</code>..<code>{_e(s['to'][:8])}</code>",
                              f"{s['before']:.3g}", f"{s['after']:.3g}", f"{s['ratio']:.2f}×"])
        unit = data["units"].get(bench, "seconds per input" if bench.startswith("memcap") else "")
        img = _figure(bench, lines, unit, commits)
        figs.append(f"<h3>{_e(bench)} <small>({_e(machine)})</small></h3>"
                    + figure_html(bench, img, f"{len(commits)} commits; error bars: the spread "
                                  "(asv: interquartile range; memcap: min..max of repeats)."))
    step_html = (table(["step", "benchmark", "parameters", "machine", "commits", "before",
                        "after", "ratio"], found, left=4) if found else
                 "<p>No step found: every series is flat within asv's step detection.</p>")
    src = "".join(f"<li><code>{_e(s)}</code></li>" for s in sources)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>memcap history</title>", f"<style>{CSS}</style></head><body>",
        "<h1>memcap history</h1>",
        f"<p>{len(by_bench)} benchmarks, {len(data['series'])} series, from:</p><ul>{src}</ul>",
        "<h2>Steps (asv.step_detect)</h2>",
        "<p>A regression is a step up (slower, or more of what is tracked), an improvement a "
        f"step down, by at least {MIN_STEP:.0%}; the commits are the last one before the step "
        "and the first one after it.</p>", step_html,
        "<h2>Benchmarks</h2>", *figs, "</body></html>"]) + "\n"


def main(args) -> int:
    """``memcap history [--asv DIR] [--results FILE ...] [--out DIR]``."""
    asv_dir = args.asv or ".asv/results"
    data, sources = {"series": {}, "units": {}}, []
    if os.path.isdir(asv_dir) or args.asv or not args.results:
        data = read_asv(asv_dir)
        sources.append(asv_dir)
    if args.results:
        mem = read_memcap(args.results)
        data["series"].update(mem["series"])
        sources += args.results
    if not data["series"]:
        raise ValueError(f"{', '.join(sources)}: no benchmark results found")
    out = args.out or "reports/"
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"{out}: not a folder")
    text = render(data, sources)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "history.html")
    results.write_text(path, text)
    print(f"history: {path}")
    return 0
