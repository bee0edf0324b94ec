"""The HTML report on a tiny grid: it parses, embeds its figures, loads nothing from outside."""

import argparse
import base64
import math
import re
from html.parser import HTMLParser

import pytest

from kernels.cli import main as cli_main
from kernels.harness import sweep
from kernels.harness.cell import RANDOM
from kernels.report import figures
from kernels.report import html as report

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
    assert report.main(args) == 0
    return out


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


def test_figures_and_sections(built):
    text = (built / "index.html").read_text(encoding="utf-8")
    for title in ("Operations per input vs n", "Wall time per input vs n",
                  "Energy per input vs n (model)", "Dense vs active speed-up vs sparsity",
                  "The effect of p", "Network size vs n",
                  "Weights vs n under bit and depth budgets", "Exactness", "Environment",
                  "Reproduce"):
        assert title in text, title
    assert text.count("data:image/png;base64,") == 7
    assert "weights slope" in text and "bits=64" in text
    assert "model" in text and "unavailable" in text  # energy labelled; no counter here
    assert "memcap report --out" in text
    assert (built / "results.json").exists() and (built / "results.csv").exists()


def test_render_is_deterministic(built):
    doc = sweep.load(str(built / "results.json"))
    again = report.render(doc, f"memcap report --out {built}")
    assert again == (built / "index.html").read_text(encoding="utf-8")


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
    assert cli_main(["report", "--results", str(small), "--out", str(out),
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
    html = report.size_table(rows)
    for slope in ("0.50", "0.25", "1.00"):
        assert f"<b>{slope}</b>" in html
    assert "2^6 … 2^10" in html
    # size rows stay out of the other figures and the exactness table
    assert figures.all_figures(rows) == [] and "No cell" in report.exactness_table(rows)
    assert figures_size.all_figures([r for r in rows if r["construction"] == "lin"])[1:] == []
