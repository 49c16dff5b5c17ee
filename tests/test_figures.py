"""Figure builders: heatmap axes and hover, token-flow lines, the head grid and comparisons."""

import numpy as np
import pytest

from model_utils import capture
from tests.tiny_models import tiny_gpt2
from viz.flow import flow_segments, token_flow_figure
from viz.grid import head_grid_figure, heads_side_by_side
from viz.heatmap import attention_heatmap, prepare_heatmap, tick_positions
from viz.labels import tick_labels
from viz.style import FUTURE_KEY_COLOR, MAX_LABELLED_TICKS

REPEATED_TEXT = "the cat saw the cat and the dog"


@pytest.fixture(scope="module")
def repeated(embedded_model):
    return capture(embedded_model, REPEATED_TEXT)


@pytest.fixture(scope="module")
def causal():
    return capture(tiny_gpt2(), "the cat sat on the mat because it was tired")


def line_segments(figure) -> list[tuple[float, float]]:
    """Return ``(query_pos, key_pos)`` of every line drawn in a token-flow figure."""
    segments = []
    for trace in figure.data:
        if trace.mode != "lines":
            continue
        ys = list(trace.y)
        for start in range(0, len(ys), 3):
            segments.append((ys[start], ys[start + 1]))
    return segments


def test_heatmap_z_matches_weights(repeated):
    weights = repeated.layer(2)[5]
    figure = attention_heatmap(weights, repeated.tokens)
    heatmap = figure.data[0]

    assert np.asarray(heatmap.z).shape == (repeated.num_tokens, repeated.num_tokens)
    np.testing.assert_allclose(np.asarray(heatmap.z, dtype=float), weights, rtol=0, atol=1e-7)
    assert list(heatmap.x) == list(range(repeated.num_tokens))
    assert list(heatmap.y) == list(range(repeated.num_tokens))


def test_heatmap_tick_text_equals_labels(repeated):
    figure = attention_heatmap(repeated.layer(0)[0], repeated.tokens)

    for axis in (figure.layout.xaxis, figure.layout.yaxis):
        assert list(axis.tickvals) == list(range(repeated.num_tokens))
        assert list(axis.ticktext) == tick_labels(repeated.tokens)
        assert axis.tickmode == "array"


def test_heatmap_axes_end_at_cell_edges(repeated):
    figure = attention_heatmap(repeated.layer(0)[0], repeated.tokens)
    size = repeated.num_tokens

    assert list(figure.layout.xaxis.range) == [-0.5, size - 0.5]
    assert list(figure.layout.yaxis.range) == [size - 0.5, -0.5]


def test_heatmap_background_only_behind_gaps(repeated, causal):
    encoder = attention_heatmap(repeated.layer(0)[0], repeated.tokens)
    decoder = attention_heatmap(causal.layer(0)[0], causal.tokens, causal=True)

    assert encoder.layout.plot_bgcolor == "rgba(0,0,0,0)"
    assert decoder.layout.plot_bgcolor == FUTURE_KEY_COLOR


def test_heatmap_repeated_tokens_keep_rows(repeated):
    tokens = repeated.tokens
    positions = [position for position, token in enumerate(tokens) if token == "the"]
    figure = attention_heatmap(repeated.layer(1)[3], tokens)
    custom = np.asarray(figure.data[0].customdata, dtype=object)

    assert len(positions) == 3
    assert custom.shape == (len(tokens), len(tokens), 4)
    for position in positions:
        assert custom[position, 0, 0] == position
        assert custom[position, 0, 1] == "the"
        assert custom[0, position, 2] == position
        assert custom[0, position, 3] == "the"
    rows = {tuple(custom[position, :, 0]) for position in positions}
    assert len(rows) == 3
    assert "%{customdata[0]}" in figure.data[0].hovertemplate
    assert "%{customdata[2]}" in figure.data[0].hovertemplate


def test_heatmap_hover_escapes_html():
    tokens = ["<b>", "x", "</b>"]
    figure = attention_heatmap(np.full((3, 3), 1 / 3), tokens, title="<i>title</i>")
    custom = np.asarray(figure.data[0].customdata, dtype=object)

    assert custom[0, 0, 1] == "&lt;b&gt;"
    assert custom[0, 2, 3] == "&lt;/b&gt;"
    assert list(figure.layout.xaxis.ticktext) == ["&lt;b&gt;", "x", "&lt;/b&gt;"]
    assert figure.layout.title.text == "&lt;i&gt;title&lt;/i&gt;"


def test_heatmap_colour_range_fixed_or_rescaled(repeated):
    weights = repeated.layer(4)[1]
    fixed = attention_heatmap(weights, repeated.tokens).data[0]
    rescaled = attention_heatmap(weights, repeated.tokens, rescale=True).data[0]

    assert (fixed.zmin, fixed.zmax) == (0.0, 1.0)
    assert rescaled.zmin == pytest.approx(float(weights.min()))
    assert rescaled.zmax == pytest.approx(float(weights.max()))


def test_difference_heatmap_centred_on_zero(repeated):
    difference = repeated.layer(0)[0] - repeated.layer(0)[1]
    heatmap = attention_heatmap(difference, repeated.tokens, difference=True).data[0]
    bound = float(np.abs(difference).max())

    assert heatmap.zmid == 0.0
    assert heatmap.zmin == pytest.approx(-bound)
    assert heatmap.zmax == pytest.approx(bound)


