"""The report's HTML: one self-contained page rendered from a results document (:func:`render`).

``DIR/index.html`` opens from ``file://`` and loads nothing: the figures are base64 PNGs, the style
is inline, there are no scripts and no external addresses.  Beside it, ``results.json`` and
``results.csv`` hold every cell.  The HTML carries no timestamp, so the same results give the same
bytes (deterministic metadata).  Energy figures are labelled *model*; measured energy appears only
where a counter was read, and is labelled *measured*.
"""

from __future__ import annotations

import json
import math
import os

from kernels.harness import energy
from kernels.report import figures, figures_size, headline
from kernels.report.markup import _e, _num, figure_html, table
from kernels.report.style import CSS
from kernels.report.timings import timing_flag, timing_section
from kernels.theory.verify import scale_limited_note


def summary_table(rows) -> str:
    """Per construction/executor (float64, r=1) at the largest n measured, in two tables that fit
    the page: exactness and operations, then time and energy."""
    series = sorted(figures.n_series(rows, by_machine=True).items())  # one per machine, threads
    if not series:
        k = len(headline.recall_cells(rows))
        return ("<p>No float64 series over n (r = 1) was measured, so there is no summary; "
                + (f"the {k:,} measured cells are in the sections below.</p>" if k else
                   "nothing else was measured either.</p>"))
    ops, times = [], []
    for (c, e), rs in series:
        r = rs[-1]
        s_ops = figures.fit_slope([x["n"] for x in rs], [x["ops_mean"] for x in rs])
        s_t = figures.fit_slope([x["n"] for x in rs], [x["batch_s_per_input"] for x in rs])
        ops.append([_e(c), _e(e), _verdict(r), _portable(r), _num(r["n"]), _num(r["p"]),
                    _num(r["ops_mean"]), _num(r["ops_max"]), _num(s_ops, 2),
                    _num(r.get("active_weights_max")), _num(r.get("neurons"))])
        times.append([_e(c), _e(e), _num(r["n"]), _num(r["batch_s_per_input"] * 1e6),
                      _num(r["single_s"] * 1e6), _num(s_t, 2), _num(r.get("ns_per_op")),
                      _num(r.get("threads") or 1), timing_flag(r), _num(r["energy_proxy_pj"]),
                      _num(r["build_s"])])
    return ("<h3>Exactness and operations</h3>"
            + table(["construction", "executor", "exact", "portable", "largest n", "p",
                     "ops mean", "ops max", "ops slope", "active weights max (with biases)",
                     "neurons"], ops, left=4)
            + "<h3>Time and energy</h3>"
            + table(["construction", "executor", "largest n", "µs/input (batch, median)",
                     "µs (single, median)", "time slope", "ns/op", "threads", "timing",
                     "pJ/input (model)", "build s"], times, left=2))


def _portable(r) -> str:
    """The dense network's verdict in a second summation order (NumPy/BLAS): blank elsewhere."""
    if r.get("portable_exact") is None:
        return ""
    if r["portable_exact"]:
        return '<span class="ok">exact</span>'
    return f'<span class="bad">NOT exact (|err| {r["portable_max_abs_error"]:.2g})</span>'


def _checked(r) -> tuple[int, int]:
    """(inputs whose recall was checked, n): a sampled cell checked k < n."""
    n = r.get("n_effective", r["n"])
    return r.get("exact_checked", r.get("evaluated_inputs", n)), n


def machines_section(rows) -> str:
    """The machines of a sweep on a cluster (empty for one machine): cells measured on each."""
    if not figures.machine_labels(rows):
        return ""
    info, cells = {}, {}
    for r in rows:
        if r.get("machine"):
            info[r["machine"]] = r.get("machine_info") or {}
            cells[r["machine"]] = cells.get(r["machine"], 0) + (r.get("status") == "ok")
    out = [[_e(m), _num(cells[m]), _num(i.get("cores")), _num(i.get("threads")),
            _e(_env_value(i.get("versions") or {}))] for m, i in sorted(info.items())]
    return ("<h2>Machines</h2><p>This sweep ran on several machines; timings are drawn, fitted "
            "and tabulated per machine (construction @ host), never across two.</p>"
            + table(["machine", "cells measured", "cores", "Numba threads", "versions"], out))


def _verdict(r) -> str:
    if r.get("exact"):
        k, n = _checked(r)
        note = _e(scale_limited_note(r.get("scale_limited_points")))
        return (f'<span class="ok">exact{note}</span>' if k >= n else
                f'<span class="ok">exact on {k:,} sampled of {n:,}{note}</span>')
    return f'<span class="bad">NOT exact ({r.get("inexact_points")} pts)</span>'


