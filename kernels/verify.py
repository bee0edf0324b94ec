"""``kernels.verify``: the ``memcap verify`` record — every executor of a Memorizer held to the one
exactness rule (:mod:`kernels.theory.verify`), with its per-input costs and the theorems' bounds.

``max_rel_error`` is max_ik |f_k(x_i) − d_ik| / (|d_ik| + (ε/tol)·‖D‖∞), so recall is exact iff
every output is finite and ``max_rel_error ≤ tol``; ``worst`` names the point that attains it
(a non-finite output first).  A construction that is not exact says so here; nothing is rounded
away.
"""

from __future__ import annotations

import numpy as np

from kernels.memorizer import Memorizer
from kernels.theory.bounds import theorem3_floor
from kernels.theory.verify import exactness


def recall_errors(m: Memorizer, Y: np.ndarray, rows=None) -> dict:
    """Exactness of outputs ``Y`` (of rows ``rows``, default all) against the memorized ``D``."""
    return exactness(Y, m.dataset.D, m.dtype, rows=rows)


def executor_record(m: Memorizer, executor: str, rows=None) -> dict:
    """Exactness and per-input costs of one executor over the dataset (or its rows ``rows``: a
    sample, whose verdict is then "exact on ``checked`` sampled of n")."""
    X = m.dataset.X if rows is None else m.dataset.X[rows]
    rec = recall_errors(m, m.predict(X, executor=executor), rows)
    c = m.count_ops(X, executor=executor)
    rec["ops"] = {"mean": float(c["total"].mean()), "max": int(c["total"].max())}
    for key in ("mul", "add", "cmp"):
        rec.setdefault("ops_by_kind", {})[key] = {"mean": float(c[key].mean()),
                                                  "max": int(c[key].max())}
    for key in ("active_neurons", "active_weights"):
        if key in c:
            rec[key] = {"mean": float(c[key].mean()), "max": int(c[key].max())}
    return rec


def verdict(rec: dict, n: int | None = None) -> str:
    """One-line verdict of an exactness record: EXACT, "exact on k sampled of n", or NOT EXACT with
    the worst point."""
    if rec["exact"]:
        k = rec.get("checked", n)
        return "EXACT" if n is None or k >= n else f"exact on {k} sampled of {n}"
    w = rec["worst"]
    return (f"NOT EXACT ({rec['inexact_points']} points; worst i={w['index']} "
            f"d={w['d']:.6g} f={w['f']:.6g})")


def verify(m: Memorizer, executors=None) -> dict:
    """The ``memcap verify --json`` record for memorizer ``m``."""
    executors = m.executors if not executors else tuple(executors)
    for e in executors:
        if e not in m.executors:
            raise ValueError(f"unknown executor {e!r} for {m.name}; choose from "
                             f"{', '.join(m.executors)}")
    s = m.summary()
    out = {"construction": m.name, "n": s["n"], "p": s["p"], "r": s["r"], "dtype": s["dtype"],
           "duplicates_dropped": s["duplicates_dropped"], "size": s["size"],
           "executors": {e: executor_record(m, e) for e in executors},
           "bounds": {"ops_lower": theorem3_floor(s["n"], s["p"]),
                      # memcap's neurons carry biases: the input is x̄ = [1; x] of dimension
                      # q = p + 1, so Theorem 3's argument gives log2(n/q) for affine leaves
                      "ops_lower_affine": theorem3_floor(s["n"], s["p"] + 1), **s["bounds"]}}
    out["exact"] = all(rec["exact"] for rec in out["executors"].values())
    extra = {k: v for k, v in s.items() if k not in out and k not in ("executors", "bounds")}
    out["info"] = extra
    return out
