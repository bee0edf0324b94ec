"""The ``tree`` executor: runs any §2.3 ConditionalNetwork (seed 000) by the fastest route.

The router (this module) tries, in order:

1. :mod:`.axis` — batched, prefetching, parallel routing for **axis-shaped** trees (tests
   ``x_k < β`` on inputs, affine leaves: the ``axis-tree`` construction);
2. :mod:`.hyperplane` — the per-query routing kernel for **hyperplane-shaped** trees (one affine
   test per internal vertex, affine/constant leaves; :func:`.hyperplane.form` recognises the shape),
   with :mod:`.hyperplane_batch` for batches;
3. :mod:`.interpreter` — the general §2.3 interpreter (``@njit(cache=True)``): from the root, run
   the vertex's neuron ops ``φ(b + Σ β_k v_k)`` (bias first, then the stored sources in order — the
   dense executor's order), test ``v ⋚ β`` at an internal vertex, read the ``r`` output variables
   at a leaf.

Each route has a counted twin; the plain-Python references live in ``tests/naive.py`` and tests
hold every route to the same outputs and the same counts.

Cost model (seed 000 §2.2–2.3, :mod:`.costs`), per input, over the vertices on its root-to-leaf
path: each op costs what a dense neuron costs — one multiplication per stored weight, (terms − 1)
additions where the terms are the products plus the bias when it is non-zero, ``ACT_CMP``
comparisons for its activation (ReLU/threshold 1, sign 2, identity 0) — and each test one
comparison.  A constant (bias-only identity op) costs nothing.  Besides ``mul, add, cmp, total``
the counts give ``active_neurons`` (ops executed), ``active_weights`` (weights those ops used) and
``tests`` (the path length in edges).

Tie rule: :func:`kernels.model.conditional.holds` — a test is evaluated literally in the network's
dtype; a value on the boundary goes to ``child_true`` iff the test includes equality
(``<=, >=, ==``).  Every network is checked once by :func:`kernels.model.conditional.validate`
(cached) before a kernel runs it, so malformed arrays are a ``ValueError``, never an out-of-bounds
read or an endless loop.

The route is chosen once per network: :func:`make_plan` validates it and derives the axis router or
the hyperplane form; its owner (the Memorizer) keeps the plan and passes it to every call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from kernels.executors.tree import axis, hyperplane, hyperplane_batch
from kernels.executors.tree.interpreter import _inputs, interpret, interpret_count, interpret_leaves
from kernels.model.conditional import checked
from kernels.model.network import ConditionalNetwork


@dataclass(frozen=True, eq=False)
class Plan:
    """The tree executor's route for one network: the axis router, else the hyperplane form, else
    neither (the general interpreter)."""

    axis: axis.AxisRouter | None
    form: hyperplane.HyperplaneForm | None


def make_plan(cond: ConditionalNetwork) -> Plan:
    """Validate ``cond`` once and derive its fastest route (module docstring)."""
    router = axis_form(cond)
    return Plan(router, None if router is not None else hyperplane.form(cond))


def fast_form(cond: ConditionalNetwork) -> hyperplane.HyperplaneForm | None:
    """The hyperplane form of ``cond``, or None when the general interpreter must run."""
    return hyperplane.form(checked(cond))


def axis_form(cond: ConditionalNetwork) -> axis.AxisRouter | None:
    """The axis-tree router of ``cond`` (:mod:`kernels.executors.tree.axis`), or None."""
    return axis.axis_router(checked(cond))


def predict(cond: ConditionalNetwork, X, *, plan: Plan | None = None) -> np.ndarray:
    """Outputs (m, r): the fast routing kernel when the shape allows, else the interpreter."""
    plan = plan or make_plan(cond)
    if plan.axis is not None:
        return axis.predict(plan.axis, _inputs(cond, X))
    f = plan.form
    if f is None:
        return interpret(cond, X)
    X = _inputs(cond, X)
    if len(X) >= hyperplane_batch.BLOCK and hyperplane_batch.fits(f):
        return hyperplane_batch.predict(f, X)  # batches: level-synchronous, prefetching
    return hyperplane.predict(f, X)


def predict_one(cond: ConditionalNetwork, x, *, plan: Plan | None = None) -> np.ndarray:
    """Output (r,) of one input ``x`` (p,)."""
    plan = plan or make_plan(cond)
    if plan.axis is not None:
        return axis.predict_one(plan.axis, _inputs(cond, np.ravel(x))[0])
    if plan.form is not None:
        return hyperplane.predict_one(plan.form, _inputs(cond, np.ravel(x))[0])
    return interpret(cond, np.ravel(x))[0]


def one_row(cond: ConditionalNetwork, plan: Plan):
    """The lowest-overhead function x (p,) -> (r,) of the plan's route (the facade's one-row
    path; the axis router checks shape and finiteness inside its kernel)."""
    if plan.axis is not None:
        return functools.partial(axis.predict_one, plan.axis)
    return functools.partial(predict_one, cond, plan=plan)


def leaves(cond: ConditionalNetwork, X, *, plan: Plan | None = None) -> np.ndarray:
    """The leaf each input reaches (fast path when the shape allows)."""
    plan = plan or make_plan(cond)
    if plan.axis is not None:
        return axis.leaves(plan.axis, _inputs(cond, X))
    f = plan.form
    return hyperplane.leaves(f, _inputs(cond, X)) if f is not None else interpret_leaves(cond, X)


def count(cond: ConditionalNetwork, X, *, plan: Plan | None = None) -> dict[str, np.ndarray]:
    """Per-input counts: ``mul, add, cmp, total, active_neurons, active_weights, tests``."""
    plan = plan or make_plan(cond)
    if plan.axis is not None:
        return axis.count(plan.axis, _inputs(cond, X))
    f = plan.form
    return hyperplane.count(f, _inputs(cond, X)) if f is not None else interpret_count(cond, X)
