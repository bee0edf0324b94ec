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
import json
import os
import time

from kernels.harness.results import SCHEMA, json_default, write_results, write_text

# grid keys that steer a run but do not change its cells: a resume may change them
RUN_KEYS = ("budget_s", "max_cell_s", "energy")


def _stem(out: str) -> str:
    return out[:-5] if out.endswith(".json") else out


def journal_path(out: str) -> str:
    return _stem(out) + ".jsonl"


def lock_path(out: str) -> str:
    return _stem(out) + ".lock"


def read_journal(path: str) -> tuple[dict | None, list[dict]]:
    """(header, rows) of a journal.  A torn last line (the interruption) is ignored; a broken
    line before it is a one-line ``ValueError`` naming the file."""
    header, rows = None, []
    if not os.path.exists(path):
        return None, rows
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    # the text after the last newline is unfinished: a torn line, or "" after a complete one
    for i, line in enumerate(lines[:-1], 1):
        try:
            obj = json.loads(line)
            kind = obj.get("type")
        except (ValueError, AttributeError):
            raise ValueError(f"{path}: line {i} is not a journal entry; the journal is damaged "
                             "(--fresh discards it)") from None
        if kind == "header" and i == 1:
            header = obj
        elif header is None or (kind == "row" and not isinstance(obj.get("row"), dict)):
            raise ValueError(f"{path}: line {i} is not a journal entry of a memcap sweep "
                             "(--fresh discards it)")
        elif kind == "row":
            rows.append(obj["row"])
        # other entry types (written by later versions) are kept in the file and skipped here
    return header, rows


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


def prepare(out: str, grid: dict, *, fresh: bool, header) -> tuple[dict, list[dict]]:
    """Check ``out`` and its journal, and return (header, finished rows) to resume from.
    ``header()`` makes the header of a new journal.  Call it holding :func:`lock`."""
    jpath = journal_path(out)
    if fresh:
        if os.path.exists(jpath):
            os.remove(jpath)
    elif os.path.exists(out):
        raise ValueError(f"{out}: the results of a finished sweep are there; --fresh runs the "
                         "grid again and replaces them (or choose another --out)")
    head, rows = read_journal(jpath)
    if head is not None and (head.get("schema") != SCHEMA
                             or not same_grid(head.get("grid") or {}, grid)):
        raise ValueError(f"{jpath}: the journal of a sweep over a different grid; --fresh "
                         "discards it (or choose another --out)")
    if head is None:
        head = header()
        write_text(jpath, json.dumps(head, default=json_default) + "\n")
    else:
        drop_torn_tail(jpath)
    return head, rows


def append(f, row: dict) -> None:
    """One finished cell, flushed at once."""
    f.write(json.dumps({"type": "row", "row": row}, default=json_default) + "\n")
    f.flush()


def finish(out: str, doc: dict) -> None:
    """Write the results (atomically) and remove the journal they replace."""
    write_results(doc, out)
    with contextlib.suppress(FileNotFoundError):
        os.remove(journal_path(out))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _owner(path: str) -> int | None:
    """The pid in a lock file; None if it cannot be read (being written, or garbage)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stale(path: str) -> bool:
    pid = _owner(path)
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
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
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
    for _ in range(3):
        if _create(path):
            break
        if not _stale(path):
            pid = _owner(path)
            who = f"pid {pid}" if pid is not None else "another process"
            raise ValueError(f"{out}: another sweep ({who}) is writing it; wait for it to end "
                             f"(or remove {path} if no sweep is running)")
        _break_stale(path)
    else:
        raise ValueError(f"{out}: cannot take the lock {path}")
    try:
        yield path
    finally:
        if _owner(path) == os.getpid():
            os.remove(path)
