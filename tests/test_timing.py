"""kernels.harness.timing: the behaviour of the one timing method, driven by a fake clock (no
timing is asserted: every duration here is made up)."""

import itertools
import sys

import numba
import numpy as np
import pytest

from kernels.harness import sweep, timing


class FakeClock:
    """A clock that moves only when a fake kernel runs: each call takes the next duration."""

    def __init__(self, durations):
        self.t = 0.0
        self.durations = itertools.cycle(durations)
        self.calls = 0

    def __call__(self):
        return self.t

    def kernel(self, *args):
        self.calls += 1
        self.t += next(self.durations)


def test_spread_has_min_quartiles_median_max():
    sp = timing.spread([4.0, 1.0, 3.0, 2.0, 5.0])
    assert set(sp) == {"min", "q25", "median", "q75", "max", "samples"}
    assert (sp["min"], sp["median"], sp["max"], sp["samples"]) == (1.0, 3.0, 5.0, 5)
    assert sp["min"] <= sp["q25"] <= sp["median"] <= sp["q75"] <= sp["max"]


def test_noisy_flag_is_max_over_min_above_three():
    assert not timing.is_noisy(timing.spread([1.0, 2.0, 3.0]))
    assert timing.is_noisy(timing.spread([1.0, 2.0, 3.1]))
    assert timing.is_noisy(timing.spread([0.0, 1.0]))


def test_repeats_split_min_time_into_calibrated_short_samples():
    clock = FakeClock([1e-3])
    vals, loops = timing.samples(clock.kernel, min_time=0.1, repeats=5, sample_s=5e-3,
                                 clock=clock)
    assert loops == 8  # 1, 2, 4, 8 calls: the first loop lasting >= sample_s
    assert len(vals) == 5 and vals == pytest.approx([1e-3] * 5)
    assert clock.t >= 0.1  # at least min_time spent sampling
    slow = FakeClock([10.0])  # a call longer than a repeat: one call, one sample a repeat
    vals, loops = timing.samples(slow.kernel, min_time=0.1, repeats=3, clock=slow)
    assert loops == 1 and len(vals) == 3 and slow.calls == 1 + 3


def test_an_interrupted_sample_is_an_outlier_not_the_value():
    # calibration (1 call), then 5 repeats of >= 3 time units: 3 samples of 1 unit each, except
    # one sample of 10 (a lost time slice) inside the second repeat
    clock = FakeClock([1.0] + [1.0] * 3 + [1.0, 1.0, 10.0] + [1.0] * 9)
    sp = timing.time_batch(clock.kernel, 100, clock=clock, min_time=15.0, repeats=5,
                           sample_s=1e-9)
    assert sp["samples"] == 5 and sp["median"] == pytest.approx(0.01)
    assert sp["max"] == pytest.approx(0.01) and not timing.is_noisy(sp)


def test_a_slow_repeat_makes_the_cell_noisy():
    # the third repeat's first sample alone lasts longer than a repeat: its value is 10x
    clock = FakeClock([1.0] + [1.0] * 6 + [10.0] + [1.0] * 6)
    sp = timing.time_batch(clock.kernel, 100, clock=clock, min_time=15.0, repeats=5,
                           sample_s=1e-9)
    assert sp["min"] == pytest.approx(0.01) and sp["max"] == pytest.approx(0.1)
    assert sp["median"] == pytest.approx(0.01)
    assert timing.is_noisy(sp)


def test_a_batch_figure_is_one_call_on_the_whole_batch():
    # a path whose cost per input depends on the batch's width (a fixed cost per call): the
    # figure is the whole batch's, whatever a clock says
    clock = FakeClock([1e-6])  # a single call: 1 µs
    widths = []

    def predict(obj, X):
        widths.append(len(X))
        clock.t += 2.2e-3 + 1e-6 * len(X)

    row = timing.measure(predict, None, np.zeros((1000, 2)), clock=clock, min_time=0.05,
                         repeats=5, sample_s=1e-9, predict_one=lambda obj, x: clock.kernel())
    assert set(widths) == {1000} and row["timing"]["inputs_per_call"] == 1000
    assert row["batch_s_per_input"] == pytest.approx(3.2e-6)
    seen = []
    call = timing._cycle(seen.append, [0, 1, 2])
    for _ in range(4):
        call()
    assert seen == [0, 1, 2, 0]


