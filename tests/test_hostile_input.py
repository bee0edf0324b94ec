"""Hostile input and faults: a grid option that names nothing is refused before anything runs;
an output that cannot be written (full disk, size limit, read-only, a folder in the way) is one
line naming the path and the cause, with the earlier good file intact and no temporary file left;
every row of a journal or a results file memcap reads is checked; a finished sweep run again is
complete, and an interrupted one resumes.  Each refusal: exit 2, one line ``memcap: error: …``."""

import errno
import json
import os
import resource
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels.cli import main, make_parser
from kernels.harness import journal, results, runner, sweep
from kernels.harness.sweep_args import grid_from_args
from kernels.model.network import DTYPES

FAST = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 0.2, "energy": "off",
        "budget_s": 600, "max_cell_s": 600}
GRID = {"blocks": [{"series": "n", "constructions": ["zhang"], "n": [8, 16], "p": [2]}], **FAST}
SWEEP = ["sweep", "--construction", "zhang", "--p", "2", "--quiet", "--energy", "off"]
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(folder) -> dict:
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = open(p, "rb").read()
    return out


def refused(capsys, argv, *fragments) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (argv, code, out, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("memcap: error: "), (out, err)
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)
    return err


# ---- grid options ------------------------------------------------------------------------

BAD_OPTIONS = [
    (["--n", ""], "--n"), (["--n", " , ,"], "--n"), (["--n", "8,,16"], "--n"),
    (["--n", "0"], "--n"), (["--n", "1e3"], "--n"), (["--p", "-2"], "--p"), (["--r", "x"], "--r"),
    (["--dtype", "float16"], "float16"), (["--dtype", "float64,bogus"], "bogus"),
    (["--dtype", ""], "--dtype"),
    (["--executor", "bogus"], "bogus"), (["--executor", ""], "--executor"),
    (["--executor", "tree"], "no construction of the grid offers it"),
    (["--construction", ""], "--construction"), (["--construction", "nope"], "nope"),
    (["--budget-s", "nan"], "--budget-s"), (["--budget-s", "-1"], "--budget-s"),
    (["--budget-s", "inf"], "--budget-s"), (["--max-cell-s", "nan"], "--max-cell-s"),
    (["--max-cell-s", "-5"], "--max-cell-s"), (["--max-cell-s", "0"], "--max-cell-s"),
    (["--seed", "-1"], "--seed"), (["--seed", "x"], "--seed"),
    (["--threads", ""], "--threads"), (["--threads", "0"], "--threads"),
    (["--sparsity", "0.5"], "random-sparse"), (["--scheduler", ""], "--scheduler"),
    (["--scheduler", "  "], "--scheduler"), (["--out", ""], "--out"),
]


@pytest.mark.parametrize("extra,fragment", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_a_bad_grid_option_is_refused_before_anything_runs(extra, fragment, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sweep, "run", lambda *a, **k: pytest.fail("ran"))
    argv = SWEEP + ["--n", "8", "--out", "r.json"]
    refused(capsys, argv + extra, fragment)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv,fragment", [
    (["--preset", "quick", "--construction", "nope"], "nope"),
    (["--preset", "quick", "--n", "64"], "--preset"),
    (["--preset", "quick", "--executor", "tree"], "--preset"),
    (["--construction", "random-sparse"], "--sparsity"),
])
def test_presets_and_the_random_networks_refuse_what_names_nothing(argv, fragment, tmp_path,
                                                                   capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sweep, "run", lambda *a, **k: pytest.fail("ran"))
    refused(capsys, ["sweep", "--out", "r.json", *argv], fragment)
    assert os.listdir(tmp_path) == []


OPTION_TEXT = st.one_of(
    st.text(alphabet=" ,0123456789-.exnaifloat6432", max_size=12),
    st.sampled_from(["", " ", ",", "8", "8,16", "0", "-1", "nan", "inf", "1e2", "float32",
                     "float64,float32", "tree", "dense", "exact", "zhang", "axis-tree",
                     "random-sparse", "0.5", "1", "0.99"]))
