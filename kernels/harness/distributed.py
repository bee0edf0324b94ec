"""Sweeps on a Dask cluster: ``memcap sweep --scheduler local[:WORKERS] | tcp://HOST:PORT | FILE``.

The client (this process) runs the sweep's loop (:func:`kernels.harness.schedule.drive`) and alone
writes the journal; a :class:`DaskRunner` stands in for the in-process runner.  One task is one
*group*: the cells that share a build (one construction on one dataset, every executor), so a
build is never repeated; the group waits for the previous n of its series as in process (its cost
is projected from that one's times).  Finished tasks come back in completion order.

On the workers: a group that times its executors (every one but size-only builds) holds the worker
alone — the ``timing`` resource where the workers offer it (``local`` starts them with
``timing=1``; ``dask worker --resources timing=1``), and always an exclusive per-process lock that
size-only groups share — with one Numba thread.  The group's memory estimate travels with it: the
client prefers workers whose memory limit holds it, and a worker that cannot hold it refuses it
(a skipped row, retried on resume).  A worker that dies mid-task loses that task only: the
scheduler runs it again elsewhere (``distributed.scheduler.allowed-failures`` times, default 3);
one that keeps failing is an ``error`` row with the reason, retried on resume.  A task that raises
is re-run ``RETRIES`` times.  Dask is optional: ``pip install 'memcap[dist]'``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import uuid
from urllib.parse import urlparse

from kernels import constructions
from kernels.executors import numba_threads
from kernels.harness import environment, runner
from kernels.harness.cell import _one_line, group_rows
from kernels.harness.schedule import series_of
from kernels.model.data import available_memory, dataset_bytes

INSTALL = "pip install 'memcap[dist]'"
CONNECT_TIMEOUT_S = 5.0  # an unreachable scheduler is an error after this long
RETRIES = 2  # re-runs of a task that raised (a lost worker is the scheduler's allowed-failures)
TIMING = "timing"  # the worker resource a timing group holds (one per worker)
WORKER_BYTES = 512 << 20  # what one local worker process holds once numpy, numba and memcap load
WORKERS_PER_CORE = 4  # local workers beyond this many per core only queue for the same cores
QUIET_LOGGERS = ("distributed", "tornado", "asyncio")  # their tracebacks when a scheduler dies


def local_workers(asked: int | None, *, cores: int | None = None,
                  memory: int | None = None) -> tuple[int, str | None]:
    """The worker count a ``local[:W]`` cluster starts, and the note to print when ``W`` is capped:
    at most ``WORKERS_PER_CORE`` per core and as many as the memory budget holds at
    ``WORKER_BYTES`` each (a cluster of 100,000 processes would hang starting, not fail)."""
    cores = cores or os.cpu_count() or 1
    memory = available_memory() if memory is None else memory
    cap = max(1, min(WORKERS_PER_CORE * cores, memory // WORKER_BYTES))
    if asked is None:
        return min(cores, cap), None
    if asked <= cap:
        return asked, None
    return cap, (f"local:{asked} capped at {cap} workers ({cores} cores, "
                 f"{memory / 2**30:.1f} GiB available, {WORKER_BYTES >> 20} MiB a worker)")


@contextlib.contextmanager
def _quiet_logs():
    """Keep the client's Dask loggers to CRITICAL while a runner is open: a scheduler that dies
    mid-sweep is memcap's one-line error, not distributed's traceback before it."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError(f"--scheduler needs Dask's distributed scheduler: {INSTALL}") from None
    return distributed


try:  # optional: the plugin class exists only where Dask does
    from distributed import WorkerPlugin
except ImportError:
    WorkerPlugin = object


