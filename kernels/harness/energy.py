"""Energy: a *model* (the proxy) and, where the machine exposes counters, a *measurement*.

Proxy model
-----------
energy per input = Σ_kind ops_kind × E_op(kind, precision) + accesses × E_access(tier)

Source of every number: M. Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, 45 nm at 0.9 V.  Values taken from its table:

==========================  ========  ==========================================================
operation                   pJ        note
==========================  ========  ==========================================================
32-bit int add              0.1       Horowitz
fp32 add                    0.9       Horowitz
fp32 mult                   3.7       Horowitz
SRAM 8 KB / 32 KB / 1 MB    10/20/100 Horowitz, per 64-bit access
DRAM                        1300–2600 Horowitz, per 64-bit access; the model uses the midpoint 1950
==========================  ========  ==========================================================

Derived (documented here, not in the paper):

* **fp64** add/mult = 4 × fp32 (3.6 / 14.8 pJ).  A multiplier's area and energy grow roughly with
  the square of the significand width (53/24)² ≈ 4.9, an adder's roughly linearly (≈ 2.2); a single
  factor 4 is the usual rule of thumb and is what the design uses.
* **comparison** = integer add of the same width (32-bit 0.1 pJ, 64-bit 0.2 pJ): IEEE-754 values
  are ordered like sign-magnitude integers, so a comparator is an integer subtractor on the bit
  pattern.  The cost model counts a ReLU or a conditioning test as one comparison.
* **access width** is 64 bits: one access moves 8 bytes.  A stored weight costs its value (4 or 8
  bytes) plus its int64 source index (the CSR layout of :class:`~kernels.model.network.Network`),
  i.e.
  1.5 accesses in float32 and 2 in float64.  Weights touched per input = multiplications (every
  multiplication reads one stored weight).
* **memory tier**: the smallest cache of *this* machine (sizes read from
  ``/sys/devices/system/cpu/cpu0/cache``; the 45 nm table's 32 KB / 512 KB / 32 MB defaults
  otherwise) that holds the executor's working set (the model's bytes); DRAM when none does.  The
  energy of a cache of S bytes is interpolated log-log through Horowitz's 8 KB / 32 KB / 1 MB points
  (extrapolated beyond 1 MB with the 32 KB → 1 MB slope, so a 32 MB L3 is 500 pJ).

This is a model: every report labels it so.

Measured energy
---------------
:func:`measure` runs a workload repeatedly for a window (≥ 1 s), reads an energy counter before and
after, measures idle power over a window of the same length, and keeps both: ``busy_j``,
``idle_w``, ``net_j`` (busy − idle × busy time) and per call.  Backends: Intel/AMD RAPL through the
powercap files (``/sys/class/powercap/*/energy_uj``, when readable) and NVIDIA NVML through the
optional ``nvidia-ml-py`` (``pynvml``).  A missing counter gives ``{"status": "unavailable",
"reason": ...}``: never a zero.
"""

from __future__ import annotations

import glob
import math
import os
import time

SOURCE = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
          "ISSCC 2014, 45 nm, 0.9 V")
ACCESS_BYTES = 8  # one access = 64 bits
INDEX_BYTES = 8  # int64 source index stored beside every weight (CSR)
FP64_FACTOR = 4.0

# pJ per operation, by precision; "cmp" is an integer add of the same width (derived, see above).
OP_PJ = {
    "float32": {"add": 0.9, "mul": 3.7, "cmp": 0.1},
    "float64": {"add": 0.9 * FP64_FACTOR, "mul": 3.7 * FP64_FACTOR, "cmp": 0.2},
}
# pJ per 64-bit access of an SRAM of the given size (Horowitz), and DRAM.
SRAM_PJ = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))
DRAM_PJ = 1950.0
DRAM_PJ_RANGE = (1300.0, 2600.0)
DEFAULT_CACHES = (("L1d", 32 * 1024), ("L2", 512 * 1024), ("L3", 32 * 1024 * 1024))


