"""The shared cell cache: one folder for every output folder ($MEMCAP_CACHE_DIR, else the user
cache dir), unstable cells never reused, damaged lines a warning (never a traceback), and
`memcap cache info|clear`.  conftest points MEMCAP_CACHE_DIR at ``tmp_path/cache``."""

import argparse
import json

import pytest

from kernels import cli
from kernels.harness import cache, runner
from kernels.report import build

FP = {"git_commit": "abc", "source": "s", "environment": {}}
FAST = {"min_time": 0.002, "time_inputs": 64, "eval_seconds": 0.05, "energy": "off"}
TINY = {"blocks": [{"series": "n", "constructions": ["zhang"], "n": [8, 16], "p": [2]}], **FAST}


def _stable_row(**kw):
    return {"status": "ok", "executor": "dense", "batch_s_per_input": 1e-6, "stable": True, **kw}


def test_directory_is_the_env_override_or_the_user_cache_dir(tmp_path, monkeypatch):
    assert cache.directory() == str(tmp_path / "cache") and (tmp_path / "cache").is_dir()
    monkeypatch.delenv("MEMCAP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert "memcap" in cache.directory()
    (tmp_path / "file").write_text("")
    for bad in (str(tmp_path / "file"), str(tmp_path / "file" / "sub"), " "):
        monkeypatch.setenv("MEMCAP_CACHE_DIR", bad)
        with pytest.raises(ValueError, match="MEMCAP_CACHE_DIR"):
            cache.directory()


def test_unusable_cache_dir_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MEMCAP_CACHE_DIR", str(tmp_path / "file"))
    for argv in (["cache", "info"], ["cache", "clear"],
                 ["report", "--quick", "--out", str(tmp_path / "r")]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "MEMCAP_CACHE_DIR" in err
    assert not (tmp_path / "r").exists()


def test_info_and_clear(tmp_path, capsys):
    c = cache.CellCache(cache.directory(), FP)
    c.put("k1", [_stable_row()])
    c.put("k2", [_stable_row(stable=False)])
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "cache") in out and "commit abc" in out
    assert "2 cells (1 unstable)" in out
    assert cli.main(["cache", "info", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["cells"] == 2 and rec["bytes"] > 0 and rec["files"][0]["commit"] == "abc"
    assert cli.main(["cache", "clear"]) == 0
    assert "removed 1 file" in capsys.readouterr().out
    assert cache.info(cache.directory())["cells"] == 0


def test_unstable_cells_are_kept_but_never_reused(tmp_path):
    c = cache.CellCache(str(tmp_path / "c"), FP)
    c.put("ok", [_stable_row()])
    c.put("bad", [_stable_row(), _stable_row(executor="active", stable=False)])
    c.put("old", [_stable_row(stable=None) | {"stable": None}])  # timed, verdict unknown
    c.put("skip", [{"status": "skipped", "stable": None}])
    again = cache.CellCache(str(tmp_path / "c"), FP)
    assert again.get("ok") and again.get("skip")
    assert again.get("bad") is None and again.unstable("bad")
    assert again.get("old") is None
    # a verdict found later (slow against its neighbours) rewrites the cached cell
    again.mark([_stable_row(stable=False)], lambda r: r.get("executor"))
    assert cache.CellCache(str(tmp_path / "c"), FP).get("ok") is None


@pytest.mark.parametrize("line", ["[1, 2]", '"text"', json.dumps({"fingerprint": FP,
                                                                 "cell": "k"}),
                                  json.dumps({"fingerprint": FP, "cell": "k", "rows": "x"}),
                                  "{not json"])
def test_damaged_lines_warn_and_are_measured_again(tmp_path, capsys, line):
    c = cache.CellCache(str(tmp_path / "c"), FP)
    c.put("good", [_stable_row()])
    with open(c.path, "a") as f:
        f.write(line + "\n")
        f.write(json.dumps({"fingerprint": FP, "cell": "late", "rows": [_stable_row()]}) + "\n")
    again = cache.CellCache(str(tmp_path / "c"), FP)
    assert again.get("good") and again.get("late") and again.get("k") is None
    err = capsys.readouterr().err
    assert "warning" in err and "1 line not a cache entry" in err and "Traceback" not in err


def test_a_torn_last_line_is_silent(tmp_path, capsys):
    c = cache.CellCache(str(tmp_path / "c"), FP)
    c.put("good", [_stable_row()])
    with open(c.path, "a") as f:
        f.write('{"fingerprint": {"git')
    assert cache.CellCache(str(tmp_path / "c"), FP).get("good")
    assert capsys.readouterr().err == ""


def test_a_cache_path_that_is_a_folder_warns_and_measures(tmp_path, capsys):
    c = cache.CellCache(str(tmp_path / "c"), FP)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / c.path.rsplit("/", 1)[1]).mkdir()
    c = cache.CellCache(str(tmp_path / "c"), FP)
    c.put("k", [_stable_row()])  # not written, not fatal
    assert "not a file" in capsys.readouterr().err
    assert cache.CellCache(str(tmp_path / "c"), FP).get("k") is None


def _report(out, monkeypatch=None, fresh=False):
    return build.main(argparse.Namespace(quick=False, out=str(out), results=None, compare=None,
                                          fresh=fresh, grid=TINY,
                                          argv=["report", "--out", str(out)]))


def test_cache_is_shared_by_output_folders_and_unstable_cells_are_remeasured(
        tmp_path, monkeypatch, stable_timings):
    monkeypatch.setattr(build, "render", lambda doc, command, compare=None: "<html></html>")
    assert _report(tmp_path / "x") == 0
    calls = []
    real = runner.run_group
    monkeypatch.setattr(runner, "run_group", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert _report(tmp_path / "y") == 0  # another folder, same commit: nothing measured
    assert calls == []
    rows_x = json.loads((tmp_path / "x" / "results.json").read_text())["rows"]
    rows_y = json.loads((tmp_path / "y" / "results.json").read_text())["rows"]
    assert rows_x == rows_y and all(r["stable"] in (True, False) for r in rows_x)
    # one cached build turns unstable: the next report measures that build alone
    d = cache.directory()
    env = json.loads((tmp_path / "x" / "results.json").read_text())["environment"]
    c = cache.CellCache(d, cache.fingerprint(env))
    key = next(k for k, rows in c.cells.items() if rows[0]["n"] == 16)
    c.put(key, [{**r, "stable": False} for r in c.cells[key]])
    assert _report(tmp_path / "y") == 0  # over its finished results: only n = 16 again
    assert [a[0]["n"] for a in calls] == [16]
