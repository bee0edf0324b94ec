"""The construction registry: one module per construction, reached by name.

Every construction module defines

* ``NAME`` (the registry name), ``SEED`` (the source document), ``SUMMARY`` (one line),
  ``NONNEGATIVE`` (True if it needs D >= 0), ``EXECUTORS`` (the executors it supports);
* ``estimate_bytes(n, p, r, **options) -> int`` — memory needed, checked *before* building;
* ``build(dataset, *, seed, dtype, **options) -> Memorizer`` — the construction itself.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

from kernels.data import check_memory, validate
from kernels.model.memorizer import Memorizer
from kernels.model.network import check_dtype

# name -> module path; the order is the order `memcap list` shows.
_MODULES = {
    "zhang": "kernels.constructions.zhang",
    "bubeck": "kernels.constructions.bubeck",
    "sign-cube": "kernels.constructions.sign_cube",
    "vardi": "kernels.constructions.vardi",
    "rajput": "kernels.constructions.rajput",
    "switch-net": "kernels.constructions.switch_net",
    "hyperplane-tree": "kernels.constructions.hyperplane_tree",
    "axis-tree": "kernels.constructions.axis_tree",
}


def register(name: str, module: str) -> None:
    """Add a construction module (used by later modules and by tests)."""
    _MODULES[name] = module


def names() -> tuple[str, ...]:
    """The registered construction names."""
    return tuple(_MODULES)


def get(name: str) -> ModuleType:
    """The module of construction ``name``; an unknown name is a ValueError listing the names."""
    if name not in _MODULES:
        raise ValueError(f"unknown construction {name!r}; choose from {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name])


def describe() -> list[dict]:
    """One dict per construction: name, seed, summary, executors, needs non-negative outputs."""
    out = []
    for name in _MODULES:
        mod = get(name)
        out.append({"name": name, "seed": mod.SEED, "summary": mod.SUMMARY,
                    "executors": list(mod.EXECUTORS), "nonnegative_outputs": mod.NONNEGATIVE})
    return out


def options_of(name: str) -> tuple[str, ...]:
    """The keyword options construction ``name`` accepts (beyond ``seed`` and ``dtype``)."""
    sig = inspect.signature(get(name).build)
    return tuple(k for k, prm in sig.parameters.items()
                 if prm.kind == prm.KEYWORD_ONLY and k not in ("seed", "dtype"))


def build(name: str, X, D, *, seed: int = 0, dtype="float64", **options) -> Memorizer:
    """Validate (X, D), check memory, and build construction ``name``."""
    mod = get(name)
    dtype = check_dtype(dtype)
    accepted = options_of(name)
    for key in options:
        if key not in accepted:
            raise ValueError(f"unknown option {key!r} for {name}; it accepts "
                             f"{', '.join(accepted) or 'no options'}")
    ds = validate(X, D, require_nonnegative=name if mod.NONNEGATIVE else None)
    check_memory(mod.estimate_bytes(ds.n, ds.p, ds.r, **options),
                 f"{name} with n={ds.n}, p={ds.p}, r={ds.r}")
    return mod.build(ds, seed=seed, dtype=dtype, **options)
