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
3. **Warmed up first** (:func:`warm_up`): the batch call runs back to back for ``WARMUP_RATIO``
   × ``min_time`` (at most :data:`WARMUP_MAX_S`) before any figure is taken.  On this machine (a
   virtual one) a thread that has just slept — the sweep's journal ``fsync`` between groups, a
   process just forked — runs its next 50-150 ms up to 1.35× slower: random-sparse ``active``
   (n = 256, sparsity 0.9), 50 ms window medians after a 0.5 s sleep read 3.22, 3.45, then
   2.51-2.57 µs per input, steady; back-to-back windows with no sleep stayed within 1 % for 4 s.
   A 50 ms figure taken inside that window agreed with itself (its repeats all ran there) and
   differed 1.21-1.26× from another run's, quartiles apart: ``memcap diff`` of two runs of one
   commit called it a change.  The sweep warms up once per group, before its first executor:
   the executors of one build are timed back to back, the thread busy verifying in between.
4. **Repeats until a minimum time**, in short samples: ``min_time`` is split into ``repeats``
   repeats; each takes samples of a loop calibrated to about ``sample_s`` (0.5 ms) and its value
   is their median, so a sample the scheduler interrupted (a time slice lost to another process
   is milliseconds) is an outlier, not the value.  **A batch figure is always one call on the
   whole timed batch** (``timed_inputs`` rows): the time per input of a batched path depends on
   the batch's width, so a width that came from a clock made the figure depend on the clock.
   Chunks sized to about 1 ms by a timed call once cut the batch: under load the chunks shrank
   to 38 rows where an idle machine made 128, and ``active`` sends batches under 64 rows one
   input at a time — random-sparse ``active`` (sparsity 0, n = 1,024, p = 32) read 290 µs per
   input for its 7.7 µs batched path, the 38-59× swing; ``active``'s batched path walks every
   neuron's weight list once per tile, so rajput (n = 4,096) read 73 µs per input in 43-row
   chunks against 23 µs on its 989 rows, flagged in 20 of 20 fresh processes; and switch-net
   ``dense`` (n = 1,024) read 13.5-18.8 µs per input in six processes whose chunks were 140-51
   rows, 1.33× between two runs that each called themselves stable.  A call longer than a
   repeat is one sample, and the repeats' median still sets a lost time slice aside.
5. **Two episodes**: where the caller has other work for the row (the sweep verifies the
   executor's outputs and counts), the figures are taken twice, before and after it, and each
   figure pools the repeats of both (:func:`measure`, ``between``); each episode takes half of
   ``min_time``, so a row costs what one episode did.  On this machine a
   figure's 5 repeats, 50 ms back to back, can share one state: random-sparse ``active``
   (n = 256, p = 8, sparsity 0.9) read 3.79, 2.97 and 3.49 µs per input in three sweeps, each
   with quartiles within 3 %, and a neighbouring cell of the same network moved the other way
   in the same run.  A state of the host that lasts a few hundred ms shows in the spread of
   two episodes apart by the verification.  Where the two disagree (rule (a) over both), a
   third is taken at once, and the figure pools the fastest episode with one that agrees with
   it (:func:`pool`): the host's slow phases (0.4-1.5 s, 1.2-1.7x, on every kernel at once)
   only ever slow a figure, so the slower episode that agrees with nothing is the phase; with
   none agreeing, all are pooled and the figure is unstable.  One that lasts the whole build
   does not show at all: where a
   build's arrays lie in memory sets some figures for good (the one-input latency of
   random-sparse ``active``, sparsity 0, n = 1,024, read 127-150 µs on eight builds of one
   network in one process, each steady to 2-5 %), and both episodes run on the same
   placement.
6. **The spread is kept**: min, quartiles, median and max of the repeats (:func:`spread`);
   results publish the median.  Repeats further apart than :data:`NOISY_RATIO` (max/min) flag
   the cell ``noisy`` (kept for older readers; ``stable`` is the verdict).
