"""Runners: what executes the sweep's groups (the protocol :class:`Runner`, which the loop of
:mod:`kernels.harness.schedule` drives); :class:`InProcess` runs each group here, in this process;
``kernels.harness.distributed`` runs them on a Dask cluster through the same :func:`run_group`.
One group is one build, measured on each of its executors.  A caller chooses the runner:
``sweep.run(grid, out, runner=InProcess(measure=...))`` (tests pass their own ``measure`` to
interrupt or count groups)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from kernels.harness import energy, environment
from kernels.harness.cell import measure_group


class Runner(Protocol):
    """What executes groups: how many it holds at once, a group submitted with its index, the next
    finished one as ``(i, (rows, times))`` — or ``(i, exception)`` for one a cluster lost — and
    cancel (everything still queued is dropped)."""

    def slots(self) -> int: ...

    def submit(self, i: int, g: dict, execs: list, opts: dict) -> None: ...

    def next(self) -> tuple: ...

    def cancel(self) -> None: ...


class InProcess:
    """The embedded runner: each submitted group runs here, in this process, when asked for, by
    ``measure`` (default :func:`run_group`, same arguments), its rows stamped with this
    machine.  The idle-power baseline is taken once, from the options of the first group."""

    def __init__(self, opts: dict | None = None, measure: Callable | None = None):
        self.measure = measure or run_group
        self.idle_w = None if opts is None else idle_baseline(opts)
        self.warmed = set()  # (construction, dtype) whose build ran once untimed (compilation)
        self.queue = []

    def slots(self) -> int:  # one group at a time: checked for budget just before it runs
        return 1

    def submit(self, i: int, g: dict, execs: list, opts: dict) -> None:
        self.queue.append((i, g, execs, opts))

    def next(self):
        i, g, execs, opts = self.queue.pop(0)
        if self.idle_w is None:
            self.idle_w = idle_baseline(opts)
        rows, times = self.measure(g, execs, opts, self.idle_w, self.warmed)
        return i, (environment.stamp(rows), times)

    def cancel(self) -> None:
        self.queue.clear()


def idle_baseline(opts: dict) -> dict:
    if opts.get("energy", "auto") == "off":
        return {}
    if not any(v == "available" for v in energy.availability().values()):
        return {}
    return energy.idle_power(max(1.0, 2 * opts.get("energy_window_s", 1.0)))


def run_group(g: dict, execs: list, opts: dict, idle_w: dict, warmed: set):
    """(rows of ``execs`` on group ``g``, (n, build s, evaluation s) or None), each row given
    its share of the group's wall and CPU seconds (``cell_s``, ``cell_cpu_s``).  The runner
    that called it stamps the rows with the machine that measured them
    (:func:`kernels.harness.environment.stamp`): it knows which one that is."""
    t0, c0 = time.perf_counter(), time.process_time()
    rows, times = measure_group(g, execs, opts, idle_w, warmed)
    k = max(len(rows), 1)
    share, cpu = (time.perf_counter() - t0) / k, (time.process_time() - c0) / k
    for r in rows:
        r["cell_s"], r["cell_cpu_s"] = share, cpu
    return rows, times
