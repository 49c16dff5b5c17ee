"""Attention flow: the maximum flow through the layered attention graph, per token pair.

Abnar and Zuidema (ACL 2020) treat the network as a graph with one node per token and
level (level 0 holds the input embeddings, level ``l`` the output of layer ``l - 1``).
An edge runs from ``(l, query)`` down to ``(l - 1, key)`` with the residual-augmented
attention weight of that pair as its capacity, and the flow between two nodes is the
value of a maximum flow between them.

Two solvers give that value:

- ``exact``: networkx's preflow-push on float capacities.
- ``fast``: SciPy's Dinic solver (compiled) on the same graph with capacities scaled to
  integers by ``FAST_FLOW_SCALE`` and rounded. Rounding moves each capacity by at most
  ``0.5 / FAST_FLOW_SCALE``, so a flow value moves by at most that times the number of
  edges in a minimum cut (under 1e-4 for 128 tokens).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

FLOW_METHODS = ("exact", "fast")
# Inputs up to this many tokens use the exact solver when the method is "auto".
EXACT_FLOW_MAX_TOKENS = 12
FAST_FLOW_SCALE = 10**8


def _node(level: int, token: int, num_tokens: int) -> int:
    return level * num_tokens + token


def _check_capacities(capacities: np.ndarray) -> np.ndarray:
    capacities = np.asarray(capacities, dtype=np.float64)
    if capacities.ndim != 3 or capacities.shape[1] != capacities.shape[2]:
        raise ValueError(f"Expected capacities shaped [layer, query, key] with query == key, got {capacities.shape}.")
    if (capacities < 0).any():
        raise ValueError("Capacities must not be negative: pass attention weights, not differences.")
    return capacities


def flow_graph(capacities: np.ndarray) -> nx.DiGraph:
    """Build the layered graph with nodes ``(level, token)`` and edges from each level to the one below."""
    capacities = _check_capacities(capacities)
    num_layers, num_tokens, _ = capacities.shape
    graph = nx.DiGraph()
    graph.add_nodes_from((level, token) for level in range(num_layers + 1) for token in range(num_tokens))
    for layer in range(num_layers):
        queries, keys = np.nonzero(capacities[layer] > 0)
        graph.add_edges_from(
            ((layer + 1, int(query)), (layer, int(key)), {"capacity": float(capacities[layer, query, key])})
            for query, key in zip(queries, keys)
        )
    return graph


def _integer_graph(capacities: np.ndarray) -> csr_array:
    """Build the same graph as a square integer CSR matrix indexed by ``level * tokens + token``."""
    num_layers, num_tokens, _ = capacities.shape
    size = (num_layers + 1) * num_tokens
    rows, columns, values = [], [], []
    scaled = np.rint(capacities * FAST_FLOW_SCALE).astype(np.int64)
    for layer in range(num_layers):
        queries, keys = np.nonzero(scaled[layer] > 0)
        rows.append(_node(layer + 1, queries, num_tokens))
        columns.append(_node(layer, keys, num_tokens))
        values.append(scaled[layer, queries, keys])
    matrix = csr_array(
        (np.concatenate(values).astype(np.int32), (np.concatenate(rows), np.concatenate(columns))), shape=(size, size)
    )
    matrix.sort_indices()
    return matrix


class FlowSolver:
    """Maximum-flow values on one layered attention graph, with the graph built once for many pairs."""

    def __init__(self, capacities: np.ndarray, method: str = "exact") -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"Invalid flow method '{method}'. Choose one of {', '.join(FLOW_METHODS)}.")
        self.capacities = _check_capacities(capacities)
        self.method = method
        self.num_layers, self.num_tokens, _ = self.capacities.shape
        if method == "exact":
            self._graph = flow_graph(self.capacities)
        else:
            self._matrix = _integer_graph(self.capacities)

    def value(self, source: tuple[int, int], sink: tuple[int, int]) -> float:
        """Return the maximum flow from node ``(level, token)`` ``source`` down to ``sink``."""
        if sink[0] >= source[0]:
            return 0.0
        if self.method == "exact":
            return float(nx.maximum_flow_value(self._graph, source, sink))
        result = maximum_flow(
            self._matrix, _node(*source, self.num_tokens), _node(*sink, self.num_tokens), method="dinic"
        )
        return result.flow_value / FAST_FLOW_SCALE

    def flows_from(self, level: int, token: int) -> np.ndarray:
        """Return the flow from ``(level, token)`` to every node below it, shaped ``[level, token]``."""
        if not 0 < level <= self.num_layers:
            raise ValueError(f"Level {level} is out of range: levels with attention below them are 1 to {self.num_layers}.")
        flows = np.zeros((level, self.num_tokens))
        for lower in range(level):
            for target in range(self.num_tokens):
                flows[lower, target] = self.value((level, token), (lower, target))
        return flows

    def input_matrix(self, level: int | None = None) -> np.ndarray:
        """Return the flow from every token at ``level`` (the top by default) to every input token: ``[query, key]``."""
        level = self.num_layers if level is None else level
        matrix = np.zeros((self.num_tokens, self.num_tokens))
        for query in range(self.num_tokens):
            for key in range(self.num_tokens):
                matrix[query, key] = self.value((level, query), (0, key))
        return matrix


def choose_flow_method(num_tokens: int, method: str = "auto") -> str:
    """Return ``exact`` for inputs up to EXACT_FLOW_MAX_TOKENS tokens and ``fast`` above, unless a method is given."""
    if method == "auto":
        return "exact" if num_tokens <= EXACT_FLOW_MAX_TOKENS else "fast"
    if method not in FLOW_METHODS:
        raise ValueError(f"Invalid flow method '{method}'. Choose auto or one of {', '.join(FLOW_METHODS)}.")
    return method

# Largest inputs the page computes flow for: one trace solves (layers × tokens) flows, the
# full input matrix tokens² flows. Chosen from timings of the fast solver on a 2-core
# machine (an estimate for other machines): a 6-layer trace took 0.1 s at 32 tokens and
# 5.2 s at 128 tokens with dense attention, and the full matrix 0.5 s at 32 tokens.
FLOW_TRACE_MAX_TOKENS = 64
FLOW_MATRIX_MAX_TOKENS = 32