def exactness_table(rows) -> str:
    """Where each construction/executor stops being exact, in float64 and float32."""
    by = {}
    for r in rows:
        if (r.get("status") == "ok" and r.get("sparsity") is None
                and r.get("executor") != figures_size.SIZE):
            by.setdefault((r["construction"], r["executor"], r["dtype"]), []).append(r)
    out = []
    for (c, e, dt), rs in sorted(by.items()):
        rs.sort(key=lambda r: (r["n"], r["p"], r["r"]))
        exact_n = [r["n"] for r in rs if r["exact"]]
        bad = [r for r in rs if not r["exact"]]
        first_bad = (f'<span class="bad">n={bad[0]["n"]}, p={bad[0]["p"]}, r={bad[0]["r"]} '
                     f'({bad[0]["inexact_points"]} pts, rel err {bad[0]["max_rel_error"]:.2g})'
                     "</span>") if bad else '<span class="ok">none up to the largest n</span>'
        sampled = [r for r in rs if _checked(r)[0] < _checked(r)[1]]
        checked = ("all" if not sampled else
                   "; ".join("n={:,}: {:,} sampled".format(r["n"], _checked(r)[0])
                             for r in sampled))
        limited = max((r.get("scale_limited_points") or 0) for r in rs)
        out.append([_e(c), _e(e), _e(dt), _num(max(exact_n) if exact_n else None), first_bad,
                    _num(max(r["max_rel_error"] for r in rs)), _num(rs[0]["tolerance"]),
                    _num(limited), checked])
    if not out:
        return "<p>No recall cell was measured.</p>"
    return table(["construction", "executor", "dtype", "largest exact n", "first inexact cell",
                  "max rel error", "tolerance", "scale-limited points (max)", "inputs checked"],
                 out, left=3)


def _pow2(n: int) -> str:
    k = math.log2(n)
    return f"2^{int(k)}" if k == int(k) else f"{n:,}"


def _slope(rs, metric: str) -> str:
    s = figures_size.slopes(rs, metric)
    return "–" if s is None else f"<b>{s:.2f}</b>"


def size_table(rows) -> str:
    """Per construction and variant: the size at the largest n and the fitted log-log slopes."""
    out = []
    for (c, v), rs in figures_size.size_series(rows, budgets=None).items():
        r = rs[-1]
        out.append([_e(c), _e(v or ""), _e(f"{_pow2(rs[0]['n'])} … {_pow2(r['n'])}"),
                    str(len(rs)), _e(f"{r.get('kind')}, p={r['p']}"), _num(r.get("weights")),
                    _slope(rs, "weights"), _num(r.get("neurons")), _slope(rs, "neurons"),
                    _num(r.get("depth")), _num(r.get("weight_bits"))])
    if not out:
        return ""
    return ("<p>Each network built once per n (size only: no recall), on the same generated "
            "data for every construction that does not need its own. A fitted log-log slope "
            "well below 1 is sublinear growth; seed 000 §4's VC floor is Ω(√n) weights and "
            "Ω(n<sup>1/4</sup>) neurons (slopes 0.5 and 0.25, up to log factors).</p>"
            + table(["construction", "variant", "n", "points", "data", "weights (largest n)",
                     "weights slope", "neurons", "neurons slope", "depth",
                     "largest weight (bits)"], out, left=2))


def skipped_table(rows) -> str:
    groups = {}
    for r in rows:
        if r.get("status") != "ok":
            groups.setdefault((r["construction"], r["status"], r.get("reason", "")), []).append(r)
    if not groups:
        return "<p>Every cell of the grid was measured.</p>"
    out = [[_e(c), _e(s), str(len(rs)),
            _e(", ".join(sorted({f"n={r['n']}" for r in rs}, key=lambda t: int(t[2:])))),
            _e(reason)] for (c, s, reason), rs in sorted(groups.items())]
    return table(["construction", "status", "cells", "where", "reason"], out, left=2)


def energy_section(doc) -> str:
    rows = [[_e(t["item"]), _num(t["pJ"]), _e(t["origin"])] for t in energy.table()]
    counters = doc["environment"].get("energy_counters", {})
    meas = [r for r in doc["rows"] if isinstance(r.get("energy_measured_pj"), int | float)]
    status = "".join(f"<li><code>{_e(k)}</code>: {_e(v)}</li>"
                     for k, v in sorted(counters.items()))
    mtxt = (f'<p><span class="measured">measured</span> energy was read for {len(meas)} cells '
            "(counter over a ≥ 1 s window minus idle power × time; both kept in results.json)."
            "</p>" if meas else
            '<p>Measured energy: <b>unavailable</b> on this machine (no readable counter), '
            "so every energy number in this report is the model. Unavailable is never shown "
            "as 0.</p>")
    return (f'<p>Every figure and column marked <span class="model">model</span> is the energy '
            f"<b>proxy</b>: operations × energy per operation at the storage precision + weight "
            f"accesses (64-bit, value + int64 index) × energy per access at the memory tier the "
            f"executor's model fits in. Source: {_e(energy.SOURCE)}. fp64 and comparisons are "
            f"derived, see <code>kernels/harness/energy.py</code>.</p>"
            + table(["item", "pJ", "origin"], rows) + f"<p>Counters:</p><ul>{status}</ul>"
            + mtxt)


