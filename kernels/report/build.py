"""``memcap report``: run the benchmark grid (or reuse the cells cached for this commit and
machine, or read a results file), then write ``DIR/index.html`` rendered by
:func:`kernels.report.html.render` — everything read and rendered before anything is written."""

from __future__ import annotations

import json
import os
import shlex
import sys

from kernels.harness import cache, results, sweep


def render(doc: dict, command: str, compare: str | None = None) -> str:
    """:func:`kernels.report.html.render`, imported when first needed: matplotlib's import takes
    about a second, and the grid's first progress line is due before it."""
    from kernels.report import html

    return html.render(doc, command, compare)


def load_compare(path: str):
    """:func:`kernels.report.html.load_compare` (deferred as :func:`render`)."""
    from kernels.report import html

    return html.load_compare(path)


def write(doc: dict, out_dir: str, command: str, compare: str | None = None) -> str:
    """Render, then replace ``out_dir/index.html`` atomically (a failed render writes nothing)."""
    text = render(doc, command, compare)
    path = os.path.join(out_dir, "index.html")
    results.write_text(path, text)
    return path


def _render_checked(doc: dict, source: str, command: str, compare: str | None) -> str:
    """The report of a results file, or a one-line ``ValueError`` naming the file when its rows
    lack what the report reads (a file from elsewhere, or edited by hand)."""
    try:
        return render(doc, command, compare)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"{source}: cannot render a report from these results "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                         ) from None


def from_results(args, out_dir: str, command: str, compare: str | None) -> str:
    """``memcap report --results FILE``: everything is read and rendered before anything is
    written; ``out_dir/results.json`` is replaced by other results only with ``--force``."""
    doc = results.load(args.results)
    command = doc.get("command") or command
    text = _render_checked(doc, args.results, command, compare)
    target = os.path.join(out_dir, "results.json")
    replace = os.path.abspath(args.results) != os.path.abspath(target)
    if replace:  # the results and their CSV (nothing is measured: no journal, no lock)
        results.check_writable(target, results.csv_path(target))
    if replace and os.path.exists(target) and not getattr(args, "force", False):
        try:
            same = results.load(target) == json.loads(results.dumps(doc))
        except ValueError:
            same = False
        if not same:
            raise ValueError(f"{target}: other results are there; --force replaces them (or "
                             "choose another --out)")
    if replace:
        results.write_results(doc, target)
    path = os.path.join(out_dir, "index.html")
    results.write_text(path, text)
    return path


def _measure(args, out_dir: str, results_path: str, command: str, runner=None) -> dict:
    """The results of the report's grid.  The cells live in the shared cache
    (:func:`kernels.harness.cache.directory`, one folder for every output folder), so a report
    of an already measured commit into a new folder only renders.  Over a finished
    ``results.json``: rendered again as it is when the cache gives exactly it; when the cache
    holds every build of the grid but some are unstable, those alone are measured again and the
    results replaced (an outlier is never frozen); else the grid is run under the sweep's rules
    (a finished ``results.json`` is replaced only with ``--fresh``)."""
    grid = getattr(args, "grid", None) or json.loads(json.dumps(
        sweep.PRESETS["quick" if args.quick else "default"]))
    fresh = getattr(args, "fresh", False) or getattr(args, "force", False)
    cache_dir = cache.directory()
    if not fresh and os.path.isfile(results_path):
        try:
            old = results.load(results_path)
        except ValueError:
            old = None
        doc = old and cache.from_cache(grid, cache_dir, old.get("command"), old["environment"])
        if doc is not None and json.loads(results.dumps(doc)) == old:
            return old
        held = cache.coverage(grid, cache_dir)
        if old is not None and held["missing"] == 0 and held["unstable"]:
            print(f"memcap report: {held['unstable']} unstable of {held['builds']} cached "
                  "builds are measured again", file=sys.stderr)
            sweep.run(grid, results_path, resume=False, reuse=True, command=command,
                      cache_dir=cache_dir, runner=runner)
            return sweep.load(results_path)
    sweep.run(grid, results_path, resume=not fresh, command=command, cache_dir=cache_dir,
              runner=runner)
    return sweep.load(results_path)  # render from the file, so a re-render gives the same bytes


def main(args, runner=None) -> int:
    """``memcap report [--quick] [--out DIR] [--results FILE] [--compare FILE] [--fresh]``.
    ``--results`` renders a results file and ``--compare`` alone renders ``DIR/results.json``:
    neither measures anything.  ``runner``: what runs the grid's groups (the sweep's default, an
    in-process runner, when None)."""
    out_dir = args.out
    if not out_dir or not out_dir.strip():
        raise ValueError("--out is empty: name the report's folder, e.g. --out reports/")
    results_path = os.path.join(out_dir, "results.json")
    argv = getattr(args, "argv", None)
    command = "memcap " + (shlex.join(argv) if argv else
                           "report" + (" --quick" if args.quick else "") + f" --out {out_dir}")
    compare = getattr(args, "compare", None)
    if compare is not None:
        load_compare(compare)  # a file that is not one is refused before anything runs
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"{out_dir}: not a folder")
    results.check_writable(os.path.join(out_dir, "index.html"))
    if not getattr(args, "results", None) and not compare:
        sweep.check_outputs(results_path)  # results, CSV, journal and lock: before measuring
    if compare and not getattr(args, "results", None):
        if not os.path.isfile(results_path):
            raise ValueError(f"{results_path}: no such file (run `memcap report --out "
                             f"{out_dir}` first, or give --results FILE)")
        args.results = results_path
    if getattr(args, "results", None):
        path = from_results(args, out_dir, command, compare)
    else:
        doc = _measure(args, out_dir, results_path, command, runner)
        path = write(doc, out_dir, doc.get("command") or command, compare)
    print(f"report: {path}  (results: {results_path}, {results_path[:-5]}.csv)")
    return 0
