"""The results file of a sweep: one JSON document (schema, environment, grid, rows) and the same
rows flattened to CSV beside it, read back by ``memcap report --results``.

Every finished artefact (results, CSV, report) is written through :func:`atomic_write`: to a
temporary file in the same folder, renamed into place only once it is complete, so a reader (or
a crash) sees the old file or the new one, never a torn or empty one."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile

SCHEMA = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp gives 0600)


def atomic_write(path: str, write_fn, *, binary: bool = False) -> None:
    """Write ``path`` by calling ``write_fn(f)`` on a temporary file beside it, then rename it
    into place (``os.replace``: atomic on one file system).  If ``write_fn`` fails, ``path`` is
    untouched and the temporary file is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        kw = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, "wb" if binary else "w", **kw) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text(path: str, text: str) -> None:
    """:func:`atomic_write` of a finished string."""
    atomic_write(path, lambda f: f.write(text))


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
             "exact", "ops_mean", "ops_max", "threads", "batch_s_per_input", "single_s",
             "ns_per_op", "stable", "noisy", "build_s",
             "energy_proxy_pj", "energy_measured_pj", "reason"]


def csv_path(out: str) -> str:
    return (out[:-5] if out.endswith(".json") else out) + ".csv"


def dumps(doc: dict) -> str:
    """The JSON text of a results document (the bytes :func:`write_results` writes)."""
    return json.dumps(doc, indent=1, default=json_default, sort_keys=True)


def write_results(doc: dict, out: str) -> None:
    """``out`` (JSON document) and the same rows flattened as ``<out>.csv``: both texts are made
    first, then each file is replaced atomically."""
    text = dumps(doc)
    flat = [flatten(r) for r in doc["rows"]]
    cols = CSV_FIRST + sorted({k for r in flat for k in r} - set(CSV_FIRST))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in flat:
        w.writerow(r)
    write_text(out, text)
    write_text(csv_path(out), buf.getvalue())


def flatten(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in ("bounds", "theorem", "batch_spread", "single_spread", "timing") and isinstance(
                v, dict):
            out.update({f"{k}_{b}": x for b, x in v.items()})
        elif isinstance(v, dict | list):
            out[k] = json.dumps(v, default=json_default, sort_keys=True)
        else:
            out[k] = v
    return out


ROW_KEYS = ("construction", "executor", "status", "n", "p", "r", "dtype")


def load(path: str) -> dict:
    """A results document, checked for its shape; anything else is a one-line ``ValueError``
    naming ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a memcap sweep results file ({msg})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        schema = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{path}: not a memcap sweep results file (schema {schema!r})")
    if not isinstance(doc.get("rows"), list) or not isinstance(doc.get("environment"), dict):
        raise ValueError(f"{path}: not a memcap sweep results file (no rows or environment)")
    for i, row in enumerate(doc["rows"]):
        if not isinstance(row, dict) or any(k not in row for k in ROW_KEYS):
            raise ValueError(f"{path}: row {i} is not a sweep cell (it needs "
                             f"{', '.join(ROW_KEYS)})")
    return doc
