"""The one timing method of memcap: ``memcap sweep``, the asv suite (bench/) and ``memcap compare``
all time a kernel this way.

1. **Prepared outside the timed region**: the inputs are converted once to the executor's dtype,
   C-contiguous (:func:`prepare`), the single-input rows sliced once, and the kernel called once on
   the whole batch and on one row before any clock runs (compilation, and the first touch of every
   code path the batch takes: a parallel kernel compiles apart from the serial one).
2. **A fixed thread count** (:func:`fixed_threads`, default 1): Numba's thread count (the tree
   executors choose their parallel path from it) and the BLAS pools are set for the timed calls and
   restored after; the count is recorded in every result.  Timing with all threads on a shared
   machine measured the scheduler, not the kernel: on 2 cores with the other one busy, every
   parallel region ends at a barrier that waits a time slice (milliseconds) for the thread parked
   on the busy core — axis-tree's 14 ns per input read as 5-8 µs.
3. **Repeats until a minimum time**, in short samples: ``min_time`` is split into ``repeats``
   repeats; each takes samples of a loop calibrated to about ``sample_s`` (0.5 ms) and its value
   is their median, so a sample the scheduler interrupted (a time slice lost to another process
   is milliseconds) is an outlier, not the value.  A batch call longer than :data:`BATCH_S` is split
   into chunks that the timed calls cycle through (:func:`chunks`) for the same reason.
4. **The spread is kept**: min, quartiles, median and max of the repeats (:func:`spread`);
   results publish the median.  Repeats further apart than :data:`NOISY_RATIO` (max/min) flag
   the cell ``noisy``.
5. **Self-check** (:func:`checked`): a batch median far above (:data:`SUSPECT_RATIO`) a direct
   re-timing of the same kernel (the best of a few back-to-back calls) is re-measured, at most
   ``retries`` times; how often is recorded, and a cell that never agrees is flagged ``suspect``.

Every function takes a ``clock`` (default ``time.perf_counter``) so tests can drive it with a fake.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from kernels.executors import numba_threads

NOISY_RATIO = 3.0  # max/min of the repeats above this: the cell is flagged noisy
SUSPECT_RATIO = 2.0  # batch median above this × a direct re-timing: re-measured
DEFAULTS = {"min_time": 0.05, "repeats": 5, "sample_s": 5e-4, "retries": 2}
BATCH_S = 1e-3  # a timed batch call is cut to about this long (at least MIN_BATCH inputs)
MIN_BATCH = 16
QUANTILES = {"min": 0.0, "q25": 0.25, "median": 0.5, "q75": 0.75, "max": 1.0}


def max_threads() -> int:
    """The most threads a timed call may use (Numba's NUMBA_NUM_THREADS)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def check_threads(threads: int) -> int:
    """``threads`` as an int in 1..:func:`max_threads`; ValueError otherwise."""
    t = int(threads)
    if not 1 <= t <= max_threads():
        raise ValueError(f"threads must be in 1..{max_threads()} (NUMBA_NUM_THREADS); got {t}")
    return t


@contextlib.contextmanager
def fixed_threads(threads: int = 1):
    """Numba's thread count and the BLAS/OpenMP pools (threadpoolctl, when installed) set to
    ``threads`` inside the block, restored after."""
    t = check_threads(threads)
    limiter = contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=t)
    except ImportError:  # no BLAS control: Numba's count is still fixed
        pass
    with numba_threads(t), limiter:
        yield t


def prepare(X, dtype, k: int | None = None, seed: int = 0) -> np.ndarray:
    """The timed batch: ``k`` rows of ``X`` (a seeded sample, in order; all when k is None or
    ≥ len(X)) as a C-contiguous array of ``dtype``."""
    n = len(X)
    if k is not None and k < n:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
        X = X[idx]
    return np.ascontiguousarray(X, dtype=dtype)


def spread(values) -> dict:
    """min, q25, median, q75, max (and ``samples``) of ``values``."""
    v = np.asarray(values, dtype=float)
    out = {k: float(np.quantile(v, q)) for k, q in QUANTILES.items()}
    out["samples"] = int(v.size)
    return out


def is_noisy(sp: dict, ratio: float = NOISY_RATIO) -> bool:
    """True when the spread is wide: max / min > ``ratio`` (or min is 0)."""
    return sp["min"] <= 0 or sp["max"] / sp["min"] > ratio


def calibrate(fn, target: float, clock=time.perf_counter, max_loops: int = 1 << 24) -> int:
    """Calls per sample so that one sample lasts at least ``target`` seconds (doubling)."""
    loops = 1
    while loops < max_loops:
        t0 = clock()
        for _ in range(loops):
            fn()
        if clock() - t0 >= target:
            break
        loops *= 2
    return loops


def samples(fn, *, min_time: float = DEFAULTS["min_time"], repeats: int = DEFAULTS["repeats"],
            sample_s: float = DEFAULTS["sample_s"],
            clock=time.perf_counter) -> tuple[list[float], int]:
    """(value of each repeat, calls per sample).  ``repeats`` repeats of ``min_time / repeats``
    seconds each; a repeat takes short samples (a loop of ``fn`` calibrated to about
    ``sample_s``) and its value is their median, in seconds per call: a sample the scheduler
    interrupted is an outlier of its repeat, not its value.  A call longer than a repeat is one
    sample."""
    loops = calibrate(fn, sample_s, clock)
    out = []
    for _ in range(repeats):
        vals = []
        start = clock()
        while not vals or clock() - start < min_time / repeats:
            t0 = clock()
            for _ in range(loops):
                fn()
            vals.append((clock() - t0) / loops)
        out.append(float(np.median(vals)))
    return out, loops