OPTIONS = ("--n", "--p", "--r", "--dtype", "--executor", "--construction", "--sparsity",
           "--budget-s", "--max-cell-s", "--seed", "--threads")


@FUZZ
@given(st.dictionaries(st.sampled_from(OPTIONS), OPTION_TEXT, max_size=4))
def test_any_grid_options_give_a_valid_grid_or_one_line_refusal(options):
    """Whatever the option text, the grid is either refused with one line or names only real
    cells: known constructions and dtypes, positive sizes, executors some construction offers."""
    from kernels.harness.cell import executors_of

    argv = ["sweep", "--out", "r.json"] + [x for kv in options.items() for x in kv]
    try:
        args = make_parser().parse_args(argv)
        grid = grid_from_args(args)
    except Exception as exc:  # the parser's refusal or grid_from_args'
        assert type(exc).__name__ in ("UsageError", "ValueError"), repr(exc)
        assert str(exc) and "\n" not in str(exc)
        return
    assert sweep.cells(grid)
    for b in grid["blocks"]:
        assert all(isinstance(v, int) and v >= 1 for a in ("n", "p", "r") for v in b[a])
        assert set(b["dtype"]) <= set(DTYPES)
        cons = b.get("constructions") or []
        for e in b.get("executors") or []:
            assert any(e in executors_of(c) for c in cons) or not cons
    assert grid.get("seed", 0) >= 0


def test_an_executor_some_constructions_offer_is_a_skipped_row_for_the_others(tmp_path, capsys):
    out = str(tmp_path / "r.json")
    argv = ["sweep", "--construction", "zhang,axis-tree", "--executor", "tree", "--n", "8",
            "--p", "2", "--quiet", "--energy", "off", "--out", out]
    assert main(argv) == 0
    rows = {r["construction"]: r for r in results.load(out)["rows"]}
    assert rows["axis-tree"]["status"] == "ok"
    assert rows["zhang"]["status"] == "skipped" and "offers only dense" in rows["zhang"]["reason"]


# ---- output paths and OS errors on writing -----------------------------------------------

def _folder_in_the_way(tmp_path, name):
    os.makedirs(tmp_path / name)


@pytest.mark.parametrize("name,fragment", [
    ("r.json", "r.json"), ("r.jsonl", "r.jsonl"), ("r.lock", "r.lock"), ("r.csv", "r.csv")])
