"""The report's timing parts: a cell's timing flag (the summary's column) and the section on how
timings were taken with every cell flagged noisy or suspect (kernels.harness.timing)."""

from __future__ import annotations

from kernels.harness import timing
from kernels.report.markup import _e, _num, table


def timing_flag(r) -> str:
    """``noisy`` (repeats' max/min > 3), ``suspect`` (still far above a direct re-timing after
    the re-measurements), else the spread max/min."""
    sp = r.get("batch_spread")
    if r.get("timing", {}).get("suspect"):
        return '<span class="bad">suspect</span>'
    if r.get("noisy"):
        return '<span class="bad">noisy</span>'
    return f"±{sp['max'] / sp['min']:.2g}×" if sp and sp.get("min") else "–"


def timing_section(rows) -> str:
    """How the timings were taken, and every cell flagged noisy or suspect."""
    ok = [r for r in rows if r.get("status") == "ok" and "batch_spread" in r]
    threads = sorted({r.get("threads") or 1 for r in ok})
    flagged = [r for r in ok if r.get("noisy") or r.get("timing", {}).get("suspect")]
    remeasured = sum(1 for r in ok if r.get("timing", {}).get("remeasured"))
    text = (f"<p>One method for every timing (<code>kernels/harness/timing.py</code>): kernels "
            f"compiled and inputs converted before the clock runs, thread count fixed "
            f"({', '.join(map(str, threads)) or '–'}; Numba and BLAS), repeats up to a minimum "
            f"time, each the median of short samples; tables and figures give the median repeat, "
            f"figures shade min..max. A cell whose repeats spread more than "
            f"{timing.NOISY_RATIO:g}× (max/min) is "
            f"<b>noisy</b>; a batch median more than {timing.SUSPECT_RATIO:g}× a direct "
            f"re-timing is re-measured ({remeasured} cells were), and <b>suspect</b> if it "
            f"never agrees. {len(flagged)} of {len(ok)} cells are flagged.</p>")
    out = [[_e(r["construction"]), _e(r["executor"]), _num(r["n"]), _num(r["p"]),
            _e(r["dtype"]), _num(r.get("threads") or 1), _num(r["batch_spread"]["min"] * 1e6),
            _num(r["batch_s_per_input"] * 1e6), _num(r["batch_spread"]["max"] * 1e6),
            _num(r.get("timing", {}).get("remeasured")), timing_flag(r)] for r in flagged]
    return text + (table(["construction", "executor", "n", "p", "dtype", "threads",
                          "µs/input min", "median", "max", "re-measured", "flag"], out, left=2)
                   if out else "")
