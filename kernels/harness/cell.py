"""One sweep cell, measured: build a construction on one dataset and evaluate every executor.

A *group* is one build (construction, n, p, r, dtype, sparsity, seed); it yields one row per
executor.  Exactness and operation counts come from :func:`kernels.verify.executor_record`
(the same code as ``memcap verify``), on every input or a seeded sample of ``exact_checked`` inputs
(its verdict then reads "exact on k sampled of n"); this module adds wall time, memory and energy.

Timing: the executor's kernel is called directly (``Memorizer.route``: its plan built once) by
:func:`kernels.harness.timing.measure` — compiled first, inputs pre-converted, the group's thread
count (``threads``, default 1) fixed, repeats until a minimum time, the spread kept, a batch far
slower than a direct re-timing re-measured.  ``batch_s_per_input`` (a batch of up to
``time_inputs`` inputs) and ``single_s`` (one-row calls) are medians; ``ns_per_op`` is the batch
time per input over the mean counted operations.  Memory: ``model_bytes`` (the arrays the
executor reads), ``build_peak_bytes`` and ``recall_peak_bytes`` (tracemalloc: Python/NumPy
allocations; memory that Numba kernels allocate internally is not visible to it) and
``maxrss_bytes`` (the process high-water mark after the cell).
"""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np

from kernels import constructions
from kernels.harness import energy, timing
from kernels.model.data import Dataset, generate
from kernels.random_networks import RandomNetwork, random_network
from kernels.theory.bounds import theorem1_ops_bound, theorem_bounds
from kernels.verify import executor_record

# the fields that name a row (its cell): the group's coordinates and the executor
KEY = ("construction", "variant", "executor", "kind", "n", "p", "r", "dtype", "sparsity", "seed",
       "threads")
SIZE = "size"  # the executor of a size-only row

# Data a construction needs when the gaussian/uniform default does not fit it.  A construction
# module may instead define DATASET = {"kind": ..., "labels": ...}.
DATASETS = {"sign-cube": {"kind": "cube", "labels": "parity"}}
RANDOM = "random-sparse"  # the pseudo-construction of the sparsity axis (kernels.random_networks)


class Skip(Exception):
    """A cell that cannot be done, with the reason (recorded, never fatal)."""


def cube_p(n: int, p: int) -> int:
    """The cube {±1}^p holds 2^p points: p grows with n where the grid's p is too small."""
    return max(p, int(np.ceil(np.log2(max(n, 2)))))


def dataset_spec(name: str, override: dict | None = None) -> dict:
    """The data of construction ``name``: gaussian inputs with uniform outputs, or ``override``'s
    kind/labels (a sweep block's); data a construction declares it needs always win."""
    spec = {"kind": "gaussian", "labels": "uniform",
            **{k: v for k, v in (override or {}).items() if k in ("kind", "labels") and v}}
    try:
        spec.update(getattr(constructions.get(name), "DATASET", None) or {})
    except Exception:  # a broken module is reported where it is built
        pass
    spec.update(DATASETS.get(name, {}))
    return spec


def executors_of(name: str) -> tuple[str, ...]:
    return tuple((RandomNetwork if name == RANDOM else constructions.get(name)).EXECUTORS)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# The random sparse ReLU networks of the sparsity axis: hidden layers, width, activation sparsity.
RANDOM_SHAPE = {"depth": 3, "width": 256, "zero_fraction": 0.5}


def build_random(g: dict):
    """A Memorizer over a seeded random sparse ReLU network (kernels.random_networks): its dataset
    is ``n`` Gaussian inputs and the network's own float64 outputs, so exactness measures how the
    executor and the precision reproduce them."""
    shape = {**RANDOM_SHAPE, **(g.get("shape") or {})}
    try:
        rn = random_network(g["p"], shape["depth"], shape["width"], r=g["r"],
                            sparsity=g["sparsity"], zero_fraction=shape["zero_fraction"],
                            seed=g["seed"], measure=False)
        rng = np.random.default_rng(g["seed"] + 1)
        X = rng.standard_normal((g["n"], g["p"]))
        return RandomNetwork(rn.network, rn.params, X, dtype=g["dtype"], name=RANDOM,
                             info={"random_network": {**shape, "sparsity": g["sparsity"]}})
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise Skip(_one_line(exc)) from None


_LABELS_OK: dict = {}  # construction -> the labels that worked (so later cells go straight there)


