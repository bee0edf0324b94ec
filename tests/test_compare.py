"""``memcap compare``: the benchmark list, the peers' correctness, and a tiny pyperf run."""

import numpy as np
import pytest

from kernels import cli
from kernels.harness import lookup_peers, peers


def test_candidates_include_executors_and_peers():
    names = dict(peers.candidates(64, 4, "zhang|data/", log=lambda m: None))
    assert {"zhang/dense", "zhang/numpy-dense", "data/dict"} <= set(names)
    assert all(k == 64 for k in names.values())
    assert dict(peers.candidates(64, 4, "^data/dict$", log=lambda m: None)) == {"data/dict": 64}


def test_missing_peers_are_skipped_with_a_message(monkeypatch):
    monkeypatch.setattr(lookup_peers, "has", lambda dist: False)
    msgs = []
    names = [n for n, _ in peers.candidates(64, 4, "data/|p1/", log=msgs.append)]
    assert names == ["data/dict", "p1/axis-tree", "p1/searchsorted"]
    skips = [m for m in msgs if m.startswith("skip ")]
    assert len(skips) == 4 and all("\n" not in m for m in skips)
    for name, words in (("data/sklearn-tree", "scikit-learn is not installed"),
                        ("data/treelite-c", "scikit-learn and treelite and tl2cgen are not"),
                        ("data/ckdtree", "scipy is not installed"),
                        ("p1/pygm", "pygm is not installed")):
        assert any(m.startswith(f"skip {name}: {words}") and "memcap[peers]" in m
                   for m in skips), name


def test_a_missing_import_is_a_one_line_skip(monkeypatch):
    """A peer whose package is gone (its import fails) raises lookup_peers.Missing, one line."""
    import sys

    monkeypatch.setattr(lookup_peers, "has", lambda dist: dist not in ("pygm", "tl2cgen"))
    monkeypatch.setitem(sys.modules, "pygm", None)  # `import pygm` now fails
    keys = np.arange(4.0)
    with pytest.raises(lookup_peers.Missing, match=r"^pygm is not installed \(pip install"):
        lookup_peers.pygm_one_key(keys, keys)
    with pytest.raises(lookup_peers.Missing, match=r"^tl2cgen is not installed"):
        lookup_peers.compiled_tree(np.zeros((2, 1), np.float32), keys[:2])


def test_no_compiler_skips_the_compiled_tree(monkeypatch):
    monkeypatch.setattr(lookup_peers, "has", lambda dist: True)
    monkeypatch.setattr(lookup_peers.shutil, "which", lambda name: None)
    msgs = []
    assert peers.candidates(64, 4, "treelite", log=msgs.append) == []
    assert msgs == ["skip data/treelite-c: no C compiler on PATH (looked for gcc, clang); "
                    "treelite's compiled tree needs one"]


