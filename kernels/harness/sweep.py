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
from kernels.harness.cell import group_rows
from kernels.harness.grid import document, group_done, group_executors, groups, pending, row_key
from kernels.harness.journal import journal_path, read_journal  # noqa: F401 (re-exported)
from kernels.harness.presets import OPTION_DEFAULTS, PRESETS, SIZE_OPTIONS, size_block  # noqa: F401 (re-exported)
from kernels.harness.progress import Announcing, Progress, Projection  # noqa: F401 (re-exported)
from kernels.harness.results import (  # noqa: F401 (re-exported)
    SCHEMA,
    _json,
    check_writable,
    csv_path,
    flatten,
    load,
    write_failed,
    write_results,
)
from kernels.harness.runner import InProcess
from kernels.harness.schedule import drive
from kernels.harness.sweep_args import grid_from_args, reproduce_command  # noqa: F401 (re-exported)


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
    check_outputs(out)
    folder = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, out) from None
    with journal.lock(out):
        complete = journal.finished(out, grid) if resume else None
        if complete is not None:  # the same grid, finished: nothing to run, nothing replaced
            return complete
        header, done_rows = journal.prepare(
            out, grid, fresh=not resume,
            header=lambda: {"type": "header", "schema": SCHEMA,
                            "environment": environment.collect(), "grid": grid,
                            "command": command},
            cell_key=row_key, cells=cells(grid))
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


def cells(grid: dict) -> set:
    """The key of every cell of ``grid`` (a journal row outside them is not this sweep's)."""
    return {row_key({**g, "executor": e}) for g in groups(grid) for e in group_executors(g)}


def check_outputs(out: str) -> None:
    """Refuse, before anything runs, an ``out`` whose results, CSV, journal or lock cannot be
    written (an empty path, a folder in the way, a read-only or full folder)."""
    if not out:
        raise ValueError("--out is empty: name the results file, e.g. --out results.json")
    journal.regular_file(journal.journal_path(out), "journal")
    journal.regular_file(journal.lock_path(out), "lock")
    check_writable(out, csv_path(out))


def _run_cells(grid: dict, jpath: str, done_rows: list[dict], progress: bool, stream,
               runner=None, cache: CellCache | None = None) -> list:
    """The journal's finished rows plus every cell still to do (from ``cache`` where it holds
    them), each appended as it ends."""
    opts = {**OPTION_DEFAULTS, **{k: v for k, v in grid.items() if k != "blocks"}}
    done_rows = [r for r in done_rows if r.get("final", True)]
    done = {row_key(r) for r in done_rows}
    todo = [g for g in groups(grid) if not group_done(g, done)]
    projection = Projection(todo, lambda g: len(pending(g, done)))
    for row in done_rows:  # times of an interrupted run: data for the projection
        projection.observe(row)
    for row in cache.earlier_rows() if cache else ():  # an earlier commit's times: the same
        projection.observe(row, earlier=True)
    bar = (Progress(sum(len(pending(g, done)) for g in todo), stream, projection)
           if progress else None)
    runner = runner or InProcess(opts)
    if bar:
        bar.now(f"{len(todo)} builds to run, {len(done_rows)} cells already done")
        runner = Announcing(runner, bar, _group_label)
    rows, hits = list(done_rows), []
    if cache:  # the cached groups are not run; the others are kept as they finish
        runner = Caching(runner, cache, opts, group_executors)
        hits, todo = runner.split(todo, lambda g: pending(g, done))
    from_cache = {id(r) for h in hits for r in h}  # no time spent: not in the ETA's mean
    with journal.open_for_append(jpath) as f:
        try:
            for new in itertools.chain(hits, drive(todo, opts, runner,
                                                   lambda g: pending(g, done), group_rows)):
                for row in new:
                    journal.append(f, row)
                    rows.append(row)
                    if bar:
                        bar.step(_label(row), measured=id(row) not in from_cache, row=row)
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
    """``memcap sweep`` (on a Dask cluster with ``--scheduler``).  Everything is checked before
    anything runs: the grid's options, the output paths, and whether this very grid is already
    finished there (then it says so and exits 0; ``--fresh`` measures it again)."""
    grid = grid_from_args(args)
    check_outputs(args.out)
    complete = None if args.fresh else journal.finished(args.out, grid)
    if complete is not None:
        print(f"{args.out}: this sweep is complete ({_tally(complete['rows'])}); nothing to "
              "run (--fresh measures it again)")
        return 0
    runner = None
    if getattr(args, "scheduler", None) is not None:
        # deferred: Dask's import takes about a second, and the first line is due within two
        from kernels.harness.distributed import connect

        runner = connect(args.scheduler)
    with runner or contextlib.nullcontext():
        doc = run(grid, args.out, resume=not args.fresh, progress=not args.quiet,
                  command=reproduce_command(args), runner=runner)
    print(f"{_tally(doc['rows'])} -> {args.out}")
    return 0


def _tally(rows: list[dict]) -> str:
    ok = sum(r["status"] == "ok" for r in rows)
    later = sum(r.get("final") is False for r in rows)
    text = f"{ok} cells measured, {len(rows) - ok} skipped or failed"
    text += f" ({later} of them to retry: --fresh)" if later else ""
    unstable = [r for r in rows if r.get("stable") is False]
    if unstable:
        busy = sum("machine busy" in ((r.get("stability") or {}).get("reason") or "")
                   for r in unstable)
        text += (f"; {len(unstable)} timed unstable" + (
            f" ({busy} while other tasks wanted every core: time them on a quiet machine)"
            if busy else ""))
    return text
