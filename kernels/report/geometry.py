"""Whether a report figure reads, measured from matplotlib's own geometry after its layout ran:
every visible axes' plot area is at least ``MIN_W_IN`` × ``MIN_H_IN`` inches (about 180 × 120 CSS
px at the report's 100 px per inch), no legend lies on a tick label, an axis label, a title or
another panel, no axis label or title lies on another, and nothing is drawn outside the figure
(it is saved as laid out, not cropped).  ``fit`` grows a figure until its plot
areas are large enough, so every figure meets the first rule by construction."""

from __future__ import annotations

MIN_W_IN, MIN_H_IN = 1.9, 1.25
_SLACK_PX = 1.0  # touching boxes (shared edges, rounding) are not an overlap


def _name(ax, i: int) -> str:
    return f"panel {i + 1}" + (f" '{ax.get_title()}'" if ax.get_title() else "")


def _overlap(a, b) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > _SLACK_PX
            and min(a.y1, b.y1) - max(a.y0, b.y0) > _SLACK_PX)


def _panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison]


def plot_areas(fig) -> list[tuple[str, float, float]]:
    """[(panel, width in, height in)] of every visible axes after the figure's layout."""
    fig.draw_without_rendering()
    return [(_name(ax, i), ax.bbox.width / fig.dpi, ax.bbox.height / fig.dpi)
            for i, ax in enumerate(_panels(fig))]


def _label_heights(fig) -> list[float]:
    """Inches each panel's y label is taller than its plot area (a label longer than its panel
    runs into the title above it)."""
    renderer = fig.canvas.get_renderer()
    return [(ax.yaxis.label.get_window_extent(renderer).height - ax.bbox.height) / fig.dpi
            for ax in _panels(fig) if ax.yaxis.label.get_text()]


def fit(fig, tries: int = 6) -> None:
    """Grow ``fig`` (its layout engine re-run each time) until every plot area is at least
    MIN_W_IN × MIN_H_IN and as tall as its y label: the missing inches of the smallest panel,
    times the panels in a row or column, are added to the figure."""
    for _ in range(tries):
        areas = plot_areas(fig)
        if not areas:
            return
        w_in, h_in = fig.get_size_inches()
        short_w = max(MIN_W_IN - w for _, w, _ in areas)
        short_h = max([MIN_H_IN - h for _, _, h in areas] + _label_heights(fig))
        if short_w <= 0 and short_h <= 0:
            return
        rows, cols = _grid(fig)
        fig.set_size_inches(w_in + max(short_w, 0) * cols * 1.1 + (0.1 if short_w > 0 else 0),
                            h_in + max(short_h, 0) * rows * 1.1 + (0.1 if short_h > 0 else 0))


def _grid(fig) -> tuple[int, int]:
    """(rows, columns) of the figure's panels (1, 1 for a panel without a grid)."""
    for ax in _panels(fig):
        spec = ax.get_subplotspec()
        if spec is not None:
            return spec.get_gridspec().get_geometry()
    return 1, 1


def _texts(fig, renderer) -> list[tuple[str, object]]:
    """(what, window extent) of every drawn axis label, title and the figure's suptitle."""
    out = []
    for i, ax in enumerate(_panels(fig)):
        for what, t in (("x label", ax.xaxis.label), ("y label", ax.yaxis.label),
                        ("title", ax.title)):
            if t.get_visible() and t.get_text():
                out.append((f"{_name(ax, i)} {what}", t.get_window_extent(renderer)))
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_visible() and sup.get_text():
        out.append(("suptitle", sup.get_window_extent(renderer)))
    return out


def problems(fig) -> list[str]:
    """What makes ``fig`` hard to read (empty when it reads): small plot areas and overlaps."""
    out = [f"{name}: plot area {w:.2f} × {h:.2f} in < {MIN_W_IN} × {MIN_H_IN} in"
           for name, w, h in plot_areas(fig) if w < MIN_W_IN - 1e-6 or h < MIN_H_IN - 1e-6]
    renderer = fig.canvas.get_renderer()
    drawn = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)  # inches -> pixels
    if (drawn.x0 < -_SLACK_PX or drawn.y0 < -_SLACK_PX or drawn.x1 > fig.bbox.x1 + _SLACK_PX
            or drawn.y1 > fig.bbox.y1 + _SLACK_PX):
        out.append("something is drawn outside the figure (it would be cut off)")
    panels = _panels(fig)
    texts = _texts(fig, renderer)
    ticks = []  # each axis' tick labels (and its label), measured as the axis' drawn extent
    for i, ax in enumerate(panels):
        for what, axis in (("x tick labels", ax.xaxis), ("y tick labels", ax.yaxis)):
            bb = axis.get_tightbbox(renderer)
            if bb is not None and bb.width > 0 and bb.height > 0:
                ticks.append((f"{_name(ax, i)} {what}", bb))
    legends = [(f"{_name(ax, i)} legend", ax.get_legend()) for i, ax in enumerate(panels)
               if ax.get_legend() is not None]
    legends += [(f"figure legend {k + 1}", leg) for k, leg in enumerate(fig.legends)]
    boxes = [(w, leg.get_window_extent(renderer)) for w, leg in legends]
    for k, (what, lb) in enumerate(boxes):
        owner = what.rsplit(" legend", 1)[0]
        for other, bb in texts + ticks + boxes[k + 1:]:
            if _overlap(lb, bb):
                out.append(f"{what} overlaps {other}")
        for i, ax in enumerate(panels):
            if _name(ax, i) != owner and _overlap(lb, ax.bbox):
                out.append(f"{what} overlaps the plot area of {_name(ax, i)}")
    for k, (what, bb) in enumerate(texts):
        for other, bb2 in texts[k + 1:]:
            if _overlap(bb, bb2):
                out.append(f"{what} overlaps {other}")
    return out
