"""What every report figure shares: the matplotlib style (2× resolution, legends ≥ 9 pt), the PNG
encoder (deterministic bytes), colours and markers per series, legends outside the data, the human
names of the bounds, and the marking of series that lie on top of each other; and the page's CSS."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from kernels.report import geometry  # noqa: E402

# figures are laid out at 100 dpi (the HTML shows them at that size) and saved at 200: 2× pixels
LAYOUT_DPI, SAVE_DPI = 100, 200
# every figure is laid out by matplotlib's constrained layout (legends and labels get their room)
STYLE = {"figure.dpi": LAYOUT_DPI, "figure.constrained_layout.use": True,
         "savefig.dpi": SAVE_DPI, "font.size": 10,
         "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 9, "svg.hashsalt": "memcap"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")

# the HTML page's inline stylesheet (print rules included)
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:2em}table{border-collapse:collapse;font-size:.8em;margin:.5em 0;display:block;
max-width:100%;overflow-x:auto}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#070}.bad{color:#b00;font-weight:bold}td .ok,td .bad{white-space:nowrap}
.model{background:#fff4d6;padding:.1em .3em;border-radius:3px}
.measured{background:#dff3df;padding:.1em .3em;border-radius:3px}
#headline{background:#f5f8fc;border:1px solid #d6e2f0;border-radius:6px;padding:.2em 1.2em 1em}
#headline h2{border:0;margin-top:.6em}#headline p{font-size:1.05em}
figure{margin:1em 0}figcaption{font-size:.9em;color:#444;max-width:60em}
img{max-width:100%;height:auto}
code,pre{background:#f6f6f6;padding:.1em .3em}
pre{padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}
@media print{body{max-width:none;margin:0;font-size:10pt}table{display:table;font-size:7.5pt}
h2{break-after:avoid}
figure,tr,#headline{break-inside:avoid}pre{white-space:pre-wrap}a{color:inherit}}
"""

# The bounds a construction states (Memorizer.bounds()) that the ops figure draws, by executor, with
# their human names; every other key (measured maxima, depths, per-level constants) is not drawn.
BOUND_LABELS = {
    "theorem1_ops_max": ("active", "Theorem 1: p + 4·max W (switch-net)"),
    "corollary1_ops": ("tree", "Corollary 1, our constant: 2q·⌈log2 n⌉ (hyperplane-tree)"),
    "axis_tree_ops": ("tree", "axis-tree estimate: log2(n/q) + 2qr"),
}


def png(fig) -> str:
    """The figure as base64 PNG, first grown until every panel's plot area reads
    (:func:`kernels.report.geometry.fit`)."""
    geometry.fit(fig)
    # the layout fit measured is final: saved as it is, neither laid out again nor cropped
    # (geometry.problems checks that nothing is drawn outside the figure)
    fig.set_layout_engine("none")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def colors(names) -> dict:
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(sorted(names))}


def markers(names) -> dict:
    return {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(sorted(names))}


def legend_below(ax, ncol: int = 1) -> None:
    """The axis' legend under it, outside the data, a fixed distance below its x tick labels and
    x label (measured, in points, so it stays clear of them however the layout sizes the panel)."""
    if not ax.get_legend_handles_labels()[0]:
        return
    fig = ax.figure
    below = ax.xaxis.get_tightbbox(fig.canvas.get_renderer())  # its ticks, without a draw
    depth = 0.0 if below is None else max(0.0, ax.bbox.y0 - below.y0) * 72 / fig.dpi
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, frameon=False,
              bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-(depth + 6), units="points"))


def overlaps(series: dict, rel: float = 0.05) -> dict:
    """{name: [names it lies on]}: series (name -> {x: y}) within ``rel`` of another at every
    shared x (≥ 2 shared), so the legend can say that one hides the other."""
    out = {}
    names = sorted(series)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            xs = set(series[a]) & set(series[b])
            if len(xs) >= 2 and all(abs(series[a][x] - series[b][x])
                                    <= rel * max(abs(series[a][x]), abs(series[b][x]), 1e-300)
                                    for x in xs):
                out.setdefault(a, []).append(b)
                out.setdefault(b, []).append(a)
    return out


SPREADS = {"batch_s_per_input": "batch_spread", "single_s": "single_spread"}  # harness.timing


def spread(r: dict, metric: str):
    """(low, high) of a timed metric where the row carries its spread: the quartiles q25..q75 of
    kernels.harness.timing's ``batch_spread``/``single_spread`` (the figures' error bars; min..max
    where an older row has no quartiles), or ``METRIC_q25``/``_q75``, or ``_min``/``_max``; else
    None."""
    sp = r.get(SPREADS.get(metric, ""))
    if isinstance(sp, dict):
        for lo, hi in (("q25", "q75"), ("min", "max")):
            if isinstance(sp.get(lo), int | float) and isinstance(sp.get(hi), int | float):
                return sp[lo], sp[hi]
    for lo, hi in (("_q25", "_q75"), ("_min", "_max")):
        a, b = r.get(metric + lo), r.get(metric + hi)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return a, b
    return None
