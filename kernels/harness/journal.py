"""A sweep's journal and lock: nothing finished is lost or overwritten, no two sweeps share a file.

``<out>.jsonl`` holds a header line (schema, environment, the grid, the command) and one line per
finished cell.  The rules:

* a journal is resumed only under the grid it records (:func:`same_grid`, run-control keys such
  as the time budget aside); another grid is refused, one line naming the file, unless ``fresh``;
* a finished results file ``<out>`` is not overwritten unless ``fresh`` (``--fresh``/``--force``);
* a torn last line (a killed process) is cut off before anything is appended, never appended to;
* ``<out>.lock`` (created with O_CREAT|O_EXCL, holding the owner's pid) keeps a second sweep off
  the same output while the first runs; a lock whose pid is dead is stale and is taken over.

A Dask client or any other writer appends rows with :func:`append` while holding the lock.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time

from kernels.harness.results import (
    SCHEMA,
    json_default,
    load,
    row_problem,
    write_failed,
    write_results,
    write_text,
)

# grid keys that steer a run but do not change its cells: a resume may change them
RUN_KEYS = ("budget_s", "max_cell_s", "energy")


def _stem(out: str) -> str:
    return out[:-5] if out.endswith(".json") else out


def journal_path(out: str) -> str:
    return _stem(out) + ".jsonl"


def lock_path(out: str) -> str:
    return _stem(out) + ".lock"


def _damaged(path: str, line: int, what: str) -> ValueError:
    return ValueError(f"{path}: line {line} {what}; the journal is damaged (--fresh discards it)")


def regular_file(path: str, what: str) -> None:
    """Refuse a folder (or any non-file) where the sweep keeps its ``what``."""
    if os.path.lexists(path) and not os.path.isfile(path):
        raise ValueError(f"{path}: not a file, and the sweep keeps its {what} there; remove it "
                         "or choose another --out")


def _entries(path: str) -> tuple[dict | None, list[tuple[int, dict]]]:
    """(header, [(line, row)]) of a journal, each row checked as a sweep cell
    (:func:`kernels.harness.results.row_problem`).  A torn last line (the interruption) is
    ignored; any other bad line is a one-line ``ValueError`` naming the file and the line."""
    header, rows = None, []
    if not os.path.lexists(path):
        return None, rows
    regular_file(path, "journal")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    # the text after the last newline is unfinished: a torn line, or "" after a complete one
    for i, line in enumerate(lines[:-1], 1):
        try:
            obj = json.loads(line)
            kind = obj.get("type")
            if not isinstance(kind, str):
                raise ValueError
        except (ValueError, AttributeError, RecursionError):
            raise _damaged(path, i, "is not a journal entry") from None
        if i == 1:
            if kind != "header" or not isinstance(obj.get("grid"), dict) or not isinstance(
                    obj.get("environment"), dict):
                raise _damaged(path, i, "is not the header of a memcap sweep's journal")
            header = obj
        elif kind == "header":
            raise _damaged(path, i, "is a second header")
        elif kind == "row":
            problem = row_problem(obj.get("row"))
            if problem:
                raise _damaged(path, i, f"is not a sweep cell ({problem})")
            rows.append((i, obj["row"]))
        # other entry types (written by later versions) are kept in the file and skipped here
    return header, rows


def read_journal(path: str) -> tuple[dict | None, list[dict]]:
    """(header, rows) of a journal, every line checked (see :func:`_entries`)."""
    header, rows = _entries(path)
    return header, [row for _, row in rows]


def _cells_of(path: str, entries: list[tuple[int, dict]], cell_key, cells) -> list[dict]:
    """The rows to resume from: one per cell.  A row that repeats an earlier one exactly is the
    same data and is kept once; a later row replaces a non-final one (a cell skipped for the
    time budget or lost on a cluster, run again); a row outside the grid (``cells``) or a
    different final row of a cell already done is refused, naming its line."""
    if cell_key is None:
        return [row for _, row in entries]
    kept: dict = {}  # key -> (line, row)
    for line, row in entries:
        key = cell_key(row)
        if cells is not None and key not in cells:
            shown = " ".join(f"{k}={row.get(k)}" for k in ("construction", "executor", "n", "p",
                                                          "r", "dtype") if k in row)
            raise _damaged(path, line, f"is a cell outside this sweep's grid ({shown})")
        if key in kept:
            first, old = kept[key]
            if old.get("final", True) and row != old:
                raise _damaged(path, line, f"measures again the cell of line {first} "
                                           "with different results")
            if row == old:
                continue
        kept[key] = (line, row)
    return [row for _, row in kept.values()]


def drop_torn_tail(path: str) -> int:
    """Cut a journal back to its last complete line; returns the bytes dropped."""
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return len(data) - keep


def _cells(grid: dict) -> dict:
    g = json.loads(json.dumps(grid, default=json_default, sort_keys=True))
    return {k: v for k, v in g.items() if k not in RUN_KEYS}


def same_grid(a: dict, b: dict) -> bool:
    """True when grids ``a`` and ``b`` describe the same cells (run-control keys aside)."""
    return _cells(a) == _cells(b)


def finished(out: str, grid: dict) -> dict | None:
    """The results document at ``out`` when it is a finished sweep of ``grid`` (run-control keys
    aside), else None.  A file there that is not a results document is a one-line ``ValueError``
    (it is not replaced without ``--fresh``)."""
    regular_file(out, "results")
    if not os.path.exists(out):
        return None
    try:
        doc = load(out)
    except ValueError as exc:
        raise ValueError(f"{exc}; --fresh replaces it (or choose another --out)") from None
    return doc if same_grid(doc.get("grid") or {}, grid) else None


def prepare(out: str, grid: dict, *, fresh: bool, header, cell_key=None,
            cells=None) -> tuple[dict, list[dict]]:
    """Check ``out`` and its journal, and return (header, rows) to resume from, one per cell
    (``cell_key(row)``; a row whose key is not in ``cells`` is refused).  ``header()`` makes the
    header of a new journal.  Call it holding :func:`lock`."""
    jpath = journal_path(out)
    regular_file(out, "results")
    regular_file(jpath, "journal")
    if fresh:
        if os.path.exists(jpath):
            os.remove(jpath)
    elif os.path.exists(out):
        raise ValueError(f"{out}: the results of a finished sweep of another grid are there; "
                         "--fresh runs this grid and replaces them (or choose another --out)")
    head, entries = _entries(jpath)
    if head is not None and (head.get("schema") != SCHEMA
                             or not same_grid(head.get("grid") or {}, grid)):
        raise ValueError(f"{jpath}: the journal of a sweep over a different grid; --fresh "
                         "discards it (or choose another --out)")
    if head is None:
        write_text(jpath, json.dumps(header(), default=json_default) + "\n")
        return _entries(jpath)[0], []
    rows = _cells_of(jpath, entries, cell_key, cells)
    drop_torn_tail(jpath)
    return head, rows


def open_for_append(path: str):
    """The journal opened for :func:`append`: unbuffered bytes, so a write that fails (a full
    disk) leaves nothing behind to be flushed again on close."""
    try:
        return open(path, "ab", buffering=0)
    except OSError as exc:
        raise write_failed(exc, path) from None


def append(f, row: dict) -> None:
    """One finished cell, on the disk at once.  A write that fails is a :class:`WriteFailed`
    naming the journal (a partly written line is a torn tail, cut off on resume)."""
    line = json.dumps({"type": "row", "row": row}, default=json_default) + "\n"
    try:
        if isinstance(f, io.TextIOBase):
            f.write(line)
            f.flush()
            return
        data = memoryview(line.encode("utf-8"))
        while data:
            data = data[f.write(data):]
    except OSError as exc:
        raise write_failed(exc, getattr(f, "name", "the journal")) from None


def finish(out: str, doc: dict) -> None:
    """Write the results (atomically) and remove the journal they replace."""
    write_results(doc, out)
    with contextlib.suppress(FileNotFoundError):
        os.remove(journal_path(out))


PID_MAX = 2**22  # Linux's PID_MAX_LIMIT; other systems stay below it too


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _owner(path: str) -> int | str | None:
    """The pid in a lock file; None while it cannot be read (being written: empty, or no newline
    yet); ``"garbage"`` when its finished line holds no pid a process can have."""
    try:
        with open(path, "rb") as f:
            text = f.read(64)
    except OSError:
        return None
    if not text.endswith(b"\n"):
        return None
    try:
        pid = int(text.split()[0])
    except (ValueError, IndexError):
        return "garbage"
    return pid if 0 < pid <= PID_MAX else "garbage"


def _stale(path: str) -> bool:
    pid = _owner(path)
    if pid == "garbage":
        return True
    if pid is None:  # unreadable: stale once it is old enough not to be mid-write
        try:
            return time.time() - os.path.getmtime(path) > 10
        except OSError:
            return False
    return pid != os.getpid() and not _pid_alive(pid)


def _create(path: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise write_failed(exc, path) from None
    try:
        with os.fdopen(fd, "wb", buffering=0) as f:
            f.write(f"{os.getpid()}\n".encode())
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(path)
        raise write_failed(exc, path) from None
    return True


def _break_stale(path: str) -> None:
    """Remove ``path`` if it is (still) stale, under a second lock so that two processes that
    both found it stale cannot remove each other's new lock."""
    breaker = path + ".break"
    if not _create(breaker):
        if _stale(breaker):
            with contextlib.suppress(FileNotFoundError):
                os.remove(breaker)
        return
    try:
        if _stale(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    finally:
        os.remove(breaker)


@contextlib.contextmanager
def lock(out: str):
    """Hold ``<out>.lock`` for the duration; a live owner is a one-line ``ValueError``."""
    path = lock_path(out)
    regular_file(path, "lock")
    for _ in range(3):
        if _create(path):
            break
        if not _stale(path):
            pid = _owner(path)
            who = f"pid {pid}" if isinstance(pid, int) else "another process"
            raise ValueError(f"{out}: another sweep ({who}) is writing it; wait for it to end "
                             f"(or remove {path} if no sweep is running)")
        _break_stale(path)
    else:
        raise ValueError(f"{out}: cannot take the lock {path}")
    try:
        yield path
    finally:
        if _owner(path) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