class NoInterrupt(WorkerPlugin):
    """On a ``local`` cluster's workers: Ctrl-C (sent to the whole process group) is the
    client's, which cancels the tasks and closes the workers."""

    def setup(self, worker):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def parse(spec: str) -> tuple[str, object]:
    """``("local", workers or None)``, ``("address", "tcp://…")`` or ``("file", path)``."""
    if spec == "local" or spec.startswith("local:"):
        w = spec[len("local:"):]
        if not w:
            return "local", None
        if not w.isdigit() or int(w) < 1:
            raise ValueError(f"--scheduler local:WORKERS needs a positive integer, got {w!r}")
        return "local", int(w)
    if "://" in spec:
        return "address", spec
    if spec.endswith(".json") or os.path.isfile(spec):
        return "file", spec
    raise ValueError("--scheduler: expected local[:WORKERS], tcp://HOST:PORT or a scheduler "
                     f"file, got {spec!r}")


def _address_from_file(path: str) -> str:
    try:
        with open(path) as f:
            address = json.load(f)["address"]
    except FileNotFoundError:
        raise ValueError(f"--scheduler {path}: no such scheduler file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--scheduler {path}: not a Dask scheduler file "
                         f"({_one_line(exc)})") from None
    return str(address)


def connect(spec: str, *, timeout: float | None = None) -> DaskRunner:
    """A runner on the cluster ``spec`` names: ``local[:W]`` starts a ``LocalCluster`` of W
    single-threaded worker processes on 127.0.0.1 (default: one per core); an address or a
    scheduler file connects to a running scheduler, giving up after ``timeout`` seconds
    (default :data:`CONNECT_TIMEOUT_S`).  Close it (``with connect(...) as r:``)."""
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    kind, arg = parse(spec)
    dd = _distributed()
    if kind == "local":
        workers, note = local_workers(arg)
        if note:
            print(f"memcap: {note}", file=sys.stderr)
        try:
            cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=1,
                                      processes=True, host="127.0.0.1", dashboard_address=None,
                                      resources={TIMING: 1}, silence_logs=logging.ERROR)
        except Exception as exc:
            raise ValueError(f"cannot start a local Dask cluster ({_one_line(exc)})") from None
        try:
            client = dd.Client(cluster)
            client.register_plugin(NoInterrupt(), name="memcap-no-interrupt")
        except BaseException:
            cluster.close()
            raise
        return DaskRunner(client, cluster)
    address = arg if kind == "address" else _address_from_file(arg)
    try:
        with _quiet_logs():
            client = dd.Client(address, timeout=timeout)
    except Exception as exc:  # refused, timed out, a bad address
        raise ValueError(f"cannot reach the Dask scheduler at {address} "
                         f"({_one_line(exc)})") from None
    return DaskRunner(client)


def estimate_bytes(g: dict) -> int | None:
    """What group ``g`` holds on its worker: its dataset plus the construction's own build
    estimate (as ``constructions.preflight`` counts it); None where there is no estimate."""
    try:
        build = constructions.estimate_bytes(g["construction"], g["n"], g["p"], g["r"],
                                             g.get("options"))
        return int(dataset_bytes(g["n"], g["p"], g["r"]) + build)
    except Exception:
        return None


def _lost(why) -> ValueError:
    why = _one_line(why) if isinstance(why, BaseException) else why
    return ValueError(f"lost the Dask cluster ({why}); the journal keeps every finished cell: "
                      "run the same command again to resume")


def _host(address: str) -> str | None:
    return urlparse(address).hostname