7. **The stability rule** (:func:`stable_measure`; every timed figure, batch and single):
   a figure is *stable* when
   (a) its independent repeats agree: max/min of the repeat medians ≤ :data:`AGREE_RATIO`,
       within each episode and over both; and
   (b) it is not uniformly slow: the batch median is at most :data:`CROSS_RATIO` × a direct
       re-timing of the *whole* batch in one call (the best of a few calls, :func:`direct`) — a
       cell whose every repeat ran on a bad path (a chunk routed differently from the batch, a
       parallel region waiting on a busy core) agrees with itself and fails here.
   (d) the machine was free while it ran: fewer other runnable threads than cores (the
       kernel's run queue, :func:`runnable_others`), read before and after each attempt.  Two
       processes spinning on this 2-core machine slowed rajput ``active`` 3.2× and random
       sparse ``active`` up to 1.7× (the medians of its short samples, too: the other tasks
       share the cores' caches and the host's), uniformly, so that (a) and (b) passed for
       some; a figure measured while every core was wanted by another task is not published as
       stable.
   A figure that breaks (a), (b) or (d) is measured again from scratch (chunks and loops calibrated
   anew), at most ``retries`` times; the attempt with the lowest median is kept, with its
   spread, and the row says ``stable: false`` with the ``reason``.  After a sweep, (c) a cell
   whose ns/op is above :data:`NEIGHBOUR_RATIO` × both neighbours' in its series (the same
   construction, executor, p, dtype, sparsity over n) is also ``stable: false``
   (:func:`neighbour_check`): the whole cell ran slow.  Unstable cells are never cached as
   stable: the next report that reuses the cache measures them again (a fresh process).
   Skipped or failed rows carry ``stable: null``.

Every function takes a ``clock`` (default ``time.perf_counter``) so tests can drive it with a fake.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from kernels.executors import numba_threads

NOISY_RATIO = 3.0  # max/min of the repeats above this: the cell is flagged noisy
AGREE_RATIO = 1.3  # (a) max/min of the repeat medians of a stable figure
CROSS_RATIO = 1.5  # (b) batch median above this × the best whole-batch call: uniformly slow
SUSPECT_RATIO = CROSS_RATIO  # the name older results and the report's timing section use
NEIGHBOUR_RATIO = 2.0  # (c) ns/op above this × both neighbours in the series: slow cell
DEFAULTS = {"min_time": 0.05, "repeats": 5, "sample_s": 5e-4, "retries": 2}
WARMUP_RATIO = 4.0  # the warm-up lasts this many × min_time (item 3)...
WARMUP_MAX_S = 0.2  # ...and at most this long
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


def warm_up(fn, seconds: float, clock=time.perf_counter) -> int:
    """Call ``fn`` back to back for ``seconds`` (at least once), so that the figures after it are
    taken on a core that has been running (item 3); returns the number of calls."""
    calls, start = 0, clock()
    while calls == 0 or clock() - start < seconds:
        fn()
        calls += 1
    return calls


def warmup_seconds(min_time: float) -> float:
    """The warm-up before a row's figures: ``WARMUP_RATIO`` × ``min_time``, at most
    ``WARMUP_MAX_S``."""
    return min(WARMUP_RATIO * min_time, WARMUP_MAX_S)


def time_batch(fn, k: int, clock=time.perf_counter, **opts) -> dict:
    """Spread of the seconds per input of ``fn`` (one call recalls a batch of ``k`` inputs), with
    ``loops`` (calls per sample)."""
    vals, loops = samples(fn, clock=clock, **opts)
    per_input = [v / k for v in vals]
    return {**spread(per_input), "values": per_input, "loops": loops}


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
    return {**spread(vals), "values": vals, "loops": loops}


