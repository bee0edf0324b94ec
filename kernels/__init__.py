"""memcap — memorization networks with conditional computation, built, executed and measured.

Import name ``kernels``; distribution and command ``memcap``.

>>> import kernels
>>> m = kernels.build("zhang", X, D, seed=0)          # doctest: +SKIP
>>> m.predict(X, executor="dense")                      # doctest: +SKIP
>>> rn = kernels.random_network(16, 3, 256, sparsity=0.9, zero_fraction=0.5)  # doctest: +SKIP
>>> rn.predict(X, executor="active"), rn.count_ops(X, executor="active")       # doctest: +SKIP
"""

from kernels import constructions
from kernels.constructions import build
from kernels.memorizer import Memorizer
from kernels.model.data import Dataset, generate, load_npz, validate
from kernels.model.network import ConditionalNetwork, Network
from kernels.random_networks import random_network
from kernels.verify import verify

__all__ = ["build", "constructions", "generate", "load_npz", "random_network", "validate", "verify",
           "Dataset", "Memorizer", "Network", "ConditionalNetwork"]
__version__ = "0.1.0"
