"""Sweeps on Dask (``memcap sweep --scheduler``): the same rows as in process, a scheduler and
workers started as separate processes, a worker killed mid-cell, Ctrl-C and resume, the one-line
errors.  Every cluster here is started and stopped by its test, on 127.0.0.1 only."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import kernels
from kernels import cli
from kernels.harness import distributed, environment, runner, sweep
from kernels.harness.cell import RANDOM
from kernels.harness.grid import SIZE, groups, row_key
from kernels.report import figures, html

pytest.importorskip("distributed")  # the `dist` extra (installed by `make test`)

FAST = {"min_time": 0.002, "time_inputs": 16, "eval_seconds": 0.2, "energy": "off",
        "budget_s": 600, "max_cell_s": 600}
GRID = {"blocks": [
    {"series": "n", "constructions": ["zhang", "axis-tree", "switch-net"], "n": [16, 32],
     "p": [4], "dtype": ["float64", "float32"]},
    {"series": "sparsity", "constructions": [RANDOM], "n": [16], "p": [4], "sparsity": [0.5]},
    {"series": "size", "size_only": True, "kind": "sphere", "labels": "classes",
     "constructions": ["vardi"], "n": [16, 32], "p": [4]},
], **FAST}
# what must not depend on where a cell ran (timings, memory high-water marks and machines aside)
SAME = ("construction", "variant", "executor", "n", "p", "r", "dtype", "sparsity", "kind",
        "labels", "status", "reason", "neurons", "weights", "depth", "vertices", "n_effective",
        "ops_mean", "ops_max", "mul_mean", "add_mean", "cmp_mean", "active_neurons_max",
        "active_weights_max", "exact", "max_abs_error", "max_rel_error", "inexact_points",
        "evaluated_inputs", "model_bytes", "bounds", "theorem", "weight_bits", "info")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(kernels.__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def one_line_error(code, out, err, *fragments):
    assert code == 2 and out == "", (code, out)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, (f, err)


def test_scheduler_specs():
    assert distributed.parse("local") == ("local", None)
    assert distributed.parse("local:3") == ("local", 3)
    assert distributed.parse("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    assert distributed.parse("sched.json") == ("file", "sched.json")
    for bad in ("local:0", "local:x", "nowhere"):
        with pytest.raises(ValueError, match="--scheduler"):
            distributed.parse(bad)


def test_local_workers_capped_at_what_the_machine_holds():
    """local:100000 would hang starting processes: it is capped (per core and by memory) and the
    cap is said; a count within the cap is kept as asked."""
    gib = 1 << 30
    assert distributed.local_workers(None, cores=2, memory=24 * gib) == (2, None)
    assert distributed.local_workers(3, cores=2, memory=24 * gib) == (3, None)
    workers, note = distributed.local_workers(100000, cores=2, memory=24 * gib)
    assert workers == 2 * distributed.WORKERS_PER_CORE and "capped at 8 workers" in note
    workers, note = distributed.local_workers(100000, cores=64, memory=2 * gib)
    assert workers == 2 * gib // distributed.WORKER_BYTES and "capped" in note
    assert distributed.local_workers(5, cores=1, memory=0)[0] == 1  # always at least one


def test_dask_loggers_quiet_while_a_runner_is_open():
    """A dying scheduler's tracebacks (distributed, tornado, asyncio loggers) stay unprinted while
    a runner is open; the levels come back after."""
    import logging
    before = [logging.getLogger(n).level for n in distributed.QUIET_LOGGERS]
    with distributed._quiet_logs():
        assert all(logging.getLogger(n).level == logging.CRITICAL
                   for n in distributed.QUIET_LOGGERS)
    assert [logging.getLogger(n).level for n in distributed.QUIET_LOGGERS] == before


def test_without_dask_scheduler_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    out = str(tmp_path / "r.json")
    code = cli.main(["sweep", "--construction", "zhang", "--n", "8", "--out", out,
                     "--scheduler", "local:2"])
    one_line_error(code, *capsys.readouterr(), "pip install 'memcap[dist]'")
    assert os.listdir(tmp_path) == []  # nothing written


def test_unreachable_scheduler_is_one_line_error(tmp_path, capsys, monkeypatch):
    # the rule, not the default's 5 s wait
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "r.json")
    t0 = time.perf_counter()
    code = cli.main(["sweep", "--construction", "zhang", "--n", "8", "--out", out,
                     "--scheduler", f"tcp://127.0.0.1:{port}"])
    one_line_error(code, *capsys.readouterr(), "cannot reach the Dask scheduler")
    assert time.perf_counter() - t0 < distributed.CONNECT_TIMEOUT_S + 10
    for spec, fragment in ((str(tmp_path / "none.json"), "no such scheduler file"),
                           ("local:0", "positive integer")):
        code = cli.main(["sweep", "--construction", "zhang", "--n", "8", "--out", out,
                         "--scheduler", spec])
        one_line_error(code, *capsys.readouterr(), fragment)
    assert os.listdir(tmp_path) == []


def test_local_cluster_gives_the_in_process_rows(tmp_path):
    here = sweep.run(GRID, str(tmp_path / "here.json"), progress=False)["rows"]
    with distributed.connect("local:2") as runner:
        there = sweep.run(GRID, str(tmp_path / "there.json"), progress=False,
                          runner=runner)["rows"]
        # a group its worker cannot hold (zhang's own estimate at n = 2^28: ~100 GiB) is
        # refused before anything is generated, and retried on resume
        huge = {"blocks": [{"constructions": ["zhang"], "n": [2**28], "p": [2]}], **FAST,
                "max_bytes": 1 << 50}
        big = sweep.run(huge, str(tmp_path / "big.json"), progress=False, runner=runner)["rows"]
    assert big[0]["status"] == "skipped" and big[0]["final"] is False
    assert "this worker's memory limit" in big[0]["reason"]
    assert [row_key(r) for r in here] == [row_key(r) for r in there]
    assert sum(r["status"] == "ok" for r in there) >= len(there) - 1
    for a, b in zip(here, there, strict=True):
        assert {k: a.get(k) for k in SAME} == {k: b.get(k) for k in SAME}, row_key(a)
    mach = environment.machine()
    for r in there:  # measured by a worker: one thread, the machine recorded
        assert r["machine"] == mach["key"] and r["machine_info"]["host"] == mach["host"]
        assert r["machine_info"]["threads"] == 1 or r["executor"] == SIZE
    assert json.load(open(tmp_path / "there.json"))["rows"] == json.loads(json.dumps(there))


class LosingRunner(runner.InProcess):
    """A runner whose cluster loses every group of n = 32 (as a worker that keeps dying)."""

    def next(self):
        i, g, execs, opts = self.queue.pop(0)
        if g["n"] == 32:
            return i, RuntimeError("KilledWorker: worker died 3 times\nmore")
        rows, times = runner.run_group(g, execs, opts, self.idle_w, self.warmed)
        return i, (environment.stamp(rows), times)


def test_a_lost_group_is_an_error_row_retried_on_resume(tmp_path):
    grid = {"blocks": [{"constructions": ["zhang"], "n": [16, 32], "p": [4]}], **FAST}
    rows = sweep.run(grid, str(tmp_path / "r.json"), progress=False,
                     runner=LosingRunner(FAST))["rows"]
    lost = [r for r in rows if r["n"] == 32]
    assert [r["status"] for r in rows if r["n"] == 16] == ["ok"]
    assert len(lost) == 1 and lost[0]["status"] == "error" and lost[0]["final"] is False
    assert lost[0]["reason"] == ("lost on the cluster: RuntimeError: KilledWorker: worker died "
                                 "3 times")


def test_timing_groups_hold_the_worker_alone():
    lock, log, guard = distributed.SharedExclusive(), [], threading.Lock()

    def task(exclusive, k):
        with lock.hold(exclusive):
            with guard:
                log.append(("in", exclusive, k))
            time.sleep(0.02)
            with guard:
                log.append(("out", exclusive, k))

    ts = [threading.Thread(target=task, args=(k % 3 == 0, k)) for k in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    inside, shared_overlap = set(), False
    for what, exclusive, k in log:
        if what == "in":
            # an exclusive holder enters an empty section, and nobody joins it
            assert not (exclusive and inside) and not any(e for e, _ in inside)
            shared_overlap |= bool(inside)
            inside.add((exclusive, k))
        else:
            inside.discard((exclusive, k))
    assert shared_overlap  # the shared ones did run together


def test_fits_never_mix_machines():
    def row(n, m, t):
        return {"status": "ok", "construction": "zhang", "executor": "dense", "dtype": "float64",
                "r": 1, "p": 4, "grid_p": 4, "series": "n", "sparsity": None, "n": n,
                "ops_mean": 2.0 * n, "batch_s_per_input": t, "machine": m,
                "machine_info": {"host": m.split()[0]}}

    rows = [row(n, "a (x, 2 cores)", 1e-9 * n) for n in (16, 64, 256)]
    rows += [row(n, "b (y, 8 cores)", 1e-6 * n**2) for n in (32, 128)]
    timed = figures.n_series(rows, by_machine=True)
    assert set(timed) == {("zhang @ a", "dense"), ("zhang @ b", "dense")}
    for (c, _), rs in timed.items():
        s = figures.fit_slope([r["n"] for r in rs], [r["batch_s_per_input"] for r in rs])
        assert s == pytest.approx(1.0 if c.endswith("a") else 2.0)
    assert len(figures.n_series(rows)[("zhang", "dense")]) == 5  # counts: one series
    assert figures.n_series(rows[:3], by_machine=True).keys() == {("zhang", "dense")}
    section = html.machines_section(rows)
    assert "<h2>Machines</h2>" in section and "b (y, 8 cores)" in section
    assert html.machines_section(rows[:3]) == ""  # one machine: nothing to say


def _python(*args, **kw):
    return subprocess.Popen([sys.executable, *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()


def _wait_for(cond, timeout=60.0, what="it"):
    t_end = time.time() + timeout
    while not cond():
        assert time.time() < t_end, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_cli_on_scheduler_and_workers_started_apart(tmp_path):
    sfile = str(tmp_path / "scheduler.json")
    procs = [_python("-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                     "0", "--no-dashboard", "--scheduler-file", sfile)]
    try:
        _wait_for(lambda: os.path.exists(sfile), what="the scheduler file")
        for extra in (["--resources", "timing=1", "--nthreads", "2"], ["--nthreads", "1"]):
            procs.append(_python("-m", "distributed.cli.dask_worker", "--scheduler-file", sfile,
                                 "--host", "127.0.0.1", "--no-dashboard", *extra))
        out = str(tmp_path / "r.json")
        cmd = ["-m", "kernels.cli", "sweep", "--construction", "zhang,axis-tree", "--n",
               "16,32", "--p", "4", "--energy", "off", "--out", out, "--scheduler", sfile]
        sw = _python(*cmd)
        stdout, stderr = sw.communicate(timeout=240)
        assert sw.returncode == 0, stderr
        assert "4 cells measured, 0 skipped" in stdout
        rows = json.load(open(out))["rows"]
        assert {(r["construction"], r["n"]) for r in rows} == {
            (c, n) for c in ("zhang", "axis-tree") for n in (16, 32)}
        assert all(r["status"] == "ok" and r["exact"] and r["machine"] for r in rows)
        assert not os.path.exists(sweep.journal_path(out))
    finally:
        _stop(procs[::-1])


def _slow_grid():  # groups that take about a second each, so a kill lands mid-cell
    return {"blocks": [{"series": "n", "constructions": ["zhang"], "n": [16, 24, 32, 40, 48, 56],
                        "p": [2, 3]}], **FAST, "min_time": 0.4}


@pytest.mark.slow
def test_a_killed_worker_loses_no_finished_cell(tmp_path):
    out, grid = str(tmp_path / "r.json"), _slow_grid()
    jpath, result = sweep.journal_path(out), {}
    with distributed.connect("local:2") as runner:
        def go():
            try:
                result["rows"] = sweep.run(grid, out, progress=False, runner=runner)["rows"]
            except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
                result["error"] = exc

        t = threading.Thread(target=go)
        t.start()
        _wait_for(lambda: len(sweep.read_journal(jpath)[1]) >= 2, what="two finished cells")
        busy = {}
        _wait_for(lambda: busy.update({w: k for w, k in runner.client.processing().items()
                                       if k}) or busy, what="a busy worker")
        before = sweep.read_journal(jpath)[1]
        victim = sorted(busy)[0]
        os.kill(runner.client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        t.join(timeout=180)
        assert not t.is_alive() and "error" not in result, result.get("error")
    rows = result["rows"]
    assert len(rows) == len(groups(grid)) == 12
    assert all(r["status"] == "ok" for r in rows), [r.get("reason") for r in rows]
    by_key = {row_key(r): r for r in rows}
    for r in before:  # finished before the kill: kept as measured, not measured again
        assert by_key[row_key(r)]["batch_s_per_input"] == r["batch_s_per_input"]


@pytest.mark.slow
def test_ctrl_c_cancels_and_the_journal_resumes(tmp_path):
    out = str(tmp_path / "r.json")
    ns = ",".join(str(n) for n in range(16, 80, 4))  # 32 groups in two chains of 16
    cmd = ["-m", "kernels.cli", "sweep", "--construction", "zhang", "--n", ns, "--p", "2,3",
           "--energy", "off", "--out", out, "--scheduler", "local:2"]
    # a terminal's Ctrl-C: SIGINT to the sweep's whole process group (its local workers too)
    sw = _python(*cmd, start_new_session=True,
                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    jpath = sweep.journal_path(out)
    try:
        _wait_for(lambda: len(sweep.read_journal(jpath)[1]) >= 1, timeout=120,
                  what="a finished cell")
        os.killpg(sw.pid, signal.SIGINT)
        _, stderr = sw.communicate(timeout=60)
    finally:
        _stop([sw])
    assert sw.returncode == 130 and "interrupted" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    done = sweep.read_journal(jpath)[1]
    assert done and not os.path.exists(out)
    again = _python(*cmd)
    stdout, stderr = again.communicate(timeout=240)
    assert again.returncode == 0, stderr
    assert f"resuming, {len(done)} cells already done" in stderr
    rows = json.load(open(out))["rows"]
    assert len(rows) == 32 and all(r["status"] == "ok" for r in rows)
    by_key = {row_key(r): r for r in rows}
    for r in done:
        assert by_key[row_key(r)]["batch_s_per_input"] == r["batch_s_per_input"]
