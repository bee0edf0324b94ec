"""``kernels.verify``: the ``memcap verify`` record — every executor of a Memorizer held to the one
exactness rule (:mod:`kernels.theory.verify`), with its per-input costs and the theorems' bounds.

Per executor: the rule's record (``exact, max_abs_error, max_rel_error`` over d ≠ 0,
``scale_limited_points``, ``worst`` …), and for a dense network also ``portable``: the same weights
in a second summation order (NumPy/BLAS).  A construction that is not exact says so here; nothing is
rounded away.
"""

from __future__ import annotations

import numpy as np

from kernels.executors import dense
from kernels.memorizer import Memorizer
from kernels.model.data import check_memory
from kernels.theory.bounds import theorem3_floor
from kernels.theory.verify import exactness, scale_limited_note


def recall_errors(m: Memorizer, Y: np.ndarray, rows=None) -> dict:
    """Exactness of outputs ``Y`` (of rows ``rows``, default all) against the memorized ``D``."""
    return exactness(Y, m.dataset.D, m.dtype, rows=rows)


def executor_record(m: Memorizer, executor: str, rows=None, *, portable: bool = False) -> dict:
    """Exactness and per-input costs of one executor over the dataset (or its rows ``rows``: a
    sample, whose verdict is then "exact on ``checked`` sampled of n").  ``portable``: the dense
    executor's record of a network also holds ``portable`` (:func:`portable_record`, same rows)."""
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
    if portable and executor == "dense" and m.network is not None:
        rec["portable"] = portable_record(m, rows)
    return rec


PORTABLE_MAX_BYTES = 1 << 30  # dense per-layer matrices the portable evaluation may allocate


def portable_record(m: Memorizer, rows=None) -> dict:
    """``executors.dense.portable``: the dense network's stored weights evaluated in a second,
    independent summation order (NumPy/BLAS matmul, :func:`kernels.executors.dense.
    predict_portable`) and judged by the same rule — ``exact, max_abs_error`` (+ the rule's other
    fields), over the dataset or its rows ``rows``.  A verdict that holds only in the executor's own
    order is exact there, not here."""
    net = m.route("dense").obj
    need = dense.portable_bytes(net)
    if need > PORTABLE_MAX_BYTES:
        return {"exact": None, "max_abs_error": None,
                "skipped": f"its dense layer matrices need {need / 2**30:.1f} GiB "
                           f"(> {PORTABLE_MAX_BYTES / 2**30:.0f} GiB)"}
    X = m.dataset.X if rows is None else m.dataset.X[rows]
    rec = recall_errors(m, dense.predict_portable(net, X), rows)
    keys = ("exact", "max_abs_error", "max_rel_error", "scale_limited_points", "inexact_points",
            "worst")
    return {k: rec[k] for k in keys}


def verify_bytes(m: Memorizer, executors) -> int:
    """Peak bytes :func:`verify` allocates for ``executors`` on ``m``'s dataset, from the built
    network's sizes: n points, N neurons, u = n·(p + N) unit values (bytes below).

    Kept: per executor its outputs, counts and the rule's arrays, 64·n·(r + 8).  Passing, one at
    a time: the dense executor's tiles of unit values (16·u, ≤ 32 MiB) and the portable check —
    its dense layer matrices pb (:func:`kernels.executors.dense.portable_bytes`; 2·pb while
    transposed), then pb beside a chunk of unit values with the gathered sources and fields (32·u,
    ≤ 4·``PORTABLE_BYTES``).  Held to the traced peak in tests/test_memory_budget.py."""
    d = m.dataset
    N = int(m.size().get("neurons") or 0)
    units = d.n * (d.p + N)
    kept = 64 * d.n * (d.r + 8) * len(executors)
    passing = 0
    if "dense" in executors and m.network is not None:
        pb = min(dense.portable_bytes(m.network), PORTABLE_MAX_BYTES)
        passing = max(min(16 * units, 32 << 20),
                      2 * pb, pb + min(32 * units, 4 * dense.PORTABLE_BYTES))
    return int(kept + passing)


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


def verify(m: Memorizer, executors=None) -> dict:
    """The ``memcap verify --json`` record for memorizer ``m`` (what ``kernels.build`` returns);
    ``executors``: a name or a sequence of names (default: all of ``m``'s)."""
    if not isinstance(m, Memorizer):
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
    check_memory(verify_bytes(m, executors), f"verify {m.name} with n={m.dataset.n} "
                 f"({', '.join(executors)})")
    s = m.summary(recall=False)
    out = {"construction": m.name, "n": s["n"], "p": s["p"], "r": s["r"], "dtype": s["dtype"],
           "duplicates_dropped": s["duplicates_dropped"], "size": s["size"],
           "executors": {e: executor_record(m, e, portable=True) for e in executors},
           "bounds": {"ops_lower": theorem3_floor(s["n"], s["p"]),
                      # memcap's neurons carry biases: the input is x̄ = [1; x] of dimension
                      # q = p + 1, so Theorem 3's argument gives log2(n/q) for affine leaves
                      "ops_lower_affine": theorem3_floor(s["n"], s["p"] + 1), **s["bounds"]}}
    out["exact"] = all(rec["exact"] for rec in out["executors"].values())
    extra = {k: v for k, v in s.items() if k not in out and k not in ("executors", "bounds")}
    out["info"] = extra
    return out
