"""The report's network-size figures: parameters vs n (log-log, fitted slopes) from the sweep's
size-only rows (executor ``"size"``, see :mod:`kernels.harness.sweep`), next to seed 000's VC floor.

Seed 000 §4 (from Anthony et al., Theorem 8.6: VC dimension O(n_w²)): a ReLU network that memorizes
n points needs n_w ∈ Ω(√n) weights, hence (n_w ≤ n_e²) Ω(n^{1/4}) neurons, up to log factors.
The floor is drawn as √n and n^{1/4} with constant 1: an order, not a number.
"""

from __future__ import annotations

from matplotlib.ticker import ScalarFormatter

from kernels.harness.grid import SIZE  # the executor of a size-only row
from kernels.report.figures import STYLE, _colors, fit_slope, legend_below, plt, png

BUDGETS = ("bits=", "depth=")  # variants that constrain a construction (its trade-off curves)


def size_series(rows, budgets: bool | None = False) -> dict:
    """{(construction, variant): size rows by n} of one grid p (the p with the most rows);
    ``budgets``: False the unconstrained and non-budget variants, True only the bit/depth-budget
    variants (plus the unconstrained series of a construction that has them), None all."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("executor") == SIZE
          and r.get("r", 1) == 1]
    by_p = {}
    for r in ok:
        by_p.setdefault(r.get("grid_p", r["p"]), []).append(r)
    if not by_p:
        return {}
    ok = max(by_p.values(), key=len)
    budgeted = {r["construction"] for r in ok if _budget(r.get("variant"))}
    out = {}
    for r in ok:
        b = _budget(r.get("variant"))
        if budgets is None or b == budgets or (budgets and r["construction"] in budgeted
                                                and not r.get("variant")):
            out.setdefault((r["construction"], r.get("variant")), []).append(r)
    return {k: sorted(v, key=lambda r: r["n"]) for k, v in sorted(out.items(), key=_skey)}


def _skey(kv):
    (c, v), _ = kv
    return (c, _budget_key(v), v or "")


def _budget(variant) -> bool:
    return bool(variant) and any(b in variant for b in BUDGETS)


def slopes(rs, metric: str) -> float | None:
    return fit_slope([r["n"] for r in rs if r.get(metric)], [r[metric] for r in rs
                                                             if r.get(metric)])


# rajput's neurons by stage (its ``stage_neurons`` info): Theorem 1 of seed 002 is Õ(1/δ + √n);
# the first two stages are the 1/δ term (layer 1: O(log n/δ) hyperplanes, the XOR code O(log² n/δ)),
# the rest the √n term (detectors, the lift, the memorizing neurons, bit gates, outputs).
STAGES = (("1/δ stage", ("first", "xor")),
          ("√n stage", ("detectors", "copies", "memorizers", "bits", "outputs")))


def stage_series(rs) -> list[tuple[str, list[tuple[int, int]]]]:
    """[(stage label, [(n, neurons of that stage)])] from rows whose info has ``stage_neurons``."""
    out = []
    for label, keys in STAGES:
        pts = [(r["n"], sum(int(st.get(k, 0)) for k in keys)) for r in rs
               if isinstance(st := (r.get("info") or {}).get("stage_neurons"), dict)]
        pts = [(n, c) for n, c in pts if c > 0]
        if pts:
            out.append((label, pts))
    return out


def _plot_stages(ax, c, rs, color) -> None:
    """rajput's two stages as dotted lines with their own fitted slopes, so the total's slope is
    not read as √n growth when the 1/δ term dominates the count."""
    for (label, pts), mk in zip(stage_series(rs), ("v", "^"), strict=False):
        ns, cs = zip(*pts, strict=True)
        s = fit_slope(list(ns), list(cs))
        tot = next((r["neurons"] for r in rs if r["n"] == ns[-1] and r.get("neurons")), None)
        share = f", {100 * cs[-1] / tot:.0f}%" if tot else ""
        ax.plot(ns, cs, ":", marker=mk, ms=3, lw=1.2, color=color,
                label=f"{c} {label}" + (f"  slope {s:.2f}" if s is not None else "") + share)


def _label(c, v, s):
    return f"{c}" + (f" [{v}]" if v else "") + (f"  slope {s:.2f}" if s is not None else "")


def _floor(ax, ns, power, text):
    ax.plot(ns, [n**power for n in ns], "k--", lw=1.2, label=text)


def _axes(ax, ylabel=None):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n (points memorized)")
    if ylabel:
        ax.set_ylabel(ylabel)
    legend_below(ax, ncol=1)


def _data_note(series) -> str:
    r = next(iter(series.values()))[0]
    lab = {"classes": "class"}.get(r.get("labels"), r.get("labels"))
    return f"{r.get('kind')} data, p = {r.get('grid_p', r['p'])}, {lab} labels"


def size_vs_n(rows) -> list:
    series = size_series(rows, budgets=False)
    series = {k: v for k, v in series.items() if any(r.get("weights") for r in v)}
    if not series:
        return []
    colors = _colors({c for c, _ in series})
    ns = sorted({r["n"] for rs in series.values() for r in rs})
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, metric, power, floor in (
                (axes[0], "weights", 0.5, "Ω(√n) weights: VC floor (seed 000 §4), √n"),
                (axes[1], "neurons", 0.25, "Ω(n^¼) neurons: VC floor (seed 000 §4), n^¼")):
            for (c, v), rs in series.items():
                pts = [(r["n"], r[metric]) for r in rs if r.get(metric)]
                if not pts:
                    continue
                s = slopes(rs, metric)
                ax.plot(*zip(*pts, strict=True), "--" if v else "-", marker="o", ms=3,
                        lw=2.2 if s is not None and s < 0.75 else 1.2, color=colors[c],
                        label=_label(c, v, s))
                if metric == "neurons" and not v:
                    _plot_stages(ax, c, rs, colors[c])
            _floor(ax, ns, power, floor)
            ax.set_title(f"{metric} (stored non-zero)" if metric == "weights" else metric)
            _axes(ax, "weights" if metric == "weights" else "neurons")
        fig.suptitle(f"Network size vs n (log-log; {_data_note(series)}; thick: slope < 0.75)")
        img = png(fig)
    return [("Network size vs n", img,
             "Weights (stored non-zero weights) and neurons of every construction's network, "
             "built once per n (size only, no recall), with the fitted log-log slope of each "
             "series in the legend. Dashed black: the VC floor of seed 000 §4 — any ReLU network "
             "that memorizes n points has Ω(√n) weights and Ω(n^¼) neurons up to log factors — "
             "drawn with constant 1 (an order, not a number). Thick lines: slope < 0.75. "
             "vardi (Õ(√n) weights) and rajput (Õ(1/δ + √n) neurons) are the "
             "sublinear constructions; a slope well below 1 is sublinear growth. rajput's "
             "neurons are also drawn split into its two stages (dotted, with their own slopes "
             "and the share of the total at the largest n): the 1/δ stage (layer 1 and the XOR "
             "code) and the √n stage (detectors, lift, memorizing neurons, bit gates and "
             "outputs). The 1/δ stage grows with n on generated data because δ shrinks, and "
             "where it holds most of the neurons the total's slope measures δ, not the √n "
             "stage; its weights are "
             "Õ(n) (the paper bounds neurons); [xor=counter] is its counter XOR gadget. "
             "sign-cube runs on "
             "its own data (the cube {±1}^⌈log2 n⌉, parity labels).")]


def budgets_vs_n(rows) -> list:
    series = size_series(rows, budgets=True)
    if not any(_budget(v) for _, v in series):
        return []
    order = sorted(series, key=lambda k: (k[0], _budget_key(k[1])))
    cmap = plt.get_cmap("tab10")
    ns = sorted({r["n"] for rs in series.values() for r in rs})
    with plt.rc_context(STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for i, (c, v) in enumerate(order):
            rs = series[(c, v)]
            col = "k" if not v else cmap(i % 10)
            style = ":" if v and v.startswith("depth") else "-"
            lab = f"{c} [{v or 'no budget'}]"
            pts = [(r["n"], r["weights"]) for r in rs if r.get("weights")]
            if pts:
                a1.plot(*zip(*pts, strict=True), style, marker="o", ms=3, color=col,
                        label=f"{lab}  slope {slopes(rs, 'weights'):.2f}"
                        if len(pts) > 1 else lab)
            bp = [(r["n"], r["weight_bits"]) for r in rs if r.get("weight_bits")]
            if bp:
                a2.plot(*zip(*bp, strict=True), style, marker="o", ms=3, color=col, label=lab)
        _floor(a1, ns, 0.5, "Ω(√n) VC floor (seed 000 §4), √n")
        for ax, t, yl in ((a1, "weights vs n", "weights"),
                          (a2, "largest weight vs n", "bits of the largest weight or bias")):
            ax.set_title(t)
            _axes(ax, yl)
        a2.set_yscale("log", base=2)
        a2.yaxis.set_major_formatter(ScalarFormatter())
        fig.suptitle(f"Weights under bit and depth budgets ({_data_note(series)})")
        img = png(fig)
    return [("Weights vs n under bit and depth budgets", img,
             "vardi (seed 001) with every weight limited to B bits (solid; bits=49 is the budget "
             "that keeps the Numba float64 executors exact) or the depth limited to L (dotted), "
             "and without a budget (black). The paper's trade-offs: Θ̃(n/B) weights under a "
             "B-bit budget, Θ̃(n/L) under depth L; without one, Õ(√n) weights of Õ(√n) bits. "
             "Where the budget binds, the slope climbs toward 1: a register holds ⌊B/ρ⌋ records "
             "of ρ ≈ log2(n/δ) bits, so a small budget falls back to the direct lookup with "
             "O(n) weights. Right: the bit width of the largest weight — what the budget buys.")]


def _budget_key(v):
    if not v:
        return (0, 0)
    k, _, x = v.partition("=")
    try:
        return (1 if k == "bits" else 2, int(x))
    except ValueError:
        return (3, 0)


ALL = (size_vs_n, budgets_vs_n)


def all_figures(rows) -> list:
    out = []
    for fn in ALL:
        out.extend(fn(rows))
    return out
