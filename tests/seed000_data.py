"""Datasets shared by the seed-000 construction tests: scikit-learn's bundled real datasets and
adversarial ones (near duplicates, lattices, collinear points, huge scales)."""

from __future__ import annotations

import numpy as np


def real(name: str):
    """(X, D) of a bundled scikit-learn dataset (no download)."""
    from sklearn import datasets

    if name == "iris":  # one-hot classes, r = 3; the one repeated row is dropped by validation
        b = datasets.load_iris()
        return b.data, np.eye(3)[b.target]
    if name == "wine":
        b = datasets.load_wine()
        return b.data, b.target.astype(float)
    if name == "diabetes":  # inputs of both signs, outputs up to 346
        b = datasets.load_diabetes()
        return b.data, b.target
    if name == "digits":  # p = 64, integer pixels with many ties
        b = datasets.load_digits()
        return b.data, b.target.astype(float)
    if name == "linnerud":  # r = 3
        b = datasets.load_linnerud()
        return b.data, b.target
    raise KeyError(name)


REAL = ("iris", "wine", "diabetes", "digits", "linnerud")


def adversarial(name: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    if name == "near-duplicates":  # clusters of 4 points 1e-9 apart
        base = np.repeat(rng.standard_normal((64, 3)), 4, axis=0)
        X = base + 1e-9 * rng.standard_normal(base.shape)
        return X, rng.random(len(X))
    if name == "lattice":  # {0..7}^3, every coordinate tied 64 ways
        g = np.arange(8.0)
        X = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
        return X, rng.integers(0, 5, len(X)).astype(float)
    if name == "signed-lattice":  # {-3..3}^3 with signed labels
        g = np.arange(-3.0, 4.0)
        X = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
        return X, rng.standard_normal(len(X))
    if name == "collinear":  # 300 points on one line (affine, mixed signs)
        t = np.arange(300.0)[:, None]
        return t * np.array([1.0, 2.0, 3.0]) + np.array([0.5, -1.0, 2.0]), rng.random(300)
    if name == "huge":  # coordinates near 1e6, labels up to 1e9
        X = 1e6 + 1e-3 * rng.standard_normal((300, 2))
        return X, 1e9 * rng.random(300)
    if name == "huge-near-duplicates":  # 1e6 + k·1e-9: a few ulps apart, labels 1e9
        k = np.arange(64.0)
        X = np.stack([1e6 + k * 1e-9, np.full(64, 1e6)], axis=1)
        return X, 1e9 * rng.random(64)
    raise KeyError(name)


ADVERSARIAL = ("near-duplicates", "lattice", "signed-lattice", "collinear", "huge",
               "huge-near-duplicates")
