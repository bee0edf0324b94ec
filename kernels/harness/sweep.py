"""Sweeps: a grid of constructions × executors × n × p × r × sparsity × dtype, cell by cell.

Every finished cell is appended at once to a journal (``<out>.jsonl``, one JSON object a line), so
an interrupted sweep loses nothing: running the same command again resumes where it stopped.  When
the grid is done, ``<out>`` (one JSON document: environment, grid, rows) and ``<out>.csv`` are
written and the journal is removed.  A cell that cannot be done (a size limit, an assumption the
construction needs, a module that does not exist yet, the time budget) is a row with
``status: "skipped"`` and its ``reason``; a cell that fails unexpectedly is ``status: "error"``.

A grid is a union of *blocks*, each a full product of its axes (see :mod:`kernels.harness.presets`);
``memcap sweep`` builds one block from its options.  A block may also set ``kind``/``labels`` (the
data of every construction that does not declare its own), ``options`` ({construction: [option
dicts]}: one series per dict, its ``variant`` label e.g. ``"bits=64"``), and ``size_only`` (build
and record the network's size, one row with executor ``"size"``, no recall: cheap at any n).
Constructions are taken from the registry (``kernels.constructions.names()``), so a new
construction enters every sweep by registering.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time

from kernels import constructions
from kernels.harness import energy, environment, journal, timing
from kernels.harness.cache import Caching, CellCache, fingerprint
from kernels.harness.cell import (
    RANDOM,
    Skip,
    _one_line,
    build,
    cube_p,
    dataset_spec,
    describe,
    evaluate,
    executors_of,
    size_record,
    theorem_bounds,
)
from kernels.harness.journal import journal_path, read_journal  # noqa: F401 (re-exported)
from kernels.harness.presets import OPTION_DEFAULTS, PRESETS, SIZE_OPTIONS, size_block  # noqa: F401 (re-exported)
from kernels.harness.results import SCHEMA, _json, flatten, load, write_results  # noqa: F401 (re-exported)
from kernels.harness.schedule import drive
from kernels.harness.sweep_args import grid_from_args, reproduce_command  # noqa: F401 (re-exported)

KEY = ("construction", "variant", "executor", "kind", "n", "p", "r", "dtype", "sparsity", "seed",
       "threads")
SIZE = "size"  # the executor of a size-only row

def variant(options: dict | None) -> str | None:
    """The label of a construction's options: ``"bits=64"``, ``"depth=8,xor=tree"``; None for {}."""
    return ",".join(f"{k}={v}" for k, v in sorted((options or {}).items())) or None


def groups(grid: dict) -> list[dict]:
    """The builds of ``grid``, deduplicated, small n first (every construction gets its small
    cells before any gets its large ones)."""
    seed = grid.get("seed", 0)
    out, seen = [], set()
    names = [n for n in constructions.names()]
    for block in grid["blocks"]:
        cons = block.get("constructions") or names
        caps = block.get("n_max") or {}  # {construction: its largest n in this block}
        data = {k: block[k] for k in ("kind", "labels") if block.get(k)}
        for name, n, p, r, dtype, sp, threads in itertools.product(
                cons, block["n"], block.get("p", [8]), block.get("r", [1]),
                block.get("dtype", ["float64"]), block.get("sparsity", [None]),
                block.get("threads", [1])):
            if name == RANDOM and sp is None or n > caps.get(name, n):
                continue
            n_max = max(v for v in block["n"] if v <= caps.get(name, v))
            if name != RANDOM:
                sp = None
            for opts in (block.get("options") or {}).get(name, [{}]):
                g = {"construction": name, "n": int(n), "p": int(p), "r": int(r),
                     "dtype": dtype, "sparsity": sp, "seed": seed, "threads": int(threads),
                     "series": block.get("series", "grid"), "grid_p": int(p),
                     "executors": block.get("executors"), "largest": int(n) == n_max,
                     "variant": variant(opts), "options": dict(opts) or None,
                     "size_only": bool(block.get("size_only")),
                     "max_cell_s": block.get("max_cell_s")}
                if name == RANDOM:
                    g.update({"kind": "gaussian", "labels": "network"})
                else:
                    g.update(dataset_spec(name, data))
                    if "labels" in data:  # the block's labels (or the construction's own)
                        g["labels_fixed"] = g["labels"]
                if g["kind"] == "cube":
                    g["p"] = cube_p(g["n"], g["p"])
                k = tuple(g[a] for a in KEY if a != "executor") + (g["size_only"],)
                if k not in seen:
                    seen.add(k)
                    out.append(g)
    out.sort(key=lambda g: (g["n"] * g["p"], g["construction"], g["variant"] or ""))
    return out