def test_a_row_is_timed_after_a_warm_up_of_back_to_back_batch_calls():
    # a core that has just slept runs its first calls slow (here 5x for 15 calls): the warm-up
    # (4 x min_time) absorbs them, so the figure is the steady one
    def slow_start(clock):
        durations = iter([5e-3] * 15)

        def predict(obj, X):
            clock.t += next(durations, 1e-3)

        return predict

    clock = FakeClock([1e-6])
    row = timing.measure(slow_start(clock), None, np.zeros((10, 2)), clock=clock, min_time=0.02,
                         repeats=5, sample_s=1e-9, predict_one=lambda obj, x: clock.kernel())
    assert row["batch_s_per_input"] == pytest.approx(1e-4) and row["stable"]
    assert row["timing"]["warmup_calls"] == 14 + 10  # 70 ms slow, then 10 steady to 80 ms
    # the same calls timed with no warm-up: the figure is the slow start's
    clock = FakeClock([1e-6])
    predict = slow_start(clock)
    sp = timing.time_batch(lambda: predict(None, None), 10, clock=clock, min_time=0.02,
                           repeats=5, sample_s=1e-9)
    assert sp["median"] == pytest.approx(5e-4)
    assert timing.warmup_seconds(0.02) == pytest.approx(0.08)
    assert timing.warmup_seconds(0.05) == timing.warmup_seconds(5.0) == timing.WARMUP_MAX_S


def test_two_episodes_around_the_rows_other_work_pool_their_repeats(monkeypatch):
    # the host changes state while the row verifies: each episode agrees with itself, the
    # pooled repeats do not, so a third episode is taken; an episode that agrees with the
    # fastest makes the figure (a slow phase only slows), none agreeing flags it
    stable_measure = timing.stable_measure

    def run(calls):
        """``calls``: the duration of one batch call in each episode (the last one repeats)."""
        episode = [0]
        clock = FakeClock([1e-6])
        seen = []

        def predict(obj, X):
            clock.t += calls[min(episode[0], len(calls) - 1)]

        def counting(measure, recheck=None, **kw):
            out = stable_measure(measure, recheck, **kw)
            episode[0] += recheck is None  # the single-input figure ends an episode
            return out

        monkeypatch.setattr(timing, "stable_measure", counting)
        row = timing.measure(predict, None, np.zeros((10, 2)), clock=clock, min_time=0.04,
                             repeats=5, sample_s=1e-9, between=seen.append,
                             predict_one=lambda obj, x: clock.kernel())
        return row, seen

    # the host stays slow after the verification: the third episode agrees with the second only
    row, seen = run([1e-3, 2e-3])
    assert seen == [pytest.approx(1e-4)]  # called once, with the first episode's batch median
    assert row["timing"]["episodes"] == 3 and row["timing"]["min_time"] == 0.04
    assert row["stable"] is False and "episodes disagree" in row["stability"]["reason"]
    eps = row["stability"]["batch"]["episodes"]
    assert [e["stable"] for e in eps] == [True] * 3 and all(e["kept"] for e in eps)
    assert row["batch_spread"]["min"] == pytest.approx(1e-4)
    assert row["batch_spread"]["max"] == pytest.approx(2e-4)
    # a slow phase during the second episode only: the third agrees with the first
    row, _ = run([1e-3, 2e-3, 1.05e-3])
    assert row["stable"] and row["timing"]["episodes"] == 3
    assert [e["kept"] for e in row["stability"]["batch"]["episodes"]] == [True, False, True]
    assert row["batch_spread"]["max"] == pytest.approx(1.05e-4)
    # a slow first episode: the second and third agree, the fastest among them
    row, _ = run([2e-3, 1e-3])
    assert row["stable"] and row["batch_s_per_input"] == pytest.approx(1e-4)
    assert [e["kept"] for e in row["stability"]["batch"]["episodes"]] == [False, True, True]
    # an unchanged host: two episodes pool to stable
    row, _ = run([1e-3])
    assert row["stable"] and row["batch_s_per_input"] == pytest.approx(1e-4)
    assert row["timing"]["episodes"] == 2


