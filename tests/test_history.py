"""``memcap history`` on a folder of two synthetic asv runs: one self-contained page, every
benchmark shown, the step that asv.step_detect finds listed with its commits."""

import html
import json
import re

from kernels import cli
from kernels.report import history

COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a",
           "stats_ci_99_b", "stats_q_25", "stats_q_75"]


def _run(folder, commit, date, recall, build):
    """One asv results file (api_version 2): a parameterized and a plain benchmark."""
    doc = {"commit_hash": commit, "env_name": "existing-py", "date": date, "params": {},
           "python": "3.11", "requirements": {}, "env_vars": {}, "result_columns": COLUMNS,
           "results": {
               "bench_recall.Recall.time_batch": [recall, [["'zhang'", "'axis-tree'"], ["256"]],
                                                  "v1", 0, 1.0, None, None,
                                                  [0.9 * x for x in recall],
                                                  [1.1 * x for x in recall]],
               "bench_recall.Build.time_build": [build, [], "v1", 0, 1.0, None, None,
                                                 [build * 0.95], [build * 1.05]]},
           "durations": {}, "version": 2}
    (folder / f"{commit[:8]}-existing-py.json").write_text(json.dumps(doc))


def _asv_folder(tmp_path, n_commits=2):
    res = tmp_path / ".asv" / "results"
    m = res / "box"
    m.mkdir(parents=True)
    (m / "machine.json").write_text(json.dumps({"machine": "box", "version": 1}))
    (res / "benchmarks.json").write_text(json.dumps({
        "bench_recall.Recall.time_batch": {"unit": "seconds"},
        "bench_recall.Build.time_build": {"unit": "seconds"}, "version": 2}))
    for k in range(n_commits):
        slow = k >= n_commits // 2  # axis-tree's batch doubles from the middle commit on
        _run(m, f"{k:02d}" + "ab" * 19, 1_700_000_000_000 + k,
             [1e-5, 2e-7 if slow else 1e-7], 0.5 - 0.1 * slow)
    return res


def test_history_of_two_asv_runs(tmp_path, capsys):
    res = _asv_folder(tmp_path)
    out = tmp_path / "h"
    assert cli.main(["history", "--asv", str(res), "--out", str(out)]) == 0
    page = (out / "history.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)\s*=\s*"(?!data:)', page)
    assert "bench_recall.Recall.time_batch" in page and "bench_recall.Build.time_build" in page
    assert page.count("<figure>") == 2
    steps = html.unescape(page[page.index("<h2>Steps"):page.index("<h2>Benchmarks")])
    # axis-tree's batch doubled and the build got faster between commit 00.. and 01..
    assert re.search(r"regression</td><td[^>]*>bench_recall.Recall.time_batch</td><td[^>]*>"
                     r"'axis-tree', 256</td>.*?<code>00ababab</code>..<code>01ababab</code>"
                     r".*?2.00×", steps)
    assert re.search(r"improvement</td><td[^>]*>bench_recall.Build.time_build", steps)
    assert "'zhang', 256" not in steps  # flat: no step


def test_steps_on_a_longer_history_name_the_commit_range():
    pts = [(f"c{k}", 1.0) for k in range(5)] + [(f"c{k}", 3.0) for k in range(5, 10)]
    (s,) = history.steps(pts)
    assert (s["kind"], s["from"], s["to"]) == ("regression", "c4", "c5")
    assert abs(s["ratio"] - 3.0) < 1e-9
    assert history.steps([(f"c{k}", 1.0 + 0.001 * k) for k in range(8)]) == []


def test_missing_asv_folder_is_one_line(tmp_path, capsys):
    assert cli.main(["history", "--asv", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memcap: error:") and err.count("\n") == 1


def _memcap_doc(path, commit, t):
    from kernels.harness.results import ROW_KEYS, SCHEMA

    row = {k: None for k in ROW_KEYS}
    row.update({"status": "ok", "construction": "axis-tree", "executor": "tree", "n": 1024,
                "p": 8, "r": 1, "dtype": "float64", "batch_s_per_input": t,
                "batch_spread": {"min": 0.9 * t, "max": 1.2 * t}})
    path.write_text(json.dumps({"schema": SCHEMA, "environment": {"git_commit": commit},
                                "rows": [row]}))
    return str(path)


def test_history_of_memcap_results_files_beside_asv(tmp_path):
    res = _asv_folder(tmp_path)
    files = [_memcap_doc(tmp_path / f"{k}.json", f"c{k}" + "0" * 38, t)
             for k, t in enumerate([1e-8] * 3 + [3e-8] * 3)]
    out = tmp_path / "h"
    assert cli.main(["history", "--asv", str(res), "--results", *files, "--out", str(out)]) == 0
    page = html.unescape((out / "history.html").read_text())
    assert page.count("<figure>") == 3 and "memcap axis-tree/tree" in page
    assert re.search(r"regression</td><td[^>]*>memcap axis-tree/tree</td><td[^>]*>n=1024, p=8, "
                     r"float64</td>.*?<code>c2000000</code>..<code>c3000000</code>", page)
