"""The report's timing parts: a cell's timing flag (the summary's column), the count of unstable
cells the headline states, and the section on how timings were taken with every cell the
stability rule (kernels.harness.timing) left unstable."""

from __future__ import annotations

from kernels.harness import timing
from kernels.report.markup import _e, _num, table


def timed_rows(rows) -> list:
    return [r for r in rows if r.get("status") == "ok" and "batch_spread" in r]


def is_unstable(r) -> bool:
    """A timed row the stability rule did not accept (``stable`` false; older rows: noisy or
    suspect)."""
    if "stable" in r and r["stable"] is not None:
        return not r["stable"]
    return bool(r.get("noisy") or r.get("timing", {}).get("suspect"))


def unstable_sentence(rows, count=lambda field, k: f"{k:,}") -> str:
    """The headline's count: how many timed cells are unstable (empty when none were timed);
    ``count(field, k)`` formats each count ("timed_cells", "unstable_cells")."""
    ok = timed_rows(rows)
    if not ok:
        return ""
    bad = sum(is_unstable(r) for r in ok)
    if not bad:
        return (f"All {count('timed_cells', len(ok))} timed cells are stable (their repeats "
                f"agree and none ran uniformly slow; see Timing method).")
    return (f"<b>{count('unstable_cells', bad)} of the {count('timed_cells', len(ok))} timed "
            f"cells are unstable</b> (marked <span class=\"bad\">unstable</span>; their times "
            f"are shown with their spread and carry no conclusion; see Timing method).")


def timing_flag(r) -> str:
    """``unstable`` (with the rule's reason) where the stability rule failed, else the spread of
    the repeats as ±max/min."""
    sp = r.get("batch_spread")
    if is_unstable(r):
        why = (r.get("stability") or {}).get("reason") or "noisy or suspect"
        return f'<span class="bad" title="{why}">unstable</span>'
    return f"±{sp['max'] / sp['min']:.2g}×" if sp and sp.get("min") else "–"


def timing_section(rows) -> str:
    """How the timings were taken, and every cell the stability rule left unstable."""
    ok = timed_rows(rows)
    threads = sorted({r.get("threads") or 1 for r in ok})
    flagged = [r for r in ok if is_unstable(r)]
    remeasured = sum(1 for r in ok if r.get("timing", {}).get("remeasured")
                     or r.get("timing", {}).get("single_remeasured"))
    text = (f"<p>One method for every timing (<code>kernels/harness/timing.py</code>): kernels "
            f"compiled and inputs converted before the clock runs, thread count fixed "
            f"({', '.join(map(str, threads)) or '–'}; Numba and BLAS), repeats up to a minimum "
            f"time, each the median of short samples; tables and figures give the median repeat, "
            f"figures draw the quartiles (q25..q75) of the repeats as error bars. "
            f"<b>Stability rule</b>: a time is stable when its repeats agree within "
            f"{timing.AGREE_RATIO:g}× (max/min), the batch median is within "
            f"{timing.CROSS_RATIO:g}× of one call on the whole batch (a cell that ran uniformly "
            f"on a bad path), and its ns per operation is not above "
            f"{timing.NEIGHBOUR_RATIO:g}× both neighbours' in its series. A time that fails is "
            f"measured again ({remeasured} cells were); one that still fails is <b>unstable</b>: "
            f"kept with its spread, re-measured the next time the cache is reused, and never "
            f"the ground of a conclusion. {len(flagged)} of {len(ok)} cells are unstable.</p>")
    out = [[_e(r["construction"]), _e(r["executor"]), _num(r["n"]), _num(r["p"]),
            _e(r["dtype"]), _num(r.get("threads") or 1), _num(r["batch_spread"]["min"] * 1e6),
            _num(r["batch_s_per_input"] * 1e6), _num(r["batch_spread"]["max"] * 1e6),
            _num(r.get("timing", {}).get("remeasured")),
            _e((r.get("stability") or {}).get("reason") or "noisy or suspect")]
           for r in flagged]
    return text + (table(["construction", "executor", "n", "p", "dtype", "threads",
                          "µs/input min", "median", "max", "re-measured", "why unstable"], out,
                         left=2)
                   if out else "")


def quartiles(r, metric: str = "batch_s_per_input"):
    """(q25, q75) of a timed metric's repeats (None where the row has no spread)."""
    sp = r.get({"batch_s_per_input": "batch_spread", "single_s": "single_spread"}[metric])
    if isinstance(sp, dict) and isinstance(sp.get("q25"), int | float):
        return sp["q25"], sp["q75"]
    return None


def separated(a, b, metric: str = "batch_s_per_input") -> bool:
    """True when rows ``a`` and ``b`` differ in ``metric`` beyond their spreads: both stable and
    their quartile ranges (q25..q75) do not overlap.  A conclusion ("active beats dense") is
    stated only then.  Rows that carry no spread (results written before it was kept) are
    judged by their medians alone."""
    if is_unstable(a) or is_unstable(b):
        return False
    qa, qb = quartiles(a, metric), quartiles(b, metric)
    if qa is None or qb is None:
        return True
    return qa[1] < qb[0] or qb[1] < qa[0]
