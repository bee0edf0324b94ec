"""The machine and software a measurement ran on (recorded with every sweep and report)."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata

from kernels.harness import energy

THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def threading_layer() -> str:
    """Numba's threading layer: the one in use if a parallel kernel ran, else the configured one."""
    try:
        import numba

        try:
            return numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet
            return f"{numba.config.THREADING_LAYER} (configured; not initialised)"
    except ImportError:
        return "numba not installed"


def git_commit(root: str | None = None) -> str | None:
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def collect() -> dict:
    """Environment record: CPU, cores, caches, versions, threading, energy counters, commit."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    env = {
        "cpu_model": cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "cpu_affinity": affinity,
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "scipy": _version("scipy"),
        "scikit-learn": _version("scikit-learn"),
        "matplotlib": _version("matplotlib"),
        "pyperf": _version("pyperf"),
        "memcap": _version("memcap"),
        "numba_threading_layer": threading_layer(),
        "numba_num_threads": _numba_threads(),
        "caches": {name: size for name, size in energy.cache_sizes()},
        "energy_counters": energy.availability(),
        "git_commit": git_commit(),
    }
    for var in THREAD_VARS:
        if os.environ.get(var):
            env[var] = os.environ[var]
    return env


def _numba_threads():
    try:
        import numba

        return int(numba.config.NUMBA_NUM_THREADS)
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def _machine_static() -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    host = socket.gethostname() or platform.node() or "unknown"
    cpu, cores = cpu_model(), os.cpu_count()
    return {"key": f"{host} ({cpu}, {cores} cores)", "host": host, "cpu": cpu, "cores": cores,
            "affinity": affinity,
            "versions": {"python": sys.version.split()[0], "numpy": _version("numpy"),
                         "numba": _version("numba"), "memcap": _version("memcap"),
                         "git_commit": git_commit()}}


def machine() -> dict:
    """The compact record of the machine measuring in this process, kept in every sweep row
    (a sweep on a cluster measures on several): ``key`` (host, CPU model, cores: timings with
    different keys are never fitted together), the versions, and the thread settings now —
    Numba's thread count for this thread and the BLAS/OpenMP variables."""
    rec = dict(_machine_static())
    rec["threads"] = _numba_threads_now()
    rec["thread_vars"] = {v: os.environ[v] for v in THREAD_VARS if os.environ.get(v)}
    return rec


def stamp(rows: list[dict]) -> list[dict]:
    """``rows``, each given ``machine`` (the key) and ``machine_info`` (the record) of this one."""
    rec = machine()
    for row in rows:
        row["machine"], row["machine_info"] = rec["key"], rec
    return rows


def _numba_threads_now():
    try:
        import numba

        return int(numba.get_num_threads())
    except Exception:
        return None
