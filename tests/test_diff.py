"""``memcap diff``: every exit code (0 same, 1 changed, 2 bad input), on made-up results files
(no timing is measured or asserted)."""

import copy
import json

import pytest

from kernels import cli
from kernels.harness import diff, results


def _row(construction, executor, n, t, stable=True, ops=100.0):
    sp = {"min": t * 0.95, "q25": t * 0.98, "median": t, "q75": t * 1.02, "max": t * 1.05,
          "samples": 5}
    return {"status": "ok", "construction": construction, "executor": executor, "n": n, "p": 8,
            "r": 1, "dtype": "float64", "sparsity": None, "seed": 0, "threads": 1,
            "variant": None, "kind": "gaussian", "exact": True, "ops_mean": ops, "ops_max": ops,
            "neurons": 10, "weights": 40, "batch_s_per_input": t, "single_s": 2 * t,
            "batch_spread": sp, "single_spread": {k: (2 * v if k != "samples" else v)
                                                  for k, v in sp.items()},
            "stable": stable}


def _doc(rows):
    return {"schema": results.SCHEMA, "environment": {}, "grid": {}, "command": None,
            "rows": rows}


def _write(path, rows):
    results.write_results(_doc(rows), str(path))
    return str(path)


ROWS = [_row("zhang", "dense", 64, 1e-6), _row("zhang", "dense", 256, 2e-6),
        _row("axis-tree", "tree", 64, 5e-8)]


def _run(capsys, *argv):
    code = cli.main(["diff", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_identical_runs_exit_0(tmp_path, capsys):
    a = _write(tmp_path / "a.json", ROWS)
    code, out, _ = _run(capsys, a, a)
    assert code == 0 and "no change beyond noise" in out


def test_noise_within_quartiles_or_threshold_is_not_a_change(tmp_path, capsys):
    rows = copy.deepcopy(ROWS)
    rows[0] = _row("zhang", "dense", 64, 1.01e-6)  # quartiles overlap
    rows[1] = _row("zhang", "dense", 256, 2.2e-6)  # quartiles apart, but only 1.1x
    code, out, _ = _run(capsys, _write(tmp_path / "a.json", ROWS),
                        _write(tmp_path / "b.json", rows))
    assert code == 0, out


def test_a_row_three_times_slower_exits_1_and_is_named(tmp_path, capsys):
    rows = copy.deepcopy(ROWS)
    rows[2] = _row("axis-tree", "tree", 64, 3 * 5e-8)
    code, out, _ = _run(capsys, _write(tmp_path / "a.json", ROWS),
                        _write(tmp_path / "b.json", rows))
    assert code == 1
    assert "changed  axis-tree tree n=64" in out and "3.00x" in out
    code, out, _ = _run(capsys, tmp_path / "a.json", tmp_path / "b.json", "--json")
    rec = json.loads(out)
    assert code == 1 and [(c["construction"], c["executor"]) for c in rec["changed"]] == [
        ("axis-tree", "tree")]
    assert {c["field"] for c in rec["changed"][0]["changes"]} == {"batch_s_per_input",
                                                                  "single_s"}
    # a higher threshold hides it
    code, _, _ = _run(capsys, tmp_path / "a.json", tmp_path / "b.json", "--threshold", "4")
    assert code == 0


def test_counts_exactness_and_added_removed_cells_exit_1(tmp_path, capsys):
    a = _write(tmp_path / "a.json", ROWS)
    ops = copy.deepcopy(ROWS)
    ops[0]["ops_mean"] = 101.0
    code, out, _ = _run(capsys, a, _write(tmp_path / "ops.json", ops))
    assert code == 1 and "ops_mean 100 -> 101" in out
    inexact = copy.deepcopy(ROWS)
    inexact[1]["exact"] = False
    assert _run(capsys, a, _write(tmp_path / "x.json", inexact))[0] == 1
    code, out, _ = _run(capsys, a, _write(tmp_path / "fewer.json", ROWS[:2]))
    assert code == 1 and "removed  axis-tree tree n=64" in out
    code, out, _ = _run(capsys, tmp_path / "fewer.json", a)
    assert code == 1 and "added    axis-tree tree n=64" in out


def test_unstable_cells_are_not_compared_and_do_not_exit_1(tmp_path, capsys):
    rows = copy.deepcopy(ROWS)
    rows[2] = _row("axis-tree", "tree", 64, 10 * 5e-8, stable=False)
    code, out, _ = _run(capsys, _write(tmp_path / "a.json", ROWS),
                        _write(tmp_path / "b.json", rows))
    assert code == 0
    assert "not compared (unstable in B)  axis-tree tree n=64" in out


@pytest.mark.parametrize("make", [
    lambda p: None,  # missing file
    lambda p: p.write_text("{not json"),
    lambda p: p.write_text(json.dumps({"schema": "other", "rows": []})),
    lambda p: p.write_text(json.dumps([1, 2])),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make):
    a = _write(tmp_path / "a.json", ROWS)
    bad = tmp_path / "bad.json"
    make(bad)
    code, out, err = _run(capsys, a, bad)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "bad.json" in err and "Traceback" not in err


@pytest.mark.parametrize("threshold", ["0.5", "nan", "abc"])
def test_bad_threshold_exits_2(tmp_path, capsys, threshold):
    a = _write(tmp_path / "a.json", ROWS)
    code, _, err = _run(capsys, a, a, "--threshold", threshold)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_compare_keeps_rows_of_older_files_without_stable():
    old = [{k: v for k, v in r.items() if k != "stable"} for r in ROWS]
    assert diff.compare(_doc(old), _doc(ROWS))["verdict"] == "no change beyond noise"