def row_key(row: dict) -> tuple:
    return tuple(row.get(a) for a in KEY)


class Progress:
    """A one-line progress bar on stderr (a plain line per step when stderr is not a terminal)."""

    def __init__(self, total: int, stream=None, width: int = 28):
        self.total, self.done, self.width = max(total, 1), 0, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()

    def step(self, label: str, k: int = 1) -> None:
        self.done += k
        frac = min(1.0, self.done / self.total)
        el = time.perf_counter() - self.t0
        bar = "#" * int(frac * self.width) + "." * (self.width - int(frac * self.width))
        text = f"[{bar}] {self.done}/{self.total} {el:5.0f}s  {label}"
        if self.tty:
            self.stream.write("\r" + text[:110].ljust(110))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run(grid: dict, out: str, *, resume: bool = True, progress: bool = True,
        command: str | None = None, stream=None, runner=None,
        cache_dir: str | None = None, reuse: bool | None = None) -> dict:
    """Run ``grid``, appending to the journal beside ``out``; returns the results document.
    ``resume=False`` (``--fresh``) discards the journal and may replace a finished ``out``;
    otherwise a finished ``out`` or a journal of another grid is refused (see
    :mod:`kernels.harness.journal`).  ``runner`` executes the groups (:class:`InProcess` by
    default; a Dask cluster with :func:`kernels.harness.distributed.connect`); this process
    alone writes the journal.  ``cache_dir``: reuse cells measured before on the same commit
    and machine (:mod:`kernels.harness.cache`; not under ``--fresh``), keep the new ones there;
    ``reuse`` overrides whether cached cells are reused (default: ``resume``)."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with journal.lock(out):
        header, done_rows = journal.prepare(
            out, grid, fresh=not resume,
            header=lambda: {"type": "header", "schema": SCHEMA,
                            "environment": environment.collect(), "grid": grid,
                            "command": command})
        if progress and done_rows:
            print(f"memcap sweep: resuming, {len(done_rows)} cells already done",
                  file=stream or sys.stderr)
        cache = (CellCache(cache_dir, fingerprint(header["environment"]),
                           load=resume if reuse is None else reuse)
                 if cache_dir else None)
        rows = _run_cells(grid, journal_path(out), done_rows, progress, stream, runner, cache)
        doc = document(grid, header["environment"], command, rows)
        if cache:  # cells found slow against their neighbours are not reused as stable
            cache.mark([r for r in rows if r.get("stable") is False], row_key)
        journal.finish(out, doc)
    return doc


def document(grid: dict, env: dict, command: str | None, rows: list[dict]) -> dict:
    """The results document of a finished grid.  Every row carries ``stable`` (the stability
    rule of :mod:`kernels.harness.timing`): true/false where it was timed, None where it was
    skipped, failed or only sized; rule (c), a cell slow against its neighbours, applies here."""
    for r in rows:
        if r.get("status") != "ok" or "batch_s_per_input" not in r:
            r["stable"] = None
        elif "stable" not in r:  # a row measured before the rule: unknown, so never stable
            r["stable"] = False
    timing.neighbour_check(rows)
    return {"schema": SCHEMA, "environment": env, "grid": grid, "command": command,
            "energy_model": {"source": energy.SOURCE, "table": energy.table()},
            "rows": sorted(rows, key=_order)}


def _run_cells(grid: dict, jpath: str, done_rows: list[dict], progress: bool, stream,
               runner=None, cache: CellCache | None = None) -> list:
    """The journal's finished rows plus every cell still to do (from ``cache`` where it holds
    them), each appended as it ends."""
    opts = {**OPTION_DEFAULTS, **{k: v for k, v in grid.items() if k != "blocks"}}
    done_rows = [r for r in done_rows if r.get("final", True)]
    done = {row_key(r) for r in done_rows}
    todo = [g for g in groups(grid) if not _group_done(g, done)]
    bar = Progress(sum(len(_executors(g)) for g in todo), stream) if progress else None
    runner = runner or InProcess(opts)
    rows, hits = list(done_rows), []
    if cache:  # the cached groups are not run; the others are kept as they finish
        runner = Caching(runner, cache, opts, _executors)
        hits, todo = runner.split(todo, lambda g: _pending(g, done))
    with open(jpath, "a", encoding="utf-8") as f:
        try:
            for new in itertools.chain(hits, drive(todo, opts, runner,
                                                   lambda g: _pending(g, done), _rows)):
                for row in new:
                    journal.append(f, row)
                    rows.append(row)
                    if bar:
                        bar.step(_label(row))
        except BaseException:  # Ctrl-C: cancel what runs; the journal resumes
            runner.cancel()
            raise
    if bar:
        bar.close()
    return rows


def _label(row: dict) -> str:
    sp = f" s={row['sparsity']}" if row["sparsity"] is not None else ""
    sp += f" [{row['variant']}]" if row.get("variant") else ""
    return (f"{row['construction']} {row['executor']} n={row['n']} p={row['p']}{sp} "
            f"{row['dtype']} {row['status']}")


class InProcess:
    """The embedded runner: each submitted group runs here, in this process, when asked for."""

    def __init__(self, opts: dict):
        self.idle_w = _idle(opts)
        self.warmed = set()  # (construction, dtype) whose build ran once untimed (compilation)
        self.queue = []

    def slots(self) -> int:  # one group at a time: checked for budget just before it runs
        return 1

    def submit(self, i: int, g: dict, execs: list, opts: dict) -> None:
        self.queue.append((i, g, execs, opts))

    def next(self):
        i, g, execs, opts = self.queue.pop(0)
        return i, _run_group(g, execs, opts, self.idle_w, self.warmed)

    def cancel(self) -> None:
        self.queue.clear()


def _order(row: dict):
    return (row["construction"], row.get("variant") or "", row["executor"], row["dtype"],
            row["sparsity"] or 0, row.get("kind") or "", row["p"], row["r"], row["n"],
            row.get("threads") or 1)


def _executors(g: dict) -> tuple[str, ...]:
    if g.get("size_only"):
        return (SIZE,)
    if g.get("executors"):
        return tuple(g["executors"])
    try:
        return executors_of(g["construction"])
    except Exception:
        return ("-",)


def _pending(g: dict, done: set) -> list[str]:
    return [e for e in _executors(g) if row_key({**g, "executor": e}) not in done]


def _rows(g: dict, execs: list, **fields) -> list[dict]:
    return [{**_base(g, e), **fields} for e in execs]


def _group_done(g: dict, done: set) -> bool:
    return all(row_key({**g, "executor": e}) in done for e in _executors(g))


def _idle(opts: dict) -> dict:
    if opts.get("energy", "auto") == "off":
        return {}
    if not any(v == "available" for v in energy.availability().values()):
        return {}
    return energy.idle_power(max(1.0, 2 * opts.get("energy_window_s", 1.0)))


def _base(g: dict, executor: str) -> dict:
    return {**{a: g.get(a) for a in KEY if a != "executor"}, "executor": executor,
            "series": g["series"], "grid_p": g["grid_p"], "labels": g["labels"],
            "options": g.get("options")}


def _run_group(g: dict, execs: list, opts: dict, idle_w: dict, warmed: set):
    """(rows of ``execs`` on group ``g``, (n, build s, evaluation s) or None), each row
    stamped with the machine that measured it and its share of the group's wall and CPU
    seconds (``cell_s``, ``cell_cpu_s``)."""
    t0, c0 = time.perf_counter(), time.process_time()
    rows, times = _measure_group(g, execs, opts, idle_w, warmed)
    k = max(len(rows), 1)
    share, cpu = (time.perf_counter() - t0) / k, (time.process_time() - c0) / k
    for r in rows:
        r["cell_s"], r["cell_cpu_s"] = share, cpu
    return environment.stamp(rows), times


def _measure_group(g: dict, execs: list, opts: dict, idle_w: dict, warmed: set):
    """Build group ``g`` once and measure each executor of ``execs`` on it."""
    if (g["construction"], g["dtype"]) not in warmed:  # compile what the build compiles, untimed
        warmed.add((g["construction"], g["dtype"]))
        try:
            build({**g, "n": min(g["n"], 32)}, opts["max_bytes"])
        except Exception:
            pass
    try:
        m, build_s, build_peak = build(g, opts["max_bytes"], trace=not g.get("size_only"))
    except Skip as exc:
        return _rows(g, execs, status="skipped", reason=str(exc)), None
    except MemoryError:
        return _rows(g, execs, status="skipped", reason="out of memory"), None
    except Exception as exc:  # a construction bug must not stop the sweep
        return _rows(g, execs, status="error", reason=_one_line(exc)), None
    theorem = theorem_bounds(m.dataset.n, m.dataset.p, m.dataset.r)
    bounds = {"ops_lower": theorem["theorem3_floor"]}
    try:
        bounds.update({k: v for k, v in m.bounds().items() if isinstance(v, int | float)})
    except Exception:
        pass
    if g.get("size_only"):
        return [{**_base(g, SIZE), **size_record(m), "build_s": build_s, "status": "ok",
                 "build_peak_bytes": build_peak, "bounds": bounds, "theorem": theorem}], (
                     g["n"], build_s, 0.0)
    info = describe(m)
    rows = []
    t0 = time.perf_counter()
    for e in execs:
        base = {**_base(g, e), **info, "build_s": build_s, "build_peak_bytes": build_peak,
                "bounds": bounds, "theorem": theorem}
        if e not in m.executors:
            rows.append({**base, "status": "skipped",
                         "reason": f"this {g['construction']} build offers only "
                                   f"{', '.join(m.executors)}"})
            continue
        want = opts.get("energy") == "all" or (opts.get("energy") == "auto"
                                                 and g.get("largest", False))
        try:
            rows.append({**base, "status": "ok",
                         **evaluate(m, g, e, {**opts, "measure_energy": want}, idle_w)})
        except Skip as exc:
            rows.append({**base, "status": "skipped", "reason": str(exc)})
        except MemoryError:
            rows.append({**base, "status": "skipped", "reason": "out of memory"})
        except Exception as exc:
            rows.append({**base, "status": "error", "reason": _one_line(exc)})
    return rows, (g["n"], build_s, time.perf_counter() - t0)


def main(args) -> int:
    """``memcap sweep`` (on a Dask cluster with ``--scheduler``)."""
    grid = grid_from_args(args)
    runner = None
    if getattr(args, "scheduler", None):
        from kernels.harness.distributed import connect

        runner = connect(args.scheduler)
    with runner or contextlib.nullcontext():
        doc = run(grid, args.out, resume=not args.fresh, progress=not args.quiet,
                  command=reproduce_command(args), runner=runner)
    ok = sum(r["status"] == "ok" for r in doc["rows"])
    print(f"{ok} cells measured, {len(doc['rows']) - ok} skipped or failed -> {args.out}")
    return 0