def table() -> list[dict]:
    """The model's table, row by row, with each row's origin (for the report)."""
    rows = []
    for prec, ops in OP_PJ.items():
        for kind, pj in ops.items():
            origin = "Horowitz" if prec == "float32" and kind != "cmp" else "derived"
            rows.append({"item": f"{prec} {kind}", "pJ": pj, "origin": origin})
    for size, pj in SRAM_PJ:
        rows.append({"item": f"SRAM {size // 1024} KB, per 64-bit access", "pJ": pj,
                     "origin": "Horowitz"})
    rows.append({"item": "DRAM, per 64-bit access (midpoint of 1.3-2.6 nJ)", "pJ": DRAM_PJ,
                 "origin": "Horowitz"})
    for name, size in cache_sizes():
        rows.append({"item": f"this machine's {name} ({_kib(size)}), per 64-bit access",
                     "pJ": round(sram_pj(size), 2), "origin": "derived (interpolated)"})
    return rows


def _kib(size: int) -> str:
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def _parse_size(text: str) -> int | None:
    text = text.strip().upper()
    mult = {"K": 1024, "M": 1024**2, "G": 1024**3}
    try:
        if text and text[-1] in mult:
            return int(text[:-1]) * mult[text[-1]]
        return int(text)
    except ValueError:
        return None


