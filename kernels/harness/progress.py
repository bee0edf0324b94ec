"""The sweep's progress on stderr: what runs now ("building zhang n=4096 (first use compiles its
kernels)") from the moment it starts, cells done of the total, elapsed time and an ETA, and a
one-line summary at the end.  On a terminal it is a ``rich`` progress bar; elsewhere (a log, CI)
one plain line per finished cell.

The ETA is the sum of the projected times of the cells still to run (:class:`Projection`): each
cell's time from the cells of its own series measured so far — in this run, or in an earlier one
(the cache's, a resumed journal's) — as a power of n, else from its construction's cells, else
the mean cell; divided by how many cells run at once (on a cluster, several).  Without a
projection (or before any cell has a time): the remaining cells times the mean time of the cells
measured in this run."""

from __future__ import annotations

import math
import sys
import time

from kernels.harness.grid import KEY, SIZE
from kernels.harness.schedule import series_of


def _size_only(cell: dict) -> bool:
    """Whether a cell (a group, or a row of one) is a size-only build."""
    return bool(cell.get("size_only") if "size_only" in cell else cell.get("executor") == SIZE)


def _group(cell: dict) -> tuple:
    """The build a cell belongs to."""
    return tuple(cell.get(a) for a in KEY if a != "executor") + (_size_only(cell),)


def _coarse(cell: dict) -> tuple:
    """A cell's construction, size-only builds apart."""
    return cell["construction"], _size_only(cell)


