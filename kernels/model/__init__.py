"""The model: Network (seed 000 eq. 1), ConditionalNetwork and its §2.3 rules;
``data``: Dataset and its validation; ``exact``: ExactNetwork (Python-integer weights)."""

from kernels.model.network import ConditionalNetwork, Layer, Network

__all__ = ["ConditionalNetwork", "Layer", "Network"]
