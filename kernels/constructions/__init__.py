"""The construction registry: one module per construction, reached by name.

Every construction module defines

* ``NAME`` (the registry name), ``SEED`` (the source document), ``SUMMARY`` (one line),
  ``NONNEGATIVE`` (True if it needs D >= 0), ``EXECUTORS`` (the executors it supports);
* ``OPTIONS`` — its keyword options, their types, ranges and defaults (see
  :mod:`kernels.constructions.options`), checked before anything is built; the one place their
  defaults are written: the registry passes every option (:func:`complete_options`) to
* ``estimate_bytes(n, p, r, **options) -> int`` — memory needed, checked from the numbers alone
  before data are generated or loaded (:func:`preflight`) and again before building;
* ``build(dataset, *, seed, dtype, **options) -> Memorizer`` — the construction itself.

Plug-ins: another distribution adds a construction by naming such a module in the entry-point
group ``memcap.constructions`` (``name = "package.module"``; in pyproject.toml
``[project.entry-points."memcap.constructions"]``).  The group is read once, at the first
lookup; a plug-in is imported when first used, and is listed after the built-ins.  A plug-in
whose name is already taken is skipped with a warning (the built-ins cannot be replaced).
"""

from __future__ import annotations

import inspect
import warnings
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

import numpy as np

from kernels.constructions import (
    axis_tree,
    bubeck,
    hyperplane_tree,
    options,
    rajput,
    sign_cube,
    switch_net,
    vardi,
    zhang,
)
from kernels.memorizer import Memorizer
from kernels.model.data import check_memory, dataset_bytes, validate
from kernels.model.network import check_dtype

GROUP = "memcap.constructions"  # the plug-in entry-point group
# the built-ins, in the order `memcap list` shows them
BUILTIN = (zhang, bubeck, sign_cube, vardi, rajput, switch_net, hyperplane_tree, axis_tree)
_MODULES: dict[str, ModuleType | EntryPoint] = {m.NAME: m for m in BUILTIN}
_plugins_read = False


def _registry() -> dict[str, ModuleType | EntryPoint]:
    """Name -> module (or the entry point of a plug-in not imported yet)."""
    global _plugins_read
    if not _plugins_read:
        _plugins_read = True
        for ep in entry_points(group=GROUP):
            if ep.name in _MODULES:
                warnings.warn(f"memcap: plug-in construction {ep.name!r} ({ep.value}) skipped: "
                              "the name is taken", stacklevel=3)
            else:
                _MODULES[ep.name] = ep
    return _MODULES


def register(name: str, module: ModuleType) -> None:
    """Add a construction module under ``name`` (what a plug-in's entry point does)."""
    _registry()[name] = module


def names() -> tuple[str, ...]:
    """The registered construction names."""
    return tuple(_registry())


def get(name: str) -> ModuleType:
    """The module of construction ``name``; an unknown name is a ValueError listing the names."""
    reg = _registry()
    if name not in reg:
        raise ValueError(f"unknown construction {name!r}; choose from {', '.join(reg)}")
    mod = reg[name]
    if not isinstance(mod, ModuleType):  # an entry point (stdlib's or importlib_metadata's)
        mod = reg[name] = mod.load()
    return mod


def describe() -> list[dict]:
    """One dict per construction: name, seed, summary, executors, needs non-negative outputs."""
    out = []
    for name in names():
        mod = get(name)
        out.append({"name": name, "seed": mod.SEED, "summary": mod.SUMMARY,
                    "executors": list(mod.EXECUTORS), "nonnegative_outputs": mod.NONNEGATIVE})
    return out


def options_of(name: str) -> tuple[str, ...]:
    """The keyword options construction ``name`` accepts (beyond ``seed`` and ``dtype``)."""
    mod = get(name)
    if hasattr(mod, "OPTIONS"):
        return tuple(mod.OPTIONS)
    sig = inspect.signature(mod.build)
    return tuple(k for k, prm in sig.parameters.items()
                 if prm.kind == prm.KEYWORD_ONLY and k not in ("seed", "dtype"))


def check_options(name: str, given: dict) -> dict:
    """The options ``given``, checked by type and range against the module's ``OPTIONS`` (a
    module without one is checked for option names only); a one-line ValueError naming the option
    otherwise."""
    mod = get(name)
    spec = getattr(mod, "OPTIONS", None)
    if spec is None:
        options.check_names(name, options_of(name), given)
        return dict(given)
    return options.check(name, spec, given)


def complete_options(name: str, given: dict) -> dict:
    """The options ``given``, checked (:func:`check_options`), and every option not given at its
    ``OPTIONS`` default: what the module's ``estimate_bytes`` and ``build`` receive."""
    checked = check_options(name, given)
    spec = getattr(get(name), "OPTIONS", None)
    return checked if spec is None else {**options.defaults(spec), **checked}


def estimate_bytes(name: str, n: int, p: int, r: int, given: dict | None = None) -> int:
    """Bytes construction ``name`` needs to build n points of (p, r) with the options ``given``
    (the module's ``estimate_bytes``, every option given)."""
    return int(get(name).estimate_bytes(n, p, r, **complete_options(name, given or {})))


def preflight(name: str, n: int, p: int, r: int, given: dict) -> dict:
    """Before data are generated or loaded: check the options ``given`` and refuse a dataset of
    n × (p, r) plus the build's ``estimate_bytes`` that would not fit in memory.  Returns the
    options, checked."""
    checked = check_options(name, given)
    check_memory(dataset_bytes(n, p, r) + estimate_bytes(name, n, p, r, checked),
                 f"{name} with n={n}, p={p}, r={r}")
    return checked


def build(name: str, X, D, *, seed: int = 0, dtype="float64", **given) -> Memorizer:
    """Validate the options ``given`` and (X, D), check memory, and build construction ``name``.

    Floating-point overflow inside a build is not a warning: data whose scale overflows the dtype
    (outputs near 1e308, margins near 1e-310) give non-finite weights or outputs, and the one
    exactness rule (:mod:`kernels.theory.verify`) then says NOT EXACT — NaN is never exact."""
    mod = get(name)
    dtype = check_dtype(dtype)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer; got {seed!r}")
    full = complete_options(name, given)
    sx, sd = np.shape(X), np.shape(D)  # free for arrays: the memory is refused before any copy
    if len(sx) == 2 and len(sd) in (1, 2) and min(*sx, sd[-1] if len(sd) == 2 else 1) >= 1:
        n, p, r = sx[0], sx[1], sd[1] if len(sd) == 2 else 1
        check_memory(dataset_bytes(n, p, r) + mod.estimate_bytes(n, p, r, **full),
                     f"{name} with n={n}, p={p}, r={r}")
    ds = validate(X, D, require_nonnegative=name if mod.NONNEGATIVE else None)
    check_memory(mod.estimate_bytes(ds.n, ds.p, ds.r, **full),
                 f"{name} with n={ds.n}, p={ds.p}, r={ds.r}")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return mod.build(ds, seed=seed, dtype=dtype, **full)
