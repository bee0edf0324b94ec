"""Construction options, validated in one place.

Each construction module declares ``OPTIONS = {name: (type, allowed, default, help)}``:

* ``type`` — ``int``, ``float``, ``str`` or ``bool``;
* ``allowed`` — a :class:`Range` for numbers, a tuple of choices for strings (for ``bool``, extra
  string choices such as ``("auto",)``);
* ``default`` — the value used when the option is not given (written here only: the registry
  fills it in, :func:`defaults`); ``None`` means "not set", and then ``none`` is also accepted;
* ``help`` — one line for ``memcap verify --help``.

:func:`check` turns user values (ints, floats and strings from ``--option KEY=VALUE``, or JSON)
into the declared type, or raises a one-line ``ValueError`` naming the option and what it accepts.
The registry calls it before anything is generated, loaded or built.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """An interval of numbers: ``Range(0, 1, hi_open=True)`` is [0, 1); ``None`` is unbounded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)))

    def __str__(self) -> str:
        lo = "-inf" if self.lo is None else _fmt(self.lo)
        hi = "inf" if self.hi is None else _fmt(self.hi)
        return (f"{'(' if self.lo_open or self.lo is None else '['}{lo}, "
                f"{hi}{')' if self.hi_open or self.hi is None else ']'}")


def _fmt(v) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else f"{v:g}"


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def accepted(spec: tuple) -> str:
    """What an option accepts, in words: ``an integer in [1, inf) or none``."""
    typ, allowed, default, _ = spec
    if typ is int:
        text = f"an integer in {allowed}"
    elif typ is float:
        text = f"a number in {allowed}"
    elif typ is bool:
        text = "one of " + ", ".join(("true", "false", *allowed))
    else:
        text = "one of " + ", ".join(allowed)
    return text + (" or none" if default is None else "")


def _number(value, typ):
    """``value`` as an int or float, or None when it is not one (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        for conv in (int, float):
            try:
                value = conv(value.strip())
                break
            except ValueError:
                continue
        else:
            return None
    if not isinstance(value, numbers.Real):
        return None
    if typ is float:
        return float(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    f = float(value)
    return int(f) if math.isfinite(f) and f == int(f) else None


def coerce(key: str, spec: tuple, value):
    """``value`` as option ``key`` of type ``spec``; a ``ValueError`` naming both otherwise."""
    typ, allowed, default, _ = spec
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        if default is None:
            return None
        out = None
    elif typ in (int, float):
        out = _number(value, typ)
        if out is not None and out not in allowed:
            out = None
    elif typ is bool:
        text = str(value).strip().lower() if not isinstance(value, bool) else None
        out = (value if isinstance(value, bool) else True if text in _TRUE
               else False if text in _FALSE else value if value in allowed else None)
    else:
        out = value if isinstance(value, str) and value in allowed else None
    if out is None:
        raise ValueError(f"option {key} must be {accepted(spec)} (got {_show(value)})")
    return out


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def defaults(spec: dict) -> dict:
    """Every option of ``spec`` at its default: ``OPTIONS`` is the one place a default is written
    (the registry passes every option to ``estimate_bytes`` and ``build``, whose signatures repeat
    none)."""
    return {key: s[2] for key, s in spec.items()}


def check_names(name: str, accepted, options: dict) -> None:
    """Refuse an option name construction ``name`` does not accept."""
    for key in options:
        if key not in accepted:
            raise ValueError(f"unknown option {key!r} for {name}; it accepts "
                             f"{', '.join(accepted) or 'no options'}")


def check(name: str, spec: dict, options: dict) -> dict:
    """The options of construction ``name`` checked against its ``OPTIONS`` ``spec``."""
    check_names(name, spec, options)
    out = {}
    for key, value in options.items():
        try:
            out[key] = coerce(key, spec[key], value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def describe(spec: dict) -> list[str]:
    """One line per option: ``name  what it accepts (default d): help``."""
    def default(v):
        return "none" if v is None else _fmt(v) if isinstance(v, float) else str(v)

    return [f"{k}: {accepted(s)} (default {default(s[2])}) — {s[3]}" for k, s in spec.items()]
