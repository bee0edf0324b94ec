"""Every figure of the report reads (matplotlib's own geometry: plot areas ≥ 1.9 × 1.25 in, no
legend on a label), the summary fits the page in two tables, and every number of the headline is
the number of the results.json cell it names."""

import argparse
import json
import math
import re
import shlex
from html import unescape
from pathlib import Path

import matplotlib.figure
import pytest
from matplotlib import pyplot as plt

from kernels.cli import make_parser
from kernels.constructions import get, names
from kernels.harness import presets, results
from kernels.harness.cell import RANDOM
from kernels.harness.grid import group_executors, groups
from kernels.harness.sweep_args import grid_from_args
from kernels.report import build, figures, geometry, headline, html, timings


@pytest.fixture
def checked(monkeypatch):
    """Every figure saved while the fixture is active: (suptitle, its problems)."""
    seen = []
    real = matplotlib.figure.Figure.savefig

    def savefig(fig, *a, **k):
        sup = getattr(fig, "_suptitle", None)
        seen.append((sup.get_text() if sup else "", geometry.problems(fig)))
        return real(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return seen


def test_the_checker_sees_a_squashed_panel_and_a_legend_on_the_labels():
    fig, ax = plt.subplots(figsize=(4, 1.2), layout=None)
    for i in range(6):
        ax.plot([1, 2], [i, i + 1], label=f"a long legend entry number {i}")
    ax.set_xlabel("n (points memorized)")
    ax.set_ylabel("operations")
    ax.set_title("a title")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.1))  # on the tick labels
    found = geometry.problems(fig)
    plt.close(fig)
    assert any("plot area" in p for p in found)
    assert any("legend overlaps" in p and "x tick labels" in p for p in found)
    assert any("legend overlaps" in p and "x label" in p for p in found)


def test_the_checker_sees_a_legend_drawn_outside_the_figure():
    fig, ax = plt.subplots(figsize=(4, 3), layout=None)
    ax.plot([1, 2], [1, 2], label="a line")
    assert not any("outside the figure" in p for p in geometry.problems(fig))
    ax.legend(loc="upper left", bbox_to_anchor=(1.3, 1.0))  # right of the figure's edge
    found = geometry.problems(fig)
    plt.close(fig)
    assert any("outside the figure" in p for p in found)


def test_fit_grows_a_figure_until_its_panels_read():
    fig, axes = plt.subplots(2, 2, figsize=(5, 2), layout="constrained")
    assert any(h < geometry.MIN_H_IN for _, _, h in geometry.plot_areas(fig))
    geometry.fit(fig)
    assert all(w >= geometry.MIN_W_IN and h >= geometry.MIN_H_IN
               for _, w, h in geometry.plot_areas(fig))
    plt.close(fig)


def _row(c, e, n, p=8, dtype="float64", series="n", **extra):
    ops = 3.0 * n if e == "dense" else 20 * math.log2(n)
    return {"status": "ok", "construction": c, "executor": e, "n": n, "p": p, "grid_p": p,
            "r": 1, "dtype": dtype, "sparsity": None, "series": series, "ops_mean": ops,
            "ops_max": 1.2 * ops, "batch_s_per_input": 1e-9 * ops, "single_s": 2e-9 * ops,
            "ns_per_op": 1.0, "exact": True, "inexact_points": 0, "max_rel_error": 0.0,
            "energy_proxy_pj": 2.0 * ops, "build_s": 0.01, "tolerance": 1e-9, "threads": 1,
            "batch_spread": {"min": 0.9e-9 * ops, "max": 1.2e-9 * ops},
            "bounds": {"corollary1_ops": 30 * math.log2(n), "theorem1_ops_max": 40 * n ** 0.2,
                       "axis_tree_ops": 25 * math.log2(n)},
            "theorem": {"corollary1_ops_scale": 81 * math.log2(n),
                        "theorem2_active_weights": 100 * math.log2(n)}, **extra}


