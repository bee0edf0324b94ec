"""The cell cache of ``memcap report``: measured cells kept across runs, keyed by code, machine and
cell, so a second report on the same commit and machine only renders — into any output folder.

One folder holds it for every output folder (:func:`directory`): ``$MEMCAP_CACHE_DIR``, else the
platform's user cache directory (platformdirs: ``~/.cache/memcap`` on Linux).  An unusable
folder is a one-line ``ValueError`` (the CLI: exit 2).  A cell whose timing the stability rule
(:mod:`kernels.harness.timing`) left unstable is kept with ``stable: false`` but never reused:
the next report measures it again, so an outlier is never frozen.  A line that is not a cache
entry (torn, not a JSON object, no rows) or a cache path that is not a file is warned about once
on stderr and its cells are measured again; it never stops a run.

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
import sys

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
KEEP = 16  # cache files kept in the folder (this fingerprint's and the most recent others: the
# folder is shared by every worktree and output folder of the machine)
ENV_DIR = "MEMCAP_CACHE_DIR"
# group fields that are bookkeeping, not part of what is measured ("largest" only matters to
# energy="auto", which measures energy at each series' largest n)
GROUP_IGNORED = ("max_cell_s",)


def directory() -> str:
    """The shared cache folder: ``$MEMCAP_CACHE_DIR`` or the user cache dir, created if missing.
    ``ValueError`` (one line) when it cannot be used: not a folder, not creatable, not
    writable."""
    env = os.environ.get(ENV_DIR)
    if env is not None:
        path, what = env, f"{ENV_DIR}={env}"
    else:
        path = _user_cache_dir()
        what = f"cache folder {path}"
    if not path.strip():
        raise ValueError(f"{ENV_DIR} is empty: give a folder (or unset it for the default)")
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{what}: not a usable cache folder ({exc.strerror or exc})") from None
    if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: not a usable cache folder (not a writable folder)")
    return path


def _user_cache_dir() -> str:
    try:
        import platformdirs
    except ImportError:  # the XDG default platformdirs gives on Linux
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "memcap")
    return platformdirs.user_cache_dir("memcap", appauthor=False)


def warn(text: str) -> None:
    print(f"memcap: warning: {text}", file=sys.stderr)


def _entry(obj) -> bool:
    """A cache line's shape: an object with a fingerprint, a cell key and a list of row objects."""
    return (isinstance(obj, dict) and isinstance(obj.get("cell"), str)
            and isinstance(obj.get("rows"), list) and bool(obj["rows"])
            and all(isinstance(r, dict) for r in obj["rows"]) and "fingerprint" in obj)


def reusable(rows: list[dict]) -> bool:
    """Cached rows that may stand for a measurement: none timed and unstable (``stable`` false,
    or a timed row from before the stability rule)."""
    return not any(r.get("status") == "ok" and "batch_s_per_input" in r
                   and r.get("stable") is not True for r in rows)


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
        self.writable = True
        if os.path.exists(self.path) and not os.path.isfile(self.path):
            warn(f"{self.path}: not a file; the cache is not used (its cells are measured)")
            self.writable = False
        elif load and os.path.exists(self.path):
            self._load()

    def _load(self) -> None:
        bad = 0
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
        except OSError as exc:
            warn(f"{self.path}: unreadable ({exc.strerror or exc}); its cells are measured again")
            return
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                if i == last:  # a torn last line: the interruption, not damage
                    continue
                obj = None
            if not _entry(obj):
                bad += 1
            elif obj["fingerprint"] == self.fingerprint:
                self.cells[obj["cell"]] = obj["rows"]
        if bad:
            warn(f"{self.path}: {bad} line{'s' if bad > 1 else ''} not a cache entry, ignored "
                 f"(those cells are measured again)")

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
            try:
                os.remove(f)
            except OSError:  # another process pruned it, or it is not a file
                pass

    def earlier_rows(self) -> list[dict]:
        """The rows of the folder's most recent other cache file (an earlier commit, or other
        settings): their times project this run's cells before they are measured."""
        d = os.path.dirname(self.path)
        try:
            others = [f for f in _files(d) if f != self.path]
            latest = max(others, key=os.path.getmtime, default=None)
            if latest is None:
                return []
            with open(latest, encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
        except OSError:
            return []
        rows = []
        for line in lines:
            try:
                obj = json.loads(line) if line.strip() else None
            except (ValueError, RecursionError):
                continue
            if _entry(obj):
                rows += [r for r in obj["rows"] if isinstance(r, dict)]
        return rows

    def get(self, key: str) -> list[dict] | None:
        """The rows cached under ``key``, or None: not there, or unstable (measured again)."""
        rows = self.cells.get(key)
        return rows if rows is not None and reusable(rows) else None

    def unstable(self, key: str) -> bool:
        """``key`` is cached but unstable: it will be measured again."""
        return key in self.cells and not reusable(self.cells[key])

    def put(self, key: str, rows: list[dict]) -> None:
        """Keep ``rows`` under ``key`` when every one of them is final (not a budget skip);
        unstable rows are kept as such (:meth:`get` does not reuse them)."""
        if not rows or not all(r.get("final", True) for r in rows):
            return
        self.cells[key] = rows
        if not self.writable:
            return
        try:
            if not os.path.exists(self.path):
                self.prune()
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"fingerprint": self.fingerprint, "cell": key, "rows": rows},
                                   default=json_default, sort_keys=True) + "\n")
        except OSError as exc:
            warn(f"{self.path}: cannot write ({exc.strerror or exc}); the cache is not kept")
            self.writable = False

    def mark(self, changed: list[dict], key_of) -> None:
        """Rows the sweep found unstable after their cell was cached (a cell slow against its
        neighbours): their cached entries are written again with the new verdict.  ``key_of``:
        a row's identity (the sweep's row key)."""
        want = {key_of(r): r for r in changed}
        for key, rows in list(self.cells.items()):
            hit = [want.get(key_of(r)) for r in rows]
            if any(h is not None and h != r for h, r in zip(hit, rows, strict=True)):
                self.put(key, [h if h is not None else r for h, r in zip(hit, rows,
                                                                           strict=True)])


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
    return document(grid, env if env is not None else environment.collect(), command, rows)