def label_choices(name: str, spec: dict) -> list[str]:
    """Labels to try: the spec's, then class labels 0..9 (constructions that memorize classes)."""
    first = _LABELS_OK.get(name, spec["labels"])
    return [first] + [lab for lab in (spec["labels"], "classes") if lab != first]


_DATA: dict = {}  # the last few generated datasets (a sweep builds many constructions on each)


def dataset(kind: str, n: int, p: int, r: int, seed: int, labels: str) -> Dataset:
    """:func:`kernels.model.data.generate`, remembering the last 8 (generating sphere data
    computes δ, O(n²)).  Constructions do not modify their dataset."""
    key = (kind, n, p, r, seed, labels)
    if key not in _DATA:
        while len(_DATA) >= 8:
            _DATA.pop(next(iter(_DATA)))
        _DATA[key] = generate(kind, n, p, r, seed=seed, labels=labels)
    return _DATA[key]


def prepare(name: str, n: int, p: int, r: int, *, seed: int = 0, dtype="float64",
            kind: str | None = None, labels: str | None = None, options: dict | None = None):
    """(memorizer, dataset, labels used, build seconds): construction ``name`` (with
    ``options``) on its seeded generated dataset, trying class labels when the construction
    refuses real-valued outputs."""
    spec = dataset_spec(name)
    kind = kind or spec["kind"]
    if kind == "cube":
        p = cube_p(n, p)
    choices = [labels] if labels else label_choices(name, spec)
    err = None
    for lab in choices:
        try:
            ds = dataset(kind, n, p, r, seed, lab)
        except ValueError as exc:
            raise Skip(f"dataset: {_one_line(exc)}") from None
        try:
            t0 = time.perf_counter()
            m = constructions.build(name, ds.X, ds.D, seed=seed, dtype=dtype, **(options or {}))
            build_s = time.perf_counter() - t0
        except (ValueError, NotImplementedError) as exc:
            err = err or exc
            continue
        if not labels:  # labels a block fixed say nothing of what the construction's own refuse
            _LABELS_OK[name] = lab
        return m, ds, lab, build_s
    raise Skip(_one_line(err))


def build(g: dict, max_bytes: int, trace: bool = True):
    """(memorizer, build seconds, build peak bytes) for group ``g``; Skip when it cannot be done.
    ``g["labels"]`` is updated to the labels the construction accepted.  ``trace``: builds under
    a second are repeated under tracemalloc for their peak (else the peak is None)."""
    name = g["construction"]
    if name == RANDOM:
        t0 = time.perf_counter()
        m = build_random(g)
        return m, time.perf_counter() - t0, None
    try:
        constructions.get(name)
    except Exception as exc:  # missing or broken module
        raise Skip(f"module not available ({_one_line(exc)})") from None
    opts = g.get("options") or {}
    est = constructions.estimate_bytes(name, g["n"], g["p"], g["r"], opts)
    if est > max_bytes:
        raise Skip(f"estimated {est / 2**20:.0f} MiB > sweep limit {max_bytes / 2**20:.0f} MiB")
    m, ds, g["labels"], build_s = prepare(name, g["n"], g["p"], g["r"], seed=g["seed"],
                                          dtype=g["dtype"], kind=g["kind"],
                                          labels=g.get("labels_fixed"), options=opts)
    peak = None
    if trace and build_s < 1.0:  # a second, traced build for its peak memory (tracemalloc slows it)
        tracemalloc.start()
        try:
            constructions.build(name, ds.X, ds.D, seed=g["seed"], dtype=g["dtype"], **opts)
            peak = tracemalloc.get_traced_memory()[1]
        except (ValueError, NotImplementedError):
            pass
        finally:
            tracemalloc.stop()
    return m, build_s, peak


def theorem1_bound(p: int, omega_max) -> float | None:
    """Theorem 1's p + 4ω at the largest ω measured."""
    return None if omega_max is None else float(theorem1_ops_bound(p, omega_max))


def timed_batch(route, Xt: np.ndarray):
    """(call, path): the executor's batch call for the timed batch, pinned to the path the
    whole batch ``Xt`` takes where the executor picks one by batch size (``module.route``, e.g.
    ``active``: batched or one input at a time), so that the timed calls and the stability
    rule's re-timing run the same path (:mod:`kernels.harness.timing`, why a batch figure is one
    call on the whole batch)."""
    pick = getattr(route.module, "route", None)
    if pick is None:
        return route.batch, None
    path = pick(route.obj, Xt, route.plan)

    def call(X):
        return route.module.predict(route.obj, X, path=path, plan=route.plan)

    return call, path


