"""The results file of a sweep: one JSON document (schema, environment, grid, rows) and the same
rows flattened to CSV beside it.  Written atomically; read back by ``memcap report --results``."""

from __future__ import annotations

import csv
import json
import os

SCHEMA = 1


def json_default(o):
    """``json.dump``'s ``default``: NumPy scalars and arrays as Python numbers and lists (the one
    NumPy->JSON encoder, used by the results file and ``memcap``'s JSON output)."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot serialise {type(o).__name__}")


_json = json_default  # the name harness/sweep.py imports


CSV_FIRST = ["status", "construction", "executor", "series", "n", "p", "r", "dtype", "sparsity",
             "exact", "ops_mean", "ops_max", "batch_s_per_input", "single_s", "build_s",
             "energy_proxy_pj", "energy_measured_pj", "reason"]


def write_results(doc: dict, out: str) -> None:
    """``out`` (JSON document) and the same rows flattened as ``<out>.csv``."""
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=json_default, sort_keys=True)
    os.replace(tmp, out)
    flat = [flatten(r) for r in doc["rows"]]
    cols = CSV_FIRST + sorted({k for r in flat for k in r} - set(CSV_FIRST))
    with open((out[:-5] if out.endswith(".json") else out) + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in flat:
            w.writerow(r)


def flatten(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in ("bounds", "theorem") and isinstance(v, dict):
            out.update({f"{k}_{b}": x for b, x in v.items()})
        elif isinstance(v, dict | list):
            out[k] = json.dumps(v, default=json_default, sort_keys=True)
        else:
            out[k] = v
    return out


def load(path: str) -> dict:
    with open(path) as f:
        doc = json.load(f)
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a memcap sweep results file (schema {doc.get('schema')})")
    return doc
