"""Exactness of recall — the design's one rule (``kernels.verify`` builds the CLI's record on it).

Exact recall (per point i, per output k; NaN and ±inf are never exact)::

    |f_k(x_i) − d_ik| ≤ tol·|d_ik| + ε·‖D‖∞      tol = 1e-9 (float64), 1e-4 (float32)

with ε the storage dtype's machine epsilon.  :func:`within` is that comparison (``@njit``, scalars
or arrays, so the float32 certificate of :mod:`kernels.constructions.axis_build` proves the very
same inequality); :func:`rule` gives its two constants; :func:`exactness` applies it to outputs.
Everything that says EXACT or certified — ``verify``, the sweep cell, the report, the axis-tree
certificate — goes through them.

``max_rel_error`` is max_ik |f_k(x_i) − d_ik| / (|d_ik| + (ε/tol)·‖D‖∞), so recall is exact iff
every output is finite and ``max_rel_error ≤ tol``; ``worst`` names the point that attains it
(a non-finite output first): its row ``index``, ``output`` column, ``d`` and ``f``.  A construction
that is not exact says so here; nothing is rounded away.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
