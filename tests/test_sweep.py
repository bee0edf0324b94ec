"""Sweeps: a tiny grid end to end, resume after an interruption, skipped cells, the CLI."""

import json
import os
from importlib.metadata import EntryPoint

import pytest

from kernels import cli, constructions
from kernels.harness import runner, sweep
from kernels.harness.cell import RANDOM
from kernels.harness.grid import SIZE, groups, row_key, variant

FAST = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 0.2, "energy": "off",
        "budget_s": 600, "max_cell_s": 600}


def tiny(**extra):
    return {"blocks": [{"series": "n", "constructions": ["zhang", "sign-cube"], "n": [8, 16],
                        "p": [4]},
                       {"series": "sparsity", "constructions": [RANDOM], "n": [8], "p": [4],
                        "sparsity": [0.5]}],
            **FAST, **extra}


def test_tiny_grid_end_to_end(tmp_path):
    out = str(tmp_path / "r.json")
    doc = sweep.run(tiny(), out, progress=False)
    assert os.path.exists(out) and os.path.exists(str(tmp_path / "r.csv"))
    assert not os.path.exists(sweep.journal_path(out))  # removed once the grid is done
    assert json.load(open(out))["rows"] == json.loads(json.dumps(doc["rows"]))
    rows = doc["rows"]
    keys = [row_key(r) for r in rows]
    assert len(keys) == len(set(keys))
    ok = [r for r in rows if r["status"] == "ok"]
    assert {(r["construction"], r["executor"]) for r in ok} >= {
        ("zhang", "dense"), ("sign-cube", "dense"), (RANDOM, "dense"), (RANDOM, "active")}
    for r in ok:
        for f in ("build_s", "batch_s_per_input", "single_s", "ops_mean", "ops_max", "exact",
                  "model_bytes", "recall_peak_bytes", "maxrss_bytes", "energy_proxy_pj"):
            assert r[f] is not None, f
        assert r["energy_measured_pj"] == "unavailable" or r["energy_measured_pj"] > 0
        assert r["exact"] is True
    act = [r for r in ok if r["executor"] == "active"]
    assert all("active_weights_max" in r and "theorem1_ops_bound" in r for r in act)
    env = doc["environment"]
    for f in ("cpu_model", "cpu_count_logical", "python", "numpy", "numba",
              "numba_threading_layer"):
        assert f in env
    header = open(str(tmp_path / "r.csv")).readline().strip().split(",")
    assert header[:4] == ["status", "construction", "executor", "series"]


def test_resume_after_interruption(tmp_path, monkeypatch):
    out = str(tmp_path / "r.json")
    grid = tiny()
    calls = []

    def interrupted(g, *a, **k):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(g["construction"])
        return runner.run_group(g, *a, **k)

    with pytest.raises(KeyboardInterrupt):
        sweep.run(grid, out, progress=False, runner=runner.InProcess(measure=interrupted))
    jpath = sweep.journal_path(out)
    header, done = sweep.read_journal(jpath)
    assert header is not None and len(done) >= 2 and not os.path.exists(out)
    with open(jpath, "a") as f:
        f.write('{"type": "row", "row": {"constructi')  # the torn line of a killed process

    resumed = []

    def counting(g, *a, **k):
        resumed.append((g["construction"], g["n"]))
        return runner.run_group(g, *a, **k)

    doc = sweep.run(grid, out, progress=False, runner=runner.InProcess(measure=counting))
    total = len(groups(grid))
    assert len(resumed) == total - 2  # the two finished groups are not measured again
    keys = [row_key(r) for r in doc["rows"]]
    assert len(keys) == len(set(keys))
    assert {k for k in keys} >= {row_key(r) for r in done}


def test_skips_are_recorded_with_reasons(tmp_path, monkeypatch):
    ghost = EntryPoint("ghost", "kernels.constructions.no_such_module", constructions.GROUP)
    monkeypatch.setitem(constructions._MODULES, "ghost", ghost)  # a plug-in that fails to load
    grid = {"blocks": [{"constructions": ["ghost"], "n": [8], "p": [2]},
                       {"constructions": ["sign-cube"], "n": [8], "p": [2],
                        "executors": ["dense", "tree"]}], **FAST}
    rows = sweep.run(grid, str(tmp_path / "r.json"), progress=False)["rows"]
    ghost = [r for r in rows if r["construction"] == "ghost"]
    assert ghost and ghost[0]["status"] == "skipped" and "module not available" in ghost[0][
        "reason"]
    tree = [r for r in rows if r["executor"] == "tree"]
    assert tree[0]["status"] == "skipped" and "dense" in tree[0]["reason"]