def _installed(*dists):
    missing = [d for d in dists if not lookup_peers.has(d)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed here")


def test_lookup_peers_answer_what_the_tree_recalls():
    """Every peer, on a small dataset, answers each memorized point's stored output bit for bit,
    so it answers what the axis tree recalls (exact by the design's rule, as the tree's own
    answers are); pygm and searchsorted on the p = 1 keys, in any query order."""
    import kernels
    from kernels.verify import recall_errors

    def same_as_tree(m, Y, name):
        np.testing.assert_array_equal(np.asarray(Y).reshape(len(m.dataset.D), -1)[:, 0],
                                      m.dataset.D[:, 0], err_msg=name)
        tree = m.predict(m.dataset.X)
        assert recall_errors(m, tree)["exact"] and recall_errors(m, Y)["exact"], name
        np.testing.assert_allclose(np.asarray(Y).reshape(tree.shape), tree, rtol=1e-9,
                                   atol=1e-12, err_msg=name)

    ds = kernels.generate("gaussian", 60, 3, 1, seed=5)
    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float64")
    lookups = {"dict": lookup_peers.row_dict(ds.X, ds.D)}
    if lookup_peers.has("scipy"):
        lookups["ckdtree"] = lookup_peers.ckdtree(ds.X, ds.D)
    for name, peer in lookups.items():
        same_as_tree(m, peer(ds.X), name)
    keys = kernels.generate("gaussian", 60, 1, 1, seed=5)
    m1 = kernels.build("axis-tree", keys.X, keys.D, dtype="float64")
    one_dim = {"searchsorted": lookup_peers.searchsorted}
    if lookup_peers.has("pygm"):
        one_dim["pygm"] = lookup_peers.pygm_one_key
    rev = np.arange(60)[::-1]
    for name, make in one_dim.items():
        peer = make(keys.X[:, 0], keys.D[:, 0])
        same_as_tree(m1, peer(keys.X), name)
        np.testing.assert_array_equal(peer(keys.X[rev]), keys.D[rev, 0])
    _installed("scikit-learn", "treelite", "tl2cgen")
    if lookup_peers.compiler() is None:
        pytest.skip("no C compiler on PATH")
    X32 = ds.X.astype(np.float32)  # scikit-learn splits in float32
    compiled = lookup_peers.compiled_tree(X32, ds.D[:, 0])
    same_as_tree(m, compiled(X32), "treelite-c")
    np.testing.assert_array_equal(compiled(X32[::-1]), ds.D[::-1, 0])


@pytest.mark.parametrize("kind", ["numpy-dense", "scipy-csr"])
def test_peer_forward_passes_match_the_dense_executor(kind):
    if kind == "scipy-csr":
        pytest.importorskip("scipy")
    from kernels.harness.cell import build_random

    m = build_random({"n": 32, "p": 6, "r": 2, "sparsity": 0.5, "seed": 3, "dtype": "float64"})
    layers = peers.layer_matrices(m.network, sparse=kind == "scipy-csr")
    fwd = peers.numpy_forward if kind == "numpy-dense" else peers.csr_forward
    Y = fwd(layers, m.network.p, m.network.r, m.dataset.X)
    np.testing.assert_allclose(Y, m.predict(m.dataset.X, executor="dense"), rtol=1e-9,
                               atol=1e-9)


def test_data_peers_recall_the_outputs():
    pytest.importorskip("scipy")
    pytest.importorskip("sklearn")
    ds = peers._dataset(50, 3)
    kinds = ["sklearn-tree", "ckdtree", "dict"]
    if lookup_peers.has("treelite") and lookup_peers.has("tl2cgen") and lookup_peers.compiler():
        kinds.append("treelite-c")
    for kind in kinds:
        fn, count = peers.workload(f"data/{kind}", 50, 3)
        Y = np.asarray(fn(), dtype=float).reshape(50, -1)
        assert count == 50
        np.testing.assert_array_equal(Y[:, 0], ds.D[:, 0])
    from kernels.verify import recall_errors

    tree = peers._memorizer(peers.P1, 50, 1)
    for kind in ("axis-tree", "searchsorted") + (("pygm",) if lookup_peers.has("pygm") else ()):
        fn, count = peers.workload(f"p1/{kind}", 50, 1)
        assert count == 50
        Y = np.asarray(fn()).reshape(50, -1)
        assert recall_errors(tree, Y)["exact"], kind  # the tree's own answers: by the rule
        if kind != "axis-tree":  # a lookup returns the stored output itself
            np.testing.assert_array_equal(Y[:, 0], tree.dataset.D[:, 0])


@pytest.mark.slow
def test_compare_writes_pyperf_json(tmp_path, capsys):
    pyperf = pytest.importorskip("pyperf")
    out = tmp_path / "c.json"
    assert cli.main(["compare", "--fast", "--quiet", "--filter", "^data/dict$", "--n", "64",
                     "--p", "3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out  # --quiet: only the summary lines, pyperf's one line
    assert "data/dict:" not in printed and "WARNING" not in printed
    assert len([x for x in printed.splitlines() if "benchmarks" in x]) == 1
    suite = pyperf.BenchmarkSuite.load(str(out))
    assert suite.get_benchmark_names() == ["data/dict"]
    assert all(v > 0 for v in suite.get_benchmarks()[0].get_values())
    assert cli.main(["compare", "--fast", "-o", str(out)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["compare", "--filter", "(", "-o", str(tmp_path / "x.json")]) == 2


def test_compare_list(capsys):
    assert cli.main(["compare", "--list", "--filter", "zhang/dense", "--n", "32"]) == 0  # no -o
    assert "zhang/dense" in capsys.readouterr().out
    assert cli.main(["compare", "--filter", "zhang/dense"]) == 2  # a run needs -o
    assert "-o FILE.json" in capsys.readouterr().err


def test_pyperf_instability_is_one_summary_line(tmp_path):
    pyperf = pytest.importorskip("pyperf")

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
    assert cli.main(["compare", "--baseline", str(tmp_path / "missing.json"), "-o",
                     str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["compare", "--threads", "999", "-o", str(out)]) == 2
    assert "threads must be in" in capsys.readouterr().err
    assert not out.exists()


def test_metadata_names_threads_cpu_commit():
    md = peers.run_metadata(64, 3, 1)
    assert md["memcap_threads"] == "1" and md["memcap_n"] == "64"
    assert md["memcap_cpu"] and md["memcap_commit"]
