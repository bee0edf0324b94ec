"""``memcap sweep``'s command line: the grid its options describe (a preset, or one block from
the axis options, with the thread-count axis), and the command that reproduces it as printed."""

from __future__ import annotations

import json

from kernels import constructions
from kernels.harness.cell import RANDOM
from kernels.harness.presets import PRESETS
from kernels.harness.timing import check_threads


def _csv(text: str, conv=str) -> list:
    try:
        return [conv(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"cannot read the list {text!r}") from None


def grid_from_args(args) -> dict:
    """The grid of ``memcap sweep``: a preset, or one block from the axis options."""
    if args.preset:
        grid = {k: (list(v) if isinstance(v, list) else v)
                for k, v in PRESETS[args.preset].items()}
        grid = json.loads(json.dumps(grid))
    else:
        block = {"series": "grid", "n": _csv(args.n, int), "p": _csv(args.p, int),
                 "r": _csv(args.r, int), "dtype": _csv(args.dtype)}
        if args.construction:
            block["constructions"] = [c for t in args.construction for c in _csv(t)]
        if args.executor:
            block["executors"] = [e for t in args.executor for e in _csv(t)]
        if args.sparsity:
            block["sparsity"] = _csv(args.sparsity, float)
            block.setdefault("constructions", [RANDOM])
        grid = {"blocks": [block]}
    if args.construction and args.preset:
        keep = {c for t in args.construction for c in _csv(t)}
        for b in grid["blocks"]:
            b["constructions"] = [c for c in (b.get("constructions") or constructions.names())
                                  if c in keep]
        grid["blocks"] = [b for b in grid["blocks"] if b["constructions"]]
    for b in grid["blocks"]:
        for c in b.get("constructions") or []:
            if c != RANDOM:
                constructions.get(c)  # an unknown name is a one-line error
        for axis in ("n", "p", "r"):
            if any(v < 1 for v in b.get(axis, [1])):
                raise ValueError(f"--{axis} values must be >= 1")
        if any(not 0 <= s < 1 for s in b.get("sparsity", [0])):
            raise ValueError("--sparsity values must be in [0, 1)")
    for opt in ("budget_s", "max_cell_s", "energy", "seed"):
        v = getattr(args, opt, None)
        if v is not None:
            grid[opt] = v
    _set_threads(grid, getattr(args, "threads", None))
    return grid


def _set_threads(grid: dict, text: str | None) -> None:
    """The thread-count axis (``--threads N[,N]``, default 1) on every block that times recall;
    each count must be in 1..NUMBA_NUM_THREADS."""
    if text is None:
        return
    threads = [check_threads(t) for t in _csv(text, int)]
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
            if getattr(args, opt):
                cmd += [f"--{opt}", str(getattr(args, opt))]
    cmd += ["--threads", getattr(args, "threads", None) or "1",
            "--seed", str(args.seed if args.seed is not None else 0)]
    for opt, flag in (("budget_s", "--budget-s"), ("max_cell_s", "--max-cell-s"),
                      ("energy", "--energy")):
        if getattr(args, opt, None) is not None:
            cmd += [flag, str(getattr(args, opt))]
    return shlex.join(cmd + ["--out", args.out])