def every_kind_of_row() -> list[dict]:
    """Rows of every construction and executor on every axis the report draws (the legends as
    long as a full report's): n series in two dtypes, p series, sparsity, size with every
    variant of the default grid."""
    rows = []
    for c in names():
        for e in get(c).EXECUTORS:
            for dt in ("float64", "float32"):
                rows += [_row(c, e, n, dtype=dt) for n in (64, 256, 1024, 4096)]
            rows += [_row(c, e, 1024, p=p, series="p") for p in (4, 16, 32)]
        for opts in [{}] + presets.SIZE_OPTIONS.get(c, [])[1:]:
            v = ",".join(f"{k}={x}" for k, x in opts.items()) or None
            for k, n in enumerate((1024, 2048, 4096, 8192, 16384)):
                rows.append({"status": "ok", "construction": c, "executor": "size",
                             "variant": v, "n": n, "p": 4, "grid_p": 4, "r": 1,
                             "kind": "sphere", "labels": "classes", "weights": 10 * n,
                             "neurons": n // 2 + 7 * k, "depth": 3 + k,
                             "weight_bits": 32 + k})
    for s in (0.0, 0.5, 0.9, 0.99):
        for e in ("dense", "active"):
            rows.append(_row(RANDOM, e, 1024, p=32, series="sparsity", sparsity=s))
    return rows


def test_every_figure_reads_on_a_full_set_of_series(checked):
    rows = every_kind_of_row()
    titles = [t for t, _, _ in figures.all_figures(rows)]
    titles += [t for t, _, _ in html.figures_size.all_figures(rows)]
    titles += [t for t, _, _ in headline.conversion_figure(rows)]
    assert "Conversion of saved operations into saved time" in titles
    assert headline.combined_figure(rows) is not None
    assert len(checked) == len(titles) + 1 >= 9
    assert [p for p in checked if p[1]] == []


def _table_widths(page: str) -> list[int]:
    return [len(re.findall(r"<th[ >]", t)) for t in re.findall(r"<table>.*?</table>", page, re.S)]


def test_summary_is_two_tables_that_fit_and_counts_agree(monkeypatch):
    monkeypatch.setattr(html, "figure_list", lambda rows: [])
    monkeypatch.setattr(headline, "combined_figure", lambda rows: None)
    rows = every_kind_of_row()
    page = html.render({"rows": rows, "environment": {}}, "memcap report")
    summary = page[page.index("<h2>Summary"):page.index("<h2>", page.index("<h2>Summary") + 4)]
    assert "<h3>Exactness and operations</h3>" in summary and "<h3>Time and energy</h3>" in summary
    assert max(_table_widths(summary)) <= 11
    # a sparsity-only run: its counts and its summary say the same thing
    sparse = [r for r in rows if r.get("series") == "sparsity"]
    page = html.render({"rows": sparse, "environment": {}}, "memcap report")
    assert f"{len(sparse)} recall cells and 0 size-only builds measured" in page
    assert f"the {len(sparse)} measured cells are in the sections below" in page
    assert "No cell was measured" not in page


_NUM = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9, "%": 1e-2}
# numbers that are part of the headline's words, not results
_WORDS = ("float64", "float32", "log2", "1 is linear, 0.5 √n, near 0")


def _close(text: str, value: float) -> bool:
    """Whether ``text`` (as the headline prints a number) is ``value`` at its printed precision."""
    m = _NUM.search(text)
    shown = m.group(0).replace(",", "")
    unit = text[m.end():].strip().split(" ")[0]
    scale = _UNITS.get(unit, 1.0)
    mant = shown.split("e")[0]
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    exp = int(shown.split("e")[1]) if "e" in shown else 0
    if not decimals and "e" not in shown:  # 2,048 or 120: trailing digits of a rounded integer
        tol = 0.5
    else:
        tol = 0.5 * 10.0 ** (exp - decimals)
    return abs(float(shown) - value / scale) <= tol * 1.0001 + 1e-12 * abs(value / scale)


