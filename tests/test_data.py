"""Every bad input through the Python API (``kernels.build``, ``kernels.validate``,
``kernels.load_npz``): a ``ValueError`` whose message is one line naming the problem."""

import re

import numpy as np
import pytest

import kernels
from kernels.constructions import bubeck, sign_cube, zhang
from kernels.model import data

GOOD_X = np.arange(12, dtype=float).reshape(4, 3) ** 1.5
GOOD_D = np.array([0.5, -1.0, 2.0, 3.0])


def refused(match, fn, *args, **kw):
    with pytest.raises(ValueError, match=match) as exc:
        fn(*args, **kw)
    assert "\n" not in str(exc.value)
    return str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "D"])
def test_non_finite(bad, where):
    X, D = GOOD_X.copy(), GOOD_D.copy()
    (X if where == "X" else D)[2] = bad
    msg = refused("non-finite", kernels.validate, X, D)
    assert msg.startswith(where) and "row 2" in msg
    refused("non-finite", kernels.build, "zhang", X, D)


def test_X_not_2d():
    refused("X must be 2-D", kernels.validate, np.arange(4.0), GOOD_D)
    refused("X must be 2-D", kernels.validate, np.zeros((4, 2, 2)), GOOD_D)
    refused("X must be 2-D", kernels.build, "bubeck", np.zeros((4, 2, 2)), GOOD_D)
    refused("D must be", kernels.validate, GOOD_X, np.zeros((4, 1, 1)))


def test_row_counts_differ():
    refused("X has 4 rows but D has 3", kernels.validate, GOOD_X, GOOD_D[:3])
    refused("rows but D has", kernels.build, "sign-cube", GOOD_X, GOOD_D[:3])


def test_empty():
    refused("empty", kernels.validate, np.zeros((0, 3)), np.zeros(0))
    refused("empty", kernels.build, "zhang", np.zeros((0, 3)), np.zeros((0, 1)))
    refused("no columns", kernels.validate, np.zeros((3, 0)), np.zeros(3))
    refused("no columns", kernels.validate, GOOD_X, np.zeros((4, 0)))


def test_conflicting_duplicates():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 6.0]])
    D = np.array([1.0, 2.0, 7.0, 3.0])
    msg = refused("cannot be memorized", kernels.validate, X, D)
    assert msg == "cannot be memorized: rows 0 and 2 are equal with different outputs"
    refused("cannot be memorized: rows 0 and 2", kernels.build, "zhang", X, D)
    # -0.0 and 0.0 are the same input
    refused("rows 0 and 1 are equal", kernels.validate, np.array([[0.0], [-0.0]]), [1.0, 2.0])


def test_duplicates_with_same_output_are_dropped_and_counted():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 7.0], [3.0, 4.0], [1.0, 2.0]])
    D = np.array([[1.0, -1.0], [2.0, 0.0], [1.0, -1.0], [3.0, 1.0], [2.0, 0.0], [1.0, -1.0]])
    ds = kernels.validate(X, D)
    assert (ds.n, ds.n_dropped) == (3, 3)
    np.testing.assert_array_equal(ds.X, X[[0, 1, 3]])
    np.testing.assert_array_equal(ds.D, D[[0, 1, 3]])
    for name in ("zhang", "bubeck"):
        m = kernels.build(name, X, D)
        assert m.summary()["duplicates_dropped"] == 3
        assert kernels.verify(m)["exact"]


def test_npz_missing_arrays(tmp_path):
    f = tmp_path / "noD.npz"
    np.savez(f, X=GOOD_X)
    refused("no array D", kernels.load_npz, f)
    g = tmp_path / "none.npz"
    np.savez(g, A=GOOD_X)
    refused("no array X or D", kernels.load_npz, g)
    X, D = kernels.load_npz(_write(tmp_path / "ok.npz", X=GOOD_X, D=GOOD_D))
    np.testing.assert_array_equal(X, GOOD_X)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_not_an_npz(tmp_path):
    f = tmp_path / "data.npz"
    f.write_text("X,D\n1,2\n")
    refused("not a readable .npz|cannot read", kernels.load_npz, f)
    refused("no such file", kernels.load_npz, tmp_path / "missing.npz")
    refused(re.escape(str(tmp_path)), kernels.load_npz, tmp_path)  # a directory


def test_object_and_string_arrays(tmp_path):
    refused("dtype", kernels.validate, np.array([["a", "b"], ["c", "d"]]), [1.0, 2.0])
    refused("dtype", kernels.validate, np.array([[1, None], [2, 3]], dtype=object), [1.0, 2.0])
    refused("dtype", kernels.validate, GOOD_X, np.array(["x"] * 4))
    refused("complex", kernels.validate, GOOD_X.astype(complex), GOOD_D)
    refused("not a numeric array|dtype", kernels.validate, [[1.0, 2.0], [3.0]], [1.0, 2.0])
    f = tmp_path / "obj.npz"
    np.savez(f, X=np.array([[1, None]], dtype=object), D=np.array([1.0]))
    refused("cannot read arrays|dtype", kernels.load_npz, f)
    g = _write(tmp_path / "str.npz", X=np.array([["a", "b"]]), D=np.array([1.0]))
    refused("has dtype <U1; a numeric", kernels.load_npz, g)  # from its header, unread


def test_unknown_names():
    refused("unknown construction 'nope'; choose from zhang, bubeck, sign-cube",
            kernels.build, "nope", GOOD_X, GOOD_D)
    refused("unknown dtype 'float16'", kernels.build, "zhang", GOOD_X, GOOD_D, dtype="float16")
    refused("unknown dtype", kernels.build, "bubeck", GOOD_X, GOOD_D, dtype="int64")
    m = kernels.build("zhang", GOOD_X, GOOD_D)
    refused("unknown executor 'tree' for zhang", m.predict, GOOD_X, executor="tree")
    refused("unknown executor 'nope'", kernels.verify, m, ["nope"])
    refused("unknown dataset kind", kernels.generate, "spiral", 10, 2)


def test_sign_cube_needs_the_cube():
    X = np.array([[1.0, -1.0], [1.0, 1.0], [-1.0, 0.5]])
    refused(r"sign-cube needs inputs in \{±1\}\^M; row 2", kernels.build, "sign-cube", X,
            [1.0, 0.0, 1.0])
    refused("Boolean", kernels.build, "sign-cube", np.array([[1.0], [-1.0]]), [0.5, 1.0])


def test_memory_estimate_checked_before_allocating(monkeypatch):
    # the estimates of a huge problem exceed any machine: refused with no allocation at all
    for mod in (zhang, bubeck, sign_cube):
        refused("needs about .* GiB but only", data.check_memory,
                mod.estimate_bytes(10**12, 10**3, 1), "huge")
    refused("needs about", kernels.generate, "gaussian", 10**12, 10**3)
    # and build checks it after validation, before constructing anything
    monkeypatch.setattr(data, "available_memory", lambda: 64)
    for name in ("zhang", "bubeck", "sign-cube"):
        X = np.array([[1.0, -1.0], [-1.0, 1.0]])
        msg = refused("needs about", kernels.build, name, X, [1.0, 0.0])
        assert msg.startswith(f"{name} with n=2, p=2, r=1 needs about")


def test_generators_validate():
    for kind in data.KINDS:
        ds = kernels.generate(kind, 16, 4, 2, seed=1)
        assert (ds.n, ds.p, ds.r) == (16, 4, 2) and np.isfinite(ds.X).all()
    refused("n, p and r must be >= 1", kernels.generate, "gaussian", 0, 3)
    refused("only 2\\^3 = 8 vertices", kernels.generate, "cube", 9, 3)
