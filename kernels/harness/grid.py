"""The sweep's grid: its builds (*groups*, one per construction × n × p × r × dtype × sparsity ×
threads × options, small n first), the key of a row, and the results document of a finished grid.

A grid is a union of *blocks*, each a full product of its axes (see :mod:`kernels.harness.presets`);
a block may also set ``kind``/``labels``, ``options`` and ``size_only`` (module docstring of
:mod:`kernels.harness.sweep`).  Constructions are taken from the registry
(``kernels.constructions.names()``), so a new construction enters every grid by registering.
"""

from __future__ import annotations

import itertools

from kernels import constructions
from kernels.harness import energy, timing
from kernels.harness.cell import KEY, RANDOM, SIZE, cube_p, dataset_spec, executors_of
from kernels.harness.results import SCHEMA


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


def _order(row: dict):
    return (row["construction"], row.get("variant") or "", row["executor"], row["dtype"],
            row["sparsity"] or 0, row.get("kind") or "", row["p"], row["r"], row["n"],
            row.get("threads") or 1)


def group_executors(g: dict) -> tuple[str, ...]:
    if g.get("size_only"):
        return (SIZE,)
    if g.get("executors"):
        return tuple(g["executors"])
    try:
        return executors_of(g["construction"])
    except Exception:
        return ("-",)


def pending(g: dict, done: set) -> list[str]:
    return [e for e in group_executors(g) if row_key({**g, "executor": e}) not in done]


def group_done(g: dict, done: set) -> bool:
    return all(row_key({**g, "executor": e}) in done for e in group_executors(g))