def check_headline(page: str, doc: dict) -> int:
    """Every number of the headline against ``doc`` (a results.json document); returns how many
    were checked.  Each claim names its cell, the cell is in the results, its coordinates are
    shown, and no number is left that is not a claim or a coordinate."""
    head = page[page.index('<section id="headline">'):]
    head = head[:head.index("</section>")]
    head = re.sub(r"<figure>.*?</figure>", "", head, flags=re.S)
    ok = headline.recall_cells(doc["rows"])
    cells = {headline.cell_key(r): r for r in ok}
    shown = set()
    for where in re.findall(r'<span class="cell">(.*?)</span>', head):
        m = re.fullmatch(r"(\S+) (\S+), (?:n = ([\d,]+), p = (\d+), (\w+)|p = (\d+), (\w+), "
                         r"n = ([\d,]+)…([\d,]+))", where)
        assert m, where
        c, e = m.group(1), m.group(2)
        if m.group(3):
            key = f"{c}|{e}|{m.group(3).replace(',', '')}|{m.group(4)}|{m.group(5)}"
            assert key in cells, f"the headline names {where}, which results.json lacks"
            shown.add(key)
        else:
            for n in (m.group(8), m.group(9)):
                assert f"{c}|{e}|{n.replace(',', '')}|{m.group(6)}|{m.group(7)}" in cells
    checked = 0
    for attrs, text in re.findall(r"<span (data-[^>]*)>(.*?)</span>", head):
        a = dict(re.findall(r'(data-\w+)="([^"]*)"', attrs))
        if "data-count" in a:
            timed = timings.timed_rows(doc["rows"])
            want = {"recall_cells": len(ok),
                    "inexact_cells": sum(not r.get("exact") for r in ok),
                    "timed_cells": len(timed),
                    "unstable_cells": sum(map(timings.is_unstable, timed))}[a["data-count"]]
        elif "data-series" in a:
            c, e, p, dt = a["data-series"].split("|")
            rs = sorted((r for r in ok if (r["construction"], r["executor"], str(r["p"]),
                                           r["dtype"], r.get("r", 1)) == (c, e, p, dt, 1)
                         and r.get("series") in ("n", "grid")), key=lambda r: r["n"])
            want = figures.fit_slope([r["n"] for r in rs], [r["ops_mean"] for r in rs])
        else:
            assert a["data-cell"] in cells, a
            assert a["data-cell"] in shown, f"{a['data-cell']}: coordinates not shown"
            if a["data-field"] == "conversion":  # (dense time ÷ its) ÷ (dense ops ÷ its)
                mine, dense = cells[a["data-cell"]], cells[a["data-over"]]
                want = ((dense["batch_s_per_input"] / mine["batch_s_per_input"])
                        / (dense["ops_mean"] / mine["ops_mean"]))
            else:
                want = cells[a["data-cell"]][a["data-field"]]
            if "data-over" in a and a["data-field"] != "conversion":
                want /= cells[a["data-over"]][a["data-field"]]
        assert _close(re.sub(r"<[^>]+>", "", text), want), (text, want, a)
        checked += 1
    rest = re.sub(r'<span class="cell">.*?</span>|<span data-[^>]*>.*?</span>', "", head)
    rest = re.sub(r"<[^>]+>", "", rest)
    for w in _WORDS:
        rest = rest.replace(w, "")
    assert not re.search(r"\d", rest), f"a number the headline does not take from a cell: {rest}"
    return checked


def _finding(exact: bool):
    ns = [256, 1024, 4096]
    rows = [_row("switch-net", "dense", n) for n in ns]
    rows += [_row("switch-net", "active", n) for n in ns]
    rows += [_row("hyperplane-tree", "tree", n, exact=exact or n < 1024,
                  inexact_points=0 if exact or n < 1024 else 3,
                  max_rel_error=0.0 if exact or n < 1024 else 1.7e-3) for n in ns]
    # a failing cell off the n series, at a smaller n: named by its own p, not the series'
    rows.append(_row("zhang", "dense", 1024, p=32, series="p", exact=exact,
                     inexact_points=0 if exact else 5, max_rel_error=0.0 if exact else 2e-8))
    return rows


