"""The results file of a sweep: one JSON document (schema, environment, grid, rows) and the same
rows flattened to CSV beside it, read back by ``memcap report --results``.

Every finished artefact (results, CSV, report) is written through :func:`atomic_write`: to a
temporary file in the same folder, renamed into place only once it is complete, so a reader (or
a crash) sees the old file or the new one, never a torn or empty one."""

from __future__ import annotations

import csv
import errno
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


class WriteFailed(OSError):
    """Writing ``filename`` failed (disk full, read-only, a folder in the way, a size limit, no
    permission): ``str()`` is one line naming the path and the cause."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def write_failed(exc: OSError, path: str) -> WriteFailed:
    """``exc`` as a :class:`WriteFailed` naming ``path`` (not the temporary file that failed)."""
    if isinstance(exc, WriteFailed):
        return exc
    return WriteFailed(exc.errno, exc.strerror or str(exc), os.fspath(path))


def _temporary(path: str) -> tuple[int, str]:
    if not path:
        raise WriteFailed(errno.ENOENT, "an empty path names no file", "''")
    if os.path.isdir(path):
        raise WriteFailed(errno.EISDIR, "a folder is there, not a file", path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    except FileExistsError:  # makedirs met a file where a folder of the path goes
        raise WriteFailed(errno.ENOTDIR, "a file is where a folder of it goes", path) from None
    except OSError as exc:
        raise write_failed(exc, path) from None


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def atomic_write_all(writers: dict, *, binary: bool = False) -> None:
    """Write each ``path`` of ``writers`` by calling ``writers[path](f)`` on a temporary file
    beside it, then rename every one into place (``os.replace``: atomic on one file system) once
    all are complete.  If any fails, every ``path`` is untouched, every temporary file is removed,
    and an ``OSError`` is a :class:`WriteFailed` naming the path."""
    temps = {}
    try:
        for path, write_fn in writers.items():
            path = os.fspath(path)
            fd, tmp = _temporary(path)
            temps[path] = tmp
            kw = {} if binary else {"encoding": "utf-8", "newline": ""}
            try:
                with os.fdopen(fd, "wb" if binary else "w", **kw) as f:
                    write_fn(f)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, _MODE)
            except OSError as exc:
                raise write_failed(exc, path) from None
        for path, tmp in list(temps.items()):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise write_failed(exc, path) from None
            del temps[path]
    finally:
        for tmp in temps.values():
            _discard(tmp)


def atomic_write(path: str, write_fn, *, binary: bool = False) -> None:
    """:func:`atomic_write_all` of one file."""
    atomic_write_all({path: write_fn}, binary=binary)


def write_text(path: str, text: str) -> None:
    """:func:`atomic_write` of a finished string."""
    atomic_write(path, lambda f: f.write(text))


def check_writable(*paths: str) -> None:
    """Refuse, before any work, an output that cannot be written: an empty path, a folder where
    the file goes, a file where a folder of its path goes, or a folder (the nearest that exists)
    that cannot be written — read-only or no permission, probed by creating and removing a
    temporary file there, since permission bits do not bind root.  Nothing is left behind."""
    for path in paths:
        if not path:
            raise WriteFailed(errno.ENOENT, "an empty path names no file", "''")
        if os.path.isdir(path):
            raise WriteFailed(errno.EISDIR, "a folder is there, not a file", path)
        folder = os.path.dirname(os.path.abspath(path))
        while not os.path.isdir(folder):
            if os.path.lexists(folder):
                raise WriteFailed(errno.ENOTDIR, f"{folder} is a file, not a folder", path)
            folder = os.path.dirname(folder)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".memcap-probe.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise write_failed(exc, path) from None
        os.close(fd)
        _discard(tmp)


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
    first, both written to temporary files, then both renamed into place (a failure replaces
    neither)."""
    text = dumps(doc)
    flat = [flatten(r) for r in doc["rows"]]
    cols = CSV_FIRST + sorted({k for r in flat for k in r} - set(CSV_FIRST))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in flat:
        w.writerow(r)
    atomic_write_all({out: lambda f: f.write(text),
                      csv_path(out): lambda f: f.write(buf.getvalue())})


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
STATUSES = ("ok", "skipped", "error")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# What each field of a cell row must hold (a results file's rows and a journal's rows alike):
# (test, description).  The key fields are required; the others are checked where present, so
# a later version's extra fields pass.  Measurements may be null (a skipped cell) or non-finite
# (an error of a NOT EXACT cell).
_NAME = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")
_COUNT = (lambda v: _is_int(v) and v >= 1, "a positive integer")
_TEXT = (lambda v: v is None or isinstance(v, str), "a string or null")
_NUMBER = (lambda v: v is None or _is_number(v), "a number or null")
_AMOUNT = (lambda v: v is None or _is_number(v) and v >= 0, "a non-negative number or null")
_FLAG = (lambda v: v is None or isinstance(v, bool), "true, false or null")
_TABLE = (lambda v: v is None or isinstance(v, dict), "an object or null")
ROW_FIELDS = {
    "construction": _NAME, "executor": _NAME,
    "status": (lambda v: v in STATUSES, " or ".join(STATUSES)),
    "n": _COUNT, "p": _COUNT, "r": _COUNT,
    "dtype": (lambda v: v in ("float64", "float32"), "float64 or float32"),
    "sparsity": (lambda v: v is None or _is_number(v) and 0 <= v <= 1, "a number in [0, 1] or "
                                                                         "null"),
    "seed": (lambda v: v is None or _is_int(v) and v >= 0, "a non-negative integer or null"),
    "threads": (lambda v: v is None or _COUNT[0](v), "a positive integer or null"),
    "grid_p": (lambda v: v is None or _COUNT[0](v), "a positive integer or null"),
    "variant": _TEXT, "kind": _TEXT, "labels": _TEXT, "series": _TEXT, "machine": _TEXT,
    "reason": _TEXT,
    "exact": _FLAG, "noisy": _FLAG, "final": _FLAG, "stable": _FLAG,
    "bounds": _TABLE, "theorem": _TABLE, "timing": _TABLE, "batch_spread": _TABLE,
    "single_spread": _TABLE, "machine_info": _TABLE, "worst": _TABLE, "info": _TABLE,
    "options": _TABLE,
    "energy_measured_pj": (lambda v: v is None or isinstance(v, str) or _is_number(v),
                           "a number, a string or null"),
    **{k: _NUMBER for k in ("max_abs_error", "max_rel_error", "tolerance", "ops_mean",
                            "mul_mean", "add_mean", "cmp_mean", "energy_proxy_pj",
                            "energy_proxy_compute_pj", "energy_proxy_memory_pj")},
    **{k: _AMOUNT for k in ("ops_max", "batch_s_per_input", "single_s", "ns_per_op", "build_s",
                            "neurons", "weights", "depth", "vertices", "weight_bits",
                            "n_effective", "inexact_points", "exact_checked", "evaluated_inputs",
                            "timed_inputs", "active_neurons_max", "active_weights_max",
                            "active_neurons_mean", "active_weights_mean", "model_bytes",
                            "build_peak_bytes", "recall_peak_bytes", "maxrss_bytes",
                            "cell_s", "cell_cpu_s", "scale_limited_points")},
}


