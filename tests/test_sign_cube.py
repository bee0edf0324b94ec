"""``sign-cube`` (seed 003): the 2^M + 1-neuron sign network memorizes any Boolean function on
{±1}^M — the full 8-cube with parity, subsets, several outputs, both label conventions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.executors import dense


def exact(m):
    rec = kernels.verify(m)
    assert rec["exact"], rec["executors"]["dense"]
    assert rec["executors"]["dense"]["max_abs_error"] == 0.0  # integers: no rounding at all
    return rec


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_8_cube_parity(dtype):
    ds = kernels.generate("cube", 256, 8, labels="parity")
    m = kernels.build("sign-cube", ds.X, ds.D, dtype=dtype)
    exact(m)
    assert list(m.network.widths) == [256, 1]
    assert m.network.n_neurons == 2**8 + 1
    assert m.info["output_activation"] == "threshold"  # parity labels are 0/1
    c = m.count_ops(ds.X)
    a = dense.analytic_cost(m.network)
    assert (c["total"] == a["total"]).all()
    assert a["mul"] == 256 * 8 + int(ds.D.sum())  # M per hidden neuron, |P| at the output
    assert a["cmp"] == 2 * 256 + 1  # sign: two comparisons; threshold: one


def test_signed_labels_and_several_outputs():
    ds = kernels.generate("cube", 64, 6, 3, seed=0, labels="classes", classes=2)
    D = 2 * ds.D - 1  # {−1, +1}
    m = kernels.build("sign-cube", ds.X, D)
    exact(m)
    assert m.info["output_activation"] == "sign"
    assert list(m.network.widths) == [64, 3]


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 7), frac=st.floats(0.05, 1.0), r=st.integers(1, 3),
       seed=st.integers(0, 10**6), signed=st.booleans())
def test_any_boolean_function_on_a_subset(M, frac, r, seed, signed):
    n = max(1, int(frac * 2**M))
    rng = np.random.default_rng(seed)
    ds = kernels.generate("cube", n, M, r, seed=seed)
    D = rng.integers(0, 2, (n, r)).astype(float)
    if signed:
        D = 2 * D - 1
    m = kernels.build("sign-cube", ds.X, D, seed=seed)
    exact(m)
    assert list(m.network.widths) == [n, r]


def test_all_false_and_all_true_columns():
    ds = kernels.generate("cube", 16, 4)
    D = np.c_[np.zeros(16), np.ones(16)]
    exact(kernels.build("sign-cube", ds.X, D))
    exact(kernels.build("sign-cube", ds.X, -np.ones(16)))


def test_off_cube_inputs_are_classified_too():
    """The network is a function on the whole cube: unseen vertices get the 'false' output."""
    ds = kernels.generate("cube", 256, 8, labels="parity")
    keep = ds.D[:, 0] == 1
    keep[np.flatnonzero(~keep)[:3]] = True  # every odd vertex and three even ones: 0/1 labels
    m = kernels.build("sign-cube", ds.X[keep], ds.D[keep])
    assert list(m.network.widths) == [keep.sum(), 1]
    np.testing.assert_array_equal(m.predict(ds.X), ds.D)  # the unseen even vertices get 0


def test_refusals():
    with pytest.raises(ValueError, match=r"\{±1\}\^M; row 1"):
        kernels.build("sign-cube", [[1.0, -1.0], [0.0, 1.0]], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"\{±1\}\^M; row 0"):
        kernels.build("sign-cube", [[2.0, -1.0], [1.0, 1.0]], [1.0, 0.0])
    with pytest.raises(ValueError, match="Boolean outputs"):
        kernels.build("sign-cube", [[1.0], [-1.0]], [2.0, 0.0])
    with pytest.raises(ValueError, match="Boolean outputs"):
        kernels.build("sign-cube", [[1.0], [-1.0]], [-1.0, 0.0])  # mixed conventions
