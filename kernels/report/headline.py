"""The report's first screen: the finding in two or three sentences, generated from the results, and
one figure — operations and wall time per input vs n for the dense network and the conditional
executors on one log-log axis each, with n, √n and log n guide slopes and Theorem 3's floor.

Seed 000's claim is that an unconditional network needs Ω(√n) operations per recall while a
conditional one needs only Θ(log n) (Corollary 1 above, Theorem 3 below).  The series shown are the
paper's own pair where measured — the switch network of Theorem 2 run dense and active, and the
hyperplane tree of Corollary 1 — plus ``axis-tree``; any other construction stands in for an
executor that has none of these.
"""

from __future__ import annotations

import html
import math

from kernels.memorizer import FLOATING
from kernels.report.figures import STYLE, fit_slope, legend_below, n_series, plt, png, spread
from kernels.report.figures_size import SIZE
from kernels.report.markup import figure_html
from kernels.report.timings import is_unstable, separated, unstable_sentence

# (construction, executor) in order of preference; the first measured one of each executor is shown
PREFERRED = (("switch-net", "dense"), ("switch-net", "active"), ("hyperplane-tree", "tree"),
             ("axis-tree", "tree"))
# the float executors, each with its colour (exact, in Python integers, is not in the headline)
EXEC_COLOR = dict(zip(FLOATING, ("#c0392b", "#e67e22", "#1f77b4"), strict=True))
MARKERS = ("o", "s", "^", "D", "v", "P")


def pick(rows) -> dict:
    """{(construction, executor): rows by n}: the preferred series that were measured, and for an
    executor with none of them the measured construction with the most n values."""
    # one machine's series where a sweep ran on several (their constructions are "c @ host")
    series = {k: v for k, v in n_series(rows, by_machine=True).items() if k[1] in EXEC_COLOR}
    out = {}
    for c, e in PREFERRED:
        ks = sorted(k for k in series if k[1] == e and k[0].split(" @ ")[0] == c)
        if ks:
            out[ks[0]] = series[ks[0]]
    for e in EXEC_COLOR:
        if not any(k[1] == e for k in out):
            cands = sorted((k for k in series if k[1] == e), key=lambda k: (-len(series[k]), k))
            if cands:
                out[cands[0]] = series[cands[0]]
    return out


def _at(rs, n):
    return next((r for r in rs if r["n"] == n), None)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _ratio(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:.2g}×"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _time(s: float) -> str:
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _rel(x) -> str:
    return "nan" if x is None else f"{x:.2g}"


def _points(k) -> str:
    return f"{k} point" + ("" if k == 1 else "s")


def cell_key(r) -> str:
    """The coordinates that name a cell in the headline's markup: construction|executor|n|p|dtype
    (the test reads each claim's number back from results.json by them)."""
    return f"{r['construction']}|{r['executor']}|{r['n']}|{r['p']}|{r['dtype']}"


def _where(r) -> str:
    """A cell's coordinates as the reader sees them."""
    return (f'<span class="cell">{html.escape(r["construction"])} {r["executor"]}, '
            f"n = {r['n']:,}, p = {r['p']}, {r['dtype']}</span>")


def _claim(r, field: str, text: str, over=None) -> str:
    """A number of the headline, tagged with the cell (and field) it was read from; ``over``: the
    cell it is divided by (a ratio of two cells)."""
    o = f' data-over="{html.escape(cell_key(over))}"' if over is not None else ""
    return (f'<span data-cell="{html.escape(cell_key(r))}"{o} data-field="{field}">{text}'
            "</span>")


def _count(field: str, k: int) -> str:
    return f'<span data-count="{field}">{k:,}</span>'


def recall_cells(rows) -> list[dict]:
    """The measured recall cells (size-only rows excluded): what the headline's counts count."""
    return [r for r in rows if r.get("status") == "ok" and r.get("executor") != SIZE]


def counts_line(rows) -> str:
    """How many cells were measured, skipped or failed, by the same rule the headline counts by."""
    recall = len(recall_cells(rows))
    size = sum(r.get("status") == "ok" and r.get("executor") == SIZE for r in rows)
    other = sum(r.get("status") != "ok" for r in rows)
    return (f"<p>{recall:,} recall cells and {size:,} size-only builds measured, {other:,} "
            f"cells skipped or failed, over {len({r['construction'] for r in rows})} "
            "constructions. Energy numbers are a "
            '<span class="model">model</span> unless marked <span class="measured">measured'
            "</span>.</p>")


