"""``rajput`` (seed 002): exact recall, threshold = ReLU, sizes against the derived formulas, the
paper's counts, real class datasets, clear refusals, and the growth of the neurons with n."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels import constructions
from kernels.constructions import rajput
from kernels.model.data import generate, min_separation, validate
from kernels.verify import recall_errors


def _build(ds, seed=0, dtype="float64", **kw):
    """rajput's build on a validated dataset, its other options at their defaults."""
    full = constructions.complete_options("rajput", kw)
    return rajput.build(ds, seed=seed, dtype=dtype, **full)


def _assert_exact(m, executors=None):
    for ex in executors or m.executors:
        rec = recall_errors(m, m.predict(m.dataset.X, executor=ex))
        assert rec["exact"], (ex, rec)
        assert rec["max_abs_error"] == 0.0  # integer outputs, computed exactly


def _lattice(n, p, h, seed):
    """n distinct random points of the lattice hZ^p inside the unit ball: δ ≈ h at every n."""
    rng = np.random.default_rng(seed)
    g = int(round(1 / h))
    seen, out = set(), []
    while len(out) < n:
        c = rng.integers(-g, g + 1, size=(4 * n, p))
        for row in map(tuple, c[(c**2).sum(axis=1) <= g * g]):
            if row not in seen:
                seen.add(row)
                out.append(row)
                if len(out) == n:
                    break
    return validate(np.array(out) * h, rng.integers(0, 2, n))


GRID = [("sphere", 64, 3, 2, 0), ("sphere", 300, 4, 5, 1), ("gaussian", 200, 6, 10, 2),
        ("cube", 128, 8, 3, 3), ("sphere", 600, 6, 4, 4), ("gaussian", 40, 2, 4, 5),
        ("gaussian", 12, 1, 3, 6)]


@pytest.mark.parametrize("kind,n,p,C,seed", GRID)
def test_exact_recall_and_delta(kind, n, p, C, seed):
    ds = generate(kind, n, p, seed=seed, labels="classes", classes=C)
    m = _build(ds, seed=seed)
    _assert_exact(m)
    X = ds.X - ds.X.mean(axis=0)
    R = np.sqrt((X**2).sum(axis=1)).max()
    assert m.info["delta"] == pytest.approx(min_separation(X / R), rel=1e-9)
    assert m.info["radius"] == pytest.approx(R)
    assert m.info["classes"] == [int(ds.D.max()) + 1]


@pytest.mark.parametrize("kind,n,p,C,seed", GRID[:4])
def test_relu_variant_gives_identical_outputs(kind, n, p, C, seed):
    ds = generate(kind, n, p, seed=seed, labels="classes", classes=C)
    t = _build(ds, seed=seed)
    r = _build(ds, seed=seed, activation="relu")
    assert set(np.unique(r.network.act)) == {0, 1}  # identity output, ReLU everywhere else
    assert np.array_equal(t.predict(ds.X), r.predict(ds.X))
    _assert_exact(r)


def test_several_outputs_and_seeds():
    ds = generate("sphere", 250, 5, r=3, seed=7, labels="classes", classes=6)
    for seed in (0, 1, 2):
        m = _build(ds, seed=seed)
        _assert_exact(m, ("dense",))
        assert m.network.r == 3 and m.info["label_bits"] == [3, 3, 3]