def test_a_folder_where_a_sweep_file_goes_is_refused_before_running(name, fragment, tmp_path,
                                                                    capsys, monkeypatch):
    _folder_in_the_way(tmp_path, name)
    monkeypatch.setattr(sweep, "run", lambda *a, **k: pytest.fail("ran"))
    refused(capsys, SWEEP + ["--n", "8", "--out", str(tmp_path / "r.json")], fragment)
    assert os.path.isdir(tmp_path / name)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_an_unwritable_folder_is_refused_before_running(code, tmp_path, capsys, monkeypatch):
    """Root ignores permission bits, so the folder's refusal is faked at the one place memcap
    creates files: the temporary file beside the target."""
    def refuse(*a, **k):
        raise OSError(code, os.strerror(code), k.get("dir"))

    monkeypatch.setattr(results.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(sweep, "run", lambda *a, **k: pytest.fail("ran"))
    out = str(tmp_path / "sub" / "r.json")
    refused(capsys, SWEEP + ["--n", "8", "--out", out], out, os.strerror(code))
    refused(capsys, ["report", "--out", str(tmp_path / "rep")], os.strerror(code))
    assert os.listdir(tmp_path) == []


def test_a_file_in_the_way_of_the_folder_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    refused(capsys, SWEEP + ["--n", "8", "--out", str(tmp_path / "f" / "r.json")], "f/r.json")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EIO])
def test_a_failed_results_write_keeps_the_old_files_and_the_journal(code, tmp_path, capsys,
                                                                    monkeypatch):
    out = str(tmp_path / "r.json")
    assert main(SWEEP + ["--n", "8", "--out", out]) == 0
    old = snapshot(tmp_path)
    capsys.readouterr()

    real_fsync = os.fsync

    def full(fd):  # the disk fills while the results are written, after the journal's header
        if ".r.json." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(results.os, "fsync", full)
    refused(capsys, SWEEP + ["--n", "8,16", "--fresh", "--out", out], "r.json",
            os.strerror(code))
    now = snapshot(tmp_path)
    assert {k: now[k] for k in old} == old  # the earlier results and CSV, byte for byte
    assert set(now) == set(old) | {"r.jsonl"}  # the journal keeps the cells; no temporary file
    os.remove(out)  # a new output: the journal of the failed run resumes, measuring nothing
    os.remove(tmp_path / "r.csv")
    refused(capsys, SWEEP + ["--n", "8,16", "--out", out], "r.json", os.strerror(code))
    assert sorted(os.listdir(tmp_path)) == ["r.jsonl"]
    monkeypatch.undo()
    monkeypatch.setattr(runner, "run_group", lambda *a, **k: pytest.fail("measured again"))
    assert main(SWEEP + ["--n", "8,16", "--out", out]) == 0
    assert len(results.load(out)["rows"]) == 2 and not os.path.exists(tmp_path / "r.jsonl")


def test_atomic_write_all_replaces_every_file_or_none(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("old a")
    b.write_text("old b")

    def fail(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(results.WriteFailed, match=f"cannot write {b}: No space left"):
        results.atomic_write_all({str(a): lambda f: f.write("new a"), str(b): fail})
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    assert a.read_text() == "old a" and b.read_text() == "old b"


def test_a_journal_append_on_a_full_disk_names_the_journal(tmp_path):
    class Full:
        name = str(tmp_path / "r.jsonl")

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(results.WriteFailed, match="cannot write .*r.jsonl: No space left"):
        journal.append(Full(), {"n": 1})


def _limited(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"]])
def test_stdout_on_a_full_device_or_over_the_size_limit_is_one_line(argv, tmp_path):
    cmd = [sys.executable, "-m", "kernels.cli", *argv]
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True)
        assert proc.returncode == 2 and proc.stderr == (
            "memcap: error: cannot write standard output: No space left on device\n")
    with open(tmp_path / "out.txt", "w") as small:
        proc = subprocess.run(cmd, stdout=small, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_limited(64))
    assert proc.returncode == 2 and proc.stderr == (
        "memcap: error: cannot write standard output: File too large\n"), proc.stderr


def test_a_sweep_over_the_file_size_limit_is_one_line_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "kernels.cli", *SWEEP, "--n", "8", "--out",
                           str(out)], capture_output=True, text=True,
                          preexec_fn=_limited(512))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "File too large" in proc.stderr
    assert "r.jsonl" in proc.stderr
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp") or f.endswith(".lock")]


def test_report_out_empty_and_a_folder_where_its_files_go(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["report", "--out", ""], "--out")
    os.makedirs(tmp_path / "rep" / "index.html")
    refused(capsys, ["report", "--out", "rep"], "rep/index.html")
    os.makedirs(tmp_path / "rep2" / "results.json")
    refused(capsys, ["report", "--out", "rep2"], "rep2/results.json")
    assert sorted(os.listdir(tmp_path)) == ["rep", "rep2"]


# ---- files memcap reads ------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_row_journal(tmp_path_factory):
    """(header line, row) of a real journal of GRID with one finished cell."""
    d = tmp_path_factory.mktemp("journal")
    out = str(d / "r.json")
    doc = sweep.run(GRID, out, progress=False)
    env = doc["environment"]
    header = {"type": "header", "schema": results.SCHEMA, "environment": env, "grid": GRID,
              "command": None}
    return header, doc["rows"][0], doc["rows"][1]


