"""rajput's neuron count split into its 1/δ stage and its √n stage (the size figure)."""

from __future__ import annotations

import base64

import pytest
from matplotlib import pyplot as plt

from kernels.report import figures_size
from kernels.report.figures import fit_slope


def _rajput_row(n):
    # the 1/δ stage ∝ n (δ shrinking like 1/n), the √n stage ∝ √n: the total's slope is ≈ 1
    first, xor = 2 * n, 30 * n
    rest = {"detectors": 2, "copies": int(4 * n**0.5) - 6, "memorizers": 4, "bits": 0,
            "outputs": 0}
    st = {"first": first, "xor": xor, **rest}
    return {"status": "ok", "executor": "size", "construction": "rajput", "variant": None,
            "n": n, "p": 4, "grid_p": 4, "r": 1, "kind": "sphere", "labels": "classes",
            "weights": 10 * n, "neurons": sum(st.values()), "depth": 7,
            "info": {"stage_neurons": st}}


def test_stage_series_split_the_count_and_fit_each_stage():
    ns = [2**k for k in range(8, 15)]
    rows = [_rajput_row(n) for n in ns]
    (l1, p1), (l2, p2) = figures_size.stage_series(rows)
    assert l1.startswith("1/δ") and l2.startswith("√n")
    assert [c for _, c in p1] == [32 * n for n in ns]
    assert [c for _, c in p2] == [int(4 * n**0.5) for n in ns]
    assert fit_slope(*zip(*p1, strict=True)) == pytest.approx(1.0)
    assert fit_slope(*zip(*p2, strict=True)) == pytest.approx(0.5, abs=0.01)
    assert figures_size.slopes(rows, "neurons") > 0.95  # what the total alone would credit
    assert figures_size.stage_series([{**rows[0], "info": {}}]) == []


def test_size_figure_draws_the_stages_with_their_slopes(monkeypatch):
    labels = []
    real = plt.Axes.plot

    def spy(ax, *a, label=None, **kw):
        labels.append(label)
        return real(ax, *a, label=label, **kw)

    monkeypatch.setattr(plt.Axes, "plot", spy)
    rows = [_rajput_row(2**k) for k in range(8, 13)]
    (title, img, caption), = figures_size.size_vs_n(rows)
    assert base64.b64decode(img)[:4] == b"\x89PNG"
    st = [t for t in labels if t and "stage" in t]
    assert len(st) == 2
    assert st[0] == "rajput 1/δ stage  slope 1.00, 100%"  # 32·4096 of 32·4096 + 256 neurons
    assert st[1].startswith("rajput √n stage  slope 0.5") and st[1].endswith(", 0%")
    assert "1/δ stage" in caption and "√n stage" in caption