def time_batch(fn, k: int, clock=time.perf_counter, **opts) -> dict:
    """Spread of the seconds per input of ``fn`` (one call recalls a batch of ``k`` inputs), with
    ``loops`` (calls per sample)."""
    vals, loops = samples(fn, clock=clock, **opts)
    return {**spread([v / k for v in vals]), "loops": loops}


def _cycle(call, items):
    """A function of no argument calling ``call`` on the next of ``items`` each time."""
    it = {"i": 0}
    m = len(items)

    def one():
        i = it["i"]
        call(items[i])
        it["i"] = i + 1 if i + 1 < m else 0

    return one


def time_single(fn_one, rows, clock=time.perf_counter, **opts) -> dict:
    """Spread of the latency of one single-input call ``fn_one(row)``; each call of a sample takes
    the next of the pre-sliced ``rows`` (so the sample visits different inputs)."""
    vals, loops = samples(_cycle(fn_one, rows), clock=clock, **opts)
    return {**spread(vals), "loops": loops}


def direct(fn, k: int, calls: int = 5, clock=time.perf_counter) -> float:
    """A direct re-timing: the best of ``calls`` back-to-back calls, seconds per input."""
    best = float("inf")
    for _ in range(calls):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best / k


def checked(measure, recheck, *, retries: int = DEFAULTS["retries"],
            ratio: float = SUSPECT_RATIO) -> tuple[dict, dict]:
    """(spread, check): ``measure()`` (a spread) re-measured while its median is above ``ratio``
    × ``recheck()`` (a direct re-timing, s per input), at most ``retries`` times.  ``check``
    records ``direct_s`` (the last re-timing), ``remeasured`` (how many times) and ``suspect``
    (the median never came within ``ratio``: the closest attempt is kept)."""
    best, tries = None, 0
    while True:
        sp = measure()
        ref = recheck()
        if best is None or sp["median"] / ref < best[0]["median"] / best[1]:
            best = (sp, ref)
        if sp["median"] <= ratio * ref or tries >= retries:
            break
        tries += 1
    sp, ref = best
    return sp, {"direct_s": ref, "remeasured": tries,
                "suspect": bool(sp["median"] > ratio * ref)}


def measure(predict, obj, Xt: np.ndarray, *, threads: int = 1, predict_one=None,
            clock=time.perf_counter, **opts) -> dict:
    """The timing fields of a row: ``predict(obj, X)`` over the prepared batch ``Xt``, and the
    single-input latency of ``predict_one(obj, x)`` (an executor's one-input path; else
    ``predict`` on one-row batches), with ``threads`` threads.  Keys: ``threads``,
    ``timed_inputs``, ``batch_s_per_input`` and
    ``single_s`` (medians), ``batch_spread``, ``single_spread``, ``noisy``, ``timing`` (calls per
    sample, the re-timing check)."""
    retries = opts.pop("retries", DEFAULTS["retries"])
    one = predict_one or predict
    rows = [Xt[i] if predict_one else Xt[i:i + 1] for i in range(min(len(Xt), 256))]
    with fixed_threads(threads) as t:
        predict(obj, Xt)  # compile / first touch of every path the timed calls take
        one(obj, rows[0])
        parts = chunks(lambda X: predict(obj, X), Xt, clock)
        k = len(parts[0])
        batch = _cycle(lambda X: predict(obj, X), parts)
        sp, check = checked(lambda: time_batch(batch, k, clock=clock, **opts),
                            lambda: direct(batch, k, clock=clock), retries=retries)
        single = time_single(lambda x: one(obj, x), rows, clock=clock, **opts)
    return {"threads": t, "timed_inputs": k * len(parts), "batch_s_per_input": sp["median"],
            "single_s": single["median"],
            "batch_spread": _strip(sp), "single_spread": _strip(single),
            "noisy": is_noisy(sp) or is_noisy(single),
            "timing": {"batch_loops": sp["loops"], "single_loops": single["loops"],
                       "inputs_per_call": k,
                       "min_time": opts.get("min_time", DEFAULTS["min_time"]),
                       "single_call": "predict_one" if predict_one else "predict", **check}}


def chunks(call, Xt: np.ndarray, clock=time.perf_counter) -> list[np.ndarray]:
    """``Xt`` in equal chunks that ``call`` recalls in about :data:`BATCH_S` each (one chunk, all
    of ``Xt``, when it is that fast; at least :data:`MIN_BATCH` rows), from one timed call.  The
    timed calls cycle through the chunks, so every input is visited, as in one call on the whole
    batch (repeating one small chunk would keep its weights in cache and flatter the kernel)."""
    t0 = clock()
    call(Xt)
    el = clock() - t0
    if el <= BATCH_S or len(Xt) <= MIN_BATCH:
        return [Xt]
    k = max(MIN_BATCH, int(len(Xt) * BATCH_S / el))
    return [Xt[i:i + k] for i in range(0, len(Xt) - k + 1, k)]


def _strip(sp: dict) -> dict:
    return {k: sp[k] for k in (*QUANTILES, "samples")}


def ns_per_op(batch_s_per_input: float, ops_mean: float) -> float | None:
    """Batch time per input ÷ mean counted operations per input, in ns (None without ops)."""
    if not ops_mean or ops_mean <= 0:
        return None
    return float(batch_s_per_input) * 1e9 / float(ops_mean)
