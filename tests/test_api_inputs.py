"""The Python API's input rule: predict, predict_one and count_ops share one check
(kernels.memorizer.check_inputs) on every executor, random networks included; every bad
argument is a ValueError or TypeError of one sentence, never a Numba TypingError or a silent
wrong answer."""

import numpy as np
import pytest

import kernels

NAMES = ("axis-tree", "zhang", "switch-net")


@pytest.fixture(scope="module")
def memorizers():
    ds = kernels.generate("gaussian", 40, 3, 2, seed=1)
    ds1 = kernels.generate("gaussian", 40, 1, 1, seed=1)
    out = {}
    for name in NAMES:
        for dtype in ("float64", "float32"):
            out[name, dtype, 3] = kernels.build(name, ds.X, ds.D, dtype=dtype)
            out[name, dtype, 1] = kernels.build(name, ds1.X, ds1.D, dtype=dtype)
    return out


def _outcome(f):
    """('ok', result) or (exception type, message); anything but ValueError/TypeError fails."""
    try:
        return "ok", f()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, msg
        return type(exc), msg


# one input (as predict_one sees it) per class of input; predict gets the same value
ONE_INPUT_CLASSES = {
    "ndarray": lambda x: x,
    "list": lambda x: list(x),
    "int list": lambda x: [int(v) for v in x],
    "float32 array": lambda x: x.astype(np.float32),
    "strided": lambda x: np.repeat(x, 2)[::2],
    "numeric strings": lambda x: [str(v) for v in x],
    "bytes": lambda x: b"123",
    "string": lambda x: "1.0",
    "bool array": lambda x: x > 0,
    "complex": lambda x: x + 1j,
    "complex, zero imaginary": lambda x: x.astype(np.complex128),
    "None": lambda x: None,
    "object array": lambda x: np.array(list(x), dtype=object),
    "ragged": lambda x: [list(x), [1.0, 2.0, 3.0, 4.0]],
    "too short": lambda x: x[:-1] if len(x) > 1 else np.zeros(0),
    "too long": lambda x: np.append(x, 0.0),
    "NaN": lambda x: np.where(np.arange(len(x)) == 0, np.nan, x),
    "inf": lambda x: np.where(np.arange(len(x)) == 0, -np.inf, x),
    "1e300": lambda x: np.where(np.arange(len(x)) == 0, 1e300, x),
    "-1e39": lambda x: np.where(np.arange(len(x)) == 0, -1e39, x),
    "huge python int": lambda x: [10**400] * len(x),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ("float64", "float32"))
@pytest.mark.parametrize("p", (3, 1))
@pytest.mark.parametrize("case", sorted(ONE_INPUT_CLASSES))
def test_predict_and_predict_one_agree(memorizers, name, dtype, p, case):
    m = memorizers[name, dtype, p]
    x = ONE_INPUT_CLASSES[case](m.dataset.X[5].copy())
    for executor in (None, *m.executors):
        one = _outcome(lambda e=executor: m.predict_one(x, executor=e))
        many = _outcome(lambda e=executor: m.predict(x, executor=e))
        counted = _outcome(lambda e=executor: m.count_ops(x, executor=e))
        if one[0] == "ok":
            assert many[0] == "ok" and counted[0] == "ok", (case, many, counted)
            assert one[1].shape == (m.dataset.r,) and many[1].shape == (1, m.dataset.r)
            np.testing.assert_array_equal(one[1], many[1][0])
            assert np.isfinite(one[1]).all()
        else:  # the same refusal, in the same words but for x/X
            assert many[0] is one[0] and counted[0] is one[0], (case, one, many, counted)
            assert many[1].replace("X ", "x ").split(";")[0].replace(" (row 0)", "") \
                .startswith(one[1].split(";")[0][:12]), (one, many)


