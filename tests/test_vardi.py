"""``vardi`` (seed 001): exact recall in exact integers and (``bits=B``) in the Numba kernels, sizes
against the derived formulas, the depth and bit-budget trade-offs, real class datasets, clear
refusals, the growth of the weights with n, and the exact-arithmetic executor itself."""

from __future__ import annotations

from fractions import Fraction

import naive
import numpy as np
import pytest

import kernels
from kernels import cli, constructions
from kernels.constructions import vardi
from kernels.constructions.bit_extraction import Circuit
from kernels.executors import dense, exact
from kernels.model.data import generate, validate
from kernels.model.exact import from_coo
from kernels.model.network import Network
from kernels.verify import verify


def _build(ds, seed=0, dtype="float64", **opts):
    """vardi's build on a validated dataset, its other options at their defaults."""
    full = constructions.complete_options("vardi", opts)
    return vardi.build(ds, seed=seed, dtype=dtype, **full)


def _classes(kind, n, p, r, C, seed):
    return generate(kind, n, p, r, seed=seed, labels="classes", classes=C)


def _assert_exact(m, executors=None, X=None):
    X = m.dataset.X if X is None else X
    for ex in executors or m.executors:
        Y = m.predict(X, executor=ex)
        assert np.array_equal(Y, m.dataset.D), ex  # integer labels, computed exactly


def _assert_formula(m):
    size, f = m.size(), m.info["formula"]
    assert (size["neurons"], size["weights"], size["depth"]) == (
        f["neurons"], f["weights"], f["depth"])


CASES = [  # kind, n, p, r, C, seed, options
    ("sphere", 64, 2, 1, 2, 0, {}),
    ("sphere", 150, 4, 1, 10, 1, {"group_size": 2}),
    ("sphere", 200, 3, 2, 3, 2, {"group_size": 5}),
    ("gaussian", 120, 5, 1, 4, 3, {"group_size": 7}),
    ("cube", 128, 8, 1, 2, 4, {}),
    ("clusters", 100, 3, 1, 5, 5, {"group_size": 3}),
    ("gaussian", 90, 2, 3, 2, 6, {"group_size": 4}),
    ("sphere", 80, 4, 1, 7, 7, {"bits": 48}),
    ("sphere", 60, 3, 1, 2, 8, {"bits": 48, "group_size": 3}),
    ("gaussian", 100, 4, 2, 2, 9, {"bits": 40, "group_size": 2}),
    ("sphere", 150, 4, 1, 10, 10, {"bits": 200}),
    ("sphere", 150, 4, 1, 10, 11, {"depth": 120}),
]


@pytest.mark.parametrize("kind,n,p,r,C,seed,opts", CASES)
def test_exact_recall_and_sizes(kind, n, p, r, C, seed, opts):
    ds = _classes(kind, n, p, r, C, seed)
    m = _build(ds, seed=seed, **opts)
    _assert_exact(m)
    _assert_formula(m)
    if "group_size" in opts:
        assert m.info["group_size"] == opts["group_size"]
    if "bits" in opts:
        assert m.exact_network.weight_bits() <= opts["bits"] == m.info["bits_requested"]
    if "depth" in opts:
        assert m.size()["depth"] <= opts["depth"]
    assert m.info["weight_bits"] == m.exact_network.weight_bits()


def test_direct_and_constant_cases():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    for D in (np.zeros(40), np.full(40, 3.0), (np.arange(40) % 2).astype(float),
              np.stack([np.arange(40) % 3, np.zeros(40), np.arange(40) % 2], axis=1)):
        for opts in ({}, {"group_size": 3}, {"bits": 49}):
            if opts.get("group_size") and not D.any():
                continue  # no label bits: only the direct lookup applies
            m = kernels.build("vardi", X, D, **opts)
            _assert_exact(m)
            _assert_formula(m)
    m = kernels.build("vardi", [[0.25, -1.0]], [5.0])  # n = 1: a constant network
    _assert_exact(m)
    assert m.size()["weights"] == 0


def test_all_zero_label_column_has_no_record_bits():
    ds = _classes("sphere", 100, 3, 3, 4, 1)
    D = ds.D.copy()
    D[:, 1] = 0
    m = kernels.build("vardi", ds.X, D, group_size=4)
    assert m.info["label_bits"][1] == 0
    assert m.info["record_bits"] == m.info["key_bits"] + sum(m.info["label_bits"])
    _assert_exact(m)
    _assert_formula(m)


def test_bits_variant_is_exact_in_the_numba_kernels():
    ds = _classes("sphere", 90, 3, 2, 2, 3)
    m = _build(ds, bits=48, group_size=2)
    assert m.info["lookup"] == "bit-extraction"
    assert "dense" in m.executors and "exact" in m.executors
    assert m.network.w_val.dtype == np.float64
    assert np.abs(m.network.w_val).max() < 2.0**49
    _assert_exact(m)  # dense, active (where present) and exact
    assert np.array_equal(naive.dense(m.network, ds.X), ds.D)
    # the counted twin and the exact executor's count agree with the closed form
    c_dense, c_exact = m.count_ops(ds.X, "dense"), m.count_ops(ds.X, "exact")
    for k in ("mul", "add", "cmp", "total"):
        assert np.array_equal(c_dense[k], c_exact[k])
    assert c_dense["total"][0] == dense.analytic_cost(m.network)["total"]


