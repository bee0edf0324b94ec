"""The exact-lookup structures memcap's recall is measured against, built once from the memorized
points (X, D) and returning the stored outputs of a batch of queries.  ``memcap compare``
(:mod:`kernels.harness.peers`), the asv suite (``bench/bench_peers.py``) and
``scripts/pyperf_axis_tree.py --targets`` time these same builders.

* :func:`compiled_tree` — scikit-learn's fully grown tree compiled to C by treelite + tl2cgen
  (treelite's importer takes the tree as ``RandomForestRegressor(n_estimators=1, bootstrap=False,
  max_features=None)``, the same tree as a lone ``DecisionTreeRegressor``), built by the C
  compiler found on PATH; the shared library is kept in a cache folder, keyed by the data;
* :func:`ckdtree` — ``scipy.spatial.cKDTree``: the exact nearest neighbour, then its output;
* :func:`row_dict` — a ``dict`` from each row's bytes to its output: the O(1) floor;
* at p = 1, on sorted keys: :func:`searchsorted` (numpy, one batch) and :func:`pygm_one_key`
  (``pygm.SortedList``, whose API answers one key per Python call: it is timed that way).

A peer that cannot run here raises :class:`Missing` with a one-line reason (the package, or for
the compiled tree a C compiler); callers print it as the skip message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import numpy as np

INSTALL = "pip install 'memcap[peers]'"
COMPILERS = ("gcc", "clang")  # the toolchains tl2cgen drives


@dataclass(frozen=True)
class Peer:
    """``lookup(prepare(Q))`` → the stored outputs (m,) or (m, r) of queries Q.  ``prepare`` makes
    what the lookup reads (tl2cgen's matrix, a dict's keys, Python floats) and is kept out of the
    timed region; calling the peer does both."""

    lookup: Callable
    prepare: Callable = np.asarray

    def __call__(self, Q):
        return self.lookup(self.prepare(Q))


class Missing(Exception):
    """A peer that cannot run here; the message is the one-line reason."""


def has(dist: str) -> bool:
    """Whether distribution ``dist`` is installed (its metadata; nothing is imported)."""
    try:
        metadata.distribution(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def require(*dists: str) -> None:
    """:class:`Missing` naming the distributions of ``dists`` that are not installed."""
    gone = [d for d in dists if not has(d)]
    if gone:
        raise Missing(f"{' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} not installed "
                      f"({INSTALL})")


def compiler() -> str | None:
    """The first C compiler of :data:`COMPILERS` on PATH (tl2cgen's toolchain name), or None."""
    return next((c for c in COMPILERS if shutil.which(c)), None)


def check_compiled_tree() -> str:
    """The toolchain the compiled tree will use; :class:`Missing` when it cannot be built."""
    require("scikit-learn", "treelite", "tl2cgen")
    cc = compiler()
    if cc is None:
        raise Missing(f"no C compiler on PATH (looked for {', '.join(COMPILERS)}); treelite's "
                      "compiled tree needs one")
    return cc


def forest_of_one(X: np.ndarray, y: np.ndarray, seed: int = 0):
    """scikit-learn's fully grown regression tree on (X, y), as the one tree of a forest (what
    treelite imports): no bootstrap, every feature at every split."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=1, bootstrap=False, max_features=None,
                                 random_state=seed).fit(X, y)


def _cache_dir() -> str:
    """The shared cache folder (:func:`kernels.harness.cache.directory`), or the temporary
    folder where that cannot be used."""
    from kernels.harness import cache  # deferred: importing the peers does no work

    try:
        return cache.directory()
    except ValueError:
        return tempfile.gettempdir()


def _library(X: np.ndarray, y: np.ndarray, cache_dir: str | None, toolchain: str) -> str:
    """The compiled tree's shared library for (X, y): from the cache folder when it is there,
    else fitted, compiled in a temporary folder and renamed in (a failed build leaves nothing)."""
    import tl2cgen
    import treelite

    key = hashlib.sha1()
    for a in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        key.update(str((a.shape, a.dtype.str)).encode())
        key.update(a.tobytes())
    key.update(f"{metadata.version('treelite')} {metadata.version('tl2cgen')} "
               f"{metadata.version('scikit-learn')} {toolchain}".encode())
    folder = os.path.join(cache_dir or _cache_dir(), "compiled-trees")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"tree-{key.hexdigest()[:20]}.so")
    if os.path.exists(path):
        return path
    model = treelite.sklearn.import_model(forest_of_one(X, y))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        lib = os.path.join(tmp, "tree.so")
        with _native_output_to(os.path.join(tmp, "log")):  # tl2cgen's own notes, not ours
            tl2cgen.export_lib(model, toolchain=toolchain, libpath=lib,
                               params={"parallel_comp": max(1, min(8, len(X) // 50_000))})
        os.replace(lib, path)
    return path


@contextlib.contextmanager
def _native_output_to(path: str):
    """The process's stdout and stderr file descriptors (where tl2cgen's C++ logs: version notes,
    "parallel compilation enabled") go to ``path`` meanwhile; a failure re-raises with its
    last lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except Exception as exc:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            with open(path, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-2000:]
            raise RuntimeError(f"tl2cgen could not build the compiled tree: {exc}\n{tail}"
                               ) from exc
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def compiled_tree(X: np.ndarray, y: np.ndarray, cache_dir: str | None = None) -> Peer:
    """scikit-learn's tree on (X, y) compiled to C, one thread: outputs (m,).  The library is
    kept in ``cache_dir`` (default: the shared cache folder), so a second call only loads it.
    Queries are compared as float64 (tl2cgen's matrix, made by ``prepare``); X in float32 keeps
    scikit-learn's float32 splits exact."""
    toolchain = check_compiled_tree()
    import tl2cgen

    predictor = tl2cgen.Predictor(_library(X, y, cache_dir, toolchain), nthread=1)
    return Peer(lambda m: predictor.predict(m).reshape(m.shape[0], -1)[:, 0],
                lambda Q: tl2cgen.DMatrix(np.asarray(Q, np.float64)))