def _exactness(rows) -> str:
    """'Every one of the k measured cells ... was exact' or which were not: per construction,
    executor and dtype the first failing cell (smallest n, then p), named by its coordinates."""
    ok = recall_cells(rows)
    if not ok:
        return ""
    bad = {}
    for r in sorted(ok, key=lambda r: (r["n"], r["p"], r.get("r", 1))):
        if not r.get("exact"):
            bad.setdefault((r["construction"], r["executor"], r["dtype"]), r)
    if not bad:
        dts = " and ".join(sorted({str(r.get("dtype")) for r in ok}))
        return (f"Every one of the {_count('recall_cells', len(ok))} measured recall cells "
                f"recalled every checked point exactly ({dts}).")
    items = [f"{_where(r)}: {_claim(r, 'inexact_points', _points(r.get('inexact_points')))}, "
             f"rel. error {_claim(r, 'max_rel_error', _rel(r.get('max_rel_error')))}"
             for r in bad.values()]
    more = f" and {len(items) - 6} more" if len(items) > 6 else ""
    n_bad = sum(not r.get("exact") for r in ok)
    return (f"{_count('inexact_cells', n_bad)} of the {_count('recall_cells', len(ok))} "
            f"measured recall cells were <b>NOT EXACT</b>; the first of each construction, "
            f"executor and dtype: {'; '.join(items[:6])}{more} (see Exactness).")


def conversion(rd, rc) -> float:
    """The share of the saved operations that shows as saved time (the conversion rate): the
    time ratio dense/executor ÷ the operation ratio dense/executor, both per input (batch).  It is
    also the dense cell's time per counted operation ÷ the executor's: 1 when a conditional
    operation costs what a dense one does, below 1 when it costs more (its memory is not read in
    order, it pays for branches and bookkeeping the count leaves out)."""
    return ((rd["batch_s_per_input"] / rc["batch_s_per_input"])
            / (rd["ops_mean"] / rc["ops_mean"]))


def _percent(x: float) -> str:
    v = 100 * x
    return f"{v:,.0f}%" if v >= 10 else f"{v:.2g}%"


def conversion_series(rows) -> dict:
    """{(construction, executor): [(n, conversion rate)]}: each conditional series the headline
    shows against its dense series, at every n both measured."""
    sel = pick(rows)
    dense = [k for k in sel if k[1] == "dense"]
    if not dense:
        return {}
    out = {}
    for k, rs in sel.items():
        if k[1] == "dense":
            continue
        pts = [(r["n"], conversion(_at(sel[dense[0]], r["n"]), r)) for r in rs
               if _at(sel[dense[0]], r["n"]) is not None]
        if pts:
            out[k] = pts
    return out


def _conversion_sentence(sel) -> str:
    """At the largest n the dense series and every conditional one share: per executor, its
    operation ratio, its time ratio and their quotient, the conversion rate."""
    dense = [k for k in sel if k[1] == "dense"]
    cond = [k for k in sel if k[1] != "dense"]
    if not dense or not cond:
        return ""
    d = sel[dense[0]]
    common = [n for n in (r["n"] for r in d) if all(_at(sel[k], n) for k in cond)]
    if not common:
        return ""
    rd = _at(d, max(common))
    items = []
    for k in cond:
        rc = _at(sel[k], rd["n"])
        t = rd["batch_s_per_input"] / rc["batch_s_per_input"]
        time = (_claim(rd, "batch_s_per_input", f"{_ratio(t)} less", over=rc) if t >= 1 else
                _claim(rc, "batch_s_per_input", f"{_ratio(1 / t)} more", over=rd))
        note = "" if separated(rd, rc) else " (times within the spread)"
        items.append(f"{_where(rc)}: "
                     f"{_claim(rd, 'ops_mean', _ratio(rd['ops_mean'] / rc['ops_mean']), over=rc)}"
                     f" fewer operations, {time} time{note}, "
                     f"<b>{_claim(rc, 'conversion', _percent(conversion(rd, rc)), over=rd)}</b>")
    return ("How much of the saved operations shows as saved time (the conversion rate: time "
            "ratio ÷ operation ratio, both against the dense network; the dense cell's ns per "
            f"operation ÷ the executor's): {'; '.join(items)}.")


