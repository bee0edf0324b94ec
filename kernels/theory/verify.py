"""Exactness of recall — the design's one rule — and the ``verify`` record (the CLI's JSON).

Exact recall (per point i, per output k; NaN and ±inf are never exact), the allclose form::

    |f_k(x_i) − d_ik| ≤ tol·(|d_ik| + ‖D‖∞)      tol = 1e-9 (float64), 1e-4 (float32)

Every output is held to tol of the data's scale: a few hundred ulps of rounding on a 0/1 label is
exact, a wrong slab, a missed leaf or a NaN is not.  :func:`within` is that comparison (``@njit``,
scalars or arrays, so the float32 certificate of :mod:`kernels.executors.tree.axis_build` proves the
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


def recall_errors(m: Memorizer, Y: np.ndarray, rows=None) -> dict:
    """Exactness of outputs ``Y`` (of rows ``rows``, default all) against the memorized ``D``."""
    return exactness(Y, m.dataset.D, m.dtype, rows=rows)


def executor_record(m: Memorizer, executor: str, rows=None) -> dict:
    """Exactness and per-input costs of one executor over the dataset (or its rows ``rows``: a
    sample, whose verdict is then "exact on ``checked`` sampled of n")."""
    X = m.dataset.X if rows is None else m.dataset.X[rows]
    rec = (dict(m.recall(executor)) if rows is None
           else recall_errors(m, m.predict(X, executor=executor), rows))
    c = m.count_ops(X, executor=executor)
    rec["ops"] = {"mean": float(c["total"].mean()), "max": int(c["total"].max())}
    for key in ("mul", "add", "cmp"):
        rec.setdefault("ops_by_kind", {})[key] = {"mean": float(c[key].mean()),
                                                  "max": int(c[key].max())}
    for key in ("active_neurons", "active_weights"):
        if key in c:
            rec[key] = {"mean": float(c[key].mean()), "max": int(c[key].max())}
    return rec


PORTABLE_MAX_BYTES = 1 << 30  # dense per-layer matrices the portable evaluation may allocate


def portable_record(m: Memorizer, rows=None) -> dict:
    """``executors.dense.portable``: the dense network's stored weights evaluated in a second,
    independent summation order (NumPy/BLAS matmul, :func:`kernels.executors.dense.
    predict_portable`) and judged by the same rule — ``exact, max_abs_error`` (+ the rule's other
    fields), over the dataset or its rows ``rows``.  A verdict that holds only in the executor's own
    order is exact there, not here."""
    module, net = m._executor("dense")
    need = module.portable_bytes(net)
    if need > PORTABLE_MAX_BYTES:
        return {"exact": None, "max_abs_error": None,
                "skipped": f"its dense layer matrices need {need / 2**30:.1f} GiB "
                           f"(> {PORTABLE_MAX_BYTES / 2**30:.0f} GiB)"}
    X = m.dataset.X if rows is None else m.dataset.X[rows]
    rec = recall_errors(m, module.predict_portable(net, X), rows)
    keys = ("exact", "max_abs_error", "max_rel_error", "scale_limited_points", "inexact_points",
            "worst")
    return {k: rec[k] for k in keys}


def verdict(rec: dict, n: int | None = None) -> str:
    """One-line verdict of an exactness record: EXACT, "exact on k sampled of n", or NOT EXACT with
    the worst point."""
    if rec["exact"]:
        k = rec.get("checked", n)
        out = "EXACT" if n is None or k >= n else f"exact on {k} sampled of {n}"
        return out + scale_limited_note(rec.get("scale_limited_points", 0))
    w = rec["worst"]
    return (f"NOT EXACT ({rec['inexact_points']} points; worst i={w['index']} "
            f"d={w['d']:.6g} f={w['f']:.6g})")


def scale_limited_note(count) -> str:
    """", 3 small outputs scale-limited" beside EXACT (empty for none): outputs exact only through
    the rule's ‖D‖∞ term."""
    if not count:
        return ""
    return f", {count} small output{'s' if count != 1 else ''} scale-limited"


def verify(m: Memorizer, executors=None) -> dict:
    """The ``memcap verify --json`` record for memorizer ``m``."""
    executors = m.executors if not executors else tuple(executors)
    for e in executors:
        if e not in m.executors:
            raise ValueError(f"unknown executor {e!r} for {m.name}; choose from "
                             f"{', '.join(m.executors)}")
    s = m.summary(recall=False)
    out = {"construction": m.name, "n": s["n"], "p": s["p"], "r": s["r"], "dtype": s["dtype"],
           "duplicates_dropped": s["duplicates_dropped"], "size": s["size"],
           "executors": {e: executor_record(m, e) for e in executors},
           "bounds": {"ops_lower": theorem3_floor(s["n"], s["p"]),
                      # memcap's neurons carry biases: the input is x̄ = [1; x] of dimension
                      # q = p + 1, so Theorem 3's argument gives log2(n/q) for affine leaves
                      "ops_lower_affine": theorem3_floor(s["n"], s["p"] + 1), **s["bounds"]}}
    if "dense" in out["executors"] and m.network is not None:
        out["executors"]["dense"]["portable"] = portable_record(m)
    out["exact"] = all(rec["exact"] for rec in out["executors"].values())
    extra = {k: v for k, v in s.items() if k not in out and k not in ("executors", "bounds")}
    out["info"] = extra
    return out