@pytest.mark.parametrize("xor", ["tree", "counter"])
@pytest.mark.parametrize("activation", ["threshold", "relu"])
def test_sizes_match_the_derived_formulas(xor, activation):
    ds = generate("sphere", 400, 4, seed=11, labels="classes", classes=7)
    m = _build(ds, xor=xor, activation=activation)
    _assert_exact(m, ("dense",))
    f = rajput.derived_sizes(m.plan)
    net = m.network
    if activation == "threshold":
        assert (net.n_neurons, net.n_weights) == (f["neurons"], f["weights"])
        assert net.depth <= f["depth_max"]
        assert net.n_neurons == sum(m.info["stage_neurons"].values())
    else:
        assert (net.n_neurons, net.n_weights) == (f["relu_neurons"], f["relu_weights"])
        thr = _build(ds, xor=xor)
        assert net.depth == thr.network.depth + 1
    # after layer 1 every weight and bias is an integer
    a = int(net.layer_ptr[1])
    w, b = net.w_val[net.w_ptr[a]:], net.bias[a:]
    assert np.array_equal(w, np.round(w)) and np.array_equal(b, np.round(b))
    top = max(np.abs(w).max(), np.abs(b).max())
    assert m.info["max_int_weight"] == top
    assert m.info["weight_bits"] == int(top).bit_length() + 1
    if xor == "tree":  # the paper's O(log n) integers: prefix biases ≤ m2, outputs 2^(B-1)
        assert top <= max(m.info["code_bits"], 2 ** (m.info["label_bits"][0] - 1), 2)
    else:
        assert top <= max(m.info["code_bits"], m.info["xor_row_sizes"]["max"], 4)
    assert m.info["compressed"] and m.info["code_bits"] < m.info["hidden1"]


def test_counts_within_the_papers_bounds():
    for seed in range(3):
        ds = generate("sphere", 512, 4, seed=seed, labels="classes", classes=2)
        m = _build(ds, seed=seed)
        n = ds.n
        assert m.info["hyperplanes_drawn"] <= m.info["hidden1_paper"]  # union bound of Step 1
        assert m.info["hidden1"] <= m.info["hyperplanes_drawn"]
        assert m.info["code_bits"] <= np.ceil(np.log2(n * (n - 1) / 2)) + 10  # Step 2
        assert m.info["max_subset"] <= m.info["subset_size"]


def test_fixed_counts_and_extreme_partitions():
    ds = generate("sphere", 150, 3, seed=4, labels="classes", classes=3)
    auto = _build(ds)
    m = _build(ds, hidden1=auto.info["hyperplanes_drawn"] + 40, hidden2=auto.info["code_bits"] + 3)
    _assert_exact(m, ("dense",))
    for s in (1, 7, ds.n):
        m = _build(ds, subset_size=s)
        _assert_exact(m, ("dense",))
        assert m.info["subset_size"] == s and m.info["max_subset"] <= s


def test_small_and_degenerate_datasets():
    for X, y in [(np.array([[0.3, -1.0]]), [4]), (np.array([[0.0], [1.0]]), [1, 0]),
                 (np.random.default_rng(0).standard_normal((20, 3)), np.zeros(20)),
                 (np.random.default_rng(1).standard_normal((40, 2)), np.arange(40))]:
        for act in ("threshold", "relu"):
            m = kernels.build("rajput", X, y, seed=3, activation=act)
            _assert_exact(m, ("dense",))


def test_float32_on_separated_data():
    ds = generate("cube", 64, 6, seed=2, labels="classes", classes=4)
    m = _build(ds, dtype="float32")
    _assert_exact(m, ("dense",))


def _real(loader):
    pytest.importorskip("sklearn")
    from sklearn import datasets

    return getattr(datasets, loader)(return_X_y=True)


@pytest.mark.slow
@pytest.mark.parametrize("loader,dropped", [("load_iris", 1), ("load_digits", 0),
                                            ("load_breast_cancer", 0)])
def test_real_class_datasets(loader, dropped):
    X, y = _real(loader)
    m = kernels.build("rajput", X, y, seed=0)
    assert m.dataset.n_dropped == dropped  # iris: one repeated row with the same class
    _assert_exact(m)
    assert m.info["classes"] == [int(y.max()) + 1]
    assert 0 < m.info["delta"] < 1