def test_budget_skips_are_retried_on_resume(tmp_path):
    out = str(tmp_path / "r.json")
    g = {"blocks": [{"constructions": ["zhang"], "n": [8], "p": [2]}], **FAST}
    rows = sweep.run({**g, "budget_s": -1}, out, progress=False)["rows"]
    assert rows[0]["status"] == "skipped" and "budget" in rows[0]["reason"]
    assert rows[0]["final"] is False


def test_progress_bar_writes_to_its_stream(tmp_path):
    import io

    buf = io.StringIO()
    bar = sweep.Progress(2, buf)
    bar.step("a")
    bar.step("b")
    bar.close()
    assert "2/2" in buf.getvalue()


def test_cli_sweep(tmp_path, capsys):
    out = str(tmp_path / "s.json")
    assert cli.main(["sweep", "--construction", "zhang", "--n", "8", "--p", "2", "--out", out,
                     "--quiet", "--energy", "off"]) == 0
    assert json.load(open(out))["rows"][0]["construction"] == "zhang"
    assert cli.main(["sweep", "--construction", "nope", "--out", out]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli.main(["sweep", "--n", "0", "--out", out]) == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["sweep", "--help"])
    assert exc.value.code == 0


SIZE_GRID = {"blocks": [
    {"series": "size", "size_only": True, "kind": "sphere", "labels": "classes",
     "constructions": ["zhang", "vardi", "rajput", "sign-cube"], "n": [32, 64], "p": [4],
     "options": {"vardi": [{}, {"bits": 64}], "rajput": [{"xor": "counter"}]}},
    {"series": "n", "constructions": ["zhang"], "n": [32], "p": [4]},
], **FAST}


def test_size_only_cells_record_sizes(tmp_path):
    from kernels.model.data import generate

    rows = sweep.run(SIZE_GRID, str(tmp_path / "r.json"), progress=False)["rows"]
    keys = [row_key(r) for r in rows]
    assert len(keys) == len(set(keys))
    size = [r for r in rows if r["executor"] == SIZE]
    assert all(r["status"] == "ok" for r in size), [r.get("reason") for r in size]
    got = {(r["construction"], r["variant"], r["n"]) for r in size}
    assert got == {(c, v, n) for n in (32, 64) for c, v in (
        ("zhang", None), ("vardi", None), ("vardi", "bits=64"), ("rajput", "xor=counter"),
        ("sign-cube", None))}
    for r in size:
        assert r["series"] == "size" and "exact" not in r and "ops_mean" not in r
        assert r["build_s"] >= 0 and r["neurons"] > 0 and r["weights"] > 0 and r["depth"] >= 1
        # the block's data, except where a construction declares its own (sign-cube: the cube)
        assert (r["kind"], r["labels"]) == (("cube", "parity") if r["construction"] == "sign-cube"
                                            else ("sphere", "classes"))
        if r["construction"] in ("vardi", "rajput"):
            assert r["weight_bits"] >= 2 and r["info"]
        # the sizes are the construction's own, built directly with the same data and options
        if r["construction"] in ("vardi", "rajput"):
            ds = generate("sphere", r["n"], 4, 1, seed=0, labels="classes")
            m = constructions.build(r["construction"], ds.X, ds.D, seed=0,
                                    **(r["options"] or {}))
            s = m.size()
            assert (r["neurons"], r["weights"], r["depth"]) == (s["neurons"], s["weights"],
                                                                s["depth"])
            assert r["weight_bits"] == m.info["weight_bits"]
    v64 = [r for r in size if r["variant"] == "bits=64"]
    assert all(r["weight_bits"] <= 64 for r in v64)
    # the same cell measured in full is a separate row (executor dense), not deduplicated away
    assert any(r["construction"] == "zhang" and r["executor"] == "dense" and r["n"] == 32
               and r["status"] == "ok" for r in rows)


