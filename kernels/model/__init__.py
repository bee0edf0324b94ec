"""The model: Network (seed 000 eq. 1), ConditionalNetwork and its §2.3 rules, Memorizer."""

from kernels.model.memorizer import EXECUTORS, Memorizer
from kernels.model.network import ConditionalNetwork, Layer, Network

__all__ = ["EXECUTORS", "ConditionalNetwork", "Layer", "Memorizer", "Network"]
