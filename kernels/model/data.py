"""Datasets: generators, ``.npz`` loading and the one validation function used everywhere.

A dataset is ``X`` (n, p) inputs and ``D`` (n, r) desired outputs.  Everything that enters memcap
passes through :func:`validate`, which either returns a clean :class:`Dataset` or raises a
``ValueError`` whose message is one line naming the problem (the CLI prints it and exits 2).

Rows of ``X`` that repeat with the *same* output are dropped (the count is kept in
``Dataset.n_dropped``); rows that repeat with *different* outputs cannot be memorized by any
function and are refused.

Generators (all seeded with ``numpy.random.default_rng(seed)``):

``gaussian``  i.i.d. N(0, 1) inputs.
``sphere``    points on the unit sphere S^{p-1}; the minimum pairwise separation δ is measured and
              returned in ``Dataset.info["delta"]``.
``cube``      vertices of {±1}^p: all 2^p of them (n = 2^p) or a random subset of n distinct ones.
``clusters``  tight clusters (radius 1e-6 around a few Gaussian centres): a tiny δ on purpose.

Outputs ``D`` are i.i.d. uniform on [0, 1) unless ``labels`` says otherwise ("parity" on the cube,
"classes" for integers 0..C-1, "signed" for N(0, 1) outputs that include negatives).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

KINDS = ("gaussian", "sphere", "cube", "clusters")
LABELS = ("uniform", "signed", "classes", "parity")


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: distinct rows of ``X`` (n, p) with outputs ``D`` (n, r), float64."""

    X: np.ndarray
    D: np.ndarray
    n_dropped: int = 0
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def r(self) -> int:
        return self.D.shape[1]

    def summary(self) -> dict:
        return {"n": self.n, "p": self.p, "r": self.r, "duplicates_dropped": self.n_dropped,
                **self.info}


def _as_numeric(a, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} is not a numeric array ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} has dtype {arr.dtype}; a numeric (int or float) array is needed")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} is complex; real numbers are needed")
    return arr.astype(np.float64, copy=False)


def validate(X, D, *, require_nonnegative: str | None = None) -> Dataset:
    """Check a dataset and return it clean.

    ``require_nonnegative``: the name of a construction that needs ``D >= 0``; when given, a
    negative output is refused with a message naming that construction.
    """
    X = _as_numeric(X, "X")
    D = _as_numeric(D, "D")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, p); got {X.ndim}-D with shape {X.shape}")
    if D.ndim == 1:
        D = D[:, None]
    if D.ndim != 2:
        raise ValueError(f"D must be 1-D (n,) or 2-D (n, r); got {D.ndim}-D with shape {D.shape}")
    n, p = X.shape
    if n < 1:
        raise ValueError("the dataset is empty: X has no rows (n >= 1 is needed)")
    if p < 1:
        raise ValueError("X has no columns (p >= 1 is needed)")
    if D.shape[0] != n:
        raise ValueError(f"X has {n} rows but D has {D.shape[0]}; they must match")
    if D.shape[1] < 1:
        raise ValueError("D has no columns (r >= 1 is needed)")
    for name, arr in (("X", X), ("D", D)):
        i = _first_nonfinite_row(arr)
        if i >= 0:
            raise ValueError(f"{name} has a non-finite value (NaN or inf) in row {i}")
    if require_nonnegative is not None and (D < 0).any():
        i = int(np.argwhere(D < 0)[0][0])
        raise ValueError(f"{require_nonnegative} needs non-negative outputs (D >= 0); "
                         f"row {i} has {D[i].min():g}")
    X, D, dropped = _drop_duplicates(X, D)
    return Dataset(np.ascontiguousarray(X), np.ascontiguousarray(D), dropped)