def ckdtree(X: np.ndarray, D: np.ndarray) -> Peer:
    """D's rows of the exact nearest memorized point of each query."""
    require("scipy")
    from scipy.spatial import cKDTree

    kd = cKDTree(X)
    return Peer(lambda Q: D[kd.query(Q, k=1)[1]])


def row_dict(X: np.ndarray, D: np.ndarray) -> Peer:
    """A ``dict`` of the memorized rows' bytes; the keys are made by ``prepare``, so only the
    lookups are timed."""
    table = {x.tobytes(): d for x, d in zip(X, D, strict=True)}
    return Peer(lambda keys: [table[k] for k in keys],
                lambda Q: [q.tobytes() for q in np.asarray(Q, X.dtype)])


def sorted_keys(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = 1: the keys in increasing order and their outputs."""
    order = np.argsort(keys, kind="stable")
    return np.ascontiguousarray(keys[order]), np.ascontiguousarray(vals[order])


def searchsorted(keys: np.ndarray, vals: np.ndarray) -> Peer:
    """p = 1, keys (n,): numpy ``searchsorted`` on the sorted keys, one batch."""
    k, v = sorted_keys(keys, vals)
    return Peer(lambda q: v[np.searchsorted(k, q)],
                lambda Q: np.ascontiguousarray(np.asarray(Q, k.dtype).reshape(-1)))


def pygm_one_key(keys: np.ndarray, vals: np.ndarray) -> Peer:
    """p = 1, keys (n,): pygm's ``SortedList``, whose API answers one key per Python call
    (``index``), so the lookup is a Python loop of calls and its time per key includes the
    call; ``prepare`` makes the keys Python floats."""
    require("pygm")
    import pygm

    k, v = sorted_keys(keys, vals)
    index, out = pygm.SortedList(k.tolist(), "d").index, v.tolist()
    return Peer(lambda qs: np.array([out[index(x)] for x in qs]),
                lambda Q: np.asarray(Q, np.float64).reshape(-1).tolist())