def test_a_sweep_warms_up_before_the_first_executor_of_a_group_only(tmp_path):
    grid = {"blocks": [{"constructions": ["switch-net"], "n": [32], "p": [2]}],
            "min_time": 0.002, "time_inputs": 16, "eval_seconds": 0.2, "energy": "off"}
    rows = sweep.run(grid, str(tmp_path / "r.json"), progress=False)["rows"]
    timed = [r for r in rows if r["status"] == "ok" and r.get("timing")]
    assert sorted(r["executor"] for r in timed) == ["active", "dense"]
    later, first = sorted(r["timing"]["warmup_calls"] for r in timed)
    assert first > 1 and later == 1  # 8 ms of back-to-back calls; then only the one first call


def test_single_latency_cycles_through_the_rows():
    seen = []
    clock = FakeClock([1e-6])
    rows = [np.array([i]) for i in range(3)]
    sp = timing.time_single(lambda x: (seen.append(int(x[0])), clock.kernel()), rows,
                            clock=clock, min_time=1e-5, repeats=2, sample_s=1e-9)
    assert sp["median"] == pytest.approx(1e-6)
    assert seen[:7] == [0, 1, 2, 0, 1, 2, 0]


def _sp(values):
    return timing.spread(values)


def test_disagreeing_repeats_are_remeasured_then_stable():
    attempts = iter([_sp([1.0, 1.0, 2.0]), _sp([1.0, 1.1, 1.2]), _sp([5.0] * 3)])
    sp, check = timing.stable_measure(lambda: next(attempts), retries=2)
    assert sp["max"] == pytest.approx(1.2) and check["stable"] and check["remeasured"] == 1
    assert check["reason"] is None and check["repeat_ratio"] == pytest.approx(1.2)


def test_repeats_that_never_agree_are_unstable_and_keep_their_spread():
    calls = []

    def measure():
        calls.append(1)
        return _sp([1.0, 3.0 - 0.1 * len(calls)])

    sp, check = timing.stable_measure(measure, retries=2)
    assert len(calls) == 3 and check["remeasured"] == 2
    assert not check["stable"] and check["reason"] == "repeats disagree"
    assert sp["min"] == 1.0 and sp["max"] > 1.3  # the spread is kept, not smoothed away


def test_a_uniformly_slow_figure_is_caught_by_the_whole_batch_retiming():
    # every repeat agrees (a steady bad path), but one call on the whole batch is 30x faster
    sp, check = timing.stable_measure(lambda: _sp([30.0, 30.5, 31.0]), lambda: 1.0, retries=2)
    assert check["remeasured"] == 2 and not check["stable"] and check["suspect"]
    assert check["reason"] == "slow against a whole-batch call" and check["direct_s"] == 1.0


def test_a_slow_first_attempt_remeasured_to_agreement_is_stable():
    attempts = iter([_sp([10.0, 10.0]), _sp([1.1, 1.2])])
    sp, check = timing.stable_measure(lambda: next(attempts), lambda: 1.0)
    assert check["stable"] and check["remeasured"] == 1 and sp["median"] == pytest.approx(1.15)


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """Rule (d) reads the real run queue; these tests give it a free machine unless they say."""
    monkeypatch.setattr(timing, "runnable_others", lambda: 0)


def test_a_figure_measured_while_every_core_was_busy_is_unstable():
    # repeats agree and the whole-batch call agrees, but two other tasks wanted the 2 cores
    # before and after every attempt: measured again, then published as unstable
    calls = []

    def measure():
        calls.append(1)
        return _sp([1.0, 1.05, 1.1])

    cores = timing.cores()
    sp, check = timing.stable_measure(measure, lambda: 1.0, retries=2, load=lambda: cores)
    assert len(calls) == 3 and not check["stable"] and check["reason"] == "machine busy"
    assert check["load"] == {"others_runnable": [cores, cores], "cores": cores, "busy": True}
    # one reading of a free machine (the other tasks ended during the attempt) is enough
    readings = iter([cores, 0])
    sp, check = timing.stable_measure(measure, lambda: 1.0, load=lambda: next(readings))
    assert check["stable"] and check["remeasured"] == 0 and check["reason"] is None
    # a platform that does not say passes rule (d)
    sp, check = timing.stable_measure(measure, lambda: 1.0, load=lambda: None)
    assert check["stable"] and check["load"]["busy"] is False