def evaluate(m, g: dict, executor: str, opts: dict, idle_w: dict | None) -> dict:
    """The measured row of one executor on memorizer ``m``."""
    try:
        route = m.route(executor)
    except Exception as exc:  # missing or broken executor module
        raise Skip(f"executor {executor!r} is not available ({_one_line(exc)})") from None
    n = len(m.dataset.X)
    rng = np.random.default_rng(g["seed"])
    Xt = timing.prepare(m.dataset.X, m.dtype, opts["time_inputs"], g["seed"])
    k = len(Xt)
    with timing.fixed_threads(g.get("threads") or 1):
        batch_call, path = timed_batch(route, Xt)
    done = {}

    def verify_and_trace(batch: float):
        """Between the two timing episodes (kernels.harness.timing, item 5), under the timed
        thread count (and its BLAS summation order): exactness and counts on every input, or a
        seeded sample when that would take too long (verdict "exact on k sampled of n"; dense:
        the second summation order too), then the recall's traced peak memory."""
        cap = max(256, int(opts["eval_seconds"] / max(batch * 4, 1e-12)))
        rows = np.sort(rng.choice(n, size=cap, replace=False)) if n > cap else None
        done["rec"] = executor_record(m, executor, rows, portable=True)
        tracemalloc.start()
        try:
            route.batch(Xt)
            done["recall_peak"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    timed = timing.measure(lambda _, X: batch_call(X), route.obj, Xt,
                           threads=g.get("threads") or 1, predict_one=lambda _, x: route.one(x),
                           min_time=opts["min_time"], between=verify_and_trace,
                           warmup=opts.get("warm_up", True))
    timed["timing"]["route"] = path
    batch = timed["batch_s_per_input"]
    rec, recall_peak = done["rec"], done["recall_peak"]
    model_bytes = int(route.obj.nbytes())
    proxy = energy.proxy(rec["ops_by_kind"], m.dtype.name, model_bytes)
    row = {"exact": rec["exact"], "max_abs_error": rec["max_abs_error"],
           "max_rel_error": rec["max_rel_error"], "tolerance": rec["tolerance"],
           "scale_limited_points": rec["scale_limited_points"],
           "inexact_points": rec["inexact_points"], "evaluated_inputs": rec["checked"],
           "exact_checked": rec["checked"], "worst": rec["worst"],
           "ops_mean": rec["ops"]["mean"], "ops_max": rec["ops"]["max"]}
    if "portable" in rec:  # the second summation order (NumPy/BLAS)
        port = rec["portable"]
        row["portable_exact"], row["portable_max_abs_error"] = port["exact"], port["max_abs_error"]
    for kind in ("mul", "add", "cmp"):
        row[f"{kind}_mean"] = rec["ops_by_kind"][kind]["mean"]
    for key in ("active_neurons", "active_weights"):
        if key in rec:
            row[f"{key}_mean"] = rec[key]["mean"]
            row[f"{key}_max"] = rec[key]["max"]
    if "active_weights" in rec:
        row["theorem1_ops_bound"] = theorem1_bound(m.dataset.p, rec["active_weights"]["max"])
    row.update({**timed, "ns_per_op": timing.ns_per_op(batch, row["ops_mean"]),
                "model_bytes": model_bytes, "recall_peak_bytes": int(recall_peak),
                "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "energy_proxy_pj": proxy["total_pj"],
                "energy_proxy_compute_pj": proxy["compute_pj"],
                "energy_proxy_memory_pj": proxy["memory_pj"], "energy_tier": proxy["tier"]})
    if opts.get("measure_energy") and idle_w:
        with timing.fixed_threads(timed["threads"]):
            meas = energy.measure(lambda: route.batch(Xt), calls_per_run=k,
                                  window_s=opts.get("energy_window_s", 1.0), idle_w=idle_w)
        row["energy_measured"] = meas
        vals = [v["net_pj_per_input"] for v in meas.values() if v.get("status") == "measured"]
        row["energy_measured_pj"] = vals[0] if vals else "unavailable"
    else:
        row["energy_measured_pj"] = "unavailable"
    return row


def describe(m) -> dict:
    s = m.size()
    return {"n_effective": m.dataset.n, "neurons": s.get("neurons"), "weights": s.get("weights"),
            "depth": s.get("depth"), "vertices": s.get("vertices", s.get("tree", {}).get(
                "vertices") if isinstance(s.get("tree"), dict) else None)}


# construction info kept in a size-only row (what explains the size: bits, δ, group size, ...)
SIZE_INFO = ("mode", "xor", "delta", "hidden1", "code_bits", "stage_neurons", "group_size",
             "groups", "key_bits", "record_bits", "register_bits")


def size_record(m) -> dict:
    """The size-only measurement of a built memorizer: neurons, weights, depth, vertices, the
    largest weight (``max_abs_weight`` of the float network; ``weight_bits``: the bit width the
    construction reports for its largest weight, vardi's and rajput's), and construction info."""
    row = describe(m)
    net = m.network
    if net is not None and (net.w_val.size or net.bias.size):
        row["max_abs_weight"] = float(max(np.abs(net.w_val).max(initial=0.0),
                                          np.abs(net.bias).max(initial=0.0)))
    row["weight_bits"] = m.info.get("weight_bits")
    row["info"] = {k: m.info[k] for k in SIZE_INFO if k in m.info}
    return row


def row_base(g: dict, executor: str) -> dict:
    """The fields every row of group ``g`` starts from: its coordinates and ``executor``."""
    return {**{a: g.get(a) for a in KEY if a != "executor"}, "executor": executor,
            "series": g["series"], "grid_p": g["grid_p"], "labels": g["labels"],
            "options": g.get("options")}


def group_rows(g: dict, execs: list, **fields) -> list[dict]:
    """A row per executor of ``execs`` on group ``g``, each with ``fields`` (a skip, an error)."""
    return [{**row_base(g, e), **fields} for e in execs]


def measure_group(g: dict, execs: list, opts: dict, idle_w: dict, warmed: set):
    """Build group ``g`` once and measure each executor of ``execs`` on it."""
    if (g["construction"], g["dtype"]) not in warmed:  # compile what the build compiles, untimed
        warmed.add((g["construction"], g["dtype"]))
        try:
            build({**g, "n": min(g["n"], 32)}, opts["max_bytes"])
        except Exception:  # the real build below fails the same way and reports it
            pass
    try:
        m, build_s, build_peak = build(g, opts["max_bytes"], trace=not g.get("size_only"))
    except Skip as exc:
        return group_rows(g, execs, status="skipped", reason=str(exc)), None
    except MemoryError:
        return group_rows(g, execs, status="skipped", reason="out of memory"), None
    except Exception as exc:  # a construction bug must not stop the sweep
        return group_rows(g, execs, status="error", reason=_one_line(exc)), None
    theorem = theorem_bounds(m.dataset.n, m.dataset.p, m.dataset.r)
    bounds = {"ops_lower": theorem["theorem3_floor"]}
    try:
        bounds.update({k: v for k, v in m.bounds().items() if isinstance(v, int | float)})
    except Exception as exc:  # a construction's bound bug is its group's error, not a crash
        return group_rows(g, execs, status="error", reason=_one_line(exc)), None
    if g.get("size_only"):
        return [{**row_base(g, SIZE), **size_record(m), "build_s": build_s, "status": "ok",
                 "build_peak_bytes": build_peak, "bounds": bounds, "theorem": theorem}], (
                     g["n"], build_s, 0.0)
    info = describe(m)
    rows = []
    t0 = time.perf_counter()
    for e in execs:
        base = {**row_base(g, e), **info, "build_s": build_s, "build_peak_bytes": build_peak,
                "bounds": bounds, "theorem": theorem}
        if e not in m.executors:
            rows.append({**base, "status": "skipped",
                         "reason": f"this {g['construction']} build offers only "
                                   f"{', '.join(m.executors)}"})
            continue
        want = opts.get("energy") == "all" or (opts.get("energy") == "auto"
                                                 and g.get("largest", False))
        # warmed up before the group's first timed executor only (kernels.harness.timing, item
        # 3): the thread stays busy from one executor to the next
        first = not any(r["status"] == "ok" for r in rows)
        try:
            rows.append({**base, "status": "ok",
                         **evaluate(m, g, e, {**opts, "measure_energy": want, "warm_up": first},
                                    idle_w)})
        except Skip as exc:
            rows.append({**base, "status": "skipped", "reason": str(exc)})
        except MemoryError:
            rows.append({**base, "status": "skipped", "reason": "out of memory"})
        except Exception as exc:
            rows.append({**base, "status": "error", "reason": _one_line(exc)})
    return rows, (g["n"], build_s, time.perf_counter() - t0)
