"""``memcap sweep``'s command line: the grid its options describe (a preset, or one block from
the axis options, with the thread-count axis), and the command that reproduces it as printed."""

from __future__ import annotations

import json
import math

from kernels import constructions
from kernels.harness.cell import RANDOM, executors_of
from kernels.harness.presets import PRESETS
from kernels.harness.timing import check_threads
from kernels.memorizer import EXECUTORS
from kernels.model.network import DTYPES

# the axis options' defaults (None in the parser, so that an axis given beside --preset is seen)
AXIS_DEFAULTS = {"n": "64,256,1024", "p": "8", "r": "1", "dtype": "float64"}
AXES = ("n", "p", "r", "dtype", "sparsity", "executor")


def _csv(text: str, conv=str, option: str | None = None) -> list:
    """The values of a comma-separated option, each stripped; an empty list, an empty item or a
    value ``conv`` refuses is a one-line ``ValueError`` naming ``option``."""
    name = f"--{option.replace('_', '-')}" if option else "the list"
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise ValueError(f"{name} names no values (got {text!r})")
    if not all(items):
        raise ValueError(f"{name} has an empty item in {text!r}")
    try:
        return [conv(t) for t in items]
    except ValueError:
        raise ValueError(f"{name}: cannot read {text!r} as "
                         f"{'integers' if conv is int else 'numbers'}") from None


def _axis(args, option: str) -> str | None:
    value = getattr(args, option, None)
    return AXIS_DEFAULTS.get(option) if value is None and not args.preset else value


def _joined(args, option: str) -> list | None:
    """A repeatable option's values (``--construction a,b --construction c``), or None."""
    texts = getattr(args, option, None)
    return None if texts is None else [v for t in texts for v in _csv(t, option=option)]


def _positive_number(args, option: str) -> None:
    v = getattr(args, option, None)
    if v is not None and not (math.isfinite(v) and v > 0):
        raise ValueError(f"--{option.replace('_', '-')} must be a positive number of seconds, "
                         f"got {v}")


def check_args(args) -> None:
    """The options that describe no grid, refused before anything runs: an axis beside a preset
    (which fixes its axes), a negative seed, a time limit that is not a positive number, an
    empty scheduler or output."""
    if args.preset:
        given = [a for a in AXES if getattr(args, a, None) is not None]
        if given:
            raise ValueError(f"--{given[0]} cannot be combined with --preset (a preset fixes its "
                             "axes; give the axes without --preset instead)")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    _positive_number(args, "budget_s")
    _positive_number(args, "max_cell_s")
    if getattr(args, "scheduler", None) is not None and not args.scheduler.strip():
        raise ValueError("--scheduler is empty: give local[:WORKERS], tcp://HOST:PORT or a "
                         "scheduler file")
    if not args.out:
        raise ValueError("--out is empty: name the results file, e.g. --out results.json")


def _check_block(b: dict, names: tuple[str, ...]) -> None:
    """One block's axes: known constructions, executors that one of them offers, positive sizes,
    known dtypes, sparsities in [0, 1) where the random sparse networks take them."""
    cons = b.get("constructions") or list(names)
    for c in cons:
        if c != RANDOM:
            constructions.get(c)  # an unknown name is a one-line error listing the names
    for axis in ("n", "p", "r"):
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in b.get(axis, [1])):
            raise ValueError(f"--{axis} values must be integers >= 1, got {b[axis]}")
    for t in b.get("dtype", []):
        if t not in DTYPES:
            raise ValueError(f"--dtype {t!r} is not a dtype; choose from {', '.join(DTYPES)}")
    for e in b.get("executors") or []:
        if e not in EXECUTORS:
            raise ValueError(f"--executor {e!r} is not an executor; choose from "
                             f"{', '.join(EXECUTORS)}")
    if b.get("executors") and not b.get("size_only"):
        offered = {c: executors_of(c) for c in cons}
        for e in b["executors"]:
            if not any(e in ex for ex in offered.values()):
                shown = "; ".join(f"{c}: {', '.join(ex)}" for c, ex in offered.items())
                raise ValueError(f"--executor {e}: no construction of the grid offers it "
                                 f"({shown})")
    if "sparsity" in b:
        if any(isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s < 1
               for s in b["sparsity"]):
            raise ValueError(f"--sparsity values must be in [0, 1), got {b['sparsity']}")
        if RANDOM not in cons:
            raise ValueError(f"--sparsity applies to the random sparse networks only: add "
                             f"{RANDOM} to --construction")
    elif RANDOM in cons:
        raise ValueError(f"{RANDOM} needs --sparsity S[,S] (its weight sparsities)")