def power_law(points: dict, n: float) -> float:
    """Seconds at ``n`` from ``points`` ({n: [seconds]}, not empty): ``t1 · (n/n1)^b`` through
    the two largest n measured (their median times), b fitted between them and clipped to
    [0, 3]; b = 1 (linear) while one n is known."""
    ns = sorted(points)
    med = {k: sorted(points[k])[len(points[k]) // 2] for k in ns[-2:]}
    n1, t1 = ns[-1], med[ns[-1]]
    b = 1.0
    if len(ns) > 1 and med[ns[-2]] > 0 and t1 > 0:
        b = min(3.0, max(0.0, math.log(t1 / med[ns[-2]]) / math.log(n1 / ns[-2])))
    return t1 * (n / n1) ** b


class _Times:
    """Seconds of finished cells, by series and by construction: {key: {n: [seconds]}}."""

    def __init__(self):
        self.series, self.construction, self.all = {}, {}, []

    def add(self, row: dict) -> None:
        t = row.get("cell_s")
        if not (isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t)
                and t >= 0):
            return
        try:
            series, construction, n = series_of(row), _coarse(row), int(row["n"])
            hash(series)
        except (KeyError, TypeError, ValueError):  # not a cell row (an edited cache file)
            return
        if n >= 1:
            self.series.setdefault(series, {}).setdefault(n, []).append(t)
            self.construction.setdefault(construction, {}).setdefault(n, []).append(t)
            self.all.append(t)

    def at(self, level: str, key: tuple, n: int) -> float | None:
        known = getattr(self, level).get(key)
        return power_law(known, n) if known else None

    def mean(self) -> float | None:
        return sum(self.all) / len(self.all) if self.all else None


class Projection:
    """Projected seconds of the cells still to run.  ``groups``: the builds to run, ``cells(g)``
    how many cells (executors) each has.  :meth:`learn` takes each finished cell (row) — it is
    no longer to run, and its ``cell_s`` (its share of its build's wall seconds) is a data
    point; :meth:`observe` takes a data point only: a row this run did not measure (a resumed
    journal's), or with ``earlier=True`` one of an earlier commit (the cache's).

    One cell is projected from its own time in an earlier run where there is one, else
    (:func:`power_law` over n) from, in this order: its own series
    (construction, options, data, dtype, p, r, sparsity, threads) in this run, in an earlier
    run, every cell of its construction (size-only builds apart) in this run, in an earlier run;
    the first build of a construction and dtype in this run compiles its kernels, so its time
    comes only after those, not scaled with n; else the mean cell.  A construction and dtype
    that has not compiled yet in this run adds, to one build, the mean compiling build (unless
    that build's time is its own from an earlier run, which compiled there too).
    While only compiling builds have times, there is no projection."""

    def __init__(self, groups=(), cells=None):
        self.left = {}  # build -> [series, construction key, n, cells still to run, compiles]
        for g in groups:
            k = cells(g) if cells else 1
            if k:
                self.left[_group(g)] = [series_of(g), _coarse(g), g["n"], k,
                                        (g["construction"], g["dtype"])]
        self.now, self.before, self.cold = _Times(), _Times(), _Times()
        self.compiled = {}  # (construction, dtype) -> the build of this run that compiled them

    def observe(self, row: dict, earlier: bool = False) -> None:
        (self.before if earlier else self.now).add(row)

    def learn(self, row: dict, measured: bool = True) -> None:
        """A finished cell: ``measured`` in this run (not taken from the cache)."""
        first = measured and self.compiled.setdefault(
            (row["construction"], row["dtype"]), _group(row)) == _group(row)
        (self.cold if first else self.now).add(row)
        entry = self.left.get(_group(row))
        if entry is not None:
            entry[3] -= 1
            if entry[3] <= 0:
                del self.left[_group(row)]

    def earlier(self, series: tuple, n: int) -> float | None:
        """The seconds of this very cell in an earlier run (the median), or None."""
        same = self.before.series.get(series, {}).get(n)
        return sorted(same)[len(same) // 2] if same else None

    def cell_s(self, series: tuple, construction: tuple, n: int) -> float | None:
        """Projected seconds of one cell of a build of ``series`` at ``n``."""
        same = self.earlier(series, n)
        if same is not None:
            return same
        for level, key in (("series", series), ("construction", construction)):
            for times in (self.now, self.before):
                t = times.at(level, key, n)
                if t is not None:
                    return t
        for level, key in (("series", series), ("construction", construction)):
            known = getattr(self.cold, level).get(key)
            if known:  # mostly compilation, which does not grow with n: not scaled
                return max(t for ts in known.values() for t in ts)
        for times in (self.now, self.before, self.cold):
            if times.all:
                return times.mean()
        return None

    def seconds(self) -> float | None:
        """Projected seconds of every cell still to run (None while no cell but compiling
        ones has a time)."""
        if not self.left:
            return 0.0
        if not (self.now.all or self.before.all):  # compiling builds alone tell too little
            return None
        total, compiling = 0.0, set()
        for s, c, n, k, kernels in self.left.values():
            total += k * self.cell_s(s, c, n)
            if kernels not in self.compiled and kernels not in compiling and self.cold.all:
                compiling.add(kernels)  # its first build will compile, as the others did
                if self.earlier(s, n) is None:  # (an earlier run's time of it did as well)
                    total += k * self.cold.mean()
        return total


class Progress:
    """``now(label)`` when a group starts, ``step(label)`` per finished cell, ``close()``."""

    def __init__(self, total: int, stream=None, projection: Projection | None = None):
        self.total, self.done, self.timed, self.busy_s = max(total, 1), 0, 0, 0.0
        self.projection, self.cell_s = projection, 0.0  # cell_s: cells' seconds of this run
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = self.t_step = time.perf_counter()
        self.status = {}
        self._bar = None
        if self.tty:
            import rich.progress
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

            self._bar = rich.progress.Progress(
                TextColumn("memcap"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[clock]}"), TextColumn("{task.description}"),
                console=Console(file=self.stream), transient=False)
            self._task = self._bar.add_task("starting", total=self.total, clock="")
            self._bar.start()

    def eta_s(self) -> float | None:
        """Seconds left: the projected seconds of the cells still to run over how many ran at
        once so far (their seconds per wall second, at least 1); without a projection, the
        remaining cells at the mean time of the cells measured so far."""
        if self.projection is not None:
            left = self.projection.seconds()
            if left is None:
                return None
            wall = time.perf_counter() - self.t0
            return left / max(1.0, self.cell_s / wall if wall > 0 else 1.0)
        if not self.timed:
            return None
        return (self.total - self.done) * self.busy_s / self.timed

    def _clock(self) -> str:
        el = time.perf_counter() - self.t0
        eta = self.eta_s()
        return f"{el:4.0f}s" + (f", ETA {eta:.0f}s" if eta is not None else "")

    def now(self, label: str) -> None:
        """What starts now (shown at once, before the first cell ends)."""
        if self._bar is not None:
            self._bar.update(self._task, description=label, clock=self._clock())
        else:
            eta = self.eta_s()
            self.stream.write(f"memcap: {label}" + (f" (ETA {eta:.0f}s)" if eta else "") + "\n")
            self.stream.flush()

    def step(self, label: str, k: int = 1, measured: bool = True, row: dict | None = None) -> None:
        """``k`` cells finished (``measured``: in this run, not taken from the cache); ``row``:
        the finished cell, for the projection."""
        t = time.perf_counter()
        self.done += k
        if measured:
            self.timed += k
            self.busy_s += t - self.t_step
        if row is not None and self.projection is not None:
            self.projection.learn(row, measured)
            if measured and isinstance(row.get("cell_s"), int | float):
                self.cell_s += row["cell_s"]
        self.t_step = t
        status = label.rsplit(" ", 1)[-1]
        self.status[status] = self.status.get(status, 0) + k
        if self._bar is not None:
            self._bar.update(self._task, completed=min(self.done, self.total),
                             description=label, clock=self._clock())
        else:
            self.stream.write(f"[{self.done}/{self.total}] {self._clock()}  {label}\n")
            self.stream.flush()

    def summary(self) -> str:
        parts = ", ".join(f"{v} {k}" for k, v in sorted(self.status.items()))
        return (f"memcap: {self.done} cells in {time.perf_counter() - self.t0:.0f}s"
                + (f" ({parts})" if parts else ""))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self.stream.write(self.summary() + "\n")
        self.stream.flush()


class Announcing:
    """A runner (see :mod:`kernels.harness.schedule`) that tells ``bar`` what each group it
    submits is about to do; everything else is the wrapped runner's."""

    def __init__(self, runner, bar: Progress, label):
        self.runner, self.bar, self.label, self.first = runner, bar, label, True

    def slots(self) -> int:
        return self.runner.slots()

    def submit(self, i, g, execs, opts) -> None:
        note = " (first use compiles its kernels)" if self.first else ""
        self.first = False
        self.bar.now(f"building {self.label(g)}{note}")
        self.runner.submit(i, g, execs, opts)

    def next(self):
        return self.runner.next()

    def cancel(self) -> None:
        self.runner.cancel()
