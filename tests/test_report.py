"""The HTML report on a tiny grid: it parses, embeds its figures, loads nothing from outside."""

import argparse
import base64
import math
import re
from html.parser import HTMLParser

import pytest

from kernels import cli
from kernels.harness import runner, sweep
from kernels.harness.cell import RANDOM
from kernels.report import build, figures, html, markup

FAST = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 0.2, "energy": "off",
        "budget_s": 600, "max_cell_s": 600}
GRID = {"blocks": [
    {"series": "n", "constructions": ["zhang", "sign-cube"], "n": [8, 16, 32], "p": [4],
     "dtype": ["float64", "float32"]},
    {"series": "p", "constructions": ["zhang"], "n": [16], "p": [2, 8]},
    {"series": "sparsity", "constructions": [RANDOM], "n": [16], "p": [4],
     "sparsity": [0.5, 0.9]},
    {"series": "size", "size_only": True, "kind": "sphere", "labels": "classes",
     "constructions": ["zhang", "vardi"], "n": [16, 32, 64], "p": [4],
     "options": {"vardi": [{}, {"bits": 64}, {"depth": 64}]}},
], **FAST}


class Collect(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.srcs, self.hrefs, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "src" in a:
            self.srcs.append(a["src"])
        if "href" in a:
            self.hrefs.append(a["href"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    args = argparse.Namespace(quick=False, out=str(out), results=None, compare=None,
                              fresh=False, grid=GRID, argv=["report", "--out", str(out)])
    assert build.main(args) == 0
    return out


@pytest.mark.slow
def test_html_parses_and_is_self_contained(built):
    text = (built / "index.html").read_text(encoding="utf-8")
    p = Collect()
    p.feed(text)
    p.close()
    assert p.stack == []
    assert "script" not in p.tags and "link" not in p.tags
    assert p.srcs and all(s.startswith("data:image/png;base64,") for s in p.srcs)
    assert not p.hrefs
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text.replace("file://", ""))
    for s in p.srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_figures_and_sections(built):
    text = (built / "index.html").read_text(encoding="utf-8")
    for title in ("Operations per input vs n", "Wall time per input vs n",
                  "Energy per input vs n (model)", "Dense vs active speed-up vs sparsity",
                  "The effect of p", "Network size vs n",
                  "Weights vs n under bit and depth budgets", "Exactness", "Environment",
                  "Reproduce", "Time per counted operation vs n", "Timing method"):
        assert title in text, title
    assert text.count("data:image/png;base64,") == 9  # the headline's + 8 (ns per op included)
    assert "ns/op" in text and "thread count fixed (1;" in text  # summary column, threads
    assert "weights slope" in text and "bits=64" in text
    assert "model" in text and "unavailable" in text  # energy labelled; no counter here
    assert "memcap report --out" in text
    assert (built / "results.json").exists() and (built / "results.csv").exists()


@pytest.mark.slow
def test_render_is_deterministic(built):
    doc = sweep.load(str(built / "results.json"))
    again = html.render(doc, f"memcap report --out {built}")
    assert again == (built / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_from_results_with_compare_table(built, tmp_path):
    pyperf = pytest.importorskip("pyperf")
    run = pyperf.Run([1e-6, 1.2e-6], metadata={"name": "zhang/dense", "loops": 1},
                     collect_metadata=False)
    suite = pyperf.BenchmarkSuite([pyperf.Benchmark([run])])
    cmp = tmp_path / "cmp.json"
    suite.dump(str(cmp))
    doc = sweep.load(str(built / "results.json"))
    doc["rows"] = [r for r in doc["rows"] if r["construction"] == "zhang" and r["n"] <= 16]
    small = tmp_path / "small.json"
    sweep.write_results(doc, str(small))
    out = tmp_path / "again"
    assert cli.main(["report", "--results", str(small), "--out", str(out),
                     "--compare", str(cmp)]) == 0
    text = (out / "index.html").read_text(encoding="utf-8")
    assert "pyperf comparison" in text and "zhang/dense" in text


def test_fit_slope():
    from kernels.report.figures import fit_slope

    assert fit_slope([1, 2, 4, 8], [3, 6, 12, 24]) == pytest.approx(1.0)
    assert fit_slope([2, 4], [4, 16]) == pytest.approx(2.0)
    assert fit_slope([2], [4]) is None


def test_fit_slope_recovers_known_exponents():
    from kernels.report.figures import fit_slope

    ns = [2**k for k in range(10, 15)]
    for e in (0.25, 0.5, 1.0):
        assert fit_slope(ns, [7 * n**e for n in ns]) == pytest.approx(e)
    # a log factor raises the fitted exponent a little, far from 1: Õ(√n) reads as ≈ 0.6
    s = fit_slope(ns, [n**0.5 * math.log2(n) for n in ns])
    assert 0.5 < s < 0.65
    assert fit_slope([4, 4], [1, 2]) is None and fit_slope([1, 2], [0, 0]) is None


def _size_row(c, n, weights, neurons, variant=None, **extra):
    return {"status": "ok", "executor": "size", "construction": c, "variant": variant,
            "n": n, "p": 4, "grid_p": 4, "r": 1, "kind": "sphere", "labels": "classes",
            "weights": weights, "neurons": neurons, "depth": 3, "series": "size", **extra}


@pytest.mark.slow
def test_size_figures_from_known_power_laws():
    from kernels.report import figures_size

    ns = [2**k for k in range(6, 11)]
    rows = ([_size_row("sub", n, 3 * n**0.5, 2 * n**0.25) for n in ns]
            + [_size_row("lin", n, 5 * n, n) for n in ns]
            + [_size_row("sub", n, n / 8, n / 9, "bits=8", weight_bits=8) for n in ns]
            + [{**_size_row("lin", 4096, 1, 1), "status": "skipped"}])
    plain = figures_size.size_series(rows)
    assert set(plain) == {("sub", None), ("lin", None)}
    assert figures_size.slopes(plain[("sub", None)], "weights") == pytest.approx(0.5)
    assert figures_size.slopes(plain[("sub", None)], "neurons") == pytest.approx(0.25)
    assert set(figures_size.size_series(rows, budgets=True)) == {("sub", None),
                                                                 ("sub", "bits=8")}
    figs = figures_size.all_figures(rows)
    assert [t for t, _, _ in figs] == ["Network size vs n",
                                       "Weights vs n under bit and depth budgets"]
    for _, img, caption in figs:
        assert base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n"
        assert "VC floor" in caption or "Θ̃(n/B)" in caption
    table = html.size_table(rows)
    for slope in ("0.50", "0.25", "1.00"):
        assert f"<b>{slope}</b>" in table
    assert "2^6 … 2^10" in table
    # size rows stay out of the other figures and the exactness table
    assert figures.all_figures(rows) == [] and "No recall cell" in html.exactness_table(rows)
    assert figures_size.all_figures([r for r in rows if r["construction"] == "lin"])[1:] == []


def _cell(c, e, n, ops, t, exact=True, **extra):
    return {"status": "ok", "construction": c, "executor": e, "n": n, "p": 8, "grid_p": 8,
            "r": 1, "dtype": "float64", "sparsity": None, "series": "n", "ops_mean": ops,
            "ops_max": ops, "batch_s_per_input": t, "single_s": t, "exact": exact,
            "inexact_points": 0 if exact else 3, "max_rel_error": 0.0 if exact else 1e-3,
            "energy_proxy_pj": 1.0, "build_s": 0.1, "tolerance": 1e-9,
            **extra}


def _finding_rows(exact=True):
    ns = [256, 1024, 4096]
    return ([_cell("switch-net", "dense", n, 60.0 * n, 1e-8 * n) for n in ns]
            + [_cell("switch-net", "active", n, 50.0 * math.log2(n), 2e-8 * math.log2(n))
               for n in ns]
            + [_cell("hyperplane-tree", "tree", n, 10.0 * math.log2(n), 1e-9 * math.log2(n),
                     exact=exact or n < 1024) for n in ns])


def test_headline_states_the_finding_with_numbers(monkeypatch):
    from kernels.report import headline

    monkeypatch.setattr(html, "figure_list", lambda rows: [])

    text = " ".join(headline.sentences(_finding_rows()))
    # at n = 4096: dense 245,760 ops; active 600 (410x fewer), tree 120 (2,048x fewer)
    plain = re.sub(r"<[^>]+>", "", text)
    assert "(switch-net dense, n = 4,096, p = 8, float64) spends 245,760" in plain
    assert "410× fewer" in plain and "2,048× fewer" in plain
    assert "171× less and 3,413× less wall time" in plain  # 40.96 µs / 0.24 µs, / 12 ns
    assert "switch-net dense, p = 8, float64, n = 256…4,096: 1.00" in plain
    assert "Every one of the 9 measured recall cells recalled every checked point exactly " \
        "(float64)" in plain
    bad = re.sub(r"<[^>]+>", "", " ".join(headline.sentences(_finding_rows(exact=False))))
    assert "2 of the 9 measured recall cells were NOT EXACT" in bad
    assert "hyperplane-tree tree, n = 1,024, p = 8, float64: 3 points" in bad
    html_text = html.render({"rows": _finding_rows(), "environment": {}}, "memcap report")
    # (the figures below the headline are rendered by the slow tests)
    head = html_text[html_text.index('<section id="headline">'):]
    assert html_text.index('<section id="headline">') < html_text.index("<h2>Summary")
    assert "245,760" in head[:head.index("</section>")]
    assert "Theorem 3's floor log2(n/p)" in headline.combined_figure(_finding_rows())[2]


def test_headline_figure_draws_spread_when_rows_carry_it():
    from kernels.report import headline

    rows = [dict(r, batch_s_per_input_min=0.5 * r["batch_s_per_input"],
                 batch_s_per_input_max=2 * r["batch_s_per_input"]) for r in _finding_rows()]
    plain = headline.combined_figure(_finding_rows())[1]
    assert headline.combined_figure(rows)[1] != plain


def test_bounds_have_human_names_and_overlaps_are_marked():
    rows = [_cell("hyperplane-tree", "tree", n, 10.0 * n ** 0.1, 1e-9,
                  bounds={"corollary1_ops": 99.0, "corollary1_ops_scale": 5.0,
                          "path_ops_max": 3.0},
                  theorem={"corollary1_ops_scale": 50.0 * n}) for n in (64, 256)]
    rows += [_cell(c, "dense", n, 3.0 * n, 1e-8) for c in ("zhang", "bubeck") for n in (64, 256)]
    from kernels.report import style

    assert style.overlaps({"zhang": {64: 192, 256: 768}, "bubeck": {64: 195, 256: 770},
                           "other": {64: 10, 256: 20}}) == {"zhang": ["bubeck"],
                                                            "bubeck": ["zhang"]}
    labels = []
    orig = figures.plt.Axes.plot

    def spy(ax, *a, **k):
        labels.append(k.get("label"))
        return orig(ax, *a, **k)

    figures.plt.Axes.plot = spy
    try:
        figures.ops_vs_n(rows)
    finally:
        figures.plt.Axes.plot = orig
    labels = [x for x in labels if x]
    assert "Corollary 1, our constant: 2q·⌈log2 n⌉ (hyperplane-tree)" in labels
    assert sum("Corollary 1" in x for x in labels) == 2  # our constant + the scale, once each
    assert not any("path_ops_max" in x or "bound " in x or "_ops" in x for x in labels)
    assert any(x.startswith("bubeck") and "≈ zhang" in x for x in labels)


def test_text_columns_left_numbers_right():
    t = markup.table(["name", "verdict", "ops"], [["zhang", "exact", "1,024"]], left=1)
    assert '<td class="l">zhang</td><td class="l">exact</td><td class="n">1,024</td>' in t
    assert "@media print" in html.CSS


@pytest.mark.slow
def test_figures_are_twice_the_layout_size(built):
    text = (built / "index.html").read_text(encoding="utf-8")
    m = re.search(r'<img alt="[^"]*" width="(\d+)" height="(\d+)" src="data:image/png;base64,'
                  r'([^"]+)"', text)
    import struct

    w, h = struct.unpack(">II", base64.b64decode(m.group(3)[:32])[16:24])
    assert (w // 2, h // 2) == (int(m.group(1)), int(m.group(2)))  # 2x pixels, shown at 1x


TINY = {"blocks": [{"series": "n", "constructions": ["zhang"], "n": [8, 16], "p": [2]}], **FAST}


def _report(out, fresh=False, grid=TINY, run=None):
    return build.main(argparse.Namespace(quick=False, out=str(out), results=None, compare=None,
                                          fresh=fresh, grid=grid,
                                          argv=["report", "--out", str(out)]), run)


def test_second_report_reuses_cached_cells(tmp_path, monkeypatch, stable_timings):
    monkeypatch.setattr(build, "render", lambda doc, command, compare=None: "<html></html>")
    out = tmp_path / "r"
    assert _report(out) == 0
    first = (out / "results.json").read_text()
    assert list((tmp_path / "cache").glob("cells-*.jsonl"))  # the shared folder
    calls = []
    counting = runner.InProcess(
        measure=lambda *a, **k: calls.append(a) or runner.run_group(*a, **k))
    assert _report(out, run=counting) == 0
    assert calls == []  # nothing measured again
    assert (out / "results.json").read_text() == first
    assert _report(out, fresh=True, run=counting) == 0  # --fresh measures every build again
    assert len(calls) == 2
    calls.clear()
    (out / "results.json").unlink()  # a finished report is replaced only with --fresh:
    bigger = {**TINY, "blocks": [{**TINY["blocks"][0], "n": [8, 16, 32]}]}
    assert _report(out, grid=bigger, run=counting) == 0  # a grown grid measures only its new cell
    assert [a[0]["n"] for a in calls] == [32]


def test_cache_key_changes_with_source_and_cell(tmp_path):
    from kernels.harness import cache

    g = {"construction": "zhang", "n": 8, "p": 2, "max_cell_s": 5}
    o = {"min_time": 0.01, "budget_s": 1}
    assert cache.cell_key(g, o) == cache.cell_key({**g, "max_cell_s": 9}, {**o, "budget_s": 9})
    assert cache.cell_key(g, o) != cache.cell_key({**g, "n": 16}, o)
    assert cache.cell_key(g, o) != cache.cell_key(g, {**o, "min_time": 0.02})
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    h1 = cache.source_hash(str(src))
    (src / "a.py").write_text("x = 2\n")
    assert cache.source_hash(str(src)) != h1
    c = cache.CellCache(str(tmp_path / "c"), {"git_commit": "abc"})
    c.put("k", [{"status": "skipped", "final": False}])  # a budget skip is not kept
    c.put("k2", [{"status": "ok"}])
    with open(c.path, "a") as f:
        f.write('{"torn')
    again = cache.CellCache(str(tmp_path / "c"), {"git_commit": "abc"})
    assert again.get("k") is None and again.get("k2") == [{"status": "ok"}]
    assert cache.CellCache(str(tmp_path / "c"), {"git_commit": "def"}).get("k2") is None
    for i in range(cache.KEEP + 2):  # older commits' files are pruned, the newest kept
        cache.CellCache(str(tmp_path / "c"), {"git_commit": f"v{i}"}).put("k", [{"x": i}])
    assert len(list((tmp_path / "c").glob("cells-*.jsonl"))) == cache.KEEP
    assert cache.CellCache(str(tmp_path / "c"), {"git_commit": f"v{cache.KEEP + 1}"}).get("k")


def test_results_and_compare_never_measure(tmp_path, monkeypatch, capsys):
    pyperf = pytest.importorskip("pyperf")
    from kernels.report import headline

    def boom(*a, **k):
        raise AssertionError("the sweep ran")

    monkeypatch.setattr(sweep, "run", boom)  # the one entry to measuring
    monkeypatch.setattr(html, "figure_list", lambda rows: [])  # rendered by the slow tests
    monkeypatch.setattr(headline, "combined_figure", lambda rows: None)
    res = tmp_path / "in.json"
    sweep.write_results({"schema": sweep.SCHEMA, "environment": {}, "grid": {},
                         "command": "memcap sweep", "rows": _finding_rows()}, str(res))
    run = pyperf.Run([1e-6, 1.2e-6], metadata={"name": "zhang/dense", "loops": 1},
                     collect_metadata=False)
    cmp = tmp_path / "cmp.json"
    pyperf.BenchmarkSuite([pyperf.Benchmark([run])]).dump(str(cmp))
    out = tmp_path / "copy"
    assert cli.main(["report", "--results", str(res), "--out", str(out)]) == 0
    assert "245,760" in (out / "index.html").read_text(encoding="utf-8")
    assert cli.main(["report", "--compare", str(cmp), "--out", str(out)]) == 0
    text = (out / "index.html").read_text(encoding="utf-8")
    assert "zhang/dense" in text and "245,760" in text
    capsys.readouterr()
    assert cli.main(["report", "--compare", str(cmp), "--out", str(tmp_path / "none")]) == 2
    out_, err = capsys.readouterr()
    assert out_ == "" and err.count("\n") == 1 and "results.json: no such file" in err
    assert not (tmp_path / "none").exists()  # nothing written


def test_conclusions_only_beyond_the_spread():
    from kernels.report import headline, timings

    def row(t, q, stable=True):
        return {"status": "ok", "batch_s_per_input": t, "stable": stable,
                "batch_spread": {"min": t - q, "q25": t - q / 2, "median": t, "q75": t + q / 2,
                                 "max": t + q, "samples": 5}}

    assert timings.separated(row(1.0, 0.1), row(2.0, 0.1))  # quartiles apart
    assert not timings.separated(row(1.0, 1.0), row(1.6, 1.0))  # they overlap
    assert not timings.separated(row(1.0, 0.1), row(2.0, 0.1, stable=False))  # unstable
    text = re.sub(r"<[^>]+>", "", " ".join(headline.sentences(
        [{**r, **row(r["batch_s_per_input"], r["batch_s_per_input"] * 4)}
         for r in _finding_rows()])))
    assert "the same within the spread" in text and "less wall time" not in text
    assert "All 9 timed cells are stable" in text