def write_journal(tmp_path, header, rows) -> str:
    out = str(tmp_path / "r.json")
    with open(journal.journal_path(out), "w") as f:
        f.write(json.dumps(header) + "\n")
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps({"type": "row", "row": r})) + "\n")
    return out


def resume(out):
    return journal.prepare(out, GRID, fresh=False, header=None, cell_key=sweep.row_key,
                           cells=sweep.cells(GRID))


def test_a_repeated_journal_row_is_kept_once_and_a_conflicting_one_refused(tmp_path,
                                                                           one_row_journal):
    header, row, _ = one_row_journal
    out = write_journal(tmp_path, header, [row, row])
    assert resume(out)[1] == [row]
    doc = sweep.run(GRID, out, progress=False)  # resumes: one row per cell, never 3 for 2
    assert len(doc["rows"]) == 2 and len({sweep.row_key(r) for r in doc["rows"]}) == 2
    os.remove(out)
    out = write_journal(tmp_path, header, [row, {**row, "ops_mean": 1.0}])
    with pytest.raises(ValueError, match="r.jsonl: line 3 measures again the cell of line 2"):
        resume(out)


@pytest.mark.parametrize("bad,fragment", [
    ("{}", "line 3 is not a journal entry"), ('{"type": "row", "row": {}}', "no construction"),
    ('{"type": "row", "row": [1]}', "list"), ("[1, 2]", "line 3 is not a journal entry"),
    ('{"type": "row"}', "NoneType"), ('{"type": "header", "grid": {}}', "second header"),
])
def test_a_journal_line_that_is_no_cell_names_its_line(bad, fragment, tmp_path, one_row_journal):
    header, row, _ = one_row_journal
    out = write_journal(tmp_path, header, [row, bad])
    with pytest.raises(ValueError) as info:
        resume(out)
    assert "r.jsonl: line" in str(info.value) and "\n" not in str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_a_journal_row_outside_the_grid_is_refused(tmp_path, one_row_journal):
    header, row, _ = one_row_journal
    out = write_journal(tmp_path, header, [row, {**row, "n": 4096}])
    with pytest.raises(ValueError, match="line 3 is a cell outside this sweep's grid"):
        resume(out)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(
    max_size=5), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=3), inner, max_size=3), max_leaves=5)


@FUZZ
@given(field=st.sampled_from(sorted(results.ROW_FIELDS)), value=JSON_VALUES)
def test_any_corrupt_field_of_a_journal_row_is_refused_or_harmless(field, value, tmp_path,
                                                                   one_row_journal):
    header, row, _ = one_row_journal
    bad = {**row, field: value}
    out = write_journal(tmp_path, header, [bad])
    problem = results.row_problem(bad)
    try:
        _, rows = resume(out)
    except ValueError as exc:
        assert "r.jsonl: line 2" in str(exc) and "\n" not in str(exc)
        return
    # the row comes back as written (compared as JSON text: a NaN read back is another object,
    # and NaN != NaN)
    assert problem is None and results.dumps({"rows": rows}) == results.dumps({"rows": [bad]})
    # an accepted row is one the results file and the report accept too
    doc = {"schema": results.SCHEMA, "environment": {}, "grid": GRID, "rows": [bad]}
    path = tmp_path / "doc.json"
    path.write_text(results.dumps(doc))
    assert results.load(str(path))["rows"][0][field] == json.loads(json.dumps(value))


@FUZZ
@given(field=st.sampled_from(sorted(results.ROW_FIELDS)), value=JSON_VALUES,
       index=st.integers(0, 1))
