"""Exactness of recall — the design's one rule — and the ``verify`` record (the CLI's JSON).

Exact recall (per point i, per output k; NaN and ±inf are never exact)::

    |f_k(x_i) − d_ik| ≤ tol·|d_ik| + ε·‖D‖∞      tol = 1e-9 (float64), 1e-4 (float32)

with ε the storage dtype's machine epsilon.  :func:`within` is that comparison (``@njit``, scalars
or arrays, so the float32 certificate of :mod:`kernels.executors.tree.axis_build` proves the very
same inequality); :func:`rule` gives its two constants; :func:`exactness` applies it to outputs.
Everything that says EXACT or certified — ``verify``, the sweep cell, the report, the axis-tree
certificate — goes through them.

``max_rel_error`` is max_ik |f_k(x_i) − d_ik| / (|d_ik| + (ε/tol)·‖D‖∞), so recall is exact iff
every output is finite and ``max_rel_error ≤ tol``; ``worst`` names the point that attains it
(a non-finite output first): its row ``index``, ``output`` column, ``d`` and ``f``.  A construction
that is not exact says so here; nothing is rounded away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from kernels.theory.bounds import theorem3_floor

if TYPE_CHECKING:
    from kernels.model.memorizer import Memorizer

TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


def tolerance(dtype) -> float:
    """The rule's relative tolerance for ``dtype``."""
    return TOLERANCE[np.dtype(dtype).name]


def rule(dtype, D) -> tuple[float, float]:
    """(tol, slack): the rule's relative tolerance and absolute slack ε_dtype·‖D‖∞ for targets D."""
    D = np.asarray(D, dtype=np.float64)
    norm = float(np.abs(D).max(initial=0.0))
    return tolerance(dtype), float(np.finfo(np.dtype(dtype)).eps) * norm


def check_range(D, dtype, name: str) -> None:
    """Refuse up front (ValueError) targets that no ``dtype`` network can return: an output beyond
    the dtype's largest finite value rounds to ±inf, which the rule never calls exact."""
    big = float(np.abs(np.asarray(D, dtype=np.float64)).max(initial=0.0))
    dt = np.dtype(dtype)
    top = float(np.finfo(dt).max)
    if big > top:
        raise ValueError(f"{name}: an output ({big:.3g}) exceeds the largest {dt.name} "
                         f"({top:.3g}); no {dt.name} network can recall it")


@njit(cache=True)
def within(err, d, tol, slack):
    """The rule for one output (or elementwise): ``err ≤ tol·|d| + slack``; False for NaN."""
    return err <= tol * np.abs(d) + slack


def exactness(Y, D, dtype, *, rows=None) -> dict:
    """Apply the rule to outputs ``Y`` (m, r) against targets ``D`` (n, r) of a ``dtype`` network.

    ``rows`` (m,) are the rows of D that Y recalls (default: all, m = n); ‖D‖∞ is always the whole
    D's.  Returns ``exact, max_abs_error, max_rel_error, tolerance, slack, inexact_points,
    nonfinite_outputs, checked, worst`` (worst: index, output, d, f, abs_error, rel_error)."""
    D = np.asarray(D, dtype=np.float64)
    D = D.reshape(len(D), -1)
    tol, slack = rule(dtype, D)
    idx = np.arange(len(D)) if rows is None else np.asarray(rows, dtype=np.int64)
    T = D[idx]
    Y = np.asarray(Y, dtype=np.float64).reshape(T.shape)
    finite = np.isfinite(Y)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite, np.abs(Y - T), np.inf)
        ok = finite & within(err, T, tol, slack)
        scale = np.abs(T) + slack / tol
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0),
                       np.where(err == 0, 0.0, np.inf))
    bad_rows = ~ok.all(axis=1) if ok.size else np.zeros(len(T), bool)
    rec = {"exact": bool(ok.all()), "max_abs_error": float(err.max(initial=0.0)),
           "max_rel_error": float(rel.max(initial=0.0)), "tolerance": tol, "slack": slack,
           "inexact_points": int(bad_rows.sum()),
           "nonfinite_outputs": int((~finite).sum()), "checked": int(len(T)), "worst": None}
    if rel.size:
        i, k = np.unravel_index(int(np.argmax(np.where(finite, rel, np.inf))), rel.shape)
        rec["worst"] = {"index": int(idx[i]), "output": int(k), "d": float(T[i, k]),
                        "f": float(Y[i, k]), "abs_error": float(err[i, k]),
                        "rel_error": float(rel[i, k])}
    return rec


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
    """The ``memcap verify --json`` record for memorizer ``m`` (what ``kernels.build`` returns);
    ``executors``: a name or a sequence of names (default: all of ``m``'s)."""
    if not (hasattr(m, "executors") and hasattr(m, "dataset") and callable(getattr(m, "predict",
                                                                                   None))):
        raise TypeError(f"verify needs a Memorizer (what kernels.build returns); got "
                        f"{type(m).__name__}")
    if isinstance(executors, str):
        executors = (executors,)
    elif executors is not None and not isinstance(executors, (list, tuple)):
        raise TypeError(f"executors must be a name or a list of names; got "
                        f"{type(executors).__name__}")
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