def direct(fn, k: int, calls: int = 3, clock=time.perf_counter, budget_s: float = 0.3) -> float:
    """A direct re-timing: the best of up to ``calls`` back-to-back calls (fewer once they have
    taken ``budget_s``), seconds per input."""
    best, spent = float("inf"), 0.0
    for _ in range(calls):
        t0 = clock()
        fn()
        el = clock() - t0
        best, spent = min(best, el), spent + el
        if spent >= budget_s:
            break
    return best / k


def runnable_others() -> int | None:
    """Threads other than this one that the kernel's run queue holds now (``procs_running`` of
    /proc/stat, minus this one), whatever their priority: a task niced to 10 still shares the
    caches and the memory bus (three ``nice -n 10`` test runs slowed switch-net ``dense`` at n =
    4,096 2.7×).  None where the platform does not say (rule (d) then passes)."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"procs_running"):
                    return max(0, int(line.split()[1]) - 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def busy(load=None) -> dict:
    """One reading of rule (d): ``{"others": k, "cores": c, "busy": k ≥ c}`` (``busy`` False
    where ``load()`` is None; ``load`` defaults to :func:`runnable_others`)."""
    k, c = (load or runnable_others)(), cores()
    return {"others": k, "cores": c, "busy": k is not None and k >= c}


def agree(sp: dict, ratio: float = AGREE_RATIO) -> bool:
    """Rule (a): the repeats agree, max / min ≤ ``ratio`` (min > 0)."""
    return sp["min"] > 0 and sp["max"] / sp["min"] <= ratio


def stable_measure(measure, recheck=None, *, retries: int = DEFAULTS["retries"],
                   agree_ratio: float = AGREE_RATIO, cross_ratio: float = CROSS_RATIO,
                   load=None) -> tuple[dict, dict]:
    """(spread, check) by the stability rule (module docstring, (a), (b) and (d)):
    ``measure()`` (a spread, measured from scratch each call) is repeated while its repeats
    disagree, its median is above ``cross_ratio`` × ``recheck()`` (a whole-batch re-timing, s
    per input; None: no rule (b)), or ``load()`` (other runnable tasks; :func:`busy`) said the
    cores were all wanted both before and after it, at most ``retries`` times.  The first
    stable attempt is kept, else the one with the lowest median.  ``check``: ``stable``,
    ``reason`` (None, "repeats disagree", "slow against a whole-batch call" or "machine busy"),
    ``remeasured``, ``repeat_ratio`` (its max/min), ``direct_s`` (the re-timing), ``suspect``
    (rule (b) failed) and ``load`` (the readings of rule (d) around the kept attempt)."""
    best, tries = None, 0
    while True:
        before = busy(load)
        sp = measure()
        ref = recheck() if recheck is not None else None
        after = busy(load)
        ok_a = agree(sp, agree_ratio)
        ok_b = ref is None or sp["median"] <= cross_ratio * ref
        ok_d = not (before["busy"] and after["busy"])
        ok = ok_a and ok_b and ok_d
        if best is None or ok or sp["median"] < best[0]["median"]:
            best = (sp, ref, ok_a, ok_b, ok_d, [before["others"], after["others"]])
        if ok or tries >= retries:
            break
        tries += 1
    sp, ref, ok_a, ok_b, ok_d, others = best
    reason = None
    if not ok_b:
        reason = "slow against a whole-batch call"
    elif not ok_d:
        reason = "machine busy"
    elif not ok_a:
        reason = "repeats disagree"
    check = {"stable": bool(ok_a and ok_b and ok_d), "reason": reason, "remeasured": tries,
             "repeat_ratio": float(sp["max"] / sp["min"]) if sp["min"] > 0 else None,
             "suspect": not ok_b,
             "load": {"others_runnable": others, "cores": cores(), "busy": not ok_d}}
    if recheck is not None:
        check["direct_s"] = ref
    return sp, check


def measure(predict, obj, Xt: np.ndarray, *, threads: int = 1, predict_one=None,
            clock=time.perf_counter, load=None, between=None, warmup: bool = True,
            **opts) -> dict:
    """The timing fields of a row: ``predict(obj, X)`` over the prepared batch ``Xt``, and the
    single-input latency of ``predict_one(obj, x)`` (an executor's one-input path; else
    ``predict`` on one-row batches), with ``threads`` threads.  ``between`` (optional): the
    row's other work, called with the first episode's batch median (s per input) between two
    timing episodes whose repeats each figure then pools (module docstring, item 5), each
    episode taking half of ``min_time``.  ``warmup``: False where the caller has kept this
    thread busy up to the call (item 3; a single back-to-back call still runs).  Keys:
    ``threads``, ``timed_inputs``, ``batch_s_per_input`` and ``single_s`` (medians),
    ``batch_spread``, ``single_spread``, ``noisy``, ``stable``, ``stability`` and ``timing``
    (calls per sample, the re-timing check, ``episodes``)."""
    retries = opts.pop("retries", DEFAULTS["retries"])
    one = predict_one or predict
    rows = [Xt[i] if predict_one else Xt[i:i + 1] for i in range(min(len(Xt), 256))]
    k_all = len(Xt)

    min_time = opts.pop("min_time", DEFAULTS["min_time"])
    # two episodes share min_time (item 5): the row costs what one episode did
    each = {**opts, "min_time": min_time / 2 if between is not None else min_time}

    def batch_spread():  # loops calibrated anew on every attempt
        sp = time_batch(lambda: predict(obj, Xt), k_all, clock=clock, **each)
        return {**sp, "inputs_per_call": k_all, "timed_inputs": k_all}

    def episode():
        sp, check = stable_measure(batch_spread, lambda: direct(lambda: predict(obj, Xt), k_all,
                                                                clock=clock),
                                   retries=retries, load=load)
        single, check1 = stable_measure(
            lambda: time_single(lambda x: one(obj, x), rows, clock=clock, **each),
            retries=retries, load=load)
        return sp, check, single, check1

    with fixed_threads(threads) as t:
        predict(obj, Xt)  # compile / first touch of every path the timed calls take
        one(obj, rows[0])
        warm = warm_up(lambda: predict(obj, Xt),
                       warmup_seconds(min_time) if warmup else 0.0, clock)
        taken = [episode()]
        if between is not None:
            between(taken[0][0]["median"])
            taken.append(episode())
            if not all(episodes_agree([e[f:f + 2] for e in taken]) for f in (0, 2)):
                taken.append(episode())  # a third: does one agree with the fastest? (pool)
            sp, check = pool([e[0:2] for e in taken])
            single, check1 = pool([e[2:4] for e in taken])
        else:
            sp, check, single, check1 = taken[0]
    stable = check["stable"] and check1["stable"]
    reasons = [f"batch: {check['reason']}"] * (not check["stable"]) + [
        f"single: {check1['reason']}"] * (not check1["stable"])
    return {"threads": t, "timed_inputs": sp["timed_inputs"], "batch_s_per_input": sp["median"],
            "single_s": single["median"],
            "batch_spread": _strip(sp), "single_spread": _strip(single),
            "noisy": is_noisy(sp) or is_noisy(single), "stable": stable,
            "stability": {"batch": check, "single": check1,
                          "reason": "; ".join(reasons) or None},
            "timing": {"batch_loops": sp["loops"], "single_loops": single["loops"],
                       "inputs_per_call": sp["inputs_per_call"],
                       "min_time": min_time,
                       "single_call": "predict_one" if predict_one else "predict",
                       "direct_s": check["direct_s"], "remeasured": check["remeasured"],
                       "suspect": check["suspect"], "warmup_calls": warm,
                       "episodes": len(taken),
                       "single_remeasured": check1["remeasured"]}}


def pool(episodes: list, agree_ratio: float = AGREE_RATIO) -> tuple[dict, dict]:
    """(spread, check) of one figure over its episodes, each a (spread, check) (item 5): the
    repeats of all of them, stable when each episode was and their repeats agree over all (rule
    (a)).  Where they do not, the fastest episode with one that agrees with it (the next fastest
    first): a host's slow phase only ever slows a figure, so an episode that agrees with the
    fastest is the figure and the slower one the phase.  None agreeing: all pooled, unstable."""
    order = sorted(range(len(episodes)), key=lambda i: episodes[i][0]["median"])
    choices = [tuple(range(len(episodes)))]
    if len(episodes) > 2:
        choices += [tuple(sorted((order[0], j))) for j in order[1:]]
    kept = next((k for k in choices if agree(_pooled(episodes, k), agree_ratio)), choices[0])
    sp = _pooled(episodes, kept)
    sp["loops"] = max(episodes[i][0]["loops"] for i in kept)
    ok_a = agree(sp, agree_ratio)
    checks = [episodes[i][1] for i in kept]
    stable = bool(ok_a and all(c["stable"] for c in checks))
    reason = next((c["reason"] for c in checks if c["reason"]), None) or (
        None if ok_a else "episodes disagree")
    check = {**checks[0], "stable": stable, "reason": reason,
             "remeasured": sum(c["remeasured"] for _, c in episodes),
             "repeat_ratio": float(sp["max"] / sp["min"]) if sp["min"] > 0 else None,
             "suspect": any(c["suspect"] for c in checks),
             "episodes": [{**{k: c[k] for k in ("stable", "reason", "repeat_ratio")},
                           "median": e["median"], "kept": i in kept}
                          for i, (e, c) in enumerate(episodes)]}
    if "direct_s" in checks[0]:
        check["direct_s"] = min(c["direct_s"] for c in checks)
    return sp, check


def _pooled(episodes: list, kept: tuple) -> dict:
    """The spread of the repeats of ``episodes[i]`` for i in ``kept``."""
    values = [v for i in kept for v in episodes[i][0]["values"]]
    return {**episodes[kept[0]][0], **spread(values), "values": values}


def episodes_agree(episodes: list, agree_ratio: float = AGREE_RATIO) -> bool:
    """Whether the repeats of ``episodes`` (each a (spread, check)) agree over all (rule (a))."""
    return agree(_pooled(episodes, tuple(range(len(episodes)))), agree_ratio)


def neighbour_check(rows: list[dict], ratio: float = NEIGHBOUR_RATIO) -> list[dict]:
    """Rule (c): within each series (the rows that differ only in n), a stable row whose
    ``ns_per_op`` is above ``ratio`` × both its neighbours' (the next smaller and larger n
    measured) is set ``stable: false`` (reason "slow against its neighbours").  Returns the rows
    it changed (in place)."""
    series: dict = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("ns_per_op"):
            key = tuple(r.get(k) for k in ("construction", "variant", "executor", "kind", "p",
                                           "r", "dtype", "sparsity", "threads", "series"))
            series.setdefault(key, []).append(r)
    changed = []
    for members in series.values():
        members.sort(key=lambda r: r["n"])
        for lo, mid, hi in zip(members, members[1:], members[2:], strict=False):
            v = mid["ns_per_op"]
            if mid.get("stable") and v > ratio * lo["ns_per_op"] and v > ratio * hi["ns_per_op"]:
                mid["stable"] = False
                st = dict(mid.get("stability") or {})
                st["reason"] = "slow against its neighbours"
                st["neighbours_ns_per_op"] = [lo["ns_per_op"], hi["ns_per_op"]]
                mid["stability"] = st
                changed.append(mid)
    return changed


def _strip(sp: dict) -> dict:
    return {k: sp[k] for k in (*QUANTILES, "samples")}


def ns_per_op(batch_s_per_input: float, ops_mean: float) -> float | None:
    """Batch time per input ÷ mean counted operations per input, in ns (None without ops)."""
    if not ops_mean or ops_mean <= 0:
        return None
    return float(batch_s_per_input) * 1e9 / float(ops_mean)
