"""The report's figures: matplotlib (Agg) → base64 PNG, deterministic bytes for the same data.

Each function takes the sweep rows (``status == "ok"`` ones are plotted) and returns a list of
``(title, base64 PNG, caption)``; an empty list when the sweep holds nothing to plot.
"""

from __future__ import annotations

import math

import numpy as np

from kernels.memorizer import CONDITIONAL, EXECUTORS, FLOATING
from kernels.report.style import (  # noqa: F401 (re-exported to figures_size and headline)
    BOUND_LABELS,
    STYLE,
    colors,
    legend_below,
    markers,
    overlaps,
    plt,
    png,
    spread,
)
from kernels.report.timings import is_unstable, separated

_colors = colors  # the older name


def fit_slope(xs, ys) -> float | None:
    """Least-squares slope of log y on log x (the exponent of a power law); None if < 2 points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2 or len({p[0] for p in pts}) < 2:
        return None
    a = np.array(pts)
    return float(np.polyfit(a[:, 0], a[:, 1], 1)[0])


def _ok(rows, **match):
    """Measured rows (size-only rows, executor "size", are kernels.report.figures_size's)."""
    return [r for r in rows if r.get("status") == "ok" and r.get("executor") != "size"
            and all(r.get(k) == v for k, v in match.items())]


def machine_labels(rows) -> dict:
    """{machine key: " @ host"} when ``rows`` were measured on more than one machine (a sweep on
    a cluster), else {}: timings of two machines are never drawn or fitted as one series."""
    info = {r["machine"]: (r.get("machine_info") or {}).get("host") or r["machine"]
            for r in rows if r.get("machine")}
    if len(info) < 2:
        return {}
    unique = len(set(info.values())) == len(info)
    return {m: f" @ {h if unique else m}" for m, h in info.items()}


def n_series(rows, dtype="float64", by_machine=False) -> dict:
    """{(construction, executor): rows by n} for the n axis: r = 1, the grid's p with the most n
    values (a construction on the cube grows p with n; ``grid_p`` is the p the grid asked for).
    ``by_machine`` (timings): one series per machine and thread count, its construction labelled
    " [T threads]" (T > 1) and " @ host"."""
    ok = [r for r in _ok(rows, dtype=dtype, r=1) if r.get("sparsity") is None
          and r.get("series") in ("n", "grid")]
    at = machine_labels(ok) if by_machine else {}
    if not by_machine:  # counts do not depend on the thread count: one series
        t0 = min((r.get("threads") or 1 for r in ok), default=1)
        ok = [r for r in ok if (r.get("threads") or 1) == t0]
    out = {}
    for r in ok:
        c = r["construction"]
        if by_machine:  # timings: one series per thread count and machine
            c = series_name(c, r.get("threads")) + at.get(r.get("machine"), "")
        out.setdefault((c, r["executor"], r.get("grid_p", r["p"])), []).append(r)
    best = {}
    for (c, e, _), rs in sorted(out.items()):  # keep the p with the most n values
        if len(rs) > len(best.get((c, e), [])):
            best[(c, e)] = sorted(rs, key=lambda r: r["n"])
    return best


def series_name(construction: str, threads) -> str:
    """A series' name: the construction, `` [T threads]`` added when its timings used T > 1."""
    return construction if (threads or 1) == 1 else f"{construction} [{threads} threads]"


def legend(c: str, slope=None) -> str:
    """A line's legend: series name ``c``, its thread count (always shown), the fitted slope."""
    lab = c if "threads]" in c else f"{c} [1 thread]"
    return lab + (f" (slope {slope:.2f})" if slope is not None else "")


def _theorem_lines(ax, series, e):
    """Seed 000's references on an executor's panel: Theorem 3 floor log2(n/p) everywhere; on the
    conditional executors Corollary 1's scale and p + 4·(Theorem 2's weight bound)."""
    allr = sorted((r for (c, ex), rs in series.items() if ex == e for r in rs),
                  key=lambda r: r["n"])
    if not allr:
        return
    p = allr[0].get("grid_p", allr[0]["p"])
    ref = {r["n"]: {} for r in allr}
    for r in allr:
        if r["p"] == p and r.get("theorem"):
            ref[r["n"]] = r["theorem"]
    ns = sorted(ref)
    fl = [max(math.log2(n / p), 1e-9) for n in ns]
    if any(v > 1e-9 for v in fl):
        ax.plot(ns, fl, "k--", lw=1.2, label=f"Theorem 3 floor log2(n/p), p = {p}")
    if e not in CONDITIONAL:  # the conditional executors only
        return
    cs = [(n, ref[n]["corollary1_ops_scale"]) for n in ns if "corollary1_ops_scale" in ref[n]]
    if cs:
        ax.plot(*zip(*cs, strict=True), "-.", color="0.5", lw=1.2,
                label="Corollary 1: q² log2 n + rq (scale, no constant)")
    tw = [(n, p + 4 * ref[n]["theorem2_active_weights"]) for n in ns
          if "theorem2_active_weights" in ref[n]]
    if tw:
        ax.plot(*zip(*tw, strict=True), ":", color="0.3", lw=1.2,
                label="Theorems 1+2: p + 4·W, W Theorem 2's weight bound")


def _bounds(ax, c, rs, e, color):
    """A construction's own operation bounds that apply to executor ``e``, by their human names."""
    for key, (ex, text) in BOUND_LABELS.items():
        pts = [(r["n"], r["bounds"][key]) for r in rs if key in (r.get("bounds") or {})]
        if ex == e and pts and min(y for _, y in pts) > 0:
            ax.plot(*zip(*pts, strict=True), ":", color=color, lw=1.4, label=text)


def _facets(series, metric, ylabel, title, floor=False, bounds=False, extra=None,
            timed=False):
    execs = [e for e in EXECUTORS if any(k[1] == e for k in series)]
    execs += sorted({k[1] for k in series} - set(execs))
    if not execs:
        return None
    names = {k[0] for k in series}
    col, mk = colors(names), markers(names)
    with plt.rc_context(STYLE):
        rows_ = (len(execs) + 1) // 2  # two panels a row, each legend under its panel
        fig, axes = plt.subplots(rows_, 2, figsize=(11, 4.9 * rows_), squeeze=False)
        for ax in axes.flat[len(execs):]:
            ax.set_visible(False)
        for ax, e in zip(axes.flat, execs, strict=False):
            mine = {c: rs for (c, ex), rs in sorted(series.items()) if ex == e}
            hidden = overlaps({c: {r["n"]: r[metric] for r in rs} for c, rs in mine.items()})
            for i, (c, rs) in enumerate(mine.items()):
                xs, ys = [r["n"] for r in rs], [r[metric] for r in rs]
                s = fit_slope(xs, ys)
                lab = legend(c, s) if timed else c + (f" (slope {s:.2f})" if s is not None else "")
                if c in hidden:  # drawn larger and hollow so the one beneath shows
                    lab += f" ≈ {', '.join(hidden[c])}"
                ax.plot(xs, ys, "-", marker=mk[c], color=col[c], label=lab, lw=1.4,
                        ms=8 - 3 * (i % 2) if c in hidden else 4,
                        mfc="none" if c in hidden and i % 2 == 0 else col[c])
                if extra:
                    extra(ax, rs, col[c])
                if bounds:
                    _bounds(ax, c, rs, e, col[c])
            if floor:
                _theorem_lines(ax, series, e)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(e)
            ax.set_xlabel("n (points memorized)")
            ax.set_ylabel(ylabel)
            legend_below(ax)
        fig.suptitle(title)
        return png(fig)


def ops_vs_n(rows) -> list:
    series = n_series(rows)
    img = _facets(series, "ops_mean", "operations per input (mean)",
                  "Operations per input vs n (log-log; slope = fitted exponent)",
                  floor=True, bounds=True)
    if img is None:
        return []
    return [("Operations per input vs n", img,
             "Mean operations (multiplications + additions + comparisons) per recalled input, "
             "one panel per executor. Dashed black: Theorem 3's floor log2(n/p) that every "
             "conditional network obeys. Grey, on the conditional executors: Corollary 1's "
             "O(rq + q² log n) scale (no constant) and p + 4·W with W Theorem 2's active-weight "
             "bound (Theorem 1 applied to the switch network; q = p + 1). Dotted in a "
             "construction's colour: its own operation bounds where it states them. The legend "
             "gives each line's fitted log-log slope.")]


def time_vs_n(rows) -> list:
    def single(ax, rs, color):
        ax.plot([r["n"] for r in rs], [r["single_s"] for r in rs], "x:", color=color, ms=4)
        sp = [(r["n"], r["batch_s_per_input"], *spread(r, "batch_s_per_input")) for r in rs
              if spread(r, "batch_s_per_input")]
        if sp:  # quartile error bars of the repeats
            n_, med, lo, hi = (np.array(v) for v in zip(*sp, strict=True))
            ax.errorbar(n_, med, yerr=[med - lo, hi - med], fmt="none", ecolor=color,
                        elinewidth=1.0, capsize=2)
        bad = [(r["n"], r["batch_s_per_input"]) for r in rs if is_unstable(r)]
        if bad:  # unstable cells: a red ring, no conclusion drawn from them
            ax.plot(*zip(*bad, strict=True), "o", mfc="none", mec="red", ms=9, mew=1.2)

    img = _facets(n_series(rows, by_machine=True), "batch_s_per_input", "seconds per input",
                  "Wall time per input vs n (solid: batch; dotted x: single-input latency)",
                  extra=single, timed=True)
    if img is None:
        return []
    return [("Wall time per input vs n", img,
             "Median batch recall time divided by the batch size (solid) and median latency of "
             "one single-input call (dotted), after compilation, with the thread count in the "
             "legend (kernels.harness.timing); error bars: the quartiles (q25..q75) of the "
             "repeated batch timings; a red ring marks a cell the stability rule left unstable; "
             "on a sweep over several machines, one line (and slope) per machine, labelled "
             "@ host.")]


def ns_per_op_vs_n(rows) -> list:
    """Time per counted operation (``ns_per_op``) by executor vs n: whether it runs at machine
    speed (a few ns per operation, or below where SIMD does several at once)."""
    series = {k: rs for k, rs in n_series(rows, by_machine=True).items()
              if all(r.get("ns_per_op") for r in rs)}
    img = _facets(series, "ns_per_op", "ns per counted operation",
                  "Time per counted operation vs n (median batch time per input / mean ops)",
                  timed=True)
    if img is None:
        return []
    return [("Time per counted operation vs n", img,
             "ns_per_op = median batch time per input ÷ mean counted operations per input "
             "(multiplications + additions + comparisons). A few ns or less is machine speed; "
             "far more means the executor spends its time on something the cost model does "
             "not count (dispatch, memory stalls, bookkeeping).")]


def energy_vs_n(rows) -> list:
    def measured(ax, rs, color):
        pts = [(r["n"], r["energy_measured_pj"]) for r in rs
               if isinstance(r.get("energy_measured_pj"), int | float)]
        if pts:
            ax.plot(*zip(*pts, strict=True), "s", color=color, mfc="none", ms=6)

    img = _facets(n_series(rows, by_machine=True), "energy_proxy_pj", "pJ per input (model)",
                  "Energy proxy per input vs n — MODEL (Horowitz ISSCC 2014, 45 nm)",
                  extra=measured)
    if img is None:
        return []
    return [("Energy per input vs n (model)", img,
             "The energy proxy: a model, not a measurement (operations × energy per operation "
             "+ weight accesses × energy per access at the memory tier the model fits in). "
             "Hollow squares, where present, are measured energy (counter minus idle power).")]


def _overtakes(xs, ratios, beyond=None):
    """The first sparsity from which the ratio stays ≥ 1 (None if it never does); with
    ``beyond`` (one bool per point: the two executors' quartiles apart, both stable), only
    where every point from there on is also beyond the spread."""
    for i, x in enumerate(xs):
        if all(v >= 1 for v in ratios[i:]) and (beyond is None or all(beyond[i:])):
            return x
    return None


def speedup_vs_sparsity(rows) -> list:
    ok = [r for r in rows if r.get("status") == "ok" and r.get("sparsity") is not None]
    by = {}
    for r in ok:
        by.setdefault((r["construction"], r["dtype"], r["n"], r["p"], r.get("threads") or 1),
                      {}).setdefault(
            r["sparsity"], {})[r["executor"]] = r
    lines = []
    for key, d in sorted(by.items(), key=lambda kv: str(kv[0])):
        pts = [(s, v["dense"], v["active"]) for s, v in sorted(d.items())
               if "dense" in v and "active" in v]
        if pts:
            lines.append((key, pts))
    if not lines:
        return []
    notes = []
    with plt.rc_context(STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
        colors = _colors([str(k) for k, _ in lines])
        for (c, dt, n, p, t), pts in lines:
            col = colors[str((c, dt, n, p, t))]
            xs = [s for s, _, _ in pts]
            wall = [d["batch_s_per_input"] / a["batch_s_per_input"] for _, d, a in pts]
            ops = [d["ops_mean"] / a["ops_mean"] for _, d, a in pts]
            a1.plot(xs, wall, "o-", color=col, label=f"wall time, {c} {dt} n={n} p={p}, "
                    f"{t} thread{'s' if t > 1 else ''}")
            a1.plot(xs, ops, "s--", color=col, alpha=0.6, label=f"operations, {c} {dt}")
            at = _overtakes(xs, wall, [separated(d, a) for _, d, a in pts])
            if at is not None:
                a1.axvline(at, color=col, lw=0.8, ls=":")
            notes.append(f"{c} {dt} n={n} p={p}: active is faster in wall time "
                         + (f"from sparsity {at:g} on (beyond the quartiles of both)"
                            if at is not None
                            else "at no sparsity measured beyond the spread")
                         + (f", in operations from {_overtakes(xs, ops):g}"
                            if _overtakes(xs, ops) is not None else ""))
            a2.plot(xs, [d["batch_s_per_input"] * 1e6 for _, d, _ in pts], "o-", color=col,
                    label=f"dense, {c} {dt}")
            a2.plot(xs, [a["batch_s_per_input"] * 1e6 for _, _, a in pts], "^--", color=col,
                    label=f"active, {c} {dt}")
            for which in (1, 2):  # quartile error bars of each executor's repeats
                q = [(x, t[which]["batch_s_per_input"] * 1e6,
                      *(v * 1e6 for v in spread(t[which], "batch_s_per_input")))
                     for x, t in zip(xs, pts, strict=True)
                     if spread(t[which], "batch_s_per_input")]
                if q:
                    qx, qm, ql, qh = (np.array(v) for v in zip(*q, strict=True))
                    a2.errorbar(qx, qm, yerr=[qm - ql, qh - qm], fmt="none", ecolor=col,
                                elinewidth=1.0, capsize=2)
        a1.axhline(1.0, color="k", lw=0.8)
        for ax, t, yl in ((a1, "speed-up (> 1: active wins)", "dense cost / active cost"),
                          (a2, "batch time per input", "µs per input")):
            ax.set_yscale("log")
            ax.set_xlabel("weight sparsity (fraction of zero weights)")
            ax.set_ylabel(yl)
            ax.set_title(t)
            legend_below(ax)
        fig.suptitle("Dense vs active on random sparse ReLU networks")
        img = png(fig)
    return [("Dense vs active speed-up vs sparsity", img,
             "Seeded random sparse ReLU networks (kernels.random_networks), both executors at "
             "machine speed (dense: BLAS/CSR blocks; active: batched conditional path or one input "
             "at a time, whichever its cost model picks). Left: the ratio of dense to active cost "
             "in wall time (solid) and in operations (dashed); a dotted line marks the sparsity "
             "from which active stays faster in wall time. Right: the batch times. "
             + "; ".join(notes) + ".")]


def effect_of_p(rows) -> list:
    ok = [r for r in _ok(rows, dtype="float64", r=1) if r.get("sparsity") is None]
    p_rows = [r for r in ok if r.get("series") == "p"]
    if not p_rows:
        return []
    n0 = p_rows[0]["n"]
    at = machine_labels(ok)
    series = {}
    for r in ok:
        if r["n"] == n0:
            c = series_name(r["construction"], r.get("threads")) + at.get(r.get("machine"), "")
            series.setdefault((c, r["executor"]), {})[r["p"]] = r
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return []
    colors = _colors({k[0] for k in series})
    marks = dict(zip(FLOATING, ("o-", "s--", "^:"), strict=True))
    with plt.rc_context(STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        for (c, e), d in sorted(series.items()):
            ps = sorted(d)
            a1.plot(ps, [d[p]["ops_mean"] for p in ps], marks.get(e, "o-"), color=colors[c],
                    label=f"{c}/{e}", ms=3)
            a2.plot(ps, [d[p]["batch_s_per_input"] for p in ps], marks.get(e, "o-"),
                    color=colors[c], label=f"{c}/{e}", ms=3)
        ps = sorted({p for d in series.values() for p in d})
        a1.plot(ps, [max(math.log2(n0 / p), 1e-9) for p in ps], "k--", lw=1.2,
                label="Theorem 3 floor log2(n/p)")
        for ax, t, yl in ((a1, "operations per input", "operations per input (mean)"),
                          (a2, "wall time per input", "seconds per input (batch)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("p (input dimension)")
            ax.set_ylabel(yl)
            ax.set_title(t)
        fig.suptitle(f"The effect of the input dimension p at n = {n0}")
        fig.legend(*a1.get_legend_handles_labels(), loc="outside lower center", ncol=3,
                   frameon=False)
        img = png(fig)
    return [("The effect of p", img,
             f"Operations and time per input against the input dimension p, at n = {n0} "
             "(solid: dense, dashed: active, dotted: tree; one legend for both panels; "
             "[T threads]: timed with T threads, else 1).")]


ALL = (ops_vs_n, time_vs_n, ns_per_op_vs_n, energy_vs_n, speedup_vs_sparsity, effect_of_p)


def all_figures(rows) -> list:
    out = []
    for fn in ALL:
        out.extend(fn(rows))
    return out