def load_compare(path: str):
    """The pyperf suite of ``memcap compare -o FILE``, every benchmark with its values; anything
    else is a one-line ``ValueError`` naming the file."""
    import pyperf

    try:
        suite = pyperf.BenchmarkSuite.load(path)
        for b in suite.get_benchmarks():
            b.get_name(), b.mean(), b.get_values()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as exc:  # pyperf raises what its JSON reader meets: decode, key, type
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a pyperf result file of `memcap compare` "
                         f"({text})") from None
    return suite


def compare_table(path: str) -> str:
    """A table of a pyperf result file (``memcap compare -o FILE``)."""
    suite = load_compare(path)
    out = []
    for b in sorted(suite.get_benchmarks(), key=lambda b: b.get_name()):
        vals = b.get_values()
        mean, std = b.mean(), (b.stdev() if len(vals) > 1 else 0.0)
        out.append([_e(b.get_name()), _num(mean * 1e6), _num(std * 1e6), str(len(vals))])
    return (table(["benchmark", "µs per input (mean)", "std dev", "values"], out)
            + f"<p>From <code>{_e(os.path.basename(path))}</code>; "
            "<code>python -m pyperf show</code> prints it in full.</p>")


def figure_list(rows) -> list[tuple[str, str, str, str]]:
    """Every figure below the headline, in the report's order: (section, title, PNG, caption).
    A figure whose section is its own title gets an ``h2``; the size figures share one."""
    out = [(t, t, img, cap) for t, img, cap in figures.all_figures(rows)]
    out += [(t, t, img, cap) for t, img, cap in headline.conversion_figure(rows)]
    out += [("Network size vs n", t, img, cap) for t, img, cap in figures_size.all_figures(rows)]
    return out


def render(doc: dict, command: str, compare: str | None = None) -> str:
    rows = doc["rows"]
    env = doc["environment"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>memcap report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>memcap report</h1>", headline.section(rows),
             headline.counts_line(rows),
             "<h2>Summary (float64, largest n measured)</h2>", summary_table(rows)]
    seen = set()
    size_tab = size_table(rows)
    for sec, title, img, cap in figure_list(rows):
        if sec not in seen:
            seen.add(sec)
            parts.append(f"<h2>{_e(sec)}</h2>")
            if sec == "Network size vs n":
                parts.append(size_tab)
        parts.append((f"<h3>{_e(title)}</h3>" if title != sec else "")
                     + figure_html(title, img, cap))
    if size_tab and "Network size vs n" not in seen:
        parts += ["<h2>Network size vs n</h2>", size_tab]
    parts += ["<h2>Timing method and noisy cells</h2>", timing_section(rows)]
    parts += ["<h2>Exactness</h2>",
              "<p>Exact recall, per point and output (NaN and inf never are): "
              "|f<sub>k</sub>(x<sub>i</sub>) − d<sub>ik</sub>| ≤ tol·(|d<sub>ik</sub>| + "
              "‖D‖<sub>∞</sub>), tol 1e-9 (float64), 1e-4 (float32); max rel error is the "
              "largest |f − d| / |d| over d ≠ 0; scale-limited points have an output d ≠ 0 exact "
              "only through the ‖D‖<sub>∞</sub> term. "
              "A cell checked on a sample is exact only on the inputs it checked.</p>",
              exactness_table(rows), machines_section(rows),
              "<h2>Energy: model and measurement</h2>",
              energy_section(doc)]
    if compare:
        parts += ["<h2>pyperf comparison with peers</h2>", compare_table(compare)]
    parts += ["<h2>Skipped cells</h2>", skipped_table(rows), "<h2>Environment</h2>",
              table(["", "value"], [[_e(k), _e(_env_value(v))] for k, v in sorted(env.items())]),
              "<h2>Reproduce</h2>",
              f"<pre>{_e(command)}</pre><p>at commit <code>{_e(env.get('git_commit'))}</code>; "
              "the grid is in <code>results.json</code> (<code>grid</code>), every cell in "
              "<code>results.json</code> / <code>results.csv</code>.</p>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def _env_value(v) -> str:
    return json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v)
