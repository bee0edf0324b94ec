"""Exactness of recall, by the design's rule, and the ``verify`` record (the CLI's JSON).

Exact recall: max_i ‖f(x_i) − d_i‖_∞ ≤ tol · max(1, ‖D‖_∞), tol = 1e-9 (float64), 1e-4 (float32).
``max_rel_error`` is max_abs_error / max(1, ‖D‖_∞), so recall is exact iff max_rel_error ≤ tol.
A construction that is not exact says so here; nothing is rounded away.
"""

from __future__ import annotations

import numpy as np

from kernels.model.memorizer import Memorizer
from kernels.theory.bounds import theorem3_floor

TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


def tolerance(dtype) -> float:
    return TOLERANCE[np.dtype(dtype).name]


def recall_errors(m: Memorizer, Y: np.ndarray) -> dict:
    """Exactness of outputs ``Y`` against the memorized ``D``."""
    D = m.dataset.D
    err = np.abs(Y.astype(np.float64) - D).max(axis=1) if D.size else np.zeros(0)
    scale = max(1.0, float(np.abs(D).max()))
    max_abs = float(err.max(initial=0.0))
    tol = tolerance(m.dtype)
    bad = np.flatnonzero(err > tol * scale)
    return {"exact": bool(bad.size == 0), "max_abs_error": max_abs,
            "max_rel_error": max_abs / scale, "tolerance": tol, "inexact_points": int(bad.size)}


def executor_record(m: Memorizer, executor: str) -> dict:
    """Exactness and per-input costs of one executor over the whole dataset."""
    X = m.dataset.X
    rec = recall_errors(m, m.predict(X, executor=executor))
    c = m.count_ops(X, executor=executor)
    rec["ops"] = {"mean": float(c["total"].mean()), "max": int(c["total"].max())}
    for key in ("mul", "add", "cmp"):
        rec.setdefault("ops_by_kind", {})[key] = {"mean": float(c[key].mean()),
                                                  "max": int(c[key].max())}
    for key in ("active_neurons", "active_weights"):
        if key in c:
            rec[key] = {"mean": float(c[key].mean()), "max": int(c[key].max())}
    return rec


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

