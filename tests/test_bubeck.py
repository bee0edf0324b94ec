"""``bubeck`` (seed 004): 4⌈n/p⌉ ReLUs from slab indicators — recall over n, p, r and seeds
(exact, or NOT EXACT by the per-point rule where outputs near 0 keep a rounding residue), sizes,
real datasets, negative outputs, refusal of data not in general position, and the float32 limits
reported honestly."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from real_data import SKLEARN, sklearn_data

import kernels


def exact(m):
    rec = kernels.verify(m)
    assert rec["exact"], (rec["executors"]["dense"], m.info)
    return rec


def accurate(m):
    """Within the dtype's tolerance at the data's scale, tol·max(1, ‖D‖∞), and judged by the
    allclose rule written out: four active ReLUs leave a rounding residue ≈ eps·L/δ on every point
    of the near side (iris: |f − 0| ≤ 1.6e-12), which the rule's tol·‖D‖∞ term absorbs."""
    rec = kernels.verify(m)
    d = rec["executors"]["dense"]
    scale = max(1.0, float(np.abs(m.dataset.D).max()))
    assert d["max_abs_error"] <= d["tolerance"] * scale, (d, m.info)
    tol = d["tolerance"]
    Y = m.predict(m.dataset.X)
    D = m.dataset.D
    ok = np.abs(Y - D) <= tol * (np.abs(D) + np.abs(D).max())
    assert d["exact"] == bool(ok.all()) and d["inexact_points"] == int((~ok.all(axis=1)).sum())
    if not d["exact"]:
        assert not ok[d["worst"]["index"]].all()
    return rec


