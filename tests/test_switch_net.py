"""``switch-net`` (seed 000, Theorem 2): exact recall under ``dense`` and ``active`` on real and
adversarial datasets, the sizes' formulas, every bound per input, off-dataset and boundary
inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from seed000_data import ADVERSARIAL, REAL, adversarial, real

import kernels
from kernels.constructions import partition
from kernels.executors import measure
from kernels.model.data import generate
from kernels.theory import bounds
from kernels.verify import recall_errors


def build(X, D, **kw):
    return kernels.build("switch-net", X, D, **kw)


def check_memorizer(m, *, paper_log2: bool | None = None):
    """Exact under both executors (the design's per-point rule); per-input counts within every
    bound, Theorem 2's with ⌈log2 n⌉ for every r."""
    X = m.dataset.X
    n, p = m.dataset.n, m.dataset.p
    Yd = m.predict(X, executor="dense")
    Ya = m.predict(X, executor="active")
    assert recall_errors(m, Yd)["exact"]
    assert np.array_equal(Ya, Yd)
    c = m.count_ops(X, executor="active")
    A, W = c["active_neurons"], c["active_weights"]
    A_path, W_path = m.path_bounds
    b = m.bounds()
    assert (A <= A_path).all() and (W <= W_path).all()
    assert A_path.max() <= b["derived_active_neurons"]
    assert W_path.max() <= b["derived_active_weights"]
    assert (c["total"] <= bounds.theorem1_ops_bound(p, W)).all()  # Theorem 1: p + 4ω
    q = p + 1
    D_ = partition.ceil_log2(n)
    assert m.partition.max_depth == D_  # balanced
    assert b["derived_active_neurons"] <= b["theorem2_active_neurons_ceil_log2"] + (
        m.info["q_route"] - q) * (2 * D_ + 1)  # q_route > q when a coordinate was split
    if m.info["q_route"] == q:
        assert (A <= b["theorem2_active_neurons_ceil_log2"]).all()  # every r, r > q included
        assert (W <= b["theorem2_active_weights"]).all()
        if paper_log2 or (paper_log2 is None and n == 2 ** D_):
            assert (A <= b["theorem2_active_neurons"]).all()
    return c


def first_point(part, v):
    """A dataset point under vertex v."""
    while part.pos[v] >= 0:
        v = part.pos[v]
    return part.point[v]


def check_sizes(m):
    net, f = m.network, m.info["formulas"]
    assert net.n_neurons == f["neurons"]
    assert net.n_weights == f["weights"] <= f["weights_max"]
    assert net.depth == f["depth"]


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_datasets_exact(name):
    X, D = real(name)
    m = build(X, D)
    check_sizes(m)
    check_memorizer(m)


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_datasets_exact(name):
    X, D = adversarial(name)
    m = build(X, D)
    check_sizes(m)
    check_memorizer(m)


@pytest.mark.parametrize("n,p,r", [(1, 3, 1), (2, 1, 1), (3, 2, 2), (5, 4, 3), (64, 3, 1),
                                   (100, 2, 5), (256, 5, 2)])
def test_sizes_and_bounds_small(n, p, r):
    ds = generate("gaussian", n, p, r, seed=n)
    m = build(ds.X, ds.D)
    check_sizes(m)
    check_memorizer(m)
    s = measure.active_sets(m.network, ds.X)  # Definition 1 by plain NumPy
    c = m.count_ops(ds.X, executor="active")
    assert np.array_equal(s["active_neurons"], c["active_neurons"])
    assert np.array_equal(s["active_weights"], c["active_weights"])


@pytest.mark.parametrize("n,p,r", [(64, 1, 6), (1000, 2, 8), (256, 1, 12), (100, 3, 9),
                                   (20, 2, 30), (1, 2, 5), (2, 1, 4), (513, 1, 3)])
def test_theorem2_active_neurons_when_r_exceeds_q(n, p, r):
    """r > q: the blocked sibling of a leaf lights one indicator, not r γ neurons (the old layout
    measured A = 52 > 44 at n = 64, p = 1, r = 6 and 106 > 91 at n = 1000, p = 2, r = 8)."""
    ds = generate("gaussian", n, p, r, seed=n)
    m = build(ds.X, ds.D)
    assert m.info["q_route"] == p + 1 and r > p + 1
    c = check_memorizer(m)
    A = c["active_neurons"]
    b = m.bounds()
    assert A.max() <= b["theorem2_active_neurons_ceil_log2"]
    assert A.max() <= 2 * (p + 2) * partition.ceil_log2(n) + r + 1 == b["derived_active_neurons"] \
        or n == 1
    assert np.array_equal(measure.active_sets(m.network, ds.X)["active_neurons"], A)


@pytest.mark.parametrize("n", [256, 1024])
def test_paper_bounds_powers_of_two(n):
    ds = generate("sphere", n, 4, 1, seed=1)
    m = build(ds.X, ds.D)
    check_memorizer(m, paper_log2=True)


def test_dense_ops_far_above_active_ops():
    ds = generate("gaussian", 2048, 4, 1, seed=3)
    m = build(ds.X, ds.D)
    X = ds.X[:256]
    dense = m.count_ops(X, executor="dense")["total"]
    active = m.count_ops(X, executor="active")["total"]
    assert (dense == m.bounds()["dense_ops"]).all()
    assert dense.min() > 50 * active.max()


def test_negative_outputs_linear_and_relu_refusal():
    X, D = adversarial("signed-lattice")
    m = build(X, D)
    assert m.info["output"] == "linear"
    check_memorizer(m)
    with pytest.raises(ValueError, match="D >= 0"):
        build(X, D, output="relu")


def test_float32_exact_within_tolerance():
    X, D = real("iris")
    m = build(X, D, dtype="float32")
    rec = kernels.verify(m)
    assert rec["exact"] and rec["dtype"] == "float32"
    assert np.array_equal(m.predict(m.dataset.X, executor="active"),
                          m.predict(m.dataset.X, executor="dense"))


def test_translation_splits_a_coordinate_that_rounding_would_merge():
    X = np.array([[-1.0, 0.0], [1e-20, 0.0], [2e-20, 0.0], [0.5, 1.0]])
    D = np.arange(4.0)
    m = build(X, D)
    assert m.info["translation"]["split"] == 1 and m.info["q_route"] == 4
    check_memorizer(m)
    with pytest.raises(ValueError, match="coincide"):
        build(X, D, translation_mode="shift")


def test_off_dataset_inputs_active_equals_dense():
    X, D = real("wine")
    m = build(X, D)
    rng = np.random.default_rng(0)
    lo, hi = X.min(axis=0), X.max(axis=0)
    Z = np.concatenate([lo + (hi - lo) * rng.random((200, X.shape[1])),
                        rng.standard_normal((50, X.shape[1])) * 1e4, np.zeros((1, X.shape[1])),
                        X[:20] + 1e-7])
    Yd = m.predict(Z, executor="dense")
    Ya = m.predict(Z, executor="active")
    assert np.array_equal(Ya, Yd)
    cd, ca = m.count_ops(Z, executor="dense"), m.count_ops(Z, executor="active")
    assert (ca["total"] <= cd["total"]).all()


def test_boundary_inputs_several_paths_active_equals_dense():
    """Inputs exactly on an (axis) hyperplane: both switch sides pass, several paths are active
    (the paper's remark), and ``active`` still reproduces ``dense`` bit for bit."""
    X, D = adversarial("lattice")  # non-negative: T is the identity, u = x̄
    m = build(X, D)
    part = m.partition
    Z = []
    for v in part.internal:
        w = part.W[v]
        nz = np.flatnonzero(w[1:])
        if part.exact[v] and nz.size == 1 and w[0] != 0:
            z = m.dataset.X[first_point(part, v)].copy()
            z[nz[0]] = -w[0]
            Z.append(z)
    Z = np.array(Z)
    assert len(Z) > 10
    Yd = m.predict(Z, executor="dense")
    assert np.array_equal(m.predict(Z, executor="active"), Yd)
    A = m.count_ops(Z, executor="active")["active_neurons"]
    assert A.max() > m.path_bounds[0].max()  # more than one path lit


def test_verify_json_and_cli(capsys):
    from kernels.cli import main

    rc = main(["verify", "switch-net", "--n", "128", "--p", "3", "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["exact"]
    for e in ("dense", "active"):
        assert rec["executors"][e]["exact"]
        assert "ops" in rec["executors"][e]
    a = rec["executors"]["active"]
    assert a["active_neurons"]["max"] <= rec["bounds"]["derived_active_neurons"]
    assert a["active_weights"]["max"] <= rec["bounds"]["derived_active_weights"]
    for k in ("theorem2_active_neurons", "theorem2_active_weights", "theorem1_ops_max",
              "theorem3_floor", "dense_ops", "ops_lower"):
        assert k in rec["bounds"]
    assert rec["executors"]["dense"]["ops"]["max"] == rec["bounds"]["dense_ops"]


def test_memory_estimate_refuses_before_building(monkeypatch):
    import kernels.model.data

    monkeypatch.setattr(kernels.model.data, "available_memory", lambda: 1 << 20)
    X, D = adversarial("lattice")
    with pytest.raises(ValueError, match="GiB"):
        build(X, D)
    assert kernels.constructions.estimate_bytes("switch-net", 2**16, 64, 1) > 8 * 65 * 2**16 * 4


def test_deterministic_per_seed():
    ds = generate("gaussian", 300, 3, 1, seed=5)
    a, b = build(ds.X, ds.D, seed=1), build(ds.X, ds.D, seed=1)
    assert np.array_equal(a.network.w_val, b.network.w_val)
    assert np.array_equal(a.network.w_src, b.network.w_src)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_theorem2_split_translation_is_outside_the_premise(dtype):
    """q_route > p + 1: two points that x + b would merge force split coordinates; Theorem 2's
    A ≤ 2(q + 1)⌈log2 n⌉ + q + r assumes q = p + 1 routed coordinates, so the check reports the
    case as outside the premise, with the cause, and our derived bound holds instead."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    X[0], X[1] = [0.5, 1e-20], [0.5, 2e-20]
    m = build(X, rng.uniform(0, 1, 40), dtype=dtype)
    q, qr = m.info["q"], m.info["q_route"]
    assert qr > q == 3
    b = m.bounds()
    assert b["theorem2_premise"] is False
    assert b["theorem2_check"].startswith("outside the premise: the translation split")
    assert f"{qr} coordinates are routed" in b["theorem2_check"]
    A = m.count_ops(m.dataset.X, executor="active")["active_neurons"]
    assert A.max() <= b["derived_active_neurons"] == 2 * (qr + 1) * partition.ceil_log2(40) + 2
    assert kernels.verify(m)["exact"]


def test_theorem2_check_holds_inside_the_premise():
    ds = generate("gaussian", 300, 4, 6, seed=2)
    m = build(ds.X, ds.D)
    b = m.bounds()
    assert m.info["q_route"] == 5 and b["theorem2_premise"] is True
    assert b["theorem2_check"] == "holds"
    A = m.count_ops(ds.X, executor="active")["active_neurons"]
    assert A.max() <= b["theorem2_active_neurons_ceil_log2"]
