"""The sweep's loop, shared by the in-process runner and the Dask one
(:mod:`kernels.harness.distributed`): which group runs next, and which is skipped.

A *runner* executes groups (:class:`kernels.harness.runner.Runner`): ``slots()`` (how many it
holds at once), ``submit(i, g, execs, opts)``, ``next()`` -> ``(i, (rows, times))`` for a finished
group, or ``(i, exception)`` for one the cluster lost, and ``cancel()``.  ``times`` is ``(n,
build s, evaluation s)`` (None when nothing was built).  A group waits for the previous n of its
series, since its cost is projected from that one's times; among the ready groups the lowest index
goes first, so a runner of one slot runs the grid in its order.
"""

from __future__ import annotations

import heapq
import math
import time

from kernels.harness.cell import _one_line
from kernels.harness.runner import Runner


def series_of(g: dict) -> tuple:
    """The series a group's cost is projected along (over n)."""
    return (g["construction"], g.get("variant"), g["series"], g["kind"], g["dtype"], g["p"],
            g["r"], g["sparsity"], g.get("threads"))


def _growth(points, k: int) -> float:
    """Exponent of part ``k`` (1 build, 2 evaluation) in n, from the two largest n measured in a
    series, clipped to [1, 3]; 2 (quadratic) while there is only one point."""
    if len(points) < 2:
        return 2.0
    (n0, *a), (n1, *b) = sorted(points)[-2:]
    if a[k - 1] <= 0.05 or b[k - 1] <= 0.05:  # too short to tell: assume quadratic, cheap anyway
        return 2.0
    return min(3.0, max(1.0, math.log(b[k - 1] / a[k - 1]) / math.log(n1 / n0)))


def skip_reason(g: dict, opts: dict, last: dict, elapsed: float) -> str | None:
    """Why group ``g`` is not run now (the budget is spent, or its cost projected from the
    previous n of its series exceeds the per-cell limit); None to run it."""
    series = series_of(g)
    prev = max((v for v in last.get(series, []) if v[0] < g["n"]), default=None)
    if elapsed > opts["budget_s"]:
        return f"time budget of {opts['budget_s']:.0f}s used up"
    if prev and g["n"] > prev[0]:
        # builds are charged as O(n²), evaluation as O(n) (its batch and sample sizes are capped)
        ratio = g["n"] / prev[0]
        projected = prev[1] * ratio**_growth(last[series], 1) + prev[2] * ratio
        limit = g.get("max_cell_s") or opts["max_cell_s"]
        if projected > limit:
            return (f"projected {projected:.0f}s (n={prev[0]}: build {prev[1]:.1f}s, "
                    f"evaluation {prev[2]:.1f}s) > per-cell limit {limit:.0f}s")
    return None


def drive(todo: list, opts: dict, runner: Runner, pending, rows):
    """The rows of each group of ``todo`` as it finishes (in any order).  ``pending(g)``: the
    executors of ``g`` still to measure; ``rows(g, execs, **fields)``: rows of those cells.
    Skipped and lost groups are rows with ``final: False`` (a resume runs them again)."""
    chains = {}
    for i, g in enumerate(todo):
        chains.setdefault(series_of(g), []).append(i)
    ready = sorted(c.pop(0) for c in chains.values())
    last = {}  # series -> [(n, build s, evaluation s)]: to project the next cell's cost
    t_start, busy = time.perf_counter(), 0

    def finished(i, times):
        s = series_of(todo[i])
        if times:
            last.setdefault(s, []).append(times)
        if chains[s]:
            heapq.heappush(ready, chains[s].pop(0))

    while ready or busy:
        cap = runner.slots()
        while ready and busy < cap:
            i = heapq.heappop(ready)
            reason = skip_reason(todo[i], opts, last, time.perf_counter() - t_start)
            if reason:
                finished(i, None)
                yield rows(todo[i], pending(todo[i]), status="skipped", reason=reason,
                           final=False)
                continue
            runner.submit(i, todo[i], pending(todo[i]), opts)
            busy += 1
        if busy:
            i, result = runner.next()
            busy -= 1
            if isinstance(result, BaseException):  # the cluster lost it
                result = (rows(todo[i], pending(todo[i]), status="error", final=False,
                               reason=f"lost on the cluster: {_one_line(result)}"), None)
            finished(i, result[1])
            yield result[0]