def hidden(n, p, r):
    return (2 + 2 * r) * -(-n // p)


def check_size(m, n, p, r):
    assert list(m.network.widths) == [hidden(n, p, r), r]
    assert m.network.depth == 2
    assert m.summary()["hidden_neurons"] == hidden(n, p, r)
    if r == 1:
        assert m.network.widths[0] == 4 * -(-n // p)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 150), p=st.integers(1, 6), r=st.integers(1, 3),
       seed=st.integers(0, 10**6), labels=st.sampled_from(["uniform", "signed", "classes"]),
       kind=st.sampled_from(["gaussian", "sphere"]))
def test_exact_recall(n, p, r, seed, labels, kind):
    assume(kind == "gaussian" or p > 1)  # the 1-sphere is {−1, 1}
    ds = kernels.generate(kind, n, p, r, seed=seed, labels=labels)
    m = kernels.build("bubeck", ds.X, ds.D, seed=seed)
    accurate(m)
    check_size(m, n, p, r)


@pytest.mark.parametrize("n,p", [(2000, 8), (1000, 2), (777, 5), (300, 1)])
def test_larger_float64(n, p):
    ds = kernels.generate("gaussian", n, p, 1, seed=11, labels="signed")
    m = kernels.build("bubeck", ds.X, ds.D)
    accurate(m)
    check_size(m, n, p, 1)
    info = m.info["bubeck"]
    assert info["certified_groups"] == info["groups"]
    assert info["last_group"] == n - p * (info["groups"] - 1)


@pytest.mark.parametrize("n,p", [(16, 1), (64, 2), (64, 8), (40, 3)])
def test_float32_small(n, p):
    ds = kernels.generate("gaussian", n, p, 1, seed=0, labels="signed")
    accurate(kernels.build("bubeck", ds.X, ds.D, dtype="float32"))


def test_float32_large_is_reported_not_exact():
    """Rounding is amplified by L/δ ~ n: in float32 a few hundred points are past the limit, and
    verify says so (nothing is rounded away)."""
    ds = kernels.generate("gaussian", 1024, 4, 1, seed=0, labels="signed")
    m = kernels.build("bubeck", ds.X, ds.D, dtype="float32")
    rec = kernels.verify(m)["executors"]["dense"]
    assert not rec["exact"] and rec["inexact_points"] > 0
    assert rec["max_rel_error"] > rec["tolerance"]
    assert m.info["bubeck"]["predicted_error"] > 1e-4


def test_exactly_zero_on_the_far_side():
    """The last slab alone (its four hidden neurons and their output weights): every data point
    on the far side of its hyperplane (t ≤ −m) gets exactly 0.0 in floating point."""
    ds = kernels.generate("gaussian", 60, 3, 1, seed=4, labels="signed")
    net = kernels.build("bubeck", ds.X, ds.D).network
    first = net.widths[0] - 4
    W = np.zeros((4, 3))
    for j in range(4):
        a, b = net.w_ptr[first + j], net.w_ptr[first + j + 1]
        W[j, net.w_src[a:b]] = net.w_val[a:b]
    a, b = net.w_ptr[-2], net.w_ptr[-1]  # the output neuron reads units p + j
    w_out = dict(zip(net.w_src[a:b] - 3 - first, net.w_val[a:b], strict=True))
    bias = net.bias[first:first + 4]
    H = np.maximum(ds.X @ W.T + bias, 0)
    slab = sum(w_out[j] * H[:, j] for j in range(4))
    eps = (bias[0] - bias[1]) / 2  # relu(t + ε), relu(t − ε): biases −b ± ε
    t = ds.X @ W[0] + bias[0] - eps
    far = t <= -2 * eps
    assert far.sum() > 10 and (slab[far] == 0.0).all()
    assert (H[far] == 0.0).all()


def test_negative_outputs_and_offsets():
    ds = kernels.generate("gaussian", 400, 4, 2, seed=2, labels="signed")
    exact(kernels.build("bubeck", ds.X, ds.D * 100 - 50))
    exact(kernels.build("bubeck", ds.X + 5.0, -np.abs(ds.D)))


def test_tiny_and_one_dimensional():
    accurate(kernels.build("bubeck", [[1.0, 2.0]], [-3.0]))
    m = kernels.build("bubeck", [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [-3.0, 5.0, 7.0])
    accurate(m)
    check_size(m, 3, 2, 1)
    x = np.unique(np.random.default_rng(0).integers(-100, 100, 50)).astype(float)[:, None]
    m = kernels.build("bubeck", x, np.sin(x[:, 0]))
    accurate(m)
    check_size(m, len(x), 1, 1)
    m = kernels.build("bubeck", np.eye(5), np.arange(5.0) - 2)  # n = p: one group
    accurate(m)
    check_size(m, 5, 5, 1)


def test_collinear_points_are_refused():
    t = np.random.default_rng(1).standard_normal(30)
    with pytest.raises(ValueError, match=r"bubeck needs points in general position \(no p\+1 = 3 "
                                         r"points on one hyperplane\): row \d+ lies on"):
        kernels.build("bubeck", np.c_[t, 2 * t + 1], t)
    with pytest.raises(ValueError, match="general position: rows .* are affinely dependent"):
        kernels.build("bubeck", np.c_[t, 2 * t + 1, -t], t)
    # a grid has many collinear triples: no grouping of this one avoids them
    grid = np.array([[i, j] for i in range(6) for j in range(6)], dtype=float)
    with pytest.raises(ValueError, match="general position"):
        kernels.build("bubeck", grid, np.zeros(36))


def test_summary_reports_the_numerics():
    ds = kernels.generate("gaussian", 200, 3, 1, seed=0)
    s = kernels.build("bubeck", ds.X, ds.D).summary()
    b = s["bubeck"]
    for key in ("sweep", "groups", "min_margin", "min_relative_margin", "min_delta",
                "max_amplification", "predicted_error", "certified_groups", "compensated"):
        assert key in b, key
    assert b["groups"] == 67 and b["last_group"] == 2 and b["min_margin"] > 0
    assert s["size"]["neurons"] == 4 * 67 + 1


@pytest.mark.parametrize("name", SKLEARN)
def test_real_datasets(name):
    X, D = sklearn_data(name)
    m = kernels.build("bubeck", X, D)
    assert accurate(m)["exact"]  # rounding noise only: exact under the allclose rule
    n = len(X) - m.dataset.n_dropped
    check_size(m, n, X.shape[1], D.shape[1] if D.ndim == 2 else 1)
