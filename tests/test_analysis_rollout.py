"""Attention rollout and attention flow against hand-computed values and independent solvers."""

import networkx as nx
import numpy as np
import pytest

from analysis.flow import FlowSolver, choose_flow_method, flow_graph, EXACT_FLOW_MAX_TOKENS
from analysis.rollout import attention_rollout, fuse_heads, residual_attention, traced_shares


def random_attention(layers, heads, tokens, *, causal=False, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.random((layers, heads, tokens, tokens)) ** 3
    if causal:
        weights = np.tril(weights)
    return weights / weights.sum(axis=-1, keepdims=True)


def loop_rollout(attentions, fusion):
    """Rollout written with explicit loops, independent of analysis.rollout."""
    num_layers, num_heads, size, _ = attentions.shape
    result = np.eye(size)
    for layer in range(num_layers):
        fused = np.zeros((size, size))
        for query in range(size):
            for key in range(size):
                values = [attentions[layer, head, query, key] for head in range(num_heads)]
                fused[query, key] = {"mean": np.mean, "max": np.max, "min": np.min}[fusion](values)
        augmented = fused + np.eye(size)
        for query in range(size):
            augmented[query] /= augmented[query].sum()
        product = np.zeros((size, size))
        for query in range(size):
            for key in range(size):
                product[query, key] = sum(augmented[query, middle] * result[middle, key] for middle in range(size))
        result = product
    return result


def test_rollout_three_tokens_by_hand():
    first = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    second = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    attentions = np.stack([first, second])[:, None]
    # Layer 0 with the residual: (A + I) / 2.
    layer0 = np.array([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.0, 0.25, 0.75]])
    layer1 = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    # layer1 @ layer0, worked out by hand row by row.
    expected_final = np.array([[1.0, 0.0, 0.0], [0.625, 0.375, 0.0], [0.0, 0.25, 0.75]])
    rollout = attention_rollout(attentions)
    np.testing.assert_allclose(rollout[0], layer0)
    np.testing.assert_allclose(rollout[1], layer1 @ layer0)
    np.testing.assert_allclose(rollout[1], expected_final)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_matches_loop_version(fusion):
    attentions = random_attention(3, 4, 5, seed=1)
    rollout = attention_rollout(attentions, fusion)
    np.testing.assert_allclose(rollout[-1], loop_rollout(attentions, fusion), atol=1e-12)
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, atol=1e-12)


def test_rollout_causal_stays_lower_triangular():
    rollout = attention_rollout(random_attention(4, 2, 6, causal=True))
    assert np.abs(np.triu(rollout[-1], k=1)).max() == 0.0


def test_rollout_mean_fusion_is_paper_mix():
    attentions = random_attention(1, 3, 4, seed=2)
    mixed = 0.5 * attentions.mean(axis=1)[0] + 0.5 * np.eye(4)
    np.testing.assert_allclose(attention_rollout(attentions)[0], mixed, atol=1e-12)


def test_fuse_heads_rejects_unknown_fusion():
    with pytest.raises(ValueError, match="median"):
        fuse_heads(random_attention(1, 2, 3), "median")


def test_residual_attention_rejects_rectangular():
    with pytest.raises(ValueError, match="square"):
        residual_attention(np.ones((1, 2, 3)))


def networkx_flow(capacities, source, sink):
    """Max-flow on a graph built here from scratch, with string node names."""
    graph = nx.DiGraph()
    num_layers, size, _ = capacities.shape
    for layer in range(num_layers):
        for query in range(size):
            for key in range(size):
                if capacities[layer, query, key] > 0:
                    graph.add_edge(f"{layer + 1}:{query}", f"{layer}:{key}", capacity=capacities[layer, query, key])
    source_name, sink_name = f"{source[0]}:{source[1]}", f"{sink[0]}:{sink[1]}"
    if source_name not in graph or sink_name not in graph:
        return 0.0
    return nx.maximum_flow_value(graph, source_name, sink_name, flow_func=nx.algorithms.flow.edmonds_karp)


def test_flow_two_layers_by_hand():
    # Two tokens, two layers. Every path from (2, 1) to (0, 0) runs through level 1.
    capacities = np.array([[[1.0, 0.0], [0.4, 0.6]], [[1.0, 0.0], [0.3, 0.7]]])
    solver = FlowSolver(capacities, "exact")
    # Paths: (2,1)->(1,0)->(0,0) carries min(0.3, 1.0); (2,1)->(1,1)->(0,0) carries min(0.7, 0.4).
    assert solver.value((2, 1), (0, 0)) == pytest.approx(0.7)
    assert solver.value((2, 1), (0, 1)) == pytest.approx(0.6)
    assert solver.value((2, 0), (0, 1)) == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_exact_flow_matches_networkx(seed, causal):
    capacities = residual_attention(fuse_heads(random_attention(3, 2, 4, causal=causal, seed=seed)))
    solver = FlowSolver(capacities, "exact")
    for query in range(4):
        for key in range(4):
            expected = networkx_flow(capacities, (3, query), (0, key))
            assert solver.value((3, query), (0, key)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("causal", [False, True])
def test_fast_flow_matches_exact(causal):
    capacities = residual_attention(fuse_heads(random_attention(4, 3, 7, causal=causal, seed=5)))
    exact = FlowSolver(capacities, "exact")
    fast = FlowSolver(capacities, "fast")
    np.testing.assert_allclose(fast.input_matrix(), exact.input_matrix(), atol=1e-6)
    np.testing.assert_allclose(fast.flows_from(3, 2), exact.flows_from(3, 2), atol=1e-6)


def test_flow_bounded_by_rollout_row_capacity():
    capacities = residual_attention(fuse_heads(random_attention(2, 2, 5, seed=3)))
    matrix = FlowSolver(capacities, "exact").input_matrix()
    assert (matrix <= 1.0 + 1e-9).all()
    assert (matrix >= 0.0).all()


def test_flow_graph_has_one_node_per_level_and_token():
    graph = flow_graph(residual_attention(fuse_heads(random_attention(3, 1, 4, causal=True))))
    assert graph.number_of_nodes() == 4 * 4
    # Causal: each level has 4 * 5 / 2 edges to the level below.
    assert graph.number_of_edges() == 3 * 10


def test_flows_from_rejects_bottom_level():
    solver = FlowSolver(np.ones((2, 3, 3)) / 3, "exact")
    with pytest.raises(ValueError, match="out of range"):
        solver.flows_from(0, 1)


def test_flow_method_choice():
    assert choose_flow_method(EXACT_FLOW_MAX_TOKENS) == "exact"
    assert choose_flow_method(EXACT_FLOW_MAX_TOKENS + 1) == "fast"
    assert choose_flow_method(3, "fast") == "fast"
    with pytest.raises(ValueError, match="auto"):
        choose_flow_method(3, "quick")


def test_traced_shares_end_in_rollout_row():
    attentions = random_attention(3, 2, 5, causal=True, seed=4)
    layers = residual_attention(fuse_heads(attentions))
    shares = traced_shares(layers, 3, 4)
    np.testing.assert_allclose(shares[0], attention_rollout(attentions)[-1][4], atol=1e-12)
    np.testing.assert_allclose(traced_shares(layers, 2, 1)[0], attention_rollout(attentions)[1][1], atol=1e-12)
    assert shares[3].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(shares.sum(axis=-1), 1.0, atol=1e-12)


def test_traced_shares_reject_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        traced_shares(np.ones((2, 3, 3)) / 3, 3, 0)