def sentences(rows) -> list[str]:
    """The headline's sentences (HTML): ratios at the largest n, fitted exponents, exactness; each
    number tagged with the cell it comes from, whose coordinates are shown beside it."""
    sel = pick(rows)
    dense = [k for k in sel if k[1] == "dense"]
    cond = [k for k in sel if k[1] != "dense"]
    out = []
    if dense and cond:
        d = sel[dense[0]]
        common = [n for n in (r["n"] for r in d) if all(_at(sel[k], n) for k in cond)]
        if common:
            n = max(common)
            rd = _at(d, n)
            parts, tparts = [], []
            for k in cond:
                rc = _at(sel[k], n)
                ops = _claim(rc, "ops_mean", _fmt(rc["ops_mean"]))
                fewer = _claim(rd, "ops_mean", _ratio(rd["ops_mean"] / rc["ops_mean"]), over=rc)
                parts.append(f"{ops} ({_where(rc)}; <b>{fewer} fewer</b>)")
                t = rd["batch_s_per_input"] / rc["batch_s_per_input"]
                if not separated(rd, rc):  # a conclusion only beyond the spread
                    claim = _claim(rd, "batch_s_per_input", _ratio(t), over=rc)
                    tparts.append(f"the same within the spread ({claim}, "
                                  + ("an unstable cell)" if is_unstable(rd) or is_unstable(rc)
                                     else "quartiles overlap)"))
                else:
                    tparts.append(_claim(rd, "batch_s_per_input", f"{_ratio(t)} less", over=rc)
                                  if t >= 1 else
                                  _claim(rc, "batch_s_per_input", f"{_ratio(1 / t)} more",
                                         over=rd))
            out.append(
                f"The dense network ({_where(rd)}) spends "
                f"{_claim(rd, 'ops_mean', _fmt(rd['ops_mean']))} operations per recalled input; "
                f"the conditional executors at the same n spend {_join(parts)}, and take "
                f"{_join(tparts)} wall time per input (dense: "
                f"{_claim(rd, 'batch_s_per_input', _time(rd['batch_s_per_input']))}).")
    rates = _conversion_sentence(sel)
    if rates:
        out.append(rates)
    slopes = []
    for k, rs in sel.items():
        s = fit_slope([r["n"] for r in rs], [r["ops_mean"] for r in rs])
        if s is not None:
            r0 = rs[0]
            series = f"{r0['construction']}|{r0['executor']}|{r0['p']}|{r0['dtype']}"
            slopes.append(f'<span class="cell">{html.escape(k[0])} {k[1]}, p = {r0["p"]}, '
                          f"{r0['dtype']}, n = {rs[0]['n']:,}…{rs[-1]['n']:,}</span>: "
                          f'<b><span data-series="{html.escape(series)}" data-field="ops_slope">'
                          f"{s:.2f}</span></b>")
    if slopes:
        out.append("Fitted exponents of operations in n (log-log slope; 1 is linear, 0.5 √n, "
                   f"near 0 logarithmic): {', '.join(slopes)}.")
    ex = _exactness(rows)
    if ex:
        out.append(ex)
    unstable = unstable_sentence(rows, _count)
    if unstable:
        out.append(unstable)
    return out


def section(rows) -> str:
    """``<section id="headline">``: the sentences and the combined figure."""
    text = sentences(rows)
    body = "".join(f"<p>{s}</p>" for s in text) or "<p>No recall cell was measured.</p>"
    fig = combined_figure(rows)
    if fig:
        body += figure_html(*fig)
    return f'<section id="headline"><h2>Finding</h2>{body}</section>'


def _guides(ax, sel, ns):
    """Thin grey slopes ∝ n, ∝ √n and ∝ log2 n, started a little inside the outer series' first
    points (so they do not hide the data)."""
    firsts = sorted(rs[0]["ops_mean"] for rs in sel.values())
    n0 = ns[0]
    lo, hi = firsts[0], firsts[-1]
    for f, anchor, text in ((lambda n: n, hi / 4, "∝ n"), (math.sqrt, math.sqrt(lo * hi), "∝ √n"),
                            (math.log2, lo / 2, "∝ log2 n")):
        ys = [anchor * f(n) / f(n0) for n in ns]
        ax.plot(ns, ys, "-", color="0.6", lw=0.9, zorder=1)
        ax.annotate(text, (ns[-1], ys[-1]), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=10, color="0.35")


