"""The cell cache of ``memcap report``: measured cells kept across runs, keyed by code, machine and
cell, so a second report on the same commit and machine only renders.

A *fingerprint* names what a measurement depends on besides the cell: the git commit (and a hash of
the package's source, so an uncommitted edit is a different version) and the environment (CPU,
cores, the Python/NumPy/Numba versions, thread settings).  One cache file per fingerprint,
``DIR/cells-<fingerprint hash>.jsonl``; each line is one finished build (a sweep group) under its
*cell key*: the hash of the group's axes and the options that change a measurement (timing, sample
sizes, memory limit, energy).  Only final rows are kept: a cell skipped for the time budget is
measured again next time.  Lines are appended as cells finish (an interrupted run keeps them); a
torn last line is ignored.  A directory keeps the files of the last ``KEEP`` fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import os

from kernels.harness import environment
from kernels.harness.grid import document, groups
from kernels.harness.presets import OPTION_DEFAULTS
from kernels.harness.results import json_default

# environment keys a measurement depends on (not the energy-counter state or the threading layer's
# "not initialised yet" text, which change with what ran before)
ENV_KEYS = ("cpu_model", "cpu_count_logical", "cpu_affinity", "machine", "os", "python",
            "numpy", "numba", "scipy", "scikit-learn", "numba_num_threads", "caches",
            "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# options that change a cell's measurement (budget_s and max_cell_s only decide whether it runs)
CELL_OPTIONS = ("min_time", "time_inputs", "eval_seconds", "max_bytes", "energy",
                "energy_window_s", "seed")
KEEP = 4  # cache files kept per directory (this commit's and the three most recent others)
# group fields that are bookkeeping, not part of what is measured ("largest" only matters to
# energy="auto", which measures energy at each series' largest n)
GROUP_IGNORED = ("max_cell_s",)


def _hash(obj) -> str:
    text = json.dumps(obj, sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_hash(root: str | None = None) -> str:
    """sha256 over the package's ``.py`` files (path and bytes), sorted: the code that measures."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                h.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()[:16]


def fingerprint(env: dict) -> dict:
    """What every cached cell shares: commit, source hash and the measuring environment."""
    return {"git_commit": env.get("git_commit"), "source": source_hash(),
            "environment": {k: env[k] for k in ENV_KEYS if k in env}}


def cell_key(group: dict, opts: dict) -> str:
    """The key of one build: its axes (construction, variant, n, p, r, dtype, data, ...) and the
    options that change what is measured."""
    ignored = GROUP_IGNORED + (() if opts.get("energy", "auto") == "auto" else ("largest",))
    g = {k: v for k, v in group.items() if k not in ignored}
    return _hash({"group": g, "options": {k: opts.get(k) for k in CELL_OPTIONS}})


class CellCache:
    """Rows of finished builds under ``DIR/cells-<hash(fingerprint)>.jsonl``."""

    def __init__(self, directory: str, fp: dict, load: bool = True):
        """``load=False`` (``--fresh``): start empty; cells measured now still replace the kept
        ones (a later line wins)."""
        self.fingerprint = fp
        self.path = os.path.join(directory, f"cells-{_hash(fp)}.jsonl")
        self.cells: dict[str, list[dict]] = {}
        if load and os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn last line: the interruption
                    if obj.get("fingerprint") == fp and "cell" in obj:
                        self.cells[obj["cell"]] = obj["rows"]

    def prune(self, keep: int = KEEP) -> None:
        """Remove all but the ``keep`` most recently written cache files of the directory (older
        commits' cells), never this fingerprint's."""
        d = os.path.dirname(self.path)
        if not os.path.isdir(d):
            return
        files = sorted((os.path.join(d, f) for f in os.listdir(d)
                        if f.startswith("cells-") and f.endswith(".jsonl")),
                       key=os.path.getmtime, reverse=True)
        for f in [f for f in files if f != self.path][max(keep - 1, 0):]:
            os.remove(f)

    def get(self, key: str) -> list[dict] | None:
        return self.cells.get(key)

    def put(self, key: str, rows: list[dict]) -> None:
        """Keep ``rows`` under ``key`` when every one of them is final (not a budget skip)."""
        if not rows or not all(r.get("final", True) for r in rows):
            return
        self.cells[key] = rows
        if not os.path.exists(self.path):
            self.prune()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({"fingerprint": self.fingerprint, "cell": key, "rows": rows},
                               default=json_default, sort_keys=True) + "\n")


class Caching:
    """A sweep runner (see :mod:`kernels.harness.schedule`) around ``runner`` that keeps each
    group it ran whole in ``cache``; :meth:`split` takes the groups the cache holds out of the
    work.  ``executors(g)``: every executor of group ``g``."""

    def __init__(self, runner, cache: CellCache, opts: dict, executors):
        self.runner, self.cache, self.opts, self.executors = runner, cache, opts, executors
        self.keys: dict = {}

    def split(self, todo: list, pending) -> tuple[list, list]:
        """([cached rows of the still pending executors, per cached group], groups to run)."""
        hits, rest = [], []
        for g in todo:
            rows = self.cache.get(cell_key(g, self.opts))
            if rows is None:
                rest.append(g)
            else:
                want = set(pending(g))
                hits.append([r for r in rows if r.get("executor") in want])
        return hits, rest

    def slots(self) -> int:
        return self.runner.slots()

    def submit(self, i: int, g: dict, execs: list, opts: dict) -> None:
        whole = list(execs) == list(self.executors(g))
        self.keys[i] = cell_key(g, opts) if whole else None
        self.runner.submit(i, g, execs, opts)

    def next(self):
        i, result = self.runner.next()
        key = self.keys.pop(i, None)
        if key and not isinstance(result, BaseException):
            self.cache.put(key, result[0])
        return i, result

    def cancel(self) -> None:
        self.runner.cancel()


def from_cache(grid: dict, directory: str, command: str | None,
               env: dict | None = None) -> dict | None:
    """The results document of ``grid`` from the cells cached in ``directory`` for this commit
    and machine alone, or None when any build of the grid is not there (nothing is measured).
    ``env``: the environment record to put in it (a finished run's), if it has this machine's
    fingerprint (else None)."""
    fp = fingerprint(environment.collect())
    if env is not None and fingerprint(env) != fp:
        return None
    cache = CellCache(directory, fp)
    opts = {**OPTION_DEFAULTS, **{k: v for k, v in grid.items() if k != "blocks"}}
    rows = []
    for g in groups(grid):
        hit = cache.get(cell_key(g, opts))
        if hit is None:
            return None
        rows += hit
    return document(grid, env if env is not None else environment.collect(), command,
                          rows)