def test_exact_and_numba_agree_where_both_apply():
    ds = _classes("gaussian", 80, 4, 1, 3, 4)
    m = _build(ds, bits=46, group_size=2)
    assert "dense" in m.executors
    rng = np.random.default_rng(1)
    near = ds.X + 1e-9 * rng.standard_normal(ds.X.shape)  # inside every margin
    for X in (ds.X, near):
        a, b = m.predict(X, "dense"), m.predict(X, "exact")
        assert np.array_equal(a, b) and np.array_equal(a, ds.D)


def test_bits_above_float_budget_run_exact_only():
    ds = _classes("sphere", 150, 4, 1, 10, 0)
    m = _build(ds, bits=120, group_size=4)
    assert m.executors == ("exact",)
    assert vardi.FLOAT_BITS < m.info["weight_bits"] <= 120
    assert "bits" in m.info["dense_unavailable"]
    _assert_exact(m)


def test_default_mode_is_exact_arithmetic_with_large_weights():
    ds = _classes("sphere", 512, 4, 1, 10, 0)
    m = kernels.build("vardi", ds.X, ds.D)
    assert m.executors == ("exact",) and m.network is None
    assert m.info["lookup"] == "bit-extraction" and m.info["group_size"] >= 2
    assert m.info["weight_bits"] > 53  # beyond float64: the paper's large bit complexity
    rec = verify(m)
    assert rec["exact"] and rec["executors"]["exact"]["max_abs_error"] == 0.0
    assert rec["size"]["weights"] == m.info["formula"]["weights"]
    assert rec["bounds"]["vc_weights_floor"] == pytest.approx(np.sqrt(512))


def test_weights_grow_sublinearly():
    ns = [2**e for e in range(8, 13)]
    w = [_build(_classes("sphere", n, 4, 1, 10, 0)).size()["weights"] for n in ns]
    slope = np.polyfit(np.log(ns), np.log(w), 1)[0]
    assert slope < 0.8, (w, slope)


def test_bit_budget_tradeoff():
    """bits = k·ρ holds k records per register: weights ≈ 4n/k (Õ(n/B)) until the optimum."""
    ds = _classes("sphere", 2048, 4, 1, 10, 0)
    free = _build(ds, bits=10_000)
    rho, s_opt = free.info["record_bits"], free.info["group_size"]
    assert s_opt >= 4
    w = []
    for k in (1, 2, 3, 4):
        m = _build(ds, bits=k * rho)
        assert m.info["group_size"] == k and m.info["weight_bits"] <= k * rho
        w.append(m.size()["weights"])
    assert w[0] > w[1] > w[2] > w[3] >= free.size()["weights"], w


def test_depth_tradeoff():
    """depth L holds ≈ L/(2ρ) records per group: weights ≈ Õ(n/L)."""
    ds = _classes("sphere", 1024, 4, 1, 10, 0)
    free = _build(ds)
    rho, s_opt = free.info["record_bits"], free.info["group_size"]
    assert s_opt >= 3
    direct = _build(ds, depth=3)
    assert direct.info["lookup"] == "direct" and direct.size()["depth"] == 3
    w = [direct.size()["weights"]]
    for k in (2, 3):
        L = 5 + 2 * k * rho  # λ0 + 2 + 2sρ (exact mode)
        m = _build(ds, depth=L)
        assert m.info["group_size"] == k and m.size()["depth"] == L
        assert _build(ds, depth=L - 1).info["group_size"] == k - 1 or k == 2
        w.append(m.size()["weights"])
    assert w[0] > w[1] > w[2] >= free.size()["weights"], w


@pytest.mark.parametrize("loader", ["iris", "digits", "breast_cancer"])
def test_real_class_datasets(loader):
    sk = pytest.importorskip("sklearn.datasets")
    data = getattr(sk, f"load_{loader}")()
    X, y = data.data, data.target.astype(float)
    _, keep = np.unique(X, axis=0, return_index=True)  # deduplicate (iris has a repeated row)
    keep = np.sort(keep)
    m = kernels.build("vardi", X[keep], y[keep])
    rec = verify(m)
    assert rec["exact"], rec["executors"]
    _assert_formula(m)


def test_wine_one_hot():
    sk = pytest.importorskip("sklearn.datasets")
    data = sk.load_wine()
    D = np.eye(3)[data.target]
    m = kernels.build("vardi", data.data, D)
    assert m.dataset.r == 3
    assert verify(m)["exact"]
    m2 = kernels.build("vardi", data.data, D, bits=48)
    assert "dense" in m2.executors and verify(m2)["exact"]