def row_problem(row) -> str | None:
    """Why ``row`` is not a cell row of a sweep (the first field that is missing or holds the
    wrong kind of value), or None when it is one."""
    if not isinstance(row, dict):
        return f"a {type(row).__name__}, not an object with the fields of a sweep cell"
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        return f"no {', '.join(missing)} (a sweep cell has {', '.join(ROW_KEYS)})"
    for key, (test, what) in ROW_FIELDS.items():
        if key in row and not test(row[key]):
            return f"{key} is {_shown(row[key])}, expected {what}"
    return None


def _shown(v) -> str:
    text = json.dumps(v, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


def _row_lines(text: str, rows: list) -> list[int] | None:
    """The line on which each of ``rows`` starts in the JSON ``text`` of a results document
    (found by decoding the top-level ``"rows"`` array element by element), or None."""
    import re

    decoder = json.JSONDecoder()
    for m in re.finditer(r'"rows"\s*:\s*\[', text):
        pos, lines = m.end(), []
        try:
            for _ in rows:
                pos = len(text) - len(text[pos:].lstrip(" \t\r\n,"))
                lines.append(text.count("\n", 0, pos) + 1)
                _, pos = decoder.raw_decode(text, pos)
        except ValueError:
            continue
        if len(lines) == len(rows):
            return lines
    return None


def load(path: str) -> dict:
    """A results document, checked for its shape and row by row; anything else is a one-line
    ``ValueError`` naming ``path`` (and the line of a bad row)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        doc = json.loads(text)
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
    if not isinstance(doc.get("grid", {}), dict):
        raise ValueError(f"{path}: not a memcap sweep results file (its grid is not an object)")
    for i, row in enumerate(doc["rows"]):
        problem = row_problem(row)
        if problem:
            lines = _row_lines(text, doc["rows"])
            where = f"line {lines[i]} (row {i})" if lines else f"row {i}"
            raise ValueError(f"{path}: {where} is not a sweep cell: {problem}")
    return doc
