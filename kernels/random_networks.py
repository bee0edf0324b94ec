"""Seeded random networks for the sparsity axis: dense vs active at chosen weight and activation
sparsity.

:func:`random_network` builds a feedforward :class:`~kernels.model.network.Network` of ``depth``
hidden layers of ``width`` neurons and an output layer of ``r`` neurons:

* **weight sparsity** ``sparsity`` = s: every entry of every weight block is zero with probability s
  (independently); the non-zero ones are N(0, 2 / (fan_in·(1 − s))) (He scaling on the kept
  entries), so fields keep unit-order variance at every s.
* **skip connections** ``skip_prob``: layer ℓ always reads layer ℓ − 1 and also reads each earlier
  layer (the input included) with probability ``skip_prob``; the output layer likewise.
* **activation sparsity** ``zero_fraction`` = z (hidden layers): the bias shift.  The network is
  built layer by layer on a calibration batch (``n_calibration`` N(0, I) inputs, or ``X_cal``), and
  a biased neuron gets b_j = −(z-quantile of its calibration field), so a fraction ≈ z of inputs
  from that distribution give it a field ≤ 0 — a zero output for ReLU (for threshold, a field < 0;
  sign and identity stay non-zero off exact zeros).  ``None`` leaves every bias at 0, and so does a
  z-quantile of exactly 0 (a sparse neuron whose sources are mostly silent).
* ``bias_fraction``: which hidden neurons get that bias (each with this probability).  Under
  Definition 1 a bias is a weight from the always-non-zero constant input, so a biased neuron is
  *always active*; only bias-free neurons whose sources all output 0 are inactive.  Inactivity thus
  needs few sources (high s) that are mostly silent (high z upstream); the measured fractions below
  say how much of it a setting gives.

Nothing is fitted to the rounding of these networks, so the dense executor may run their dense
blocks through BLAS in its own order (their field ``Network.reorder``).

The returned :class:`RandomNetwork` carries the network, its parameters and measured fractions on
the calibration batch: ``zero_output`` (hidden outputs exactly 0), ``inactive`` (Definition 1
inactive hidden neurons), the mean active/computed weights per input
(``kernels.executors.active.count``)
and the dense vs active operation counts.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from kernels.executors import activate_np, active, dense
from kernels.executors.measure import active_neuron_mask, unit_values
from kernels.memorizer import Memorizer, check_inputs
from kernels.model.data import Dataset, check_memory
from kernels.model.network import Network, act_code, check_dtype


class RandomNetwork(Memorizer):
    """What :func:`random_network` returns (``kernels.random_network``): a Memorizer of the network
    on the inputs ``X`` (the calibration batch unless given) and its own float64 outputs, with the
    ``dense`` and ``active`` executors, its parameters and the measured fractions.  ``predict`` and
    ``count_ops`` also take a ``dtype``: the same network in that precision."""
    EXECUTORS = ("dense", "active")  # as a construction module declares its executors

    def __init__(self, network: Network, params: dict, X: np.ndarray, *, dtype="float64",
                 name: str = "random-network", measured: dict | None = None,
                 info: dict | None = None):
        X = np.ascontiguousarray(X, dtype=np.float64)
        D = dense.predict(network, X).astype(np.float64)
        super().__init__(name, Dataset(X, D), network=network, executors=self.EXECUTORS,
                         dtype=dtype, info=info)
        self.params = params
        self.measured = dict(measured or {})
        self._siblings: dict[str, RandomNetwork] = {}  # the same network in another dtype

    def _in(self, dtype) -> RandomNetwork:
        dt = check_dtype(self.dtype if dtype is None else dtype)
        if dt == self.dtype:
            return self
        if dt.name not in self._siblings:
            self._siblings[dt.name] = RandomNetwork(self.network, self.params, self.dataset.X,
                                                    dtype=dt, name=self.name,
                                                    measured=self.measured, info=self.info)
        return self._siblings[dt.name]

    def predict(self, X, executor: str | None = None, dtype=None) -> np.ndarray:
        """Outputs (m, r) of inputs X (m, p) by ``executor`` (default dense) in ``dtype``."""
        return Memorizer.predict(self._in(dtype), X, executor)

    def count_ops(self, X, executor: str | None = None, dtype=None) -> dict[str, np.ndarray]:
        """Per-input counts ``mul, add, cmp, total`` (+ active sets for ``active``)."""
        return Memorizer.count_ops(self._in(dtype), X, executor)


def random_network(p: int, depth: int, width: int, *, r: int = 1, sparsity: float = 0.0,
                   skip_prob: float = 0.0, zero_fraction: float | None = None,
                   bias_fraction: float = 1.0, activation: str = "relu",
                   out_activation: str = "identity", seed: int = 0, n_calibration: int = 256,
                   X_cal: np.ndarray | None = None, measure: bool = True) -> RandomNetwork:
    """A seeded random network (see module docstring).  ``depth`` hidden layers (≥ 0).

    Every argument is checked, and the memory of the whole build (:func:`estimate_bytes`) against
    the budget (:func:`kernels.model.data.check_memory`), before anything is allocated."""
    for name, value, lo in (("p", p, 1), ("depth", depth, 0), ("width", width, 1), ("r", r, 1),
                            ("seed", seed, 0), ("n_calibration", n_calibration, 1)):
        _integer(name, value, lo)
    for name, value, top_open in (("sparsity", sparsity, True), ("skip_prob", skip_prob, False),
                                  ("bias_fraction", bias_fraction, False),
                                  ("zero_fraction", zero_fraction, False)):
        if value is not None or name != "zero_fraction":
            _fraction(name, value, top_open)
    hidden_code = act_code(activation)
    act_code(out_activation)
    if X_cal is not None:
        X_cal = check_inputs(X_cal, p, np.float64)
        n_calibration = len(X_cal)
        if n_calibration < 1:
            raise ValueError("X_cal has no rows; at least one calibration input is needed")
    check_memory(estimate_bytes(p, depth, width, r=r, sparsity=sparsity, skip_prob=skip_prob,
                                n_calibration=n_calibration, measure=measure),
                 f"random_network(p={p}, depth={depth}, width={width}, r={r}, "
                 f"n_calibration={n_calibration})")
    rng = np.random.default_rng(seed)
    if X_cal is None:
        X_cal = rng.standard_normal((n_calibration, p))
    widths = [width] * depth + [r]
    starts = np.concatenate([[0, p], p + np.cumsum(widths)]).astype(np.int64)  # unit offsets
    values = [X_cal]  # calibration outputs of layer 0, 1, ...
    rows, cols, vals, biases = [], [], [], []
    first = 0
    for ell, w in enumerate(widths, start=1):
        # the same draws, in the same order, as one rng.random() per earlier layer
        src = np.flatnonzero(rng.random(ell - 1) < skip_prob).tolist() + [ell - 1]
        unit_ids = np.concatenate([np.arange(starts[s], starts[s + 1]) for s in src])
        fan_in = unit_ids.size
        keep = rng.random((w, fan_in)) >= sparsity
        scale = np.sqrt(2.0 / max(1.0, fan_in * (1.0 - sparsity)))
        W = np.where(keep, rng.standard_normal((w, fan_in)) * scale, 0.0)
        field_ = np.concatenate([values[s] for s in src], axis=1) @ W.T
        b = np.zeros(w)
        last = ell == len(widths)
        if not last and zero_fraction is not None:
            biased = rng.random(w) < bias_fraction
            b[biased] = -np.quantile(field_[:, biased], zero_fraction, axis=0)
            b[b == 0] = 0.0  # no negative zeros
        code = act_code(out_activation) if last else hidden_code
        values.append(activate_np(code, field_ + b))
        i, k = np.nonzero(W)
        rows.append(first + i)
        cols.append(unit_ids[k])
        vals.append(W[i, k])
        biases.append(b)
        first += w
    acts = [activation] * depth + [out_activation]
    net = Network.from_coo(p, widths, acts, np.concatenate(rows), np.concatenate(cols),
                           np.concatenate(vals), np.concatenate(biases))
    net = dataclasses.replace(net, reorder=True)  # nothing is fitted to its rounding: any order
    params = {"p": p, "depth": depth, "width": width, "r": r, "sparsity": sparsity,
              "skip_prob": skip_prob, "zero_fraction": zero_fraction,
              "bias_fraction": bias_fraction, "activation": activation,
              "out_activation": out_activation, "seed": seed}
    return RandomNetwork(net, params, X_cal,
                         measured=measure_sparsity(net, X_cal) if measure else None)


def _integer(name: str, value, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}; got {value}")


def _fraction(name: str, value, top_open: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r}")
    if not (0.0 <= value < 1.0 if top_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1{')' if top_open else ']'}; got {value}")


# bytes per layer of Python objects and small arrays the build keeps (measured: ≈ 3 KiB)
LAYER_BYTES = 4096


def estimate_bytes(p: int, depth: int, width: int, *, r: int = 1, sparsity: float = 0.0,
                   skip_prob: float = 0.0, n_calibration: int = 256, measure: bool = True) -> float:
    """Peak bytes of :func:`random_network`, from its arguments alone (O(1), no loop over layers).

    With U_ℓ units before layer ℓ and w_ℓ its width, layer ℓ's expected fan-in is
    f_ℓ = w_{ℓ−1} + skip_prob·(U_ℓ − w_{ℓ−1}); nnz = (1 − s)·Σ w_ℓ f_ℓ.  The build holds a layer's
    dense draws (≈ 25·w·f bytes: uniforms, kept mask, normals, masked weights), the calibration
    values of every layer (8·m per unit) and the stored triplets (≈ 100 bytes per weight through
    ``Network.from_coo``); ``measure`` adds Definition 1's per-weight masks and sums (≈ 18·m bytes
    per weight).  A quarter more on top: measured (tracemalloc) this is 1.1–2× the peak."""
    m, s, k = float(n_calibration), float(sparsity), float(skip_prob)
    d, w, p, r = float(depth), float(width), float(p), float(r)
    last = w if depth >= 1 else p  # the layer the output reads first
    # Σ over hidden layers ℓ = 1..depth of f_ℓ (ℓ = 1 reads the inputs only)
    f_hidden = (p + (d - 1) * w + k * ((d - 1) * p + w * (d - 1) * (d - 2) / 2)) if depth else 0.0
    f_out = last + k * (p + d * w - last)
    f_max = max(f_out, (w + k * (p + (d - 2) * w)) if depth >= 2 else p)
    nnz = (1.0 - s) * (w * f_hidden + r * f_out)
    units = p + d * w + r
    layer_peak = max(25.0 * w * f_max + 8 * m * (f_max + 6 * w) if depth else 0.0,
                     25.0 * r * f_out + 8 * m * (f_out + 6 * r))
    total = 8 * m * units + layer_peak + 100 * nnz + 48 * units + LAYER_BYTES * (d + 1)
    if measure:
        total += 18 * m * nnz + 24 * m * units
    return 1.25 * total + 2**20


def measure_sparsity(net: Network, X: np.ndarray) -> dict:
    """Fractions over the hidden neurons and inputs ``X``: zero outputs, Definition 1 inactive
    neurons; mean active / computed weights and dense vs active operations per input."""
    c = active.count(net, X)
    hidden = net.n_neurons - net.r
    units = _units(net, X)
    zero = float((units[:, net.p:net.p + hidden] == 0).mean()) if hidden else 0.0
    inact_hidden = _inactive_hidden(net, units)
    return {"zero_output": zero, "inactive": inact_hidden,
            "active_neurons_mean": float(c["active_neurons"].mean()),
            "active_weights_mean": float(c["active_weights"].mean()),
            "computed_weights_mean": float(c["computed_weights"].mean()),
            "active_ops_mean": float(c["total"].mean()),
            "dense_ops": int(dense.analytic_cost(net)["total"])}


def _units(net: Network, X: np.ndarray) -> np.ndarray:
    return unit_values(net, X)


def _inactive_hidden(net: Network, units: np.ndarray) -> float:
    hidden = net.n_neurons - net.r
    if hidden == 0:
        return 0.0
    A = active_neuron_mask(net, units)
    return float(1.0 - A[:, :hidden].mean())
