"""The portable verdict: every dense-network construction's stored weights evaluated in a second,
independent summation order (NumPy/BLAS matmul) and judged by the same rule."""

from __future__ import annotations

import json

import naive
import numpy as np
import pytest

import kernels
from kernels.executors import dense
from kernels.theory.verify import exactness
from kernels.verify import portable_record, verify


def _build(name, dtype="float64"):
    rng = np.random.default_rng(0)
    if name == "sign-cube":
        X = np.array([[1.0 if (i >> k) & 1 else -1.0 for k in range(4)] for i in range(16)])
        return kernels.build(name, X, rng.integers(0, 2, 16).astype(float), dtype=dtype)
    ds = kernels.generate("sphere", 64, 3, 1, seed=0, labels="classes")
    return kernels.build(name, ds.X, ds.D, dtype=dtype)


DENSE = [n for n in kernels.constructions.names()
         if "dense" in kernels.constructions.get(n).EXECUTORS]


def test_every_dense_network_construction_is_covered():
    assert {"zhang", "bubeck", "switch-net", "vardi", "rajput", "sign-cube"} <= set(DENSE)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", DENSE)
def test_portable_is_reported_and_is_the_rule_on_blas_outputs(name, dtype):
    try:
        m = _build(name, dtype)
    except ValueError as exc:  # refused up front (e.g. float32 where the construction cannot)
        assert "\n" not in str(exc)
        return
    if "dense" not in m.executors:  # Python-integer weights only (the ``exact`` executor)
        assert all("portable" not in e for e in verify(m)["executors"].values())
        return
    rec = verify(m)["executors"]["dense"]["portable"]
    assert set(rec) >= {"exact", "max_abs_error"} and isinstance(rec["exact"], bool)
    net = m.route("dense").obj
    Y = dense.predict_portable(net, m.dataset.X)
    assert rec["exact"] == exactness(Y, m.dataset.D, dtype)["exact"]
    assert rec["max_abs_error"] == exactness(Y, m.dataset.D, dtype)["max_abs_error"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_portable_matches_the_reference_on_random_networks(dtype):
    """Skip connections, mixed widths: the same network as the reference, within rounding."""
    rnd = kernels.random_network(5, 4, 12, r=2, sparsity=0.5, skip_prob=0.3, seed=3)
    net = rnd.network.astype(dtype)
    X = np.random.default_rng(1).standard_normal((300, 5)).astype(dtype)
    np.testing.assert_allclose(dense.predict_portable(net, X), naive.dense(net, X),
                               rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-4)


def test_portable_says_not_exact_for_a_wrong_network():
    m = _build("switch-net")
    net = m.route("dense").obj
    net.w_val[-1] *= 1.5  # an output weight off: wrong in every order
    rec = portable_record(m)
    assert rec["exact"] is False and rec["inexact_points"] > 0


def test_portable_chunks_agree_with_one_batch(monkeypatch):
    m = _build("bubeck")
    net = m.route("dense").obj
    whole = dense.predict_portable(net, m.dataset.X)
    monkeypatch.setattr(dense, "PORTABLE_BYTES", 1)  # one input per chunk
    # (BLAS may pick another kernel for one row: equal within rounding, every row present)
    np.testing.assert_allclose(dense.predict_portable(net, m.dataset.X), whole, rtol=1e-9,
                               atol=1e-9 * float(np.abs(whole).max()))


def test_cli_json_and_text_carry_portable(tmp_path, capsys):
    from kernels.cli import main

    assert main(["verify", "zhang", "--n", "64", "--p", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)["executors"]["dense"]
    assert set(d["portable"]) >= {"exact", "max_abs_error"}
    assert isinstance(d["scale_limited_points"], int)
    assert main(["verify", "zhang", "--n", "64", "--p", "3"]) == 0
    assert "portable (NumPy/BLAS order): EXACT" in capsys.readouterr().out
    # executors without a dense network carry no portable verdict
    assert main(["verify", "axis-tree", "--n", "64", "--p", "3", "--json"]) == 0
    assert "portable" not in json.loads(capsys.readouterr().out)["executors"]["tree"]
