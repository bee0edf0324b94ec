"""Executors: ``dense`` (every neuron), ``active`` (Theorem 1), ``tree`` (§2.3 routing), ``exact``
(Python integers); ``_ops`` holds what they share."""