def test_the_rule(memorizers):
    m = memorizers["zhang", "float32", 3]
    x = m.dataset.X[5]
    for bad, exc, words in [(["1", "2", "3"], TypeError, "strings"),
                            (np.ones(3, bool), TypeError, "bools"),
                            (x + 1j, TypeError, "complex"),
                            (None, TypeError, "objects"),
                            (np.where(np.arange(3) == 1, 1e300, x), ValueError,
                             "beyond the largest float32")]:
        for f in (m.predict_one, m.predict, m.count_ops):
            with pytest.raises(exc, match=words):
                f(bad)
    # predict_one takes one input: a batch is refused, even of one row
    for batch in (m.dataset.X[:2], m.dataset.X[:1]):
        with pytest.raises(ValueError, match=r"predict_one takes one input of shape \(3,\)"):
            m.predict_one(batch)
    # a number is one input when p = 1 (the axis-tree's kernel once raised a TypingError)
    for name in NAMES:
        m1 = memorizers[name, "float64", 1]
        assert m1.predict_one(0.25).shape == (1,)
        np.testing.assert_array_equal(m1.predict_one(0.25), m1.predict([[0.25]])[0])


def test_documented_signature(memorizers):
    for name in NAMES:
        m = memorizers[name, "float64", 3]
        for e in m.executors:
            np.testing.assert_array_equal(m.predict_one(m.dataset.X[3], executor=e),
                                          m.predict(m.dataset.X[3:4], executor=e)[0])
        with pytest.raises(ValueError, match="unknown executor"):
            m.predict_one(m.dataset.X[3], executor="nope")


def test_random_network_shares_the_rule():
    rn = kernels.random_network(3, 2, 8, seed=0)
    X = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(TypeError, match="complex"):
        rn.predict(X + 1j)
    with pytest.raises(ValueError, match="beyond the largest float32"):
        rn.predict(np.where(X > 1, 1e300, X), dtype="float32")
    for e in rn.executors:
        assert rn.predict(X, executor=e).shape == (4, 1)


def test_verify_refuses_what_is_not_a_memorizer(memorizers):
    for bad in (None, 3, "zhang", np.zeros(3)):
        with pytest.raises(TypeError, match="verify needs a Memorizer"):
            kernels.verify(bad)
    m = memorizers["zhang", "float64", 3]
    assert set(kernels.verify(m, "dense")["executors"]) == {"dense"}
    with pytest.raises(TypeError, match="executors must be"):
        kernels.verify(m, 5)


def test_build_refuses_a_seed_that_is_not_a_non_negative_integer():
    ds = kernels.generate("gaussian", 8, 2, 1, seed=0)
    for bad in (1.5, -1, "3", None, True):
        with pytest.raises(TypeError, match="seed must be a non-negative integer"):
            kernels.build("zhang", ds.X, ds.D, seed=bad)
    assert kernels.build("zhang", ds.X, ds.D, seed=np.int64(2)).dataset.n == 8


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"n_calibration": 0, "zero_fraction": 0.5}, ValueError, "n_calibration must be >= 1"),
    ({"X_cal": [[np.nan, 1.0, 0.0]], "zero_fraction": 0.5}, ValueError, "non-finite"),
    ({"X_cal": np.zeros((0, 3))}, ValueError, "no rows"),
    ({"X_cal": np.zeros((4, 2))}, ValueError, "shape"),
    ({"width": 2.5}, TypeError, "width must be an integer"),
    ({"width": True}, TypeError, "width must be an integer"),
    ({"depth": -1}, ValueError, "depth must be >= 0"),
    ({"r": "3"}, TypeError, "r must be an integer"),
    ({"sparsity": 1.0}, ValueError, "sparsity must lie in"),
    ({"sparsity": float("nan")}, ValueError, "sparsity must lie in"),
    ({"zero_fraction": "0.5"}, TypeError, "zero_fraction must be a number"),
    ({"skip_prob": -0.1}, ValueError, "skip_prob must lie in"),
    ({"activation": "tanh"}, ValueError, "tanh"),
])
def test_random_network_arguments(kwargs, exc, words):
    args = {"p": 3, "depth": 2, "width": 8, **kwargs}
    with pytest.raises(exc, match=words):
        kernels.random_network(**args)
