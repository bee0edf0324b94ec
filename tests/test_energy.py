"""The energy proxy's arithmetic, the cache table, and measured energy with fake counters."""

import math

import pytest

from kernels.harness import energy

L1 = (("L1d", 32 * 1024),)


def test_proxy_float32_arithmetic():
    out = energy.proxy({"mul": 10, "add": 9, "cmp": 5}, "float32", working_set=1000, caches=L1)
    compute = 10 * 3.7 + 9 * 0.9 + 5 * 0.1
    accesses = 10 * (4 + 8) / 8  # one fp32 value + one int64 index per weight, 64-bit accesses
    assert out["compute_pj"] == pytest.approx(compute)
    assert out["accesses"] == pytest.approx(accesses)
    assert out["memory_pj"] == pytest.approx(accesses * 20.0)  # a 32 KB SRAM: Horowitz 20 pJ
    assert out["total_pj"] == pytest.approx(compute + accesses * 20.0)
    assert out["tier"] == "L1d" and out["kind"] == "model"


def test_proxy_float64_is_derived_from_float32():
    assert energy.OP_PJ["float64"]["add"] == pytest.approx(4 * 0.9)
    assert energy.OP_PJ["float64"]["mul"] == pytest.approx(4 * 3.7)
    out = energy.proxy({"mul": {"mean": 2.0}, "add": {"mean": 1.0}, "cmp": {"mean": 0.0}},
                       "float64", working_set=10, caches=L1)
    assert out["compute_pj"] == pytest.approx(2 * 14.8 + 3.6)
    assert out["accesses"] == pytest.approx(2 * 16 / 8)


def test_weights_touched_override_and_dram():
    out = energy.proxy({"mul": 4}, "float32", working_set=10**12, weights_touched=8, caches=L1)
    assert out["tier"] == "DRAM" and out["access_pj"] == energy.DRAM_PJ
    assert out["accesses"] == pytest.approx(8 * 12 / 8)
    lo, hi = energy.DRAM_PJ_RANGE
    assert lo <= energy.DRAM_PJ <= hi


def test_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype"):
        energy.proxy({"mul": 1}, "float16", 10)


def test_sram_interpolation_hits_the_table_and_grows():
    for size, pj in energy.SRAM_PJ:
        assert energy.sram_pj(size) == pytest.approx(pj)
    assert energy.sram_pj(1024) == 10.0  # below the smallest entry: clamped
    assert energy.sram_pj(32 * 1024 * 1024) == pytest.approx(500.0)  # 32 KB→1 MB slope
    sizes = [2**k for k in range(13, 27)]
    vals = [energy.sram_pj(s) for s in sizes]
    assert all(a <= b for a, b in zip(vals, vals[1:], strict=False))


def test_cache_sizes_from_sysfs(tmp_path):
    for i, (level, kind, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "32K"),
                                             (2, "Unified", "2048K"), (3, "Unified", "64M")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    got = energy.cache_sizes(str(tmp_path))
    assert got == (("L1d", 48 * 1024), ("L2", 2 * 1024**2), ("L3", 64 * 1024**2))
    assert energy.cache_sizes(str(tmp_path / "nothing")) == energy.DEFAULT_CACHES


def test_table_names_its_sources():
    rows = energy.table()
    assert {"Horowitz", "derived"} <= {r["origin"] for r in rows}
    assert "ISSCC 2014" in energy.SOURCE and "45 nm" in energy.SOURCE


class FakeCounter:
    """1 J per second of wall time while 'busy', 0.25 J/s idle: energy = f(perf_counter)."""

    name = "fake"

    def __init__(self):
        self.t = 0.0
        self.busy = False

    def read(self):
        return [self.t]

    def joules(self, a, b):
        return b[0] - a[0]


def test_measure_subtracts_idle_and_keeps_both(monkeypatch):
    c = FakeCounter()
    clock = {"t": 0.0}

    def perf_counter():
        return clock["t"]

    def work():  # each call: 0.1 s at 3 W
        clock["t"] += 0.1
        c.t += 0.3

    monkeypatch.setattr(energy.time, "perf_counter", perf_counter)
    out = energy.measure(work, calls_per_run=10, window_s=1.0, backend=c, idle_w={"fake": 1.0})
    m = out["fake"]
    assert m["status"] == "measured"
    assert m["window_s"] >= 1.0
    assert m["busy_w"] == pytest.approx(3.0)
    assert m["idle_w"] == 1.0
    assert m["net_j"] == pytest.approx(m["busy_j"] - 1.0 * m["window_s"])
    assert m["net_j_per_call"] == pytest.approx(0.2)
    assert m["net_pj_per_input"] == pytest.approx(0.2 / 10 * 1e12)


def test_missing_counters_are_unavailable_never_zero(monkeypatch):
    monkeypatch.setattr(energy, "backends", lambda: {"rapl": "no readable RAPL energy_uj",
                                                     "nvml": "nvidia-ml-py is not installed"})
    out = energy.measure(lambda: None)
    assert set(out) == {"rapl", "nvml"}
    for v in out.values():
        assert v["status"] == "unavailable" and v["reason"]
        assert "net_j" not in v
    assert all(v.startswith("unavailable") for v in energy.availability().values())
    assert energy.idle_power() == {}


def test_rapl_reader_and_wraparound(tmp_path):
    d = tmp_path / "intel-rapl:0"
    d.mkdir()
    (d / "name").write_text("package-0\n")
    (d / "energy_uj").write_text("900\n")
    (d / "max_energy_range_uj").write_text("1000\n")
    sub = tmp_path / "intel-rapl:0:0"  # a sub-domain: not counted twice
    sub.mkdir()
    (sub / "energy_uj").write_text("5\n")
    (sub / "max_energy_range_uj").write_text("1000\n")
    r = energy._Rapl(str(tmp_path))
    assert [f[0] for f in r.files] == ["package-0"]
    assert r.read() == [900]
    assert math.isclose(r.joules([900], [100]), 200e-6)  # wrapped at 1000 µJ
    with pytest.raises(OSError):
        energy._Rapl(str(tmp_path / "none"))