def test_causal_heatmap_future_keys_are_gaps(causal):
    weights = causal.layer(0)[2]
    size = causal.num_tokens
    z = np.asarray(attention_heatmap(weights, causal.tokens, causal=True).data[0].z, dtype=float)
    future = np.triu(np.ones((size, size), dtype=bool), k=1)

    assert np.isnan(z[future]).all()
    assert not np.isnan(z[~future]).any()
    np.testing.assert_allclose(z[~future], weights[~future], rtol=0, atol=1e-7)


def test_prepare_heatmap_leaves_input_unchanged(causal):
    weights = causal.layer(1)[0]
    before = weights.copy()
    prepared = prepare_heatmap(weights, causal=True)

    np.testing.assert_array_equal(weights, before)
    assert np.isnan(prepared[0, 1])
    assert not np.isnan(prepare_heatmap(weights, causal=False)).any()


def test_long_input_ticks_thinned_but_aligned():
    count = 300
    tokens = [f"t{position}" for position in range(count)]
    figure = attention_heatmap(np.eye(count), tokens, clickable=False)
    tickvals = list(figure.layout.xaxis.tickvals)

    assert len(tickvals) <= MAX_LABELLED_TICKS
    assert tickvals == tick_positions(count)
    assert list(figure.layout.xaxis.ticktext) == [f"t{position}" for position in tickvals]
    assert np.asarray(figure.data[0].z).shape == (count, count)


def test_flow_threshold_drops_weak_lines(repeated):
    weights = repeated.layer(3)[0]
    threshold = 0.2
    pairs = flow_segments(weights, threshold)

    assert len(pairs) == int((weights >= threshold).sum())
    assert all(weight >= threshold for _, _, weight in pairs)
    assert [weight for _, _, weight in pairs] == sorted((weight for _, _, weight in pairs), reverse=True)
    assert 0 < len(pairs) < weights.size


def test_flow_figure_draws_one_line_per_pair(repeated):
    layer_weights = repeated.layer(3)
    threshold = 0.15
    figure = token_flow_figure(layer_weights, repeated.tokens, heads=[0], threshold=threshold)
    expected = {(query, key) for query, key, _ in flow_segments(layer_weights[0], threshold)}

    assert set(line_segments(figure)) == expected
    assert len(line_segments(figure)) == len(expected)


def test_flow_focus_keeps_one_query(repeated):
    layer_weights = repeated.layer(3)
    focus = 2
    figure = token_flow_figure(layer_weights, repeated.tokens, heads=[0, 1, 2], threshold=0.0, focus=focus)
    segments = line_segments(figure)

    assert len(segments) == 3 * repeated.num_tokens
    assert {query for query, _ in segments} == {focus}


def test_flow_focus_on_key_keeps_incoming_lines(repeated):
    weights = repeated.layer(3)[4]
    pairs = flow_segments(weights, 0.05, focus=0, focus_side="key")

    assert pairs
    assert {key for _, key, _ in pairs} == {0}
    assert len(pairs) == int((weights[:, 0] >= 0.05).sum())


def test_flow_heads_get_their_own_colours(repeated):
    figure = token_flow_figure(repeated.layer(0), repeated.tokens, heads=[0, 5], threshold=0.0)
    colours_by_head = {}
    for trace in figure.data:
        if trace.mode == "lines":
            colours_by_head.setdefault(trace.legendgroup, set()).add(trace.line.color)

    assert set(colours_by_head) == {"head0", "head5"}
    assert all(len(colours) == 1 for colours in colours_by_head.values())
    assert colours_by_head["head0"] != colours_by_head["head5"]


def test_flow_token_columns_keep_positions(repeated):
    figure = token_flow_figure(repeated.layer(0), repeated.tokens, heads=[0])
    columns = [trace for trace in figure.data if trace.mode == "markers+text"]

    assert [column.name for column in columns] == ["query", "key"]
    for column in columns:
        assert list(column.y) == list(range(repeated.num_tokens))
        assert list(column.text) == tick_labels(repeated.tokens)
        assert [list(item) for item in column.customdata] == [[column.name, position] for position in range(repeated.num_tokens)]


def test_head_grid_has_every_head(repeated):
    figure = head_grid_figure(repeated.attentions, repeated.layers)
    images = [trace for trace in figure.data if trace.type == "image"]
    markers = [trace for trace in figure.data if trace.type == "scatter" and trace.customdata is not None]

    # One PNG mosaic contains every thumbnail; one marker per head carries its click target.
    assert len(images) == 1
    assert images[0].source.startswith("data:image/png;base64,")
    assert len(markers) == 1
    assert sorted(tuple(item) for item in markers[0].customdata) == [(layer, head) for layer in range(6) for head in range(12)]


def test_side_by_side_panels_share_labels(repeated):
    matrices = [repeated.layer(0)[0], repeated.layer(5)[11]]
    figure = heads_side_by_side(matrices, ["a", "b"], repeated.tokens, difference=matrices[0] - matrices[1])
    heatmaps = [trace for trace in figure.data if trace.type == "heatmap"]

    assert len(heatmaps) == 3
    np.testing.assert_allclose(np.asarray(heatmaps[2].z, dtype=float), matrices[0] - matrices[1], atol=1e-7)
    assert list(figure.layout.xaxis.ticktext) == tick_labels(repeated.tokens)
    assert list(figure.layout.xaxis3.ticktext) == tick_labels(repeated.tokens)


def test_flow_labels_thinned_on_long_input():
    tokens = [f"t{position}" for position in range(300)]
    weights = np.full((1, 300, 300), 1 / 300)
    figure = token_flow_figure(weights, tokens, threshold=0.5)
    query_column = next(trace for trace in figure.data if trace.name == "query")
    shown = [label for label in query_column.text if label]

    assert 0 < len(shown) <= 60
    assert shown[0] == "t0"
    assert len(query_column.x) == 300
