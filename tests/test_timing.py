"""kernels.harness.timing: the behaviour of the one timing method, driven by a fake clock (no
timing is asserted: every duration here is made up)."""

import itertools

import numba
import numpy as np
import pytest

from kernels.harness import timing


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


def test_a_slow_batch_is_timed_in_chunks_covering_every_input():
    X = np.arange(2000.0).reshape(1000, 2)
    fast = FakeClock([timing.BATCH_S / 2])
    assert [len(c) for c in timing.chunks(fast.kernel, X, clock=fast)] == [1000]
    slow = FakeClock([timing.BATCH_S * 10])
    parts = timing.chunks(slow.kernel, X, clock=slow)
    assert [len(c) for c in parts] == [100] * 10
    np.testing.assert_array_equal(np.concatenate(parts), X)
    slower = FakeClock([timing.BATCH_S * 1000])
    assert {len(c) for c in timing.chunks(slower.kernel, X, clock=slower)} == {timing.MIN_BATCH}
    seen = []
    call = timing._cycle(seen.append, parts)
    for _ in range(11):
        call()
    assert [int(c[0, 0]) for c in seen] == [200 * i for i in range(10)] + [0]


def test_single_latency_cycles_through_the_rows():
    seen = []
    clock = FakeClock([1e-6])
    rows = [np.array([i]) for i in range(3)]
    sp = timing.time_single(lambda x: (seen.append(int(x[0])), clock.kernel()), rows,
                            clock=clock, min_time=1e-5, repeats=2, sample_s=1e-9)
    assert sp["median"] == pytest.approx(1e-6)
    assert seen[:7] == [0, 1, 2, 0, 1, 2, 0]


def test_far_above_a_direct_retiming_is_remeasured_then_kept():
    med = iter([10.0, 1.5, 99.0])
    sp, check = timing.checked(lambda: {"median": next(med)}, lambda: 1.0, retries=2)
    assert sp["median"] == 1.5 and check == {"direct_s": 1.0, "remeasured": 1,
                                             "suspect": False}


def test_remeasuring_is_bounded_and_flags_suspect():
    calls = []

    def measure():
        calls.append(1)
        return {"median": 10.0 - len(calls)}  # 9, 8, 7: never within 2x of 1.0

    sp, check = timing.checked(measure, lambda: 1.0, retries=2)
    assert len(calls) == 3 and check["remeasured"] == 2 and check["suspect"]
    assert sp["median"] == 7.0  # the closest attempt


def test_within_ratio_is_published_at_once():
    sp, check = timing.checked(lambda: {"median": 1.9}, lambda: 1.0)
    assert check["remeasured"] == 0 and not check["suspect"]


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
    assert isinstance(row["noisy"], bool)
    assert {"remeasured", "suspect", "direct_s", "batch_loops"} <= set(row["timing"])
    assert row["timing"]["single_call"] == "predict"


def test_ns_per_op():
    assert timing.ns_per_op(2e-8, 4.0) == pytest.approx(5.0)
    assert timing.ns_per_op(2e-8, 0) is None