@pytest.mark.parametrize("exact", [True, False])
def test_every_headline_number_is_its_cells(exact, monkeypatch, tmp_path):
    monkeypatch.setattr(html, "figure_list", lambda rows: [])
    doc = {"rows": _finding(exact), "environment": {}}
    page = html.render(doc, "memcap report")
    assert check_headline(page, json.loads(json.dumps(doc))) >= (9 if exact else 13)
    plain = re.sub(r"<[^>]+>", "", page)
    if not exact:
        assert "zhang dense, n = 1,024, p = 32, float64: 5 points" in plain


def test_a_wrong_headline_number_is_caught(monkeypatch):
    monkeypatch.setattr(html, "figure_list", lambda rows: [])
    doc = {"rows": _finding(True), "environment": {}}
    page = html.render(doc, "memcap report")
    with pytest.raises(AssertionError):
        check_headline(page.replace(">245,760<", ">245,761<").replace(">12,288<", ">12,289<"),
                       doc)


def _headline_at_16384() -> list[dict]:
    """The report's headline cells at n = 16,384 (and 4,096): the dense switch network and the
    three conditional executors, their operations and times as ratios the headline must print."""
    rows = []
    # (construction, executor, operation ratio, time ratio) against dense
    for c, e, fewer, less in (("switch-net", "active", 780, 78),
                              ("hyperplane-tree", "tree", 7035, 1984),
                              ("axis-tree", "tree", 36248, 16607)):
        for n, scale in ((4096, 0.25), (16384, 1.0)):
            ops, t = 1.56e6 * scale / fewer, 7.8e-5 * scale / less
            rows.append(_row(c, e, n, ops_mean=ops, batch_s_per_input=t,
                             batch_spread={"min": 0.95 * t, "q25": 0.98 * t, "median": t,
                                           "q75": 1.02 * t, "max": 1.05 * t, "samples": 5},
                             ns_per_op=t * 1e9 / ops))
    for n, scale in ((4096, 0.25), (16384, 1.0)):
        t = 7.8e-5 * scale
        rows.append(_row("switch-net", "dense", n, ops_mean=1.56e6 * scale,
                         batch_s_per_input=t, ns_per_op=t * 1e9 / (1.56e6 * scale),
                         batch_spread={"min": 0.95 * t, "q25": 0.98 * t, "median": t,
                                       "q75": 1.02 * t, "max": 1.05 * t, "samples": 5}))
    return rows