def coverage(grid: dict, directory: str) -> dict:
    """How much of ``grid`` the cache holds for this commit and machine: ``{"builds", "cached",
    "unstable", "missing"}`` (counts of builds; unstable ones are cached but measured again)."""
    cache = CellCache(directory, fingerprint(environment.collect()))
    opts = {**OPTION_DEFAULTS, **{k: v for k, v in grid.items() if k != "blocks"}}
    keys = [cell_key(g, opts) for g in groups(grid)]
    unstable = sum(cache.unstable(k) for k in keys)
    missing = sum(k not in cache.cells for k in keys)
    return {"builds": len(keys), "cached": len(keys) - missing - unstable, "unstable": unstable,
            "missing": missing}


def _files(directory: str) -> list[str]:
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.startswith("cells-") and f.endswith(".jsonl"))


def info(directory: str) -> dict:
    """What the folder holds: per cache file its commit, source hash, cells (and how many are
    unstable) and bytes; totals."""
    files = []
    for path in _files(directory):
        entry = {"file": os.path.basename(path), "commit": None, "source": None, "cells": 0,
                 "unstable": 0, "bytes": 0}
        if os.path.isfile(path):
            entry["bytes"] = os.path.getsize(path)
            cells: dict = {}
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        obj = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if _entry(obj) and isinstance(obj["fingerprint"], dict):
                        entry["commit"] = obj["fingerprint"].get("git_commit")
                        entry["source"] = obj["fingerprint"].get("source")
                        cells[obj["cell"]] = obj["rows"]
            entry["cells"] = len(cells)
            entry["unstable"] = sum(not reusable(rows) for rows in cells.values())
        files.append(entry)
    return {"directory": directory, "files": files,
            "cells": sum(f["cells"] for f in files), "bytes": sum(f["bytes"] for f in files)}


def clear(directory: str) -> tuple[int, int]:
    """Remove every cache file of the folder; (files removed, bytes freed)."""
    n = freed = 0
    for path in _files(directory):
        if os.path.isfile(path):
            freed += os.path.getsize(path)
            os.remove(path)
            n += 1
    return n, freed


def _size(b: int) -> str:
    for unit, f in (("MiB", 2**20), ("KiB", 2**10)):
        if b >= f:
            return f"{b / f:.1f} {unit}"
    return f"{b} B"


def main(args) -> int:
    """``memcap cache info [--json]`` and ``memcap cache clear``."""
    d = directory()
    if args.action == "clear":
        n, freed = clear(d)
        print(f"cache {d}: removed {n} file{'s' if n != 1 else ''} ({_size(freed)})")
        return 0
    rec = info(d)
    if getattr(args, "json", False):
        print(json.dumps(rec, indent=1))
        return 0
    print(f"cache: {d}  ({len(rec['files'])} fingerprint file(s), {rec['cells']} cells, "
          f"{_size(rec['bytes'])}; {ENV_DIR} overrides the folder)")
    for f in rec["files"]:
        commit = (f["commit"] or "unknown")[:12]
        print(f"  commit {commit}  source {f['source'] or '?'}  {f['cells']} cells "
              f"({f['unstable']} unstable)  {_size(f['bytes'])}  {f['file']}")
    return 0


def add_parser(sub) -> None:
    """``memcap cache info|clear`` on the CLI's subcommands."""
    p = sub.add_parser("cache", help="the shared cell cache: where it is, what it holds, clear",
                       description="The cells `memcap report` measured, kept per commit, "
                                   "source hash and machine in one folder shared by every "
                                   "output folder: $MEMCAP_CACHE_DIR, else the user cache "
                                   "directory (~/.cache/memcap on Linux). Cells the stability "
                                   "rule left unstable are measured again when reused.")
    p.add_argument("action", choices=("info", "clear"),
                   help="info: location, cells per commit, size; clear: remove every entry")
    p.add_argument("--json", action="store_true", help="info as one JSON object")
    p.set_defaults(func=main)