def cache_sizes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> tuple[tuple[str, int], ...]:
    """Data/unified caches of this machine, smallest first: (("L1d", bytes), ...)."""
    found = []
    for idx in sorted(glob.glob(os.path.join(root, "index*"))):
        try:
            with open(os.path.join(idx, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(idx, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(idx, "size")) as f:
                size = _parse_size(f.read())
        except OSError:
            continue
        if kind == "Instruction" or size is None:
            continue
        found.append((f"L{level}" + ("d" if kind == "Data" else ""), size))
    return tuple(sorted(found, key=lambda t: t[1])) or DEFAULT_CACHES


def sram_pj(size: int) -> float:
    """pJ per 64-bit access of an SRAM of ``size`` bytes: log-log interpolation of the table."""
    pts = SRAM_PJ
    if size <= pts[0][0]:
        return pts[0][1]
    i = 1
    while i < len(pts) - 1 and size > pts[i][0]:
        i += 1
    (s0, e0), (s1, e1) = pts[i - 1], pts[i]
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    return e0 * (size / s0) ** slope


def tier(working_set: int, caches=None) -> tuple[str, float]:
    """(tier name, pJ per 64-bit access) for a working set of ``working_set`` bytes."""
    for name, size in (caches if caches is not None else cache_sizes()):
        if working_set <= size:
            return name, sram_pj(size)
    return "DRAM", DRAM_PJ


def proxy(ops_by_kind: dict, dtype: str, working_set: int, weights_touched: float | None = None,
          caches=None) -> dict:
    """Energy proxy per input, in pJ, with its parts.

    ``ops_by_kind``: mean ``mul``, ``add``, ``cmp`` per input (numbers or ``{"mean": x}``);
    ``working_set``: bytes of the model the executor reads; ``weights_touched``: stored weights read
    per input (default: the multiplications)."""
    dtype = str(dtype)
    if dtype not in OP_PJ:
        raise ValueError(f"no energy table for dtype {dtype!r}; choose from {', '.join(OP_PJ)}")

    def val(k):
        v = ops_by_kind.get(k, 0.0)
        return float(v["mean"] if isinstance(v, dict) else v)

    compute = sum(val(k) * OP_PJ[dtype][k] for k in ("mul", "add", "cmp"))
    touched = val("mul") if weights_touched is None else float(weights_touched)
    itemsize = 4 if dtype == "float32" else 8
    accesses = touched * (itemsize + INDEX_BYTES) / ACCESS_BYTES
    name, pj = tier(int(working_set), caches)
    memory = accesses * pj
    return {"total_pj": compute + memory, "compute_pj": compute, "memory_pj": memory,
            "accesses": accesses, "tier": name, "access_pj": pj, "kind": "model"}


# ---- measured energy --------------------------------------------------------------------------


class _Rapl:
    name = "rapl"

    def __init__(self, root="/sys/class/powercap"):
        self.files = []
        for d in sorted(glob.glob(os.path.join(root, "*"))):
            f = os.path.join(d, "energy_uj")
            try:
                with open(os.path.join(d, "name")) as fh:
                    label = fh.read().strip()
            except OSError:
                label = os.path.basename(d)
            # top-level packages only (intel-rapl:0, not intel-rapl:0:0) so nothing counts twice
            if os.path.basename(d).count(":") != 1 or not os.access(f, os.R_OK):
                continue
            try:
                with open(f) as fh:
                    int(fh.read())
                with open(os.path.join(d, "max_energy_range_uj")) as fh:
                    wrap = int(fh.read())
            except (OSError, ValueError):
                continue
            self.files.append((label, f, wrap))
        if not self.files:
            raise OSError(f"no readable RAPL energy_uj under {root}")

    def read(self) -> list[int]:
        out = []
        for _, f, _ in self.files:
            with open(f) as fh:
                out.append(int(fh.read()))
        return out

    def joules(self, a, b) -> float:
        tot = 0
        for (_, _, wrap), x, y in zip(self.files, a, b, strict=True):
            tot += (y - x) if y >= x else (y + wrap - x)
        return tot * 1e-6


class _Nvml:
    name = "nvml"

    def __init__(self):
        import pynvml  # optional: nvidia-ml-py

        pynvml.nvmlInit()
        self.nv = pynvml
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                        for i in range(pynvml.nvmlDeviceGetCount())]
        if not self.handles:
            raise OSError("NVML sees no GPU")
        self.read()  # total energy needs Volta or newer: fail here if absent

    def read(self) -> list[int]:  # millijoules
        return [self.nv.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles]

    def joules(self, a, b) -> float:
        return sum(y - x for x, y in zip(a, b, strict=True)) * 1e-3


def backends() -> dict:
    """{name: backend or the reason it is unavailable}."""
    out = {}
    for name, cls in (("rapl", _Rapl), ("nvml", _Nvml)):
        try:
            out[name] = cls()
        except ImportError:
            out[name] = "nvidia-ml-py (pynvml) is not installed"
        except Exception as exc:  # permission, no device, old GPU ...
            out[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return out


def availability() -> dict:
    """{backend: "available" | "unavailable: reason"} for the environment record."""
    return {k: ("available" if not isinstance(v, str) else f"unavailable: {v}")
            for k, v in backends().items()}


def unavailable(reason: str) -> dict:
    return {"status": "unavailable", "reason": reason}


def measure(workload, calls_per_run: int = 1, window_s: float = 1.0, backend=None,
            idle_w: dict | None = None) -> dict:
    """Measured energy of ``workload()`` per call, idle power subtracted; both kept.

    Runs ``workload`` until ``window_s`` (≥ 1 s) has passed; ``calls_per_run`` is how many inputs
    one call processes (results are also given per input).  ``idle_w``: {backend: watts} measured
    earlier (see :func:`idle_power`), else idle is measured now over the same window."""
    window_s = max(1.0, float(window_s))
    bks = backends() if backend is None else {backend.name: backend}
    out = {}
    for name, bk in bks.items():
        if isinstance(bk, str):
            out[name] = unavailable(bk)
            continue
        try:
            idle = (idle_w or {}).get(name)
            if idle is None:
                idle = _idle(bk, window_s)
            workload()  # warm
            calls = 0
            a = bk.read()
            t0 = time.perf_counter()
            while True:
                workload()
                calls += 1
                t = time.perf_counter() - t0
                if t >= window_s:
                    break
            b = bk.read()
            busy = bk.joules(a, b)
            net = busy - idle * t
            out[name] = {"status": "measured", "window_s": t, "calls": calls, "busy_j": busy,
                         "busy_w": busy / t, "idle_w": idle, "net_j": net,
                         "net_j_per_call": net / calls,
                         "net_pj_per_input": net / (calls * calls_per_run) * 1e12}
        except Exception as exc:
            out[name] = unavailable(f"{type(exc).__name__}: {exc}")
    return out


def _idle(bk, window_s: float) -> float:
    a = bk.read()
    t0 = time.perf_counter()
    time.sleep(window_s)
    t = time.perf_counter() - t0
    return bk.joules(a, bk.read()) / t


def idle_power(window_s: float = 2.0) -> dict:
    """{backend: idle watts} for every available backend (measure once, reuse for many cells)."""
    out = {}
    for name, bk in backends().items():
        if not isinstance(bk, str):
            try:
                out[name] = _idle(bk, max(1.0, window_s))
            except Exception:  # a counter that cannot be read has no baseline: its cells say so
                pass
    return out
