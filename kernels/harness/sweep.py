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

from kernels.harness import environment, journal
from kernels.harness.cache import Caching, CellCache, fingerprint
from kernels.harness.distributed import connect
from kernels.harness.grid import document, group_done, group_executors, groups, pending, row_key
from kernels.harness.journal import journal_path, read_journal  # noqa: F401 (re-exported)
from kernels.harness.presets import OPTION_DEFAULTS, PRESETS, SIZE_OPTIONS, size_block  # noqa: F401 (re-exported)
from kernels.harness.progress import Announcing, Progress  # noqa: F401 (re-exported)
from kernels.harness.results import SCHEMA, _json, flatten, load, write_results  # noqa: F401 (re-exported)
from kernels.harness.runner import InProcess, group_rows
from kernels.harness.schedule import drive
from kernels.harness.sweep_args import grid_from_args, reproduce_command  # noqa: F401 (re-exported)


def run(grid: dict, out: str, *, resume: bool = True, progress: bool = True,
        command: str | None = None, stream=None, runner=None,
        cache_dir: str | None = None) -> dict:
    """Run ``grid``, appending to the journal beside ``out``; returns the results document.
    ``resume=False`` (``--fresh``) discards the journal and may replace a finished ``out``;
    otherwise a finished ``out`` or a journal of another grid is refused (see
    :mod:`kernels.harness.journal`).  ``runner`` executes the groups (:class:`InProcess` by
    default; a Dask cluster with :func:`kernels.harness.distributed.connect`); this process
    alone writes the journal.  ``cache_dir``: reuse cells measured before on the same commit
    and machine (:mod:`kernels.harness.cache`; not under ``--fresh``), keep the new ones there."""
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
        cache = (CellCache(cache_dir, fingerprint(header["environment"]), load=resume)
                 if cache_dir else None)
        rows = _run_cells(grid, journal_path(out), done_rows, progress, stream, runner, cache)
        doc = document(grid, header["environment"], command, rows)
        journal.finish(out, doc)
    return doc


def _run_cells(grid: dict, jpath: str, done_rows: list[dict], progress: bool, stream,
               runner=None, cache: CellCache | None = None) -> list:
    """The journal's finished rows plus every cell still to do (from ``cache`` where it holds
    them), each appended as it ends."""
    opts = {**OPTION_DEFAULTS, **{k: v for k, v in grid.items() if k != "blocks"}}
    done_rows = [r for r in done_rows if r.get("final", True)]
    done = {row_key(r) for r in done_rows}
    todo = [g for g in groups(grid) if not group_done(g, done)]
    bar = Progress(sum(len(group_executors(g)) for g in todo), stream) if progress else None
    runner = runner or InProcess(opts)
    if bar:
        bar.now(f"{len(todo)} builds to run, {len(done_rows)} cells already done")
        runner = Announcing(runner, bar, _group_label)
    rows, hits = list(done_rows), []
    if cache:  # the cached groups are not run; the others are kept as they finish
        runner = Caching(runner, cache, opts, group_executors)
        hits, todo = runner.split(todo, lambda g: pending(g, done))
    from_cache = {id(r) for h in hits for r in h}  # no time spent: not in the ETA's mean
    with open(jpath, "a", encoding="utf-8") as f:
        try:
            for new in itertools.chain(hits, drive(todo, opts, runner,
                                                   lambda g: pending(g, done), group_rows)):
                for row in new:
                    journal.append(f, row)
                    rows.append(row)
                    if bar:
                        bar.step(_label(row), measured=id(row) not in from_cache)
        except BaseException:  # Ctrl-C: cancel what runs; the journal resumes
            runner.cancel()
            raise
    if bar:
        bar.close()
    return rows


def _group_label(g: dict) -> str:
    sp = f" s={g['sparsity']}" if g.get("sparsity") is not None else ""
    return f"{g['construction']} n={g['n']} p={g['p']}{sp} {g['dtype']}"


def _label(row: dict) -> str:
    sp = f" s={row['sparsity']}" if row["sparsity"] is not None else ""
    sp += f" [{row['variant']}]" if row.get("variant") else ""
    return (f"{row['construction']} {row['executor']} n={row['n']} p={row['p']}{sp} "
            f"{row['dtype']} {row['status']}")


def main(args) -> int:
    """``memcap sweep`` (on a Dask cluster with ``--scheduler``)."""
    grid = grid_from_args(args)
    runner = None
    if getattr(args, "scheduler", None):
        runner = connect(args.scheduler)
    with runner or contextlib.nullcontext():
        doc = run(grid, args.out, resume=not args.fresh, progress=not args.quiet,
                  command=reproduce_command(args), runner=runner)
    ok = sum(r["status"] == "ok" for r in doc["rows"])
    print(f"{ok} cells measured, {len(doc['rows']) - ok} skipped or failed -> {args.out}")
    return 0
