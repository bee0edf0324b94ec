"""The sweep's progress on stderr: what runs now ("building zhang n=4096 (first use compiles its
kernels)") from the moment it starts, cells done of the total, elapsed time and an ETA, and a
one-line summary at the end.  On a terminal it is a ``rich`` progress bar; elsewhere (a log, CI)
one plain line per finished cell.

The ETA is the remaining cells times the mean time of the cells measured so far in this run (cells
read from the cache or the journal take no time and are not counted in the mean)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``now(label)`` when a group starts, ``step(label)`` per finished cell, ``close()``."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.timed, self.busy_s = max(total, 1), 0, 0, 0.0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = self.t_step = time.perf_counter()
        self.status = {}
        self._bar = None
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("memcap"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[clock]}"),
                                     TextColumn("{task.description}"),
                                     console=Console(file=self.stream), transient=False)
            self._task = self._bar.add_task("starting", total=self.total, clock="")
            self._bar.start()

    def eta_s(self) -> float | None:
        """Seconds left: the remaining cells at the mean time of the cells measured so far."""
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
            self.stream.write(f"memcap: {label}\n")
            self.stream.flush()

    def step(self, label: str, k: int = 1, measured: bool = True) -> None:
        t = time.perf_counter()
        self.done += k
        if measured:
            self.timed += k
            self.busy_s += t - self.t_step
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