def test_the_run_queue_reading_is_a_count_on_linux(monkeypatch):
    monkeypatch.undo()  # the real reading
    k = timing.runnable_others()
    if sys.platform.startswith("linux"):
        assert isinstance(k, int) and k >= 0
    else:
        assert k is None


def test_the_stability_rule_with_a_fake_clock_through_measure():
    # the kernel takes 1 unit per row on the whole batch, but 30 units per row in small calls
    # (a chunk running another path, or a fixed cost per call): the chunks grow to the whole
    # batch, so the figure is the whole batch's, and stable
    clock = FakeClock([0.0])

    def predict(obj, X):
        clock.t += len(X) * (1.0 if len(X) == 1000 else 30.0)

    Xt = np.zeros((1000, 2))
    row = timing.measure(predict, None, Xt, clock=clock, min_time=1e5, repeats=3, sample_s=1e-9)
    assert row["timing"]["inputs_per_call"] == 1000
    assert row["batch_s_per_input"] == pytest.approx(1.0)
    assert row["stable"] is True and row["stability"]["reason"] is None
    steady = FakeClock([0.0])

    def same_path(obj, X):
        steady.t += len(X) * 1.0

    row = timing.measure(same_path, None, Xt, clock=steady, min_time=1e5, repeats=3,
                         sample_s=1e-9)
    assert row["stable"] is True and row["stability"]["reason"] is None


def test_a_cell_slow_against_both_neighbours_is_unstable():
    def row(n, ns):
        return {"status": "ok", "construction": "c", "executor": "e", "p": 8, "dtype": "f",
                "n": n, "ns_per_op": ns, "stable": True}

    rows = [row(64, 1.0), row(256, 5.0), row(1024, 1.5), row(4096, 1.2)]
    changed = timing.neighbour_check(rows)
    assert changed == [rows[1]] and rows[1]["stable"] is False
    assert rows[1]["stability"]["reason"] == "slow against its neighbours"
    assert all(r["stable"] for r in rows if r is not rows[1])
    growing = [row(64, 1.0), row(256, 2.5), row(1024, 6.0)]  # a trend, not an outlier
    assert timing.neighbour_check(growing) == []


def test_fixed_threads_sets_and_restores_numba_threads():
    before = numba.get_num_threads()
    with timing.fixed_threads(1) as t:
        assert t == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), timing.fixed_threads(1):
        raise RuntimeError("restored even on error")
    assert numba.get_num_threads() == before
    for bad in (0, timing.max_threads() + 1):
        with pytest.raises(ValueError, match="threads must be in"):
            timing.check_threads(bad)


def test_measure_records_threads_spreads_and_check():
    threads_seen = []

    def predict(obj, X):
        threads_seen.append(numba.get_num_threads())
        return X[:, :1] * obj

    Xt = timing.prepare(np.arange(40.0).reshape(10, 4), np.float32, k=6, seed=1)
    assert Xt.dtype == np.float32 and Xt.flags.c_contiguous and Xt.shape == (6, 4)
    row = timing.measure(predict, 2.0, Xt, threads=1, min_time=1e-3, repeats=2)
    assert row["threads"] == 1 and set(threads_seen) == {1} and row["timed_inputs"] == 6
    for key in ("batch_spread", "single_spread"):
        assert {"min", "median", "max", "samples"} <= set(row[key])
    assert row["batch_s_per_input"] == row["batch_spread"]["median"]
    assert row["single_s"] == row["single_spread"]["median"]
    assert isinstance(row["noisy"], bool) and isinstance(row["stable"], bool)
    assert {"remeasured", "suspect", "direct_s", "batch_loops"} <= set(row["timing"])
    assert {"batch", "single", "reason"} <= set(row["stability"])
    assert row["timing"]["single_call"] == "predict"


def test_ns_per_op():
    assert timing.ns_per_op(2e-8, 4.0) == pytest.approx(5.0)
    assert timing.ns_per_op(2e-8, 0) is None