class DaskRunner:
    """The sweep's runner on a Dask cluster: the protocol of :class:`kernels.harness.runner.Runner`
    (``slots``/``submit``/``next``/``cancel``), each task running :func:`~kernels.harness.runner.
    run_group` on a worker."""

    def __init__(self, client, cluster=None):
        self.client, self.cluster = client, cluster
        self.quiet = contextlib.ExitStack()
        self.quiet.enter_context(_quiet_logs())
        self.done = _distributed().as_completed()
        self.futures = {}  # key -> (group index, group, future)
        self.hosts = {}  # series -> host that measured its previous n (a series stays on one)
        self.workers = {}

    def slots(self) -> int:
        """Groups in flight: twice the cluster's threads (at least 1), so none idles."""
        try:
            try:
                info = self.client.scheduler_info(n_workers=-1)  # every worker (Dask >= 2025.1)
            except TypeError:
                info = self.client.scheduler_info()
        except OSError as exc:
            raise _lost(exc) from None
        self.workers = info.get("workers", {})
        return max(1, 2 * sum(int(w.get("nthreads", 1)) for w in self.workers.values()))

    def _placement(self, g: dict, est: int | None) -> list | None:
        """Workers to prefer: those whose memory limit holds ``est``, on the host that measured
        the series so far (its timings stay comparable); None for any."""
        fit = [a for a, w in self.workers.items()
               if est is None or not w.get("memory_limit") or w["memory_limit"] >= est]
        host = self.hosts.get(series_of(g))
        same = [a for a in fit if _host(a) == host]
        pick = same or fit
        return pick if pick and len(pick) < len(self.workers) else None

    def submit(self, i: int, g: dict, execs: list, opts: dict) -> None:
        timing = not g.get("size_only")
        est = estimate_bytes(g)
        where = self._placement(g, est)
        offers = any(TIMING in (w.get("resources") or {}) for w in self.workers.values())
        f = self.client.submit(_task, g, execs, opts, est, timing,
                               key=f"memcap-group-{i}-{uuid.uuid4().hex[:8]}", pure=False,
                               retries=RETRIES, priority=-i, workers=where,
                               allow_other_workers=where is not None,
                               resources={TIMING: 1} if timing and offers else None)
        self.futures[f.key] = (i, g, f)
        self.done.add(f)

    def next(self):
        """(group index, (rows, times)) of the next finished group, or (index, exception)."""
        f = next(self.done)
        i, g, _ = self.futures.pop(f.key)
        if f.status == "cancelled":
            raise _lost("the scheduler dropped the sweep's tasks")
        if f.status != "finished":
            return i, f.exception()
        try:
            rows, times, worker = f.result()
        except OSError as exc:  # the scheduler or the worker holding the result went away
            raise _lost(exc) from None
        self.hosts[series_of(g)] = _host(worker)
        return i, (rows, times)

    def cancel(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel([f for _, _, f in self.futures.values()])
        self.futures.clear()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
        self.quiet.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SharedExclusive:
    """A readers-writer lock, writers first: timing groups hold it alone, size-only ones share."""

    def __init__(self):
        self.cond = threading.Condition()
        self.readers, self.writer, self.waiting = 0, False, 0

    @contextlib.contextmanager
    def hold(self, exclusive: bool):
        with self.cond:
            self.waiting += exclusive
            self.cond.wait_for(lambda: not self.writer and (
                not self.readers if exclusive else not self.waiting))
            self.waiting -= exclusive
            if exclusive:
                self.writer = True
            else:
                self.readers += 1
        try:
            yield
        finally:
            with self.cond:
                if exclusive:
                    self.writer = False
                else:
                    self.readers -= 1
                self.cond.notify_all()


# worker-process state: the lock, the builds compiled once, the idle power (energy)
_LOCK = SharedExclusive()
_WARMED: set = set()
_IDLE: dict = {}


def _task(g: dict, execs: list, opts: dict, est: int | None, timing: bool):
    """On a worker: (rows, times, worker address) of one group, or its refusal."""
    from distributed import get_worker

    worker = get_worker()
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None) or None
    if est is not None and limit and est > limit:
        reason = (f"estimated {est / 2**20:.0f} MiB > this worker's memory limit "
                  f"{limit / 2**20:.0f} MiB")
        rows = group_rows(g, execs, status="skipped", reason=reason, final=False)
        return environment.stamp(rows), None, worker.address
    if limit:
        opts = {**opts, "max_bytes": min(opts["max_bytes"], int(limit))}
    with _LOCK.hold(exclusive=timing), (numba_threads(1) if timing
                                        else contextlib.nullcontext()):
        if "w" not in _IDLE:
            _IDLE["w"] = runner.idle_baseline(opts)
        rows, times = runner.run_group(g, execs, opts, _IDLE["w"], _WARMED)
        return environment.stamp(rows), times, worker.address
