"""The exactness rule (design.md, *Exact recall*): per point and output, NaN and inf never exact —
on the rule itself, on every construction and dtype with adversarial data (outputs over 10^-6 …
10^6, outputs near 1e308, inputs near 1e-310), on the CLI's verdict and on a sampled sweep cell."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kernels
from kernels.theory.verify import exactness, within
from kernels.verify import verdict, verify

EPS = {"float64": 2.0**-52, "float32": 2.0**-23}
TOL = {"float64": 1e-9, "float32": 1e-4}


def rule_by_hand(Y, D, dtype):
    """The design's rule written out independently: (m, r) bool, True where the output is exact."""
    Y = np.asarray(Y, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64).reshape(Y.shape)
    norm = np.abs(D).max() if D.size else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        return np.isfinite(Y) & (np.abs(Y - D) <= TOL[dtype] * (np.abs(D) + norm))


# ---- the rule ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_never_exact(bad):
    D = np.array([[1.0, 2.0], [3.0, np.finfo(np.float64).max]])
    Y = D.copy()
    Y[1, 1] = bad
    rec = exactness(Y, D, "float64")
    assert not rec["exact"] and rec["inexact_points"] == 1 and rec["nonfinite_outputs"] == 1
    assert rec["worst"]["index"] == 1 and rec["worst"]["output"] == 1
    assert rec["max_rel_error"] == np.inf
    assert not within(np.nan, 1.0, 1e-9, 1.0)  # the comparison itself rejects NaN
    assert "NOT EXACT" in verdict(rec)
    # a non-finite output where d = 0 is not exact either
    rec = exactness([[bad], [1.0]], [[0.0], [1.0]], "float32")
    assert not rec["exact"] and rec["worst"]["index"] == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_four_ulp_noise_at_zero_is_exact(dtype):
    """Rounding noise on one-hot labels (zhang on wine: |f − d| = 8.9e-16 where d = 0)."""
    D = np.eye(3)[[0, 1, 2, 0]]
    Y = D + 4 * np.finfo(np.dtype(dtype)).eps * np.array([[0, 1, -1]] * 4)
    rec = exactness(Y, D, dtype)
    assert rec["exact"] and rec["scale_limited_points"] == 0
    assert rec["max_rel_error"] <= 4 * np.finfo(np.dtype(dtype)).eps  # on the ones; zeros: none
    assert verdict(rec) == "EXACT"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_output_is_not_exact(dtype):
    D = np.array([[0.0], [1.0], [2.0]])
    rec = exactness([[0.0], [1.0], [1.0]], D, dtype)  # a wrong slab: 1 for 2
    assert not rec["exact"] and rec["inexact_points"] == 1 and rec["worst"]["index"] == 2
    assert rec["max_rel_error"] == 0.5
    rec = exactness([[1.0], [1.0], [2.0]], D, dtype)  # 1 where d = 0: |f − d| = ‖D‖∞/2
    assert not rec["exact"] and rec["worst"]["index"] == 0 and rec["worst"]["rel_error"] is None


@pytest.mark.parametrize("dtype,small,recalled", [("float64", 1e-9, 1e-4), ("float32", 1e-6, 0.06)])
def test_small_output_beside_a_large_one_is_exact_and_counted(dtype, small, recalled):
    D = np.array([[1e6], [small], [3.0]])
    rec = exactness([[1e6], [recalled], [3.0]], D, dtype)
    assert rec["exact"] and rec["scale_limited_points"] == 1
    assert rec["max_rel_error"] == pytest.approx((recalled - small) / small)
    assert rec["worst"]["index"] == 1
    assert verdict(rec) == "EXACT, 1 small output scale-limited"
    # the ‖D‖∞ term is tol·‖D‖∞: beyond it the same output is NOT EXACT
    beyond = small + 2 * TOL[dtype] * 1e6
    rec = exactness([[1e6], [beyond], [3.0]], D, dtype)
    assert not rec["exact"] and rec["worst"]["index"] == 1 and rec["scale_limited_points"] == 0


def test_scale_limited_count_reaches_the_cli_and_summary():
    """The count is per point (a point with two such outputs counts once) and reaches ``verify``'s
    record and ``summary()`` for every executor."""
    rec = exactness([[1e6, 1e-4, 1e-4], [1e-4, 0.0, 0.0]], [[1e6, 1e-9, 1e-9], [1e-9, 0.0, 0.0]],
                    "float64")
    assert rec["exact"] and rec["scale_limited_points"] == 2
    rng = np.random.default_rng(0)
    X, D = rng.standard_normal((16, 2)), rng.integers(0, 2, 16).astype(float)
    m = kernels.build("zhang", X, D)
    s = m.summary()
    v = verify(m)
    for e in m.executors:
        assert s["recall"][e]["scale_limited_points"] == 0 and s["recall"][e]["exact"]
        assert isinstance(v["executors"][e]["scale_limited_points"], int)
    assert "recall" not in v["info"]