def test_refusals():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    with pytest.raises(ValueError, match="class labels 0..C-1"):
        kernels.build("vardi", X, rng.random(50))
    with pytest.raises(ValueError, match="non-negative"):
        kernels.build("vardi", X, rng.integers(-2, 2, 50))
    with pytest.raises(ValueError, match="not separated enough"):
        kernels.build("vardi", X, rng.integers(0, 3, 50), bits=8)
    tight = generate("clusters", 200, 3, seed=0, labels="classes", classes=2)  # δ ≈ 1e-6
    with pytest.raises(ValueError, match="not separated enough"):
        kernels.build("vardi", tight.X, tight.D, bits=24)
    with pytest.raises(ValueError, match="too shallow"):
        kernels.build("vardi", X, rng.integers(0, 3, 50), depth=2)
    with pytest.raises(ValueError, match="does not fit"):
        kernels.build("vardi", X, rng.integers(0, 3, 50), bits=20, group_size=5)
    with pytest.raises(ValueError, match="float32"):
        kernels.build("vardi", X, rng.integers(0, 3, 50), dtype="float32")
    with pytest.raises(ValueError, match="bits must be"):
        kernels.build("vardi", X, rng.integers(0, 3, 50), bits=1.5)


def test_cli(tmp_path, capsys):
    assert "vardi" in constructions.names()
    assert cli.main(["verify", "vardi", "--n", "60", "--p", "3", "--labels", "classes",
                     "--json"]) == 0
    out = capsys.readouterr().out
    import json

    rec = json.loads(out)
    assert rec["exact"] and set(rec["size"]) >= {"neurons", "weights", "depth"}
    assert rec["info"]["weight_bits"] >= 1
    assert cli.main(["verify", "vardi", "--n", "60", "--p", "3"]) == 2  # real-valued labels
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "class labels" in err


# ---- the exact-arithmetic executor ------------------------------------------------------------
def test_exact_executor_matches_dense_on_integer_networks():
    rng = np.random.default_rng(3)
    p, widths = 3, [5, 4, 2]
    rows, cols, vals, first = [], [], [], 0
    units = p
    for w in widths:
        for j in range(w):
            for k in range(units):
                if rng.random() < 0.7:
                    rows.append(first + j)
                    cols.append(k)
                    vals.append(int(rng.integers(-4, 5)) or 1)
        first += w
        units = p + first
    bias = rng.integers(-3, 4, size=sum(widths))
    net = Network.from_coo(p, widths, ["relu", "relu", "identity"], rows, cols, vals, bias)
    ex = from_coo(p, net.layer_ptr, net.act, [int(b) for b in net.bias],
                        np.repeat(np.arange(net.n_neurons), np.diff(net.w_ptr)), net.w_src,
                        [int(v) for v in net.w_val])
    X = rng.integers(-8, 9, size=(50, p)) / 4.0  # dyadic: float sums are exact
    assert np.array_equal(exact.predict(ex, X), dense.predict(net, X))
    assert ex.to_float().w_val.tolist() == net.w_val.tolist()
    c = exact.count(ex, X)
    assert (c["total"] == dense.analytic_cost(net)["total"]).all()


def test_exact_executor_fraction_and_dyadic_paths():
    c = Circuit(2)
    a = c.relu({0: Fraction(1, 3), 1: -2}, Fraction(1, 7))  # non-dyadic: Fraction path
    c.output({a: 3}, -1)
    net = c.layout().network
    assert net.input_scale is None
    X = np.array([[0.5, -0.25], [3.0, 1.0]])
    want = [3 * max(Fraction(x0) / 3 - 2 * Fraction(x1) + Fraction(1, 7), 0) - 1 for x0, x1 in X]
    assert exact.forward(net, X)[:, 0].tolist() == want
    c = Circuit(2)
    a = c.relu({0: Fraction(3, 8), 1: 5}, Fraction(1, 2))  # dyadic: integer path
    c.output({a: -4}, 2)
    net = c.layout().network
    assert net.input_scale == 3
    want = [-4 * max(Fraction(3, 8) * Fraction(x0) + 5 * Fraction(x1) + Fraction(1, 2), 0) + 2
            for x0, x1 in X]
    assert exact.forward(net, X)[:, 0].tolist() == want
    assert net.weight_bits() == 4  # 3/8: max(bitlen 3, bitlen 8)


def test_circuit_layout_carries_values_by_copies():
    c = Circuit(1)
    t = c.relu({0: 1})
    u = c.relu({t: 2}, 1)
    v = c.relu({u: 1})
    w = c.relu({v: 1, t: -1})  # t is read three layers after it is made: two copies
    c.output({w: 1})
    lay = c.layout()
    assert lay.depth == 5 and lay.network.n_neurons == 7
    X = np.array([[0.0], [1.5], [-2.0]])
    t_ = np.maximum(X[:, 0], 0)
    want = np.maximum(np.maximum(2 * t_ + 1, 0) - t_, 0)
    assert np.array_equal(exact.predict(lay.network, X)[:, 0], want)


def test_validate_roundtrip_of_vardi_dataset():
    ds = validate(np.eye(3), [0, 1, 2])
    m = _build(ds)
    _assert_exact(m)
