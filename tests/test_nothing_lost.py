"""Nothing is lost: failed renders leave the old report and results byte-identical, a
sweep resumes only its own grid and never overwrites finished results unasked, a torn journal line
is dropped, concurrent sweeps refuse cleanly, and oversized work is refused before it allocates."""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

from kernels.cli import main
from kernels.harness import journal, results, runner, sweep
from kernels.model import data
from kernels.report import headline, html

FAST = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 0.2, "energy": "off",
        "budget_s": 600, "max_cell_s": 600}
GRID = {"blocks": [{"series": "n", "constructions": ["zhang"], "n": [8, 16], "p": [2]}], **FAST}
SWEEP = ["sweep", "--construction", "zhang", "--p", "2", "--quiet", "--energy", "off"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_line_error(capsys, argv, *fragments):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert out == "" and err.count("\n") == 1 and err.endswith("\n"), (out, err)
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err
    return err


def snapshot(folder) -> dict:
    """Every file under ``folder`` with its bytes (temporary files included)."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = open(p, "rb").read()
    return out


@pytest.fixture(scope="module", autouse=True)
def stub_figures():
    """The file-safety rules hold whatever the page holds: the reports here are rendered without
    their matplotlib figures (every table and every row is still read, so an unreadable results
    file still fails to render).  The figures are rendered and checked in test_report.py."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(html, "figure_list", lambda rows: [])
        mp.setattr(headline, "combined_figure", lambda rows: None)
        yield


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """A finished report: DIR/index.html, results.json, results.csv."""
    d = tmp_path_factory.mktemp("report")
    sweep.run(GRID, str(d / "results.json"), progress=False)
    assert main(["report", "--results", str(d / "results.json"), "--out", str(d)]) == 0
    return d


def bad_results(tmp_path) -> dict:
    files = {
        "garbage": b"\x00\xff not json at all",
        "empty": b"",
        "list": b"[1, 2, 3]",
        "schema": json.dumps({"schema": 99, "rows": []}).encode(),
        "no_rows": json.dumps({"schema": 1, "environment": {}}).encode(),
        "row_not_cell": json.dumps({"schema": 1, "environment": {}, "rows": [[1]]}).encode(),
        # a cell the loader accepts but the report cannot read (status ok, no measurements)
        "unrenderable": json.dumps({"schema": 1, "environment": {}, "rows": [
            {"construction": "zhang", "executor": "dense", "status": "ok", "n": 8, "p": 2,
             "r": 1, "dtype": "float64", "sparsity": None}]}).encode(),
    }
    out = {}
    for name, blob in files.items():
        p = tmp_path / f"{name}.json"
        p.write_bytes(blob)
        out[name] = str(p)
    out["missing"] = str(tmp_path / "nope.json")
    out["folder"] = str(tmp_path)
    return out


def test_failed_render_leaves_report_and_results_identical(report_dir, tmp_path, capsys):
    before = snapshot(report_dir)
    assert set(before) == {"index.html", "results.json", "results.csv"}
    assert before["index.html"] and before["results.json"]
    for name, path in bad_results(tmp_path).items():
        one_line_error(capsys, ["report", "--results", path, "--out", str(report_dir)], path)
        assert snapshot(report_dir) == before, name
    # nor is a missing output folder created by a failed render
    fresh = tmp_path / "never"
    one_line_error(capsys, ["report", "--results", str(tmp_path / "garbage.json"), "--out",
                            str(fresh)])
    assert not fresh.exists()


def test_other_results_replace_only_with_force(report_dir, tmp_path, capsys):
    doc = results.load(str(report_dir / "results.json"))
    doc["rows"] = doc["rows"][:1]
    other = tmp_path / "other.json"
    results.write_results(doc, str(other))
    out = tmp_path / "copy"
    out.mkdir()
    for f in ("index.html", "results.json", "results.csv"):
        (out / f).write_bytes((report_dir / f).read_bytes())
    before = snapshot(out)
    one_line_error(capsys, ["report", "--results", str(other), "--out", str(out)],
                   "results.json", "--force")
    assert snapshot(out) == before
    assert main(["report", "--results", str(other), "--out", str(out), "--force"]) == 0
    capsys.readouterr()
    assert results.load(str(out / "results.json"))["rows"] == doc["rows"]
    assert sorted(os.listdir(out)) == ["index.html", "results.csv", "results.json"]
    # the same results again: no --force needed (nothing would change)
    assert main(["report", "--results", str(other), "--out", str(out)]) == 0


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")

    def half(f):
        f.write("new, half written")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        results.atomic_write(str(path), half)
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["a.txt"]
    results.write_text(str(path), "new\n")
    assert path.read_text() == "new\n" and os.listdir(tmp_path) == ["a.txt"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~results._umask()


def interrupted(tmp_path, monkeypatch, grid=GRID) -> str:
    """A sweep killed after its first group: its journal, no results."""
    out = str(tmp_path / "r.json")
    calls = []

    def stop(g, *a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(g)
        return runner.run_group(g, *a, **k)

    with pytest.raises(KeyboardInterrupt):
        sweep.run(grid, out, progress=False, runner=runner.InProcess(measure=stop))
    assert os.path.exists(journal.journal_path(out)) and not os.path.exists(out)
    assert not os.path.exists(journal.lock_path(out))  # released on the way out
    return out


def test_a_journal_resumes_only_its_own_grid(tmp_path, monkeypatch, capsys):
    out = interrupted(tmp_path, monkeypatch)
    jpath = journal.journal_path(out)
    before = snapshot(tmp_path)
    # the CLI grid of `--n 8,16` is a different grid from GRID (its own timing defaults)
    err = one_line_error(capsys, SWEEP + ["--n", "8,32", "--out", out], jpath, "--fresh")
    assert "different grid" in err
    assert snapshot(tmp_path) == before
    # the same grid with another time budget is the same cells: it resumes
    doc = sweep.run({**GRID, "budget_s": 900}, out, progress=False)
    assert {r["n"] for r in doc["rows"]} == {8, 16}
    assert not os.path.exists(jpath)


def test_finished_results_are_not_overwritten_without_fresh(tmp_path, capsys):
    out = str(tmp_path / "s.json")
    argv = SWEEP + ["--n", "8", "--out", out]
    assert main(argv) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)
    assert main(argv) == 0  # the same grid again: complete, nothing run, nothing replaced
    said, err = capsys.readouterr()
    assert "this sweep is complete" in said and err == ""
    one_line_error(capsys, SWEEP + ["--n", "16", "--out", out], out, "--fresh")
    assert snapshot(tmp_path) == before
    assert main(argv + ["--fresh"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["s.csv", "s.json"]


def test_a_torn_journal_line_is_dropped_not_appended_to(tmp_path, monkeypatch):
    out = interrupted(tmp_path, monkeypatch)
    jpath = journal.journal_path(out)
    complete = open(jpath, "rb").read()
    with open(jpath, "ab") as f:
        f.write(b'{"type": "row", "row": {"constructi')  # the torn line of a killed process
    header, rows = journal.read_journal(jpath)
    assert header is not None and len(rows) == 1
    seen = []

    def check(g, *a, **k):  # the journal as the resumed sweep appends to it
        text = open(jpath, "rb").read()
        seen.append(text)
        for line in text.decode().splitlines():
            json.loads(line)
        return runner.run_group(g, *a, **k)

    doc = sweep.run(GRID, out, progress=False, runner=runner.InProcess(measure=check))
    assert seen and seen[0] == complete  # cut back to its last complete line
    assert len(doc["rows"]) == 2 and all(r["status"] == "ok" for r in doc["rows"])


def test_a_damaged_journal_is_refused(tmp_path, monkeypatch, capsys):
    out = interrupted(tmp_path, monkeypatch)
    jpath = journal.journal_path(out)
    lines = open(jpath).read().splitlines(keepends=True)
    with open(jpath, "w") as f:
        f.writelines([lines[0], "garbage in the middle\n", *lines[1:]])
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="line 2 is not a journal entry"):
        sweep.run(GRID, out, progress=False)
    assert snapshot(tmp_path) == before
    assert sweep.run(GRID, out, resume=False, progress=False)["rows"]  # --fresh discards it
    # an entry of a type this version does not know is skipped, not an error
    with open(jpath, "w") as f:
        f.writelines([lines[0], '{"type": "note", "text": "later version"}\n', *lines[1:]])
    header, rows = journal.read_journal(jpath)
    assert header["grid"]["blocks"] == GRID["blocks"] and len(rows) == len(lines) - 1 == 1


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_lock_refuses_and_a_stale_one_is_taken_over(tmp_path, capsys):
    out = str(tmp_path / "s.json")
    lock = journal.lock_path(out)
    with open(lock, "w") as f:
        f.write(f"{os.getppid()}\n")  # a live process (pytest's parent)
    err = one_line_error(capsys, SWEEP + ["--n", "8", "--out", out], out, lock)
    assert f"pid {os.getppid()}" in err
    assert sorted(os.listdir(tmp_path)) == ["s.lock"]
    with open(lock, "w") as f:
        f.write(f"{dead_pid()}\n")  # a sweep that was killed
    assert main(SWEEP + ["--n", "8", "--out", out]) == 0
    assert sorted(os.listdir(tmp_path)) == ["s.csv", "s.json"]


def test_concurrent_sweeps_never_traceback(tmp_path):
    out = str(tmp_path / "s.json")
    argv = [sys.executable, "-m", "kernels.cli", *SWEEP, "--n", "8,16", "--out", out]
    env = {**os.environ, "PYTHONPATH": ROOT}
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    res = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in res)[0] == 0, res
    for code, out_text, err in res:
        assert "Traceback" not in err, err
        if code:
            assert code == 2 and out_text == "" and err.count("\n") == 1, (code, err)
            assert "another sweep" in err or "finished sweep" in err, err
    doc = results.load(out)
    assert {r["n"] for r in doc["rows"]} == {8, 16}
    assert sorted(os.listdir(tmp_path)) == ["s.csv", "s.json"]


def test_oversized_verify_is_refused_fast_in_a_fresh_process(tmp_path):
    """n = 10^11: terabytes on any machine.  Time and peak RSS measured in the child itself: its
    VmHWM (ru_maxrss survives exec on Linux, so it would report the forking pytest's size)."""
    probe = tmp_path / "usage.json"
    code = ("import json, resource, sys, time\n"
            "t = time.perf_counter()\n"
            "from kernels.cli import main\n"
            "rc = main(sys.argv[2:])\n"
            "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
            "try:\n"
            "    rss = [int(l.split()[1]) * 1024 for l in open('/proc/self/status')\n"
            "           if l.startswith('VmHWM:')][0]\n"
            "except (OSError, IndexError):\n"
            "    pass\n"
            "json.dump({'rc': rc, 's': time.perf_counter() - t, 'rss': rss},\n"
            "          open(sys.argv[1], 'w'))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(probe), "verify", "zhang", "--n",
                           str(10**11), "--p", "4"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    usage = json.loads(probe.read_text())
    assert usage["rc"] == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1
    assert "needs about" in proc.stderr and "GiB" in proc.stderr
    assert usage["s"] < 20 and usage["rss"] < 400 * 2**20, usage


@pytest.mark.parametrize("argv", [
    ["verify", "zhang", "--n", str(10**8), "--p", "4"],  # 13 GiB: refused up front
    ["verify", "bubeck", "--n", str(10**8), "--p", "4"],
    ["verify", "axis-tree", "--n", str(10**8), "--p", "4"],
    ["verify", "rajput", "--n", str(10**6), "--p", "4", "--option", "hidden1=10000000"],
])
def test_oversized_work_is_refused_before_data_exist(argv, monkeypatch, capsys):
    monkeypatch.setattr(data, "available_memory", lambda: 16 * 2**30)
    monkeypatch.setattr("kernels.cli.generate", None)  # never reached
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    one_line_error(capsys, argv, "needs about", "GiB but only 16.0 GiB")
    assert time.perf_counter() - t < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0 < 200 * 2**20


def raw_npz(path, members: dict) -> str:
    """An .npz written by hand: {name: (header dict, data bytes)}."""
    import zipfile

    from numpy.lib import format

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (header, blob) in members.items():
            with zf.open(name + ".npy", "w") as f:
                format.write_array_header_1_0(f, header)
                f.write(blob)
    return str(path)


def test_npz_checked_from_its_headers_before_reading(tmp_path, monkeypatch, capsys):
    def hdr(shape):
        return {"descr": "<f8", "fortran_order": False, "shape": shape}

    def no_load(*a, **k):
        raise AssertionError("np.load reached")

    monkeypatch.setattr(np, "load", no_load)
    # a header promising 800 GB over 80 bytes of data: refused as truncated, nothing inflated
    lie = raw_npz(tmp_path / "lie.npz", {"X": (hdr((10**9, 100)), bytes(80)),
                                         "D": (hdr((10**9,)), bytes(8))})
    one_line_error(capsys, ["verify", "zhang", "--data", lie], "truncated", "(1000000000, 100)")
    # a small compressed file whose arrays inflate past the memory there is
    big = tmp_path / "zeros.npz"
    monkeypatch.undo()
    np.savez_compressed(big, X=np.zeros((2**20, 2)), D=np.zeros(2**20))
    assert os.path.getsize(big) < 2**16
    monkeypatch.setattr(np, "load", no_load)
    monkeypatch.setattr(data, "available_memory", lambda: 2**24)
    one_line_error(capsys, ["verify", "zhang", "--data", str(big)], str(big), "needs about")


def test_report_run_follows_the_sweep_rules(tmp_path, monkeypatch, stable_timings):
    """`memcap report` (its own grid run into DIR/results.json): a finished report is not
    measured over without --fresh — a rerun whose cells are all cached for this commit and
    machine (DIR/cache/) only renders and leaves the results byte-identical — and a
    failed run leaves it byte-identical."""
    import argparse
    import shutil

    from kernels.harness import runner
    from kernels.report import build

    def args(**kw):
        return argparse.Namespace(**{"quick": False, "out": str(tmp_path), "results": None,
                                     "compare": None, "fresh": False, "grid": GRID,
                                     "argv": ["report", "--out", str(tmp_path)], **kw})

    assert build.main(args()) == 0
    before = snapshot(tmp_path)
    assert {f for f in before if not f.startswith("cache")} == {"index.html", "results.json",
                                                                "results.csv"}
    refuse = runner.InProcess(measure=lambda *a, **k: pytest.fail("measured again"))
    assert build.main(args(), refuse) == 0  # everything cached: rendered again, nothing measured
    assert snapshot(tmp_path) == before
    shutil.rmtree(tmp_path / "cache")  # the cells are gone, but the same grid is finished:
    before = snapshot(tmp_path)         # it is complete, rendered again, nothing measured
    assert build.main(args()) == 0
    assert snapshot(tmp_path) == before
    with pytest.raises(ValueError, match="results.json: the results of a finished sweep"):
        build.main(args(grid={**GRID, "seed": 1}), refuse)  # another grid is not run over it
    with pytest.raises(ValueError, match="compare.json: no such file"):
        build.main(args(fresh=True, compare=str(tmp_path / "compare.json")), refuse)
    assert snapshot(tmp_path) == before
    assert build.main(args(fresh=True)) == 0
    assert {f for f in snapshot(tmp_path) if not f.startswith("cache")} == set(before)
