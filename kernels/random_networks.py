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

import numpy as np

from kernels.executors import activate_np, active, dense
from kernels.executors.measure import active_neuron_mask, unit_values
from kernels.memorizer import Memorizer
from kernels.model.data import Dataset
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
    """A seeded random network (see module docstring).  ``depth`` hidden layers (≥ 0)."""
    if p < 1 or width < 1 or r < 1 or depth < 0:
        raise ValueError("need p ≥ 1, width ≥ 1, r ≥ 1, depth ≥ 0")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must lie in [0, 1); got {sparsity}")
    if not 0.0 <= skip_prob <= 1.0 or not 0.0 <= bias_fraction <= 1.0:
        raise ValueError("skip_prob and bias_fraction must lie in [0, 1]")
    if zero_fraction is not None and not 0.0 <= zero_fraction <= 1.0:
        raise ValueError(f"zero_fraction must lie in [0, 1]; got {zero_fraction}")
    hidden_code = act_code(activation)
    act_code(out_activation)
    rng = np.random.default_rng(seed)
    if X_cal is None:
        X_cal = rng.standard_normal((n_calibration, p))
    X_cal = np.asarray(X_cal, dtype=np.float64)
    if X_cal.ndim != 2 or X_cal.shape[1] != p:
        raise ValueError(f"X_cal must have shape (m, {p})")
    widths = [width] * depth + [r]
    starts = np.concatenate([[0, p], p + np.cumsum(widths)]).astype(np.int64)  # unit offsets
    values = [X_cal]  # calibration outputs of layer 0, 1, ...
    rows, cols, vals, biases = [], [], [], []
    first = 0
    for ell, w in enumerate(widths, start=1):
        src = [ell - 1] + [s for s in range(ell - 1) if rng.random() < skip_prob]
        src.sort()
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
