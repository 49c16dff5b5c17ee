"""The layered token-flow graph: strongest edges per node, and a readable graph on long inputs."""

import numpy as np

from viz.layer_flow import MAX_GRAPH_EDGES, MAX_TOKEN_LABELS, layer_flow_figure, strongest_edges


def capacities(layers: int, tokens: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    weights = rng.random((layers, tokens, tokens))
    return weights / weights.sum(axis=-1, keepdims=True)


def figure_for(layers: int, tokens: int, **options):
    names = ["input"] + [f"layer {index}" for index in range(layers)]
    return layer_flow_figure(capacities(layers, tokens), [f"t{index}" for index in range(tokens)], level_names=names, **options)


def drawn_edges(figure) -> int:
    lines = [trace for trace in figure.data if trace.mode == "lines"]
    return sum(sum(value is None for value in trace.x) for trace in lines)


def test_strongest_edges_per_node():
    weights = np.zeros((1, 3, 3))
    weights[0, :, 0] = 0.7
    weights[0, :, 1] = 0.2
    weights[0, :, 2] = 0.1

    edges = strongest_edges(weights, per_node=2)

    assert [(query, key) for _, query, key, _ in edges] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]


def test_short_input_draws_every_strongest_edge():
    figure = figure_for(2, 20, per_node=2)

    assert drawn_edges(figure) == 2 * 20 * 2
    assert figure.layout.meta["edges_shown"] == figure.layout.meta["edges_total"]


def test_long_input_keeps_strongest_edges_only():
    figure = figure_for(2, 1000, per_node=2)

    assert figure.layout.meta["edges_total"] == 2 * 1000 * 2
    assert figure.layout.meta["edges_shown"] == MAX_GRAPH_EDGES
    assert drawn_edges(figure) == MAX_GRAPH_EDGES


def test_long_input_labels_token_stride():
    figure = figure_for(1, 1000)

    labels = next(trace for trace in figure.data if trace.mode == "text")
    assert len(labels.text) <= MAX_TOKEN_LABELS
    assert labels.text[0] == "t0"
    assert list(labels.y) == sorted(labels.y)
