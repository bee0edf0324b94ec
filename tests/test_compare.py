"""``memcap compare``: the benchmark list, the peers' correctness, and a tiny pyperf run."""

import numpy as np
import pytest

from kernels.cli import main as cli_main
from kernels.harness import peers as compare


def test_candidates_include_executors_and_peers():
    names = dict(compare.candidates(64, 4, "zhang|data/", log=lambda m: None))
    assert {"zhang/dense", "zhang/numpy-dense", "data/dict"} <= set(names)
    assert all(k == 64 for k in names.values())
    assert dict(compare.candidates(64, 4, "^data/dict$", log=lambda m: None)) == {"data/dict": 64}


def test_missing_peers_are_skipped_with_a_message(monkeypatch):
    monkeypatch.setattr(compare, "_has", lambda mod: False)
    msgs = []
    names = [n for n, _ in compare.candidates(64, 4, "data/", log=msgs.append)]
    assert names == ["data/dict"]
    assert any("sklearn" in m for m in msgs) and any("scipy" in m for m in msgs)


@pytest.mark.parametrize("kind", ["numpy-dense", "scipy-csr"])
def test_peer_forward_passes_match_the_dense_executor(kind):
    if kind == "scipy-csr":
        pytest.importorskip("scipy")
    from kernels.harness.cell import build_random

    m = build_random({"n": 32, "p": 6, "r": 2, "sparsity": 0.5, "seed": 3, "dtype": "float64"})
    layers = compare.layer_matrices(m.network, sparse=kind == "scipy-csr")
    fwd = compare.numpy_forward if kind == "numpy-dense" else compare.csr_forward
    Y = fwd(layers, m.network.p, m.network.r, m.dataset.X)
    np.testing.assert_allclose(Y, m.predict(m.dataset.X, executor="dense"), rtol=1e-9,
                               atol=1e-9)


def test_data_peers_recall_the_outputs():
    pytest.importorskip("scipy")
    pytest.importorskip("sklearn")
    ds = compare._dataset(50, 3)
    for kind in ("sklearn-tree", "ckdtree", "dict"):
        fn, count = compare.workload(f"data/{kind}", 50, 3)
        Y = np.asarray(fn(), dtype=float).reshape(50, -1)
        assert count == 50
        np.testing.assert_array_equal(Y[:, 0], ds.D[:, 0])


@pytest.mark.slow
def test_compare_writes_pyperf_json(tmp_path, capsys):
    pyperf = pytest.importorskip("pyperf")
    out = tmp_path / "c.json"
    assert cli_main(["compare", "--fast", "--quiet", "--filter", "^data/dict$", "--n", "64",
                     "--p", "3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out  # --quiet: only the summary lines, pyperf's one line
    assert "data/dict:" not in printed and "WARNING" not in printed
    assert len([x for x in printed.splitlines() if "benchmarks" in x]) == 1
    suite = pyperf.BenchmarkSuite.load(str(out))
    assert suite.get_benchmark_names() == ["data/dict"]
    assert all(v > 0 for v in suite.get_benchmarks()[0].get_values())
    assert cli_main(["compare", "--fast", "-o", str(out)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["compare", "--filter", "(", "-o", str(tmp_path / "x.json")]) == 2


def test_compare_list(capsys):
    assert cli_main(["compare", "--list", "--filter", "zhang/dense", "--n", "32"]) == 0  # no -o
    assert "zhang/dense" in capsys.readouterr().out
    assert cli_main(["compare", "--filter", "zhang/dense"]) == 2  # a run needs -o
    assert "-o FILE.json" in capsys.readouterr().err


def test_pyperf_instability_is_one_summary_line(tmp_path):
    pyperf = pytest.importorskip("pyperf")
    from kernels.harness import peers

    def bench(name, values):
        run = pyperf.Run(values, metadata={"name": name}, collect_metadata=False)
        return pyperf.Benchmark([run])

    path = str(tmp_path / "s.json")
    pyperf.BenchmarkSuite([bench("steady", [1.0, 1.01, 0.99]),
                           bench("jumpy", [1.0, 2.0, 0.5])]).dump(path)
    line = peers.instability_line(path)
    assert "\n" not in line and "1 of 2 benchmarks unstable" in line and "jumpy" in line


def test_compare_records_threads_cpu_commit_and_prints_a_baseline_table(tmp_path):
    """A second run read against a baseline file: `pyperf compare_to`'s table, printed."""
    import subprocess
    import sys

    pyperf = pytest.importorskip("pyperf")
    base = tmp_path / "base.json"
    run = pyperf.Run([1e-6, 1.1e-6, 1.2e-6],
                     metadata={"name": "data/dict", "loops": 1, "memcap_threads": "1"},
                     collect_metadata=False)
    pyperf.Benchmark([run]).dump(str(base))
    new = tmp_path / "new.json"
    res = subprocess.run([sys.executable, "-m", "kernels.cli", "compare", "--fast", "--filter",
                          "^data/dict$", "--n", "64", "--p", "3", "-o", str(new), "--baseline",
                          str(base)], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "data/dict" in res.stdout and "base" in res.stdout and "new" in res.stdout
    assert any(w in res.stdout for w in ("faster", "slower", "not significant"))
    md = pyperf.BenchmarkSuite.load(str(new)).get_benchmarks()[0].get_metadata()
    assert md["memcap_threads"] == "1" and md["memcap_cpu"] and md["memcap_commit"]


def test_compare_bad_baseline_or_threads_fail_before_measuring(tmp_path, capsys):
    out = tmp_path / "x.json"
    assert cli_main(["compare", "--baseline", str(tmp_path / "missing.json"), "-o",
                     str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli_main(["compare", "--threads", "999", "-o", str(out)]) == 2
    assert "threads must be in" in capsys.readouterr().err
    assert not out.exists()


def test_metadata_names_threads_cpu_commit():
    md = compare.run_metadata(64, 3, 1)
    assert md["memcap_threads"] == "1" and md["memcap_n"] == "64"
    assert md["memcap_cpu"] and md["memcap_commit"]