def class_labels(ds: Dataset, construction: str) -> np.ndarray:
    """``D`` as int64 class labels 0..C-1, or a one-line error naming ``construction``."""
    D = ds.D
    wrong = (D != np.round(D)) | (D < 0) | (D >= 2.0**52)
    bad = np.flatnonzero(wrong.any(axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{construction} memorizes class labels 0..C-1 (non-negative integers); "
                         f"row {i} has {D[i][wrong[i]][0]:g}")
    return D.astype(np.int64)


def _first_nonfinite_row(a: np.ndarray) -> int:
    """The first row of ``a`` holding NaN or ±inf, -1 if none (in blocks of rows: no n-sized
    temporary)."""
    step = max(1, (1 << 18) // max(1, a.shape[1]))
    for s in range(0, a.shape[0], step):
        bad = ~np.isfinite(a[s:s + step])
        if bad.any():
            return s + int(np.argwhere(bad)[0][0])
    return -1


def _may_repeat(X: np.ndarray) -> bool:
    """False when no two rows can be equal: a 64-bit hash of each row's bytes, sorted, has no
    repeat.  O(n log n) on one word per row — the exact row comparison (np.unique over rows, ~7×
    slower at n = 2^20) runs only when two hashes collide."""
    n, p = X.shape
    if n < 2:
        return False
    odd = (np.arange(p, dtype=np.uint64) * np.uint64(2) + np.uint64(1)) * np.uint64(
        0x9E3779B97F4A7C15)
    h = np.empty(n, np.uint64)
    step = max(1, (1 << 16) // p)  # blocks of rows: the temporaries stay small (no copy of X)
    for s in range(0, n, step):
        block = X[s:s + step] + 0.0  # float64; -0.0 and 0.0 are the same input
        bits = block.view(np.uint64)
        bits ^= bits >> np.uint64(31)
        bits *= odd
        bits.sum(axis=1, dtype=np.uint64, out=h[s:s + step])
    h ^= h >> np.uint64(29)
    h.sort()
    return bool((h[1:] == h[:-1]).any())


def _drop_duplicates(X: np.ndarray, D: np.ndarray):
    """Drop repeated rows with equal outputs; refuse repeated rows with different outputs."""
    if not _may_repeat(X):
        return X, D, 0
    Xc = X + 0.0  # -0.0 and 0.0 are the same input: normalise before comparing bytes
    _, first, inverse = np.unique(Xc, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(first) == len(X):
        return X, D, 0
    rep = first[inverse]  # for each row, the first row equal to it
    conflict = np.flatnonzero(np.any(D != D[rep], axis=1))
    if conflict.size:
        j = int(conflict[0])
        i = int(rep[j])
        raise ValueError(f"cannot be memorized: rows {i} and {j} are equal with different outputs")
    keep = np.sort(first)
    return X[keep], D[keep], len(X) - len(keep)


def dataset_bytes(n: int, p: int, r: int) -> int:
    """Memory of an n × (p, r) dataset inside memcap: X and D in float64 and the copies that
    validation and the builders take of them (3×)."""
    return 8 * int(n) * (int(p) + int(r)) * 3


def _member_header(zf, info, path: str, key: str):
    """(shape, dtype) of ``.npy`` member ``info`` from its header alone (no data read), refused
    unless numeric, and the bytes it would take, checked against what the member holds."""
    from numpy.lib import format

    with zf.open(info) as f:
        version = format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        header_end = f.tell()
    if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
        raise ValueError(f"{path}: array {key} has dtype {dtype}; a numeric (int or float) array "
                         "is needed")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size - header_end:
        raise ValueError(f"{path}: array {key} is truncated (its header says shape {shape}, "
                         f"{nbytes} bytes; the file holds {info.file_size - header_end})")
    return shape, nbytes


def npz_shapes(path: str | os.PathLike) -> dict:
    """``{"X": shape, "D": shape}`` of an ``.npz`` read from the array headers only (nothing is
    decompressed), after refusing a file that is not an .npz of numeric arrays X and D, or whose
    arrays would not fit in memory (shape × itemsize, plus memcap's float64 copies)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            missing = [k for k in ("X", "D") if k not in members]
            if missing:
                raise ValueError(f"{path}: the .npz has no array {' or '.join(missing)} "
                                 f"(found: {', '.join(sorted(members)) or 'nothing'})")
            found = {k: _member_header(zf, zf.getinfo(members[k]), path, k) for k in ("X", "D")}
    except ValueError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "unreadable"
        if msg.startswith(path):
            raise ValueError(msg) from None
        raise ValueError(f"{path}: cannot read arrays ({msg})") from None
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError, OSError
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    shapes = {k: v[0] for k, v in found.items()}
    size = sum(v[1] for v in found.values())
    (x, d) = shapes["X"], shapes["D"]
    rows = dataset_bytes(x[0], x[1], d[1] if len(d) == 2 else 1) if (
        len(x) == 2 and len(d) in (1, 2)) else 3 * size
    check_memory(size + rows, f"{path} ({' and '.join(f'{k} {s}' for k, s in shapes.items())})")
    return shapes


def load_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read arrays ``X`` and ``D`` from an ``.npz`` file (not validated yet), after
    :func:`npz_shapes` has checked their headers and their memory."""
    path = os.fspath(path)
    npz_shapes(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["X"], z["D"]
    except Exception as exc:  # a damaged member (CRC, zlib, EOF) found while reading
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}"
                         f"{': ' + msg[:80] if msg else ''})") from None


def min_separation(X: np.ndarray) -> float:
    """Minimum Euclidean distance between two distinct rows (δ); inf for n < 2.  O(n²/block)."""
    n = len(X)
    if n < 2:
        return float("inf")
    best = np.inf
    sq = np.einsum("ij,ij->i", X, X)
    block = max(1, min(n, 2_000_000 // max(n, 1)))
    for s in range(0, n, block):
        e = min(n, s + block)
        d2 = sq[s:e, None] + sq[None, :] - 2.0 * X[s:e] @ X.T
        idx = np.arange(s, e)
        d2[idx - s, idx] = np.inf
        best = min(best, float(d2.min()))
    return float(np.sqrt(max(best, 0.0)))


def _labels(rng, X, r: int, labels: str, classes: int) -> np.ndarray:
    n = len(X)
    if labels == "uniform":
        return rng.random((n, r))
    if labels == "signed":
        return rng.standard_normal((n, r))
    if labels == "classes":
        return rng.integers(0, classes, size=(n, r)).astype(np.float64)
    if labels == "parity":
        bits = (X > 0).sum(axis=1) % 2
        return np.repeat(bits[:, None].astype(np.float64), r, axis=1)
    raise ValueError(f"unknown labels {labels!r}; choose from {', '.join(LABELS)}")


def generate(kind: str, n: int, p: int, r: int = 1, *, seed: int = 0, labels: str = "uniform",
             classes: int = 10) -> Dataset:
    """Generate a seeded dataset of ``kind`` (see module docstring) and validate it."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose from {', '.join(KINDS)}")
    if n < 1 or p < 1 or r < 1:
        raise ValueError(f"n, p and r must be >= 1 (got n={n}, p={p}, r={r})")
    check_memory(dataset_bytes(n, p, r), f"a {kind} dataset of n={n}, p={p}, r={r}")
    rng = np.random.default_rng(seed)
    info: dict = {"kind": kind, "seed": seed}
    if kind == "gaussian":
        X = rng.standard_normal((n, p))
    elif kind == "sphere":
        X = rng.standard_normal((n, p))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    elif kind == "cube":
        if p > 62:
            raise ValueError(f"cube needs p <= 62 (got {p})")
        total = 1 << p
        if n > total:
            raise ValueError(f"cube has only 2^{p} = {total} vertices; n={n} is too many")
        codes = (np.arange(total, dtype=np.int64) if n == total
                 else rng.choice(total, size=n, replace=False).astype(np.int64))
        X = 1.0 - 2.0 * ((codes[:, None] >> np.arange(p, dtype=np.int64)) & 1)
    else:  # clusters
        centres = rng.standard_normal((max(1, int(np.sqrt(n))), p)) * 4.0
        X = centres[rng.integers(0, len(centres), n)] + 1e-6 * rng.standard_normal((n, p))
    D = _labels(rng, X, r, labels, classes)
    ds = validate(X, D)
    if kind in ("sphere", "clusters") and n <= 20_000:
        info["delta"] = min_separation(ds.X)
    return Dataset(ds.X, ds.D, ds.n_dropped, info)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().split()
    except OSError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None  # "max" (no limit) is None


def _proc_status_bytes(key: str) -> int | None:
    """A ``/proc/self/status`` size (``VmSize``, ``VmData``) in bytes, None where unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_free() -> int | None:
    """Bytes left under this process's cgroup memory limits (v2 ``memory.max`` − ``memory.current``,
    v1 ``memory.limit_in_bytes`` − ``memory.usage_in_bytes``), the tightest over the cgroup and its
    ancestors; None where no limit is set or none is visible."""
    try:
        with open("/proc/self/cgroup") as f:
            entries = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    candidates = []
    for entry in entries:
        if len(entry) != 3:
            continue
        _, controllers, path = entry
        if controllers == "":  # v2 unified hierarchy
            root, files = "/sys/fs/cgroup", ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            root, files = "/sys/fs/cgroup/memory", ("memory.limit_in_bytes",
                                                     "memory.usage_in_bytes")
        else:
            continue
        parts = [s for s in path.split("/") if s]
        for k in range(len(parts), -1, -1):  # the cgroup, its ancestors, the mount's root
            candidates.append((os.path.join(root, *parts[:k]), files))
    best = None
    for folder, (limit_file, usage_file) in candidates:
        limit = _read_int(os.path.join(folder, limit_file))
        if limit is None or limit >= 1 << 60:  # unlimited
            continue
        usage = _read_int(os.path.join(folder, usage_file)) or 0
        free = max(0, limit - usage)
        best = free if best is None else min(best, free)
    return best


def _rlimit_free() -> dict[str, int]:
    """Bytes left under the address-space (RLIMIT_AS) and data (RLIMIT_DATA) limits: the limit
    minus what this process already maps (``VmSize``, ``VmData``)."""
    out = {}
    try:
        import resource
    except ImportError:  # not on POSIX
        return out
    for name, key in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        soft = resource.getrlimit(getattr(resource, name))[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            used = _proc_status_bytes(key) or 0
            out[name] = max(0, soft - used)
    return out


def memory_limits() -> dict[str, int]:
    """Bytes this process may still allocate under each limit it can see: ``MemAvailable``
    (/proc/meminfo; physical memory where that is unknown), the address-space and data limits
    (``RLIMIT_AS``, ``RLIMIT_DATA``, minus what the process already maps) and the cgroup's memory
    limit (``cgroup``: v2 memory.max or v1 memory.limit_in_bytes, minus its usage)."""
    limits = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits["MemAvailable"] = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if "MemAvailable" not in limits:
        try:
            limits["physical memory"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            limits["physical memory"] = 1 << 34
    limits.update(_rlimit_free())
    cgroup = _cgroup_free()
    if cgroup is not None:
        limits["cgroup"] = cgroup
    return limits


def available_memory() -> int:
    """The memory budget: the tightest of :func:`memory_limits` (bytes)."""
    return min(memory_limits().values())


# what an estimate may leave out: the interpreter's and Numba's small allocations, compiled kernels
# loaded on first use (tests hold every estimate to peak ≤ estimate + this ≤ 2·peak + 2·this; the
# 20% that check_memory keeps free covers it)
ALLOWANCE_BYTES = 8 << 20


def check_memory(nbytes: float, what: str) -> None:
    """Refuse, before allocating, work whose estimate exceeds 80% of the memory budget
    (:func:`available_memory`: the tightest of MemAvailable, RLIMIT_AS and the cgroup limit)."""
    avail = available_memory()
    if nbytes > 0.8 * avail:
        limits = memory_limits()
        which = [k for k, v in limits.items() if v == avail]
        under = f" under {which[0]}" if which else ""
        raise ValueError(f"{what} needs about {_gib(nbytes)} but only {_gib(avail)} is "
                         f"available{under} (at most 80% of it is used)")


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"