def test_refusals_are_one_line():
    ds = generate("sphere", 200, 4, seed=0, labels="classes", classes=2)
    cases = [
        (dict(hidden1=3), r"3 Gaussian hyperplanes do not give the 200 points unique codes"),
        (dict(hidden2=2), r"2 XOR rows do not keep the 200 codes unique"),
        (dict(activation="tanh"), r"option activation must be one of threshold, relu"),
        (dict(xor="nand"), r"option xor must be one of tree, counter .got .nand.."),
        (dict(subset_size=0), r"option subset_size must be an integer in \[1, inf\)"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg) as e:
            _build(ds, **kw)
        assert "\n" not in str(e.value)
    tight = generate("clusters", 60, 3, seed=0, labels="classes", classes=2)  # δ ~ 1e-7
    with pytest.raises(ValueError, match=r"not δ-separated enough: δ = .*max_hidden1") as e:
        _build(tight, max_hidden1=2000)
    assert "\n" not in str(e.value)
    X = ds.X
    for D, msg in [(np.full(200, 0.5), r"class labels 0..C-1.*row 0 has 0.5"),
                   (np.r_[-1.0, np.zeros(199)], r"non-negative")]:
        with pytest.raises(ValueError, match=msg):
            kernels.build("rajput", X, D)
        with pytest.raises(ValueError, match=r"rajput memorizes class labels"):
            _build(validate(X, D))


def test_registry_and_cli(capsys):
    assert "rajput" in constructions.names()
    mod = constructions.get("rajput")
    assert mod is rajput and mod.EXECUTORS == ("dense", "active") and mod.NONNEGATIVE
    from kernels.cli import main

    rc = main(["verify", "rajput", "--n", "48", "--p", "3", "--kind", "sphere",
               "--labels", "classes"])
    out = capsys.readouterr().out
    assert rc == 0 and "EXACT" in out and "NOT EXACT" not in out


def _slope(ns, ys):
    return float(np.polyfit(np.log(ns), np.log(ys), 1)[0])


@pytest.mark.slow
def test_neurons_grow_sublinearly():
    """Sphere data n = 2^8 … 2^12, p = 4: the lift + memorizers (the √n part of Theorem 1) grow like
    n^0.5; the 1/δ part follows δ, which on S^3 shrinks like n^(-2/3), so at a fixed δ (lattice
    data) the whole network grows like n^0.5 up to logs."""
    ns = [2**k for k in range(8, 13)]
    post, total_fixed = [], []
    for n in ns:
        m = _build(generate("sphere", n, 4, seed=1, labels="classes", classes=2), seed=1)
        st = m.info["stage_neurons"]
        post.append(st["detectors"] + st["copies"] + st["memorizers"] + st["bits"] + st["outputs"])
        m = _build(_lattice(n, 4, 0.1, seed=1), seed=1)
        total_fixed.append(m.network.n_neurons)
    assert _slope(ns, post) < 0.8
    assert _slope(ns, total_fixed) < 0.8


@pytest.mark.slow
def test_estimate_bytes_is_an_upper_estimate_within_a_small_factor():
    import tracemalloc

    ds = generate("sphere", 2048, 4, 1, seed=0, labels="classes")
    for xor in ("tree", "counter"):
        tracemalloc.start()
        try:
            constructions.build("rajput", ds.X, ds.D, seed=0, xor=xor)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        est = constructions.estimate_bytes("rajput", 2048, 4, 1, {"xor": xor})
        assert peak <= est <= 10 * peak, (xor, peak, est)


def test_active_counts_equal_an_independent_count_with_zero_biases():
    """A detector whose prefix has no ones gets bias −(sum of nothing) = −0.0: stored as +0.0,
    no input by Definition 1, and inactive where its sources are all zero.  The executor's counts
    equal the reference's on every input (tests/naive.py rebuilds the adjacency from the dense
    weights: nothing of the executor's own ±0 handling is reused)."""
    import naive

    ds = generate("sphere", 256, 4, seed=0, labels="classes")
    m = _build(ds)
    net = m.network
    assert not (np.signbit(net.bias) & (net.bias == 0)).any()
    zero_bias = np.flatnonzero(net.bias == 0)
    c = m.count_ops(ds.X, executor="active")
    _, c_ref = naive.active_run(net, ds.X)
    for key in c_ref:
        assert np.array_equal(c[key], c_ref[key]), key
    from kernels.executors.measure import active_sets

    A = active_sets(net, ds.X)["neurons"]
    assert (~A[:, zero_bias]).any()  # some zero-bias neuron is inactive on some input
    np.testing.assert_array_equal(A.sum(axis=1), c["active_neurons"])