def test_zero_targets_need_zero_outputs():
    D = np.zeros((3, 1))  # ‖D‖∞ = 0: nothing but 0 is within tol·(0 + 0)
    assert exactness(np.zeros((3, 1)), D, "float64")["exact"]
    rec = exactness([[0.0], [1e-300], [0.0]], D, "float64")
    assert not rec["exact"] and rec["worst"]["index"] == 1


def test_rows_keep_the_whole_datasets_norm():
    D = np.array([1e6, 1.0, 2.0])
    # only rows 1, 2 are checked; the scale ‖D‖∞ is the whole D's (1e6), not the sample's (2)
    rec = exactness([[1.0 + 1e-3], [2.0]], D, "float64", rows=[1, 2])  # ≤ 1e-9·(1 + 1e6)
    assert rec["exact"] and rec["checked"] == 2 and rec["scale_limited_points"] == 1
    rec = exactness([[1.0 + 2e-3], [2.0]], D, "float64", rows=[1, 2])
    assert not rec["exact"] and rec["worst"]["index"] == 1
    assert verdict({"exact": True, "checked": 2}, 3) == "exact on 2 sampled of 3"


finite = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
anyf = st.one_of(finite, st.just(np.nan), st.just(np.inf), st.just(-np.inf),
                 st.floats(-1e-300, 1e-300))


@settings(max_examples=200, deadline=None)
@given(D=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5),
                    elements=finite),
       noise=st.data(), dtype=st.sampled_from(["float64", "float32"]))
def test_rule_matches_the_written_rule(D, noise, dtype):
    scale = noise.draw(st.sampled_from([0.0, 1e-12, 1e-9, 1e-5, 1e-3, 1.0]))
    E = noise.draw(hnp.arrays(np.float64, D.shape, elements=anyf))
    with np.errstate(invalid="ignore", over="ignore"):
        Y = np.where(np.isfinite(E), D + scale * E * np.abs(D), E)
    ok = rule_by_hand(Y, D, dtype)
    rec = exactness(Y, D, dtype)
    assert rec["exact"] == bool(ok.all())
    assert rec["inexact_points"] == int((~ok.all(axis=1)).sum())
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        own = np.where(D != 0, np.abs(Y - D) / np.abs(D), 0.0)  # d ≠ 0 only; NaN: not ≤ tol
    limited = (ok & (D != 0) & ~(own <= TOL[dtype])).any(axis=1)
    assert rec["scale_limited_points"] == int(limited.sum())
    if rec["nonfinite_outputs"]:
        assert rec["max_rel_error"] == np.inf
    if not rec["exact"]:
        w = rec["worst"]
        assert not ok[w["index"], w["output"]]


# ---- every construction, every dtype, adversarial data -------------------------------------------
def _data(kind):
    rng = np.random.default_rng(0)
    n, p = 24, 2
    X = rng.standard_normal((n, p))
    if kind == "wide":  # outputs over 10^-6 … 10^6
        return X, 10.0 ** rng.uniform(-6, 6, n)
    if kind == "overflow":  # outputs near 1e308
        return X, 1e308 * rng.uniform(0.5, 1.7, n)
    if kind == "subnormal":  # inputs near 1e-310 (subnormal), small class labels
        return rng.uniform(1, 5, (n, p)) * 1e-310, rng.integers(0, 3, n).astype(float)
    if kind == "cube":  # {±1}^4 with Boolean labels: where sign-cube applies
        cube = np.array([[1.0 if (i >> k) & 1 else -1.0 for k in range(4)] for i in range(16)])
        return cube, rng.integers(0, 2, 16).astype(float)
    raise AssertionError(kind)


CASES = [(name, {}) for name in kernels.constructions.names()] + [("vardi", {"bits": 40})]
KINDS = ("wide", "overflow", "subnormal", "cube")
DTYPES = ("float64", "float32")


@functools.cache
def _verdicts(name, opts_items, kind, dtype):
    """(the verify record's and the hand rule's verdict per executor, non-finite outputs), or None
    where the build refuses the data up front (a one-line ValueError)."""
    X, D = _data(kind)
    try:
        m = kernels.build(name, X, D, dtype=dtype, **dict(opts_items))
    except ValueError as exc:  # refused up front: one line naming the problem
        assert str(exc) and "\n" not in str(exc)
        return None
    rec = verify(m)
    out = []
    for e, er in rec["executors"].items():
        Y = m.predict(m.dataset.X, executor=e)
        ok = rule_by_hand(Y, m.dataset.D, dtype)
        out.append((e, er["exact"], bool(ok.all()), er["inexact_points"],
                    int((~ok.all(axis=1)).sum()), er["nonfinite_outputs"], er["worst"]))
    return rec["exact"], bool(m.info.get("certified")), tuple(out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,opts", CASES, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={x}" for k, x in v.items()) or "default")