def test_variant_labels_and_presets():
    assert variant({}) is None and variant(None) is None
    assert variant({"xor": "counter", "bits": 64}) == "bits=64,xor=counter"
    # the size grid: sphere data, p = 4, n = 2^10 … 2^14, in the default report
    blocks = {name: [b for b in sweep.PRESETS[name]["blocks"] if b.get("size_only")]
              for name in ("quick", "default")}
    (d,), (q,) = blocks["default"], blocks["quick"]
    assert d["n"] == [2**k for k in range(10, 15)] and d["p"] == [4] and d["kind"] == "sphere"
    assert max(q["n"]) <= 2**11
    assert {} in d["options"]["vardi"] and any("bits" in o for o in d["options"]["vardi"])


# ---- timing fields, the thread axis and the reproduce command ----------------------

def test_rows_carry_threads_spread_and_ns_per_op(tmp_path):
    grid = {"blocks": [{"series": "n", "constructions": ["zhang"], "n": [16], "p": [4],
                        "threads": [1]}], **FAST}
    ok = [r for r in sweep.run(grid, str(tmp_path / "t.json"), progress=False)["rows"]
          if r["status"] == "ok"]
    assert ok
    for r in ok:
        assert r["threads"] == 1 and isinstance(r["noisy"], bool)
        for key in ("batch_spread", "single_spread"):
            sp = r[key]
            assert sp["min"] <= sp["median"] <= sp["max"]
        assert r["batch_s_per_input"] == r["batch_spread"]["median"]
        assert r["ns_per_op"] == pytest.approx(r["batch_s_per_input"] * 1e9 / r["ops_mean"])
        assert {"remeasured", "suspect", "direct_s"} <= set(r["timing"])


def test_threads_is_an_axis_of_the_grid():
    grid = {"blocks": [{"constructions": ["zhang"], "n": [16], "p": [4], "threads": [1, 2]}]}
    gs = groups(grid)
    assert sorted(g["threads"] for g in gs) == [1, 2]
    assert len({row_key({**g, "executor": "dense"}) for g in gs}) == 2