def _panel(ax, sel, metric, ylabel, ops: bool):
    styles = {}
    for i, ((c, e), rs) in enumerate(sel.items()):
        styles[(c, e)] = MARKERS[i % len(MARKERS)]
        xs = [r["n"] for r in rs]
        ys = [r[metric] for r in rs]
        s = fit_slope(xs, ys)
        ax.plot(xs, ys, "-", marker=styles[(c, e)], ms=5, lw=1.8, color=EXEC_COLOR[e],
                mfc="white" if c != next(k for k in sel if k[1] == e)[0] else EXEC_COLOR[e],
                label=f"{e}: {c}" + (f" (slope {s:.2f})" if s is not None else ""), zorder=3)
        sp = [(r["n"], *spread(r, metric)) for r in rs if spread(r, metric)]
        if sp:
            n_, lo, hi = zip(*sp, strict=True)
            ax.fill_between(n_, lo, hi, color=EXEC_COLOR[e], alpha=0.2, lw=0, zorder=2)
    ns = sorted({r["n"] for rs in sel.values() for r in rs})
    if ops:
        _guides(ax, sel, ns)
        p = next(iter(sel.values()))[0].get("grid_p") or next(iter(sel.values()))[0]["p"]
        fl = [(n, math.log2(n / p)) for n in ns if n > p]
        if fl:
            ax.plot(*zip(*fl, strict=True), "k--", lw=1.4,
                    label=f"Theorem 3 floor log2(n/p), p = {p}", zorder=2)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n (points memorized)")
    ax.set_ylabel(ylabel)


def combined_figure(rows):
    """(title, base64 PNG, caption) of the headline figure, or None when nothing was measured."""
    sel = pick(rows)
    if not sel:
        return None
    with plt.rc_context(STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4))
        _panel(a1, sel, "ops_mean", "operations per input (mean)", ops=True)
        _panel(a2, sel, "batch_s_per_input", "wall seconds per input (batch)", ops=False)
        a1.set_title("Operations per input")
        a2.set_title("Wall time per input")
        handles, labels = a1.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=10,
                   frameon=False)
        img = png(fig)
    return ("Dense vs conditional recall", img,
            "Operations (left) and wall time (right) per recalled input against the number of "
            "memorized points n, log-log, float64, r = 1. Red: the dense network; orange: the "
            "same network's active executor (Theorem 1); blue: conditional trees (Corollary 1's "
            "hyperplane tree filled, axis-tree hollow). Grey: guide slopes ∝ n, ∝ √n, ∝ log2 n "
            "(positions arbitrary, slopes exact); dashed black: Theorem 3's floor log2(n/p) "
            "that every conditional network obeys. The legend gives each series' fitted "
            "exponent. Shaded bands, where present, are the spread of repeated timings.")


def conversion_figure(rows) -> list:
    """[(title, base64 PNG, caption)] of the conversion rate against n, one line per conditional
    executor the headline shows (empty without a dense and a conditional series)."""
    series = conversion_series(rows)
    if not series:
        return []
    dense = next(k for k in pick(rows) if k[1] == "dense")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for i, ((c, e), pts) in enumerate(series.items()):
            ns, rates = zip(*pts, strict=True)
            ax.plot(ns, [100 * v for v in rates], "-", marker=MARKERS[i % len(MARKERS)], ms=5,
                    lw=1.8, color=EXEC_COLOR[e], label=f"{e}: {c}",
                    mfc="white" if c.startswith("axis-tree") else EXEC_COLOR[e])
        ax.axhline(100, color="0.4", lw=0.9, ls="--", label="100%: a conditional operation "
                   "costs what a dense one does")
        ax.set_xscale("log", base=2)
        ys = [100 * v for pts in series.values() for _, v in pts] + [100]
        ax.set_ylim(min(ys) / 2, max(ys) * 2)  # the 100% line and every point, with room
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.set_xlabel("n (points memorized)")
        ax.set_ylabel("conversion rate")
        ax.set_title(f"Saved operations turned into saved time, against {dense[0]} dense")
        legend_below(ax)
        img = png(fig)
    return [("Conversion of saved operations into saved time", img,
             "The conversion rate per conditional executor against n: (dense time ÷ executor "
             "time) ÷ (dense operations ÷ executor operations), per input, batch median times; "
             "equivalently the dense network's ns per counted operation ÷ the executor's. "
             "100% would turn every saved operation into its share of saved time; a rate far "
             "below it means a conditional operation costs much more than a dense one (random "
             "memory reads, branches, bookkeeping the count leaves out). The series are the "
             "headline's, the dense one "
             f"{dense[0]}.")]
