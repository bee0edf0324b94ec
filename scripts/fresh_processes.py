"""Time one sweep cell in many fresh processes, idle or beside busy processes.

Each run is a new ``memcap sweep`` process with its own empty cell cache, so nothing is
reused: import, JIT-cache load, build and the timed calls all happen again. The
distribution of the cell's batch and single times across runs shows how far one
published figure can move between runs of one commit on one machine, and whether the
stability rule flags the runs that moved.

    python scripts/fresh_processes.py --runs 20                       # idle
    python scripts/fresh_processes.py --runs 20 --busy 2              # two spinning processes
    python scripts/fresh_processes.py --runs 20 --json reports/fresh.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the two cells whose times swung between runs: random sparse networks (sparsity 0, n =
# 1,024, p = 32) and rajput, each under the active-weight executor
CELLS = {
    "random-sparse": ["--construction", "random-sparse", "--sparsity", "0", "--n", "1024",
                      "--p", "32"],
    "rajput": ["--construction", "rajput", "--n", "4096", "--p", "8"],
}


def spin(stop: multiprocessing.Event) -> None:
    """Keep one core busy until told to stop."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def one_run(memcap: str, cell: list[str], executor: str) -> dict:
    """One fresh process measuring the cell; returns its row's times and verdict."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cell.json"
        env = dict(os.environ, MEMCAP_CACHE_DIR=str(Path(folder) / "cache"))
        command = [memcap, "sweep", *cell, "--executor", executor, "--energy", "off",
                   "--quiet", "--out", str(out)]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        (row,) = json.loads(out.read_text())["rows"]
    return {"batch_s": row["batch_s_per_input"], "single_s": row["single_s"],
            "stable": row["stable"], "reason": row["stability"]["reason"]}


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1],
            "max_over_min": ordered[-1] / ordered[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20,
                        help="fresh processes per cell (default 20)")
    parser.add_argument("--busy", type=int, default=0,
                        help="processes spinning on a core each during the runs (default 0: idle)")
    parser.add_argument("--cell", choices=sorted(CELLS), action="append",
                        help="cell(s) to time (default both)")
    parser.add_argument("--executor", default="active", help="executor to time (default active)")
    parser.add_argument("--json", type=Path, help="also write the runs and summaries here")
    args = parser.parse_args(argv)
    memcap = str(Path(sys.executable).with_name("memcap"))
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,), daemon=True)
                for _ in range(args.busy)]
    for process in spinners:
        process.start()
    record = {"busy": args.busy, "runs": args.runs, "executor": args.executor, "cells": {}}
    try:
        for name in args.cell or sorted(CELLS):
            runs = []
            for index in range(args.runs):
                runs.append(one_run(memcap, CELLS[name], args.executor))
                print(f"\r{name}: run {index + 1}/{args.runs}", end="", file=sys.stderr)
            print(file=sys.stderr)
            record["cells"][name] = {
                "runs": runs,
                "batch": summary([run["batch_s"] for run in runs]),
                "single": summary([run["single_s"] for run in runs]),
                "unstable_runs": sum(not run["stable"] for run in runs),
            }
    finally:
        stop.set()
        for process in spinners:
            process.join()
    record["load_after"] = os.getloadavg()[0]
    print(f"{args.runs} fresh processes per cell, {args.busy} busy process(es), "
          f"executor {args.executor}, load average {record['load_after']:.2f}")
    print(f"{'cell':<14}{'figure':<8}{'min µs':>9}{'median':>9}{'max µs':>9}{'max/min':>9}"
          f"{'unstable':>10}")
    for name, cell in record["cells"].items():
        for figure in ("batch", "single"):
            s = cell[figure]
            print(f"{name:<14}{figure:<8}{s['min'] * 1e6:>9.2f}{s['median'] * 1e6:>9.2f}"
                  f"{s['max'] * 1e6:>9.2f}{s['max_over_min']:>9.2f}"
                  f"{cell['unstable_runs']:>7}/{args.runs}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        partial = args.json.with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=1))
        partial.replace(args.json)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    sys.exit(status)