def test_bad_thread_counts_are_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "s.json")
    for bad in ("0", "999", "x"):
        assert cli.main(["sweep", "--construction", "zhang", "--n", "8", "--threads", bad,
                         "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.path.exists(out)


def _science(rows):
    """What a re-run must reproduce bit for bit (timings are never compared)."""
    keep = ("status", "exact", "ops_mean", "ops_max", "neurons", "weights", "threads", "seed",
            "max_abs_error", "timed_inputs", "evaluated_inputs")
    return sorted((row_key(r), tuple(r.get(k) for k in keep)) for r in rows)


def test_the_recorded_command_runs_as_printed_and_gives_the_same_rows(tmp_path):
    import shlex
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = str(tmp_path / "first.json")
    assert cli.main(["sweep", "--construction", "zhang,axis-tree", "--n", "8,16", "--p", "2",
                     "--seed", "3", "--energy", "off", "--quiet", "--out", out]) == 0
    doc = json.load(open(out))
    cmd = doc["command"]
    argv = shlex.split(cmd)
    assert argv[:2] == ["memcap", "sweep"] and argv[2] != "sweep"
    assert {"--seed", "--threads", "--n", "--p", "--out"} <= set(argv)
    assert argv[argv.index("--seed") + 1] == "3" and argv[argv.index("--threads") + 1] == "1"
    os.rename(out, str(tmp_path / "kept.json"))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "kernels.cli", *argv[1:]], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.load(open(out))
    assert again["command"] == cmd
    assert _science(again["rows"]) == _science(doc["rows"])
    assert any(r["status"] == "ok" for r in again["rows"])


def test_progress_names_what_starts_gives_an_eta_and_a_summary(tmp_path):
    import io

    buf = io.StringIO()
    out = str(tmp_path / "p.json")
    g = {"blocks": [{"constructions": ["zhang"], "n": [8, 16], "p": [2]}], **FAST}
    sweep.run(g, out, stream=buf)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "memcap: 2 builds to run, 0 cells already done"
    assert lines[1] == "memcap: building zhang n=8 p=2 float64 (first use compiles its kernels)"
    assert "ETA" not in lines[2]  # [1/2]: only a compiling build has a time
    assert any(x.startswith("[2/2]") and "ETA 0s" in x for x in lines)
    assert lines[-1].startswith("memcap: 2 cells in ") and lines[-1].endswith("(2 ok)")
    bar = sweep.Progress(4, io.StringIO())
    bar.t_step -= 2.0
    bar.step("a ok")
    assert bar.eta_s() == pytest.approx(6.0, rel=0.05)  # 3 cells left at 2 s each
    bar.step("b ok", measured=False)  # from the cache: no time, not in the mean
    assert bar.eta_s() == pytest.approx(4.0, rel=0.05)


def _cell(construction, n, p=8, executor="dense", dtype="float64", **extra):
    """A group or row of the fields that place a cell in its series."""
    return {"construction": construction, "variant": None, "executor": executor, "kind": "gaussian",
            "n": n, "p": p, "r": 1, "dtype": dtype, "sparsity": None, "seed": 0, "threads": 1,
            "series": "grid", "size_only": executor == "size", **extra}


def test_projection_sums_each_remaining_cell_from_its_series_then_its_construction():
    from kernels.harness.progress import Projection, power_law

    groups = [_cell("zhang", n) for n in (256, 1024, 4096)]
    groups += [_cell("zhang", 1024, p=32), _cell("axis-tree", 2048)]
    proj = Projection(groups, lambda g: 2)  # two executors a build
    assert proj.seconds() is None  # nothing has a time yet
    for n, s in ((256, 1.0), (1024, 4.0)):  # time ∝ n in zhang's p = 8 series
        for e in ("dense", "active"):  # from the cache: not this run's compilation
            proj.learn(_cell("zhang", n, executor=e, cell_s=s), measured=False)
    # left: zhang 4096 (its series: 16 s a cell), zhang p=32 n=1024 (its construction: 4 s),
    # axis-tree (nothing of its own: the mean measured cell, 2.5 s); two cells each
    assert proj.seconds() == pytest.approx(2 * 16 + 2 * 4 + 2 * 2.5)
    proj.learn(_cell("axis-tree", 2048, cell_s=0.5), measured=False)
    assert proj.seconds() == pytest.approx(2 * 16 + 2 * 4 + 0.5)  # one cell left, its own time
    proj.learn(_cell("axis-tree", 2048, executor="tree", cell_s=0.5), measured=False)
    proj.learn(_cell("zhang", 1024, p=32, cell_s=9.0), measured=False)  # a row skipped for
    proj.learn(_cell("zhang", 1024, p=32, executor="active"))  # time has no cell_s: done too
    assert proj.seconds() == pytest.approx(2 * 16)
    proj.observe(_cell("zhang", 2048, cell_s=16.0))  # a resumed run's cell: data, not work
    assert proj.seconds() == pytest.approx(2 * 64)  # through n = 1,024 and 2,048: ∝ n² now
    # the exponent between the two largest n, clipped to [0, 3]; one n: linear
    assert power_law({100: [1.0]}, 400) == pytest.approx(4.0)
    assert power_law({100: [1.0], 200: [100.0]}, 400) == pytest.approx(800.0)  # b = 3
    assert power_law({100: [5.0], 200: [1.0]}, 400) == pytest.approx(1.0)  # b = 0
    assert power_law({100: [1.0, 9.0, 2.0]}, 100) == pytest.approx(2.0)  # the median


def test_projection_prefers_warm_cells_then_an_earlier_runs_over_the_compiling_one():
    from kernels.harness.progress import Projection

    proj = Projection([_cell("zhang", n) for n in (100, 200, 400)] + [_cell("bubeck", 100)],
                      lambda g: 1)
    proj.learn(_cell("zhang", 100, cell_s=50.0))  # the first zhang build: compiles
    assert proj.seconds() is None  # a compiling build alone tells too little
    proj.observe(_cell("zhang", 100, cell_s=1.0), earlier=True)  # an earlier commit's cells
    proj.observe(_cell("bubeck", 50, cell_s=3.0), earlier=True)
    # zhang from the earlier run (linear from one n); bubeck too, and it has not compiled in
    # this run: its build adds what the compiling one took
    assert proj.seconds() == pytest.approx(2 + 4 + (6 + 50))
    proj.learn(_cell("zhang", 200, cell_s=4.0))  # warm, this run: before the earlier run's
    assert proj.seconds() == pytest.approx(8 + 56)
    assert proj.cell_s(("nothing",), ("nothing", False), 100) == pytest.approx(4.0)  # the mean
    assert proj.cell_s(("nothing",), ("zhang", False), 800) == pytest.approx(16.0)
    proj.observe({"cell_s": 1.0, "n": 5})  # not a cell row (an edited cache file): ignored
    assert proj.seconds() == pytest.approx(8 + 56)
    proj.observe(_cell("bubeck", 100, cell_s=7.0), earlier=True)  # the very cell, earlier:
    assert proj.seconds() == pytest.approx(8 + 7)  # its own time, its compilation included
    proj = Projection([_cell("zhang", n) for n in (100, 400)], lambda g: 1)
    proj.learn(_cell("zhang", 100, cell_s=50.0))
    proj.observe(_cell("axis-tree", 100, cell_s=1.0))
    assert proj.seconds() == pytest.approx(50)  # zhang's compiling time, not scaled with n


def test_eta_is_the_projection_over_the_cells_running_at_once():
    import io

    from kernels.harness.progress import Projection

    proj = Projection([_cell("zhang", n) for n in (100, 200, 400)], lambda g: 1)
    bar = sweep.Progress(3, io.StringIO(), proj)
    assert bar.eta_s() is None
    bar.t0 -= 10.0  # 10 s of wall time, in which the cell below took 10 s: one at a time
    bar.step("zhang dense n=100 ok", row=_cell("zhang", 100, cell_s=10.0))
    assert bar.eta_s() is None  # it compiled: no projection from it alone
    bar.step("zhang dense n=200 ok", row=_cell("zhang", 200, cell_s=30.0))  # 40 s in 10 s
    assert bar.eta_s() == pytest.approx(60 / 4, rel=0.05)  # 4 at once; n = 100 compiled
    bar.step("zhang dense n=400 skipped", row=_cell("zhang", 400))
    assert bar.eta_s() == 0.0


def test_a_report_projects_from_the_cache_of_an_earlier_commit(tmp_path):
    import io

    from kernels.harness.cache import CellCache

    other = CellCache(str(tmp_path), {"commit": "earlier"})
    other.put("k", [{**_cell("zhang", 8, p=2), "status": "ok", "final": True, "cell_s": 7.0}])
    assert [r["cell_s"] for r in CellCache(str(tmp_path), {"commit": "now"}).earlier_rows()] == [7]
    buf = io.StringIO()
    g = {"blocks": [{"constructions": ["zhang"], "n": [8], "p": [2]}], **FAST}
    sweep.run(g, str(tmp_path / "r.json"), stream=buf, cache_dir=str(tmp_path))
    first = buf.getvalue().splitlines()[0]
    assert first.startswith("memcap: 1 builds to run") and first.endswith("(ETA 7s)")


def test_the_first_progress_line_waits_for_neither_matplotlib_nor_dask():
    """Everything a sweep or report imports before its first line leaves matplotlib and Dask
    (about a second each on this machine) until they are used."""
    import subprocess
    import sys

    code = ("import sys, kernels.cli, kernels.harness.sweep, kernels.report.build; "
            "print(sorted(m for m in ('matplotlib', 'distributed', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "[]"


def test_the_final_line_counts_unstable_rows_and_names_a_busy_machine():
    ok = {"status": "ok", "stable": True}
    busy = {"status": "ok", "stable": False, "stability": {"reason": "batch: machine busy"}}
    noisy = {"status": "ok", "stable": False, "stability": {"reason": "batch: repeats disagree"}}
    skipped = {"status": "skipped", "stable": None}
    assert sweep._tally([ok, skipped]) == "1 cells measured, 1 skipped or failed"
    line = sweep._tally([ok, busy, noisy, skipped])
    assert line.startswith("3 cells measured, 1 skipped or failed; 2 timed unstable")
    assert "(1 while other tasks wanted every core" in line


def test_a_construction_whose_bounds_raise_is_its_groups_error_row(tmp_path, monkeypatch):
    from kernels.memorizer import Memorizer

    def broken(self):
        raise ArithmeticError("bound overflow")

    monkeypatch.setattr(Memorizer, "bounds", broken)
    grid = {"blocks": [{"constructions": ["zhang"], "n": [16], "p": [2]}], **FAST}
    rows = sweep.run(grid, str(tmp_path / "r.json"), progress=False)["rows"]
    timed = [r for r in rows if r["executor"] != SIZE]
    assert timed and {r["status"] for r in timed} == {"error"}
    assert all("bound overflow" in r["reason"] for r in timed)