def test_headline_prints_each_conversion_rate_from_the_results_file(monkeypatch, tmp_path,
                                                                    checked):
    """A small results file, rendered by ``memcap report --results``: the conversion rate of each
    conditional executor at n = 16,384 is printed beside its two ratios, every one of them read
    back from the file, and the report plots the rates against n."""
    from kernels import cli
    from kernels.harness import sweep

    monkeypatch.setattr(figures, "ALL", ())
    monkeypatch.setattr(html.figures_size, "all_figures", lambda rows: [])
    res = tmp_path / "results.json"
    sweep.write_results({"schema": sweep.SCHEMA, "environment": {}, "grid": {},
                         "command": "memcap sweep", "rows": _headline_at_16384()}, str(res))
    out = tmp_path / "r"
    assert cli.main(["report", "--results", str(res), "--out", str(out)]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    doc = json.loads(res.read_text())
    assert check_headline(page, doc) >= 20
    head = page[page.index('<section id="headline">'):]
    plain = re.sub(r"<[^>]+>", "", head[:head.index("</section>")])
    for line in ("switch-net active, n = 16,384, p = 8, float64: 780× fewer operations, 78× "
                 "less time, 10%",
                 "hyperplane-tree tree, n = 16,384, p = 8, float64: 7,035× fewer operations, "
                 "1,984× less time, 28%",
                 "axis-tree tree, n = 16,384, p = 8, float64: 36,248× fewer operations, "
                 "16,607× less time, 46%"):
        assert line in plain, line
    assert "Conversion of saved operations into saved time" in page
    assert len(checked) == 2 and [p for p in checked if p[1]] == []  # headline's + conversion
    rates = headline.conversion_series(doc["rows"])
    assert [round(100 * v) for _, v in rates[("switch-net", "active")]] == [10, 10]
    # a wrong rate is caught
    bad = page.replace(">10%<", ">11%<")
    assert bad != page
    with pytest.raises(AssertionError):
        check_headline(bad, doc)


QUICK = {**presets.PRESETS["quick"], "min_time": 0.002, "time_inputs": 32, "eval_seconds": 0.2,
         "energy": "off"}


@pytest.mark.slow
def test_quick_report_figures_read_and_its_headline_is_its_results(tmp_path, checked):
    out = tmp_path / "r"
    args = argparse.Namespace(quick=True, out=str(out), results=None, compare=None,
                              fresh=False, grid=QUICK, argv=["report", "--quick"])
    assert build.main(args) == 0
    assert len(checked) >= 7  # headline, ops, time, ns/op, energy, sparsity, p, size, budgets
    assert [p for p in checked if p[1]] == []
    page = (out / "index.html").read_text()
    doc = json.loads((out / "results.json").read_text())
    assert check_headline(page, doc) >= 5
    assert max(_table_widths(page)) <= 11


def readme_sweeps() -> list[list[str]]:
    """The `memcap sweep` commands of README.md's Sweeps section, as argv after `memcap`."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text[text.index("### Sweeps"):], re.S).group(1)
    lines = block.replace("\\\n", " ").replace("&&", "\n").splitlines()
    return [argv[1:] for argv in map(shlex.split, lines) if argv[:2] == ["memcap", "sweep"]]


def sweep_rows(argv: list[str]) -> tuple[dict, list[dict]]:
    """(grid, a row for every cell) of the sweep ``argv`` would run: its constructions,
    executors, n, p, dtypes, sparsities and size-only builds, with made-up measurements."""
    grid = grid_from_args(make_parser().parse_args(argv))
    rows = []
    for g in groups(grid):
        for e in group_executors(g):
            where = {k: g[k] for k in ("series", "sparsity", "kind", "variant", "r", "grid_p")}
            if e == "size":
                rows.append({"status": "ok", "construction": g["construction"], "executor": e,
                             "n": g["n"], "p": g["p"], "dtype": g["dtype"], **where,
                             "labels": "classes", "weights": 10 * g["n"],
                             "neurons": g["n"] // 2, "depth": 3, "weight_bits": 32})
            else:
                rows.append(_row(g["construction"], e, g["n"], p=g["p"], dtype=g["dtype"],
                                 **where))
    return grid, rows


@pytest.mark.parametrize("which", [0, 1, pytest.param(2, marks=pytest.mark.slow)])
def test_the_report_of_each_readme_sweep_reads(which, tmp_path, checked):
    sweeps = readme_sweeps()
    assert len(sweeps) == 3  # trees, sparsity, the report's own grid
    grid, rows = sweep_rows(sweeps[which])
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": results.SCHEMA, "environment": {}, "grid": grid,
                                "command": "memcap sweep " + shlex.join(sweeps[which]),
                                "rows": rows}))
    args = argparse.Namespace(quick=False, out=str(tmp_path), results=str(path), compare=None,
                              fresh=False, force=False, argv=["report", "--results", str(path)])
    assert build.main(args) == 0
    page = (tmp_path / "index.html").read_text()
    assert checked and len(checked) == page.count("<img ")  # every figure on the page
    assert [p for p in checked if p[1]] == []
    assert max(_table_widths(page)) <= 11
    assert "No cell was measured" not in page
    # the reproduce command (a long sweep command) wraps instead of scrolling sideways
    assert re.search(r"(?<![-\w])pre\{[^}]*white-space:pre-wrap[^}]*overflow-wrap:anywhere", page)
    assert "memcap sweep " + shlex.join(sweeps[which]) in unescape(page)
