"""Exactness of recall — the design's one rule (``kernels.verify`` builds the CLI's record on it).

Exact recall (per point i, per output k; NaN and ±inf are never exact), the allclose form::

    |f_k(x_i) − d_ik| ≤ tol·(|d_ik| + ‖D‖∞)      tol = 1e-9 (float64), 1e-4 (float32)

Every output is held to tol of the data's scale: a few hundred ulps of rounding on a 0/1 label is
exact, a wrong slab, a missed leaf or a NaN is not.  :func:`within` is that comparison (``@njit``,
scalars or arrays, so the float32 certificate of :mod:`kernels.constructions.axis_build` proves the
very same inequality); :func:`rule` gives its two constants (tol, ‖D‖∞); :func:`exactness` applies
it to outputs.  Everything that says EXACT or certified — ``verify``, ``summary()``, the sweep cell,
the report, the axis-tree certificate — goes through them.

``max_rel_error`` is max over d_ik ≠ 0 of |f_k(x_i) − d_ik| / |d_ik| (inf where an output is not
finite).  ``scale_limited_points`` counts the points i with an output d_ik ≠ 0 that meets the rule
only through the ‖D‖∞ term (its own relative error exceeds tol): a 1e-6 output recalled as 0.06
beside a 1e6 output is exact *and* counted, never hidden.  ``worst`` names the point farthest
outside (or nearest the edge of) the rule, a non-finite output first: its row ``index``,
``output`` column, ``d`` and ``f``.  A construction that is not exact says so here; nothing is
rounded away.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


def tolerance(dtype) -> float:
    """The rule's relative tolerance for ``dtype``."""
    return TOLERANCE[np.dtype(dtype).name]


def rule(dtype, D) -> tuple[float, float]:
    """(tol, scale): the rule's tolerance for ``dtype`` and the data's scale ‖D‖∞ for targets D."""
    D = np.asarray(D, dtype=np.float64)
    return tolerance(dtype), float(np.abs(D).max(initial=0.0))


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
def within(err, d, tol, scale):
    """The rule for one output (or elementwise): ``err ≤ tol·(|d| + scale)``; False for NaN."""
    return err <= tol * (np.abs(d) + scale)


def exactness(Y, D, dtype, *, rows=None) -> dict:
    """Apply the rule to outputs ``Y`` (m, r) against targets ``D`` (n, r) of a ``dtype`` network.

    ``rows`` (m,) are the rows of D that Y recalls (default: all, m = n); ‖D‖∞ is always the whole
    D's.  Returns ``exact, max_abs_error, max_rel_error, scale_limited_points, tolerance, scale,
    inexact_points, nonfinite_outputs, checked, worst`` (worst: index, output, d, f, abs_error,
    rel_error)."""
    D = np.asarray(D, dtype=np.float64)
    D = D.reshape(len(D), -1)
    tol, scale = rule(dtype, D)
    idx = np.arange(len(D)) if rows is None else np.asarray(rows, dtype=np.int64)
    T = D[idx]
    Y = np.asarray(Y, dtype=np.float64).reshape(T.shape)
    finite = np.isfinite(Y)
    nonzero = T != 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.where(finite, np.abs(Y - T), np.inf)
        ok = finite & within(err, T, tol, scale)
        rel = np.where(nonzero, err / np.where(nonzero, np.abs(T), 1.0), 0.0)
        # distance to the rule's edge (≤ 1 inside): picks the worst point
        edge = np.abs(T) + scale
        gauge = np.where(edge > 0, err / np.where(edge > 0, edge, 1.0) / tol,
                         np.where(err == 0, 0.0, np.inf))
    rel_max = float(rel.max(initial=0.0))
    if not finite.all():
        rel_max = np.inf
    bad_rows = ~ok.all(axis=1) if ok.size else np.zeros(len(T), bool)
    limited = (ok & nonzero & ~(rel <= tol)).any(axis=1) if ok.size else bad_rows
    rec = {"exact": bool(ok.all()), "max_abs_error": float(err.max(initial=0.0)),
           "max_rel_error": rel_max, "scale_limited_points": int(limited.sum()),
           "tolerance": tol, "scale": scale, "inexact_points": int(bad_rows.sum()),
           "nonfinite_outputs": int((~finite).sum()), "checked": int(len(T)), "worst": None}
    if gauge.size:
        i, k = np.unravel_index(int(np.argmax(np.where(finite, gauge, np.inf))), gauge.shape)
        rec["worst"] = {"index": int(idx[i]), "output": int(k), "d": float(T[i, k]),
                        "f": float(Y[i, k]), "abs_error": float(err[i, k]),
                        "rel_error": float(rel[i, k]) if nonzero[i, k] else None}
    return rec


def scale_limited_note(count) -> str:
    """", 3 small outputs scale-limited" beside EXACT (empty for none): outputs exact only through
    the rule's ‖D‖∞ term."""
    if not count:
        return ""
    return f", {count} small output{'s' if count != 1 else ''} scale-limited"