def test_a_corrupt_results_row_is_one_line_naming_file_and_line(field, value, index, tmp_path,
                                                                one_row_journal):
    _, row, other = one_row_journal
    rows = [dict(row), dict(other)]
    rows[index][field] = value
    path = tmp_path / "doc.json"
    path.write_text(results.dumps({"schema": results.SCHEMA, "environment": {}, "grid": GRID,
                                   "rows": rows}))
    if results.row_problem(rows[index]) is None:
        results.load(str(path))
        return
    with pytest.raises(ValueError) as info:
        results.load(str(path))
    text = str(info.value)
    assert text.startswith(f"{path}: line ") and f"(row {index})" in text and "\n" not in text
    line = int(text.split("line ")[1].split()[0])
    assert path.read_text().splitlines()[line - 1].strip() == "{"


@pytest.mark.parametrize("field,value,fragment", [
    ("n", 0, "n is 0"), ("p", "x", 'p is "x"'), ("construction", 5, "construction is 5"),
    ("status", "fine", "status"), ("ops_mean", "many", "ops_mean")])
def test_report_refuses_a_results_row_in_one_line(field, value, fragment, tmp_path, capsys,
                                                  one_row_journal):
    _, row, _ = one_row_journal
    path = tmp_path / "bad.json"
    path.write_text(results.dumps({"schema": results.SCHEMA, "environment": {}, "grid": GRID,
                                   "rows": [{**row, field: value}]}))
    refused(capsys, ["report", "--results", str(path), "--out", str(tmp_path / "rep")],
            str(path), "line ", fragment)
    assert not os.path.exists(tmp_path / "rep")


@pytest.mark.parametrize("text", ["garbage", "{}", '{"version": "1.0", "benchmarks": []}',
                                  "[1, 2]"])
def test_report_refuses_a_compare_file_that_is_not_one(text, tmp_path, capsys):
    path = tmp_path / "garbage.json"
    path.write_text(text)
    refused(capsys, ["report", "--compare", str(path), "--out", str(tmp_path / "rep")],
            str(path))
    assert not os.path.exists(tmp_path / "rep")


@pytest.mark.parametrize("content", ["100000000000000000000\n", "-5\n", "0\n", "abc\n",
                                     "1e9\n", "\n"])
def test_a_lock_holding_no_possible_pid_is_taken_over(content, tmp_path, capsys):
    out = str(tmp_path / "r.json")
    with open(journal.lock_path(out), "w") as f:
        f.write(content)
    assert main(SWEEP + ["--n", "8", "--out", out]) == 0, capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["r.csv", "r.json"]


# ---- interrupted and finished sweeps ------------------------------------------------------

def test_ctrl_c_then_the_same_command_resumes_then_reports_complete(tmp_path, capsys,
                                                                   monkeypatch):
    out = str(tmp_path / "r.json")
    argv = SWEEP + ["--n", "8,16", "--out", out]
    real, calls = runner.run_group, []

    def stop(g, *a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(g)
        return real(g, *a, **k)

    monkeypatch.setattr(runner, "run_group", stop)
    assert main(argv) == 130
    assert capsys.readouterr().err.endswith("memcap: interrupted\n")
    assert sorted(os.listdir(tmp_path)) == ["r.jsonl"]
    monkeypatch.setattr(runner, "run_group", real)
    assert main(argv) == 0
    assert len(results.load(out)["rows"]) == 2
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == 0  # finished: it says so, runs nothing and changes nothing
    said, err = capsys.readouterr()
    assert "this sweep is complete (2 cells measured" in said and err == ""
    assert snapshot(tmp_path) == before
    assert main(argv + ["--budget-s", "900"]) == 0  # a run-control option is the same grid
    assert snapshot(tmp_path) == before


def test_a_file_at_out_that_is_no_results_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("my notes")
    refused(capsys, SWEEP + ["--n", "8", "--out", str(out)], "r.json", "--fresh")
    assert out.read_text() == "my notes"


def test_removing_the_probe_leaves_nothing(tmp_path):
    results.check_writable(str(tmp_path / "a" / "b" / "r.json"))
    assert os.listdir(tmp_path) == []
    shutil.rmtree(tmp_path)