def test_no_construction_says_exact_when_the_rule_fails(name, opts, kind, dtype):
    got = _verdicts(name, tuple(sorted(opts.items())), kind, dtype)
    if got is None:
        return
    exact, certified, per_executor = got
    for e, said, by_hand, inexact, inexact_by_hand, _, worst in per_executor:
        assert said == by_hand, (e, worst)
        assert inexact == inexact_by_hand
    if certified:  # axis-tree: certified implies the rule holds
        assert exact
    assert exact == all(said for _, said, *_ in per_executor)


def test_adversarial_grid_exercised_both_verdicts_and_non_finite_outputs():
    """The grid above is not vacuous: some builds are NOT EXACT, some with inf/NaN outputs
    (computed here, so this holds run alone or in any order)."""
    got = [_verdicts(name, tuple(sorted(opts.items())), kind, dtype)
           for name, opts in CASES for kind in KINDS for dtype in DTYPES]
    rows = [r for g in got if g is not None for r in g[2]]
    assert {said for _, said, *_ in rows} == {True, False}
    assert sum(nonfinite for *_, nonfinite, _ in rows) > 0


# ---- the CLI's verdict ---------------------------------------------------------------------------
def _verify_cli(tmp_path, capsys, name, kind, *extra):
    from kernels.cli import main

    X, D = _data(kind)
    f = tmp_path / f"{kind}.npz"
    np.savez(f, X=X, D=D)
    rc = main(["verify", name, "--data", str(f), *extra])
    return rc, capsys.readouterr()


def test_cli_says_not_exact_with_the_worst_point(tmp_path, capsys):
    rc, out = _verify_cli(tmp_path, capsys, "zhang", "overflow")
    assert rc == 1  # NOT EXACT: exit 1 after the record
    line = next(t for t in out.out.splitlines() if t.strip().startswith("dense"))
    assert "NOT EXACT" in line and "worst i=" in line
    rc, out = _verify_cli(tmp_path, capsys, "zhang", "overflow", "--json")
    rec = json.loads(out.out)
    assert rc == 1
    d = rec["executors"]["dense"]
    assert not rec["exact"] and not d["exact"] and d["max_rel_error"] > d["tolerance"]
    assert {"index", "d", "f"} <= set(d["worst"])


def test_cli_float32_axis_tree_on_subnormal_inputs_is_neither_exact_nor_certified(tmp_path,
                                                                                 capsys):
    rc, out = _verify_cli(tmp_path, capsys, "axis-tree", "subnormal", "--dtype", "float32",
                          "--json")
    rec = json.loads(out.out)
    assert rc == 1 and not rec["exact"] and not rec["info"]["certified"]


# ---- a sampled sweep cell ------------------------------------------------------------------------
def test_sampled_cell_says_exact_on_k_sampled_of_n():
    from kernels.harness import cell
    from kernels.report import html

    ds = kernels.model.data.generate("gaussian", 600, 3, 1, seed=0)
    m = kernels.build("axis-tree", ds.X, ds.D)
    opts = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 1e-9}
    row = cell.evaluate(m, {"seed": 0}, "tree", opts, None)
    assert row["exact"] and row["exact_checked"] == 256 < 600
    row.update(n=600, n_effective=600, p=3, r=1, construction="axis-tree", dtype="float64",
               status="ok", executor="tree")
    v = html._verdict(row)
    assert "exact on 256 sampled of 600" in v
    assert "256 sampled" in html.exactness_table([row])
    full = dict(row, exact_checked=600, evaluated_inputs=600)
    assert "sampled" not in html._verdict(full)


def test_sweep_row_and_report_carry_the_scale_limited_count_and_portable():
    """A float32 zhang cell on outputs over 1e-6 … 1e6: the row counts the scale-limited points
    (the rule's ‖D‖∞ term), the report prints the count beside exact, and a dense row carries the
    portable verdict that the report's "portable" column shows."""
    from kernels.harness import cell
    from kernels.report import html

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    D = 10.0 ** rng.uniform(-6, 6, 200)
    m = kernels.build("zhang", X, D, dtype="float32")
    opts = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 10.0}
    row = cell.evaluate(m, {"seed": 0}, "dense", opts, None)
    rec = verify(m)["executors"]["dense"]
    assert row["scale_limited_points"] == rec["scale_limited_points"] > 0
    assert row["exact"] == rec["exact"]
    assert row["portable_exact"] == rec["portable"]["exact"]
    row.update(n=200, n_effective=200, p=3, r=1, construction="zhang", dtype="float32",
               status="ok", executor="dense")
    assert row["exact"] and rec["portable"]["exact"] is False  # exact in its own order only
    assert f"{row['scale_limited_points']} small outputs scale-limited" in html._verdict(row)
    assert "NOT exact" in html._portable(row)
    assert html._portable(dict(row, portable_exact=None)) == ""