def check_grid(grid: dict) -> None:
    """A grid's blocks and run options, checked before anything runs (one line naming the
    option)."""
    names = tuple(constructions.names())
    if not grid.get("blocks"):
        raise ValueError("the grid has no blocks: no construction is left to sweep")
    for b in grid["blocks"]:
        _check_block(b, names)
    seed = grid.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed}")
    for opt in ("budget_s", "max_cell_s"):
        v = grid.get(opt)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                              or not (math.isfinite(v) and v > 0)):
            raise ValueError(f"--{opt.replace('_', '-')} must be a positive number of seconds, "
                             f"got {v}")


def grid_from_args(args) -> dict:
    """The grid of ``memcap sweep``: a preset, or one block from the axis options; every option
    checked (:func:`check_args`, :func:`check_grid`) before anything runs."""
    check_args(args)
    chosen = _joined(args, "construction")
    if args.preset:
        grid = json.loads(json.dumps(PRESETS[args.preset]))
    else:
        block = {"series": "grid", "n": _csv(_axis(args, "n"), int, "n"),
                 "p": _csv(_axis(args, "p"), int, "p"), "r": _csv(_axis(args, "r"), int, "r"),
                 "dtype": _csv(_axis(args, "dtype"), option="dtype")}
        if chosen is not None:
            block["constructions"] = list(dict.fromkeys(chosen))
        if args.executor is not None:
            block["executors"] = list(dict.fromkeys(_joined(args, "executor")))
        if args.sparsity is not None:
            block["sparsity"] = _csv(args.sparsity, float, "sparsity")
            block.setdefault("constructions", [RANDOM])
        grid = {"blocks": [block]}
    if chosen is not None and args.preset:
        for c in chosen:
            if c != RANDOM:
                constructions.get(c)
        keep = set(chosen)
        for b in grid["blocks"]:
            b["constructions"] = [c for c in (b.get("constructions") or constructions.names())
                                  if c in keep]
        grid["blocks"] = [b for b in grid["blocks"] if b["constructions"]]
        if not grid["blocks"]:
            raise ValueError(f"--preset {args.preset} has no cells of {', '.join(chosen)}")
    for opt in ("budget_s", "max_cell_s", "energy", "seed"):
        v = getattr(args, opt, None)
        if v is not None:
            grid[opt] = v
    _set_threads(grid, getattr(args, "threads", None))
    check_grid(grid)
    return grid


def _set_threads(grid: dict, text: str | None) -> None:
    """The thread-count axis (``--threads N[,N]``, default 1) on every block that times recall;
    each count must be in 1..NUMBA_NUM_THREADS."""
    if text is None:
        return
    try:
        threads = [check_threads(t) for t in _csv(text, int, "threads")]
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc).startswith("--") else f"--threads: {exc}") from None
    for b in grid["blocks"]:
        if not b.get("size_only"):
            b["threads"] = threads


def reproduce_command(args) -> str:
    """A ``memcap sweep`` command that runs as printed and measures the same grid: every axis,
    the seed and the thread counts spelled out."""
    import shlex

    cmd = ["memcap", "sweep"]
    if args.preset:
        cmd += ["--preset", args.preset]
        if args.construction:
            cmd += ["--construction", ",".join(c for t in args.construction for c in _csv(t))]
    else:
        for opt in ("construction", "executor"):
            vals = getattr(args, opt)
            if vals:
                cmd += [f"--{opt}", ",".join(c for t in vals for c in _csv(t))]
        for opt in ("n", "p", "r", "dtype", "sparsity"):
            if _axis(args, opt) is not None:
                cmd += [f"--{opt}", str(_axis(args, opt))]
    cmd += ["--threads", getattr(args, "threads", None) or "1",
            "--seed", str(args.seed if args.seed is not None else 0)]
    for opt, flag in (("budget_s", "--budget-s"), ("max_cell_s", "--max-cell-s"),
                      ("energy", "--energy")):
        if getattr(args, opt, None) is not None:
            cmd += [flag, str(getattr(args, opt))]
    return shlex.join(cmd + ["--out", args.out])
