"""Known failures of attention capture, each tested for its whole kind: backends, hooks, shapes, generation, padding."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from model_utils import CaptureError, InputError, capture, count_hooks, wrap_model
from model_utils.batch import capture_batch, pad_encodings
from model_utils.families import SELF, find_attention_modules
from model_utils.generation import assemble_steps, capture_generation
from model_utils.hooks import AttentionRecorder, read_weights
from model_utils.torch_encoder import capture_torch_encoder
from tests.tiny_models import (
    DECODER_BUILDERS,
    ENCODER_BUILDERS,
    SEQ2SEQ_BUILDERS,
    build_model,
    byte_level_tokenizer,
    roberta_tokenizer,
    tiny_bart,
    tiny_bert,
    tiny_gpt2,
    tiny_llama,
    tiny_t5,
    wordpiece_tokenizer,
)

TEXT = "The cat sat on the mat because it was tired."
PARITY_TOLERANCE = 1e-6
BATCH_TOLERANCE = 1e-5
ALL_SELF_BUILDERS = {**ENCODER_BUILDERS, **DECODER_BUILDERS}


def eager_attentions(loaded, input_ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        output = loaded.model(input_ids=torch.tensor([input_ids]), output_attentions=True)
    return torch.stack(output.attentions)[:, 0].numpy()


def drop_masks(module, args, kwargs):
    """Forward pre-hook that loses the causal mask, as a faulty fallback does: every key is allowed."""
    module.is_causal = False
    if isinstance(getattr(module, "bias", None), torch.Tensor) and module.bias.dtype == torch.bool:
        module.bias.fill_(True)  # GPT-Neo keeps its causal pattern in a boolean buffer.
    changed = {"is_causal": False} if "is_causal" in kwargs else {}
    for name in ("attention_mask", "mask"):
        mask = kwargs.get(name)
        if isinstance(mask, torch.Tensor):
            changed[name] = torch.ones_like(mask) if mask.dtype == torch.bool else torch.zeros_like(mask)
    return args, {**kwargs, **changed}


def attach_to_attention(loaded, hook, role=SELF):
    return [module.register_forward_pre_hook(hook, with_kwargs=True) for _, module in find_attention_modules(loaded.model, loaded.family)[role]]


# A1: SDPA and flash attention return no weights.


@pytest.mark.parametrize("model_type", ["bert", "gpt2", "llama", "bart"])
def test_sdpa_model_is_captured_through_eager(model_type):
    tokenizers = {"bart": roberta_tokenizer, "bert": wordpiece_tokenizer}
    tokenizer = tokenizers.get(model_type, byte_level_tokenizer)()
    builders = {**ALL_SELF_BUILDERS, **SEQ2SEQ_BUILDERS}
    reference = builders[model_type]()
    sdpa_model = build_model(
        model_type, tokenizer, causal=reference.is_causal, attn_implementation="sdpa", **_config_overrides(reference)
    )
    sdpa_model.load_state_dict(reference.model.state_dict())

    assert sdpa_model.config._attn_implementation == "sdpa"
    loaded = wrap_model(sdpa_model, tokenizer, f"sdpa-{model_type}")
    result = capture(loaded, TEXT, target="The mat." if loaded.is_encoder_decoder else None)
    expected = capture(reference, TEXT, target="The mat." if loaded.is_encoder_decoder else None)

    assert loaded.attn_implementation == "eager"
    assert "eager" in str(result.manifest["attn_implementation"])
    assert float(np.abs(result.attentions - expected.attentions).max()) <= PARITY_TOLERANCE
    assert np.isfinite(result.attentions).all()
    assert result.attentions.max() > 0


def _config_overrides(loaded) -> dict:
    keep = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "num_key_value_heads", "n_embd",
            "n_head", "n_layer", "n_positions", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
            "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_position_embeddings", "bos_token_id",
            "pad_token_id", "eos_token_id", "decoder_start_token_id", "forced_eos_token_id")
    config = loaded.config.to_dict()
    return {name: config[name] for name in keep if name in config}


def test_generation_switches_back_from_sdpa():
    loaded = tiny_llama()
    loaded.model.set_attn_implementation("sdpa")
    result = capture_generation(loaded, TEXT, 3)

    assert loaded.model.config._attn_implementation == "eager"
    assert float(np.abs(result.attentions - eager_attentions(loaded, list(result.token_ids))).max()) <= PARITY_TOLERANCE


def test_seq2seq_switches_back_from_sdpa():
    loaded = tiny_bart()
    expected = capture(loaded, TEXT, target="The mat.")
    loaded.model.set_attn_implementation("sdpa")
    result = capture(loaded, TEXT, target="The mat.")

    assert float(np.abs(result.cross_attentions - expected.cross_attentions).max()) == 0.0


# A2: a fallback loses the causal mask, so weights land on later tokens.


@pytest.mark.parametrize("name", sorted(DECODER_BUILDERS))
def test_lost_causal_mask_is_rejected(name):
    loaded = DECODER_BUILDERS[name]()
    handles = attach_to_attention(loaded, drop_masks)
    try:
        with pytest.raises(CaptureError, match="put weight .* on a later token.*causal mask was lost"):
            capture(loaded, TEXT)
        with pytest.raises(CaptureError, match="causal mask was lost"):
            capture_generation(loaded, TEXT, 2)
    finally:
        for handle in handles:
            handle.remove()
    assert count_hooks(loaded.model) == 0


@pytest.mark.parametrize("builder", [tiny_bart, tiny_t5], ids=["bart", "t5"])
def test_lost_decoder_mask_is_rejected(builder):
    loaded = builder()
    handles = attach_to_attention(loaded, drop_masks, role="decoder_attentions")
    try:
        with pytest.raises(CaptureError, match="decoder_attentions: a causal model put weight"):
            capture(loaded, TEXT, target="The cat sat on the mat.")
    finally:
        for handle in handles:
            handle.remove()


# A3: the model ignores the request for weights, returns None, or runs one layer short.


def _silence(module, output_shape: str):
    original = module.forward

    def forward(*args, **kwargs):
        output = original(*args, **kwargs)
        if output_shape == "tensor":
            return output[0]
        if output_shape == "one":
            return (output[0],)
        return (output[0], None)

    module.forward = forward


@pytest.mark.parametrize("output_shape", ["none", "tensor", "one"])
@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "distilbert"])
def test_layer_without_weights_is_named(name, output_shape):
    loaded = ALL_SELF_BUILDERS[name]()
    path, module = find_attention_modules(loaded.model, loaded.family)[SELF][1]
    _silence(module, output_shape)

    if output_shape != "none":
        # Parents that unpack two values fail inside the model; the error names the cause.
        try:
            capture(loaded, TEXT)
        except CaptureError as error:
            if "raised ValueError during its forward pass" in str(error):
                assert count_hooks(loaded.model) == 0
                return
    with pytest.raises(CaptureError, match=rf"1 of 2 layers captured.*\[1\].*{path}"):
        capture(loaded, TEXT)
    partial = capture(loaded, TEXT, allow_missing=True)

    assert partial.layers == (0,)
    assert partial.manifest["missing_layers"] == [1]
    assert path in partial.manifest["missing_note"]
    assert partial.attentions.shape[0] == 1
    assert count_hooks(loaded.model) == 0


def test_missing_cross_layer_is_named():
    loaded = tiny_bart()
    path, module = find_attention_modules(loaded.model, loaded.family)["cross_attentions"][0]
    _silence(module, "none")

    with pytest.raises(CaptureError, match=rf"cross_attentions.*{path}"):
        capture(loaded, TEXT, target="The mat.")


def test_albert_shared_layer_one_call_short():
    loaded = ENCODER_BUILDERS["albert"]()
    short_config = copy.deepcopy(loaded.model.config)
    short_config.num_hidden_layers = 1
    loaded.model.encoder.config = short_config

    with pytest.raises(CaptureError, match=r"1 of 2 layers captured.*\[1\].*never called"):
        capture(loaded, TEXT)
    assert capture(loaded, TEXT, allow_missing=True).layers == (0,)


# B1: the fused fast path of nn.TransformerEncoderLayer skips hooks and requests no weights.


@pytest.fixture
def torch_encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True, dropout=0.0)
    return nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=True).eval()


def manual_encoder_weights(encoder, source, padding=None):
    hidden, weights = source, []
    with torch.no_grad():
        for layer in encoder.layers:
            _, layer_weights = layer.self_attn(
                hidden, hidden, hidden, key_padding_mask=padding, need_weights=True, average_attn_weights=False
            )
            weights.append(layer_weights)
            hidden = layer(hidden, src_key_padding_mask=padding)
    return torch.stack(weights, dim=1).numpy()


def test_torch_encoder_per_layer_heads(torch_encoder):
    source = torch.randn(2, 7, 16)
    with torch.inference_mode():
        plain = torch_encoder(source)
    result = capture_torch_encoder(torch_encoder, source)

    assert result.attentions.shape == (2, 3, 4, 7, 7)
    assert float((result.output - plain).abs().max()) <= BATCH_TOLERANCE
    assert float(np.abs(result.attentions - manual_encoder_weights(torch_encoder, source)).max()) <= PARITY_TOLERANCE
    assert result.paths == ("layers.0.self_attn", "layers.1.self_attn", "layers.2.self_attn")
    assert count_hooks(torch_encoder) == 0
    assert torch.backends.mha.get_fastpath_enabled()


def test_torch_encoder_with_padding_keeps_real_outputs(torch_encoder):
    source = torch.randn(2, 7, 16)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 5:] = True
    with torch.inference_mode():
        plain = torch_encoder(source, src_key_padding_mask=padding)
    result = capture_torch_encoder(torch_encoder, source, src_key_padding_mask=padding)

    assert float((result.output[0] - plain[0]).abs().max()) <= BATCH_TOLERANCE
    assert float((result.output[1, :5] - plain[1, :5]).abs().max()) <= BATCH_TOLERANCE
    assert float(result.attentions[1, :, :, :, 5:].max()) == 0.0
    assert float(np.abs(result.attentions - manual_encoder_weights(torch_encoder, source, padding)).max()) <= PARITY_TOLERANCE


def test_torch_encoder_causal_mask(torch_encoder):
    source = torch.randn(1, 6, 16)
    causal = nn.Transformer.generate_square_subsequent_mask(6)
    result = capture_torch_encoder(torch_encoder, source, mask=causal, is_causal=True)
    later = np.triu(np.ones((6, 6), dtype=bool), k=1)

    assert float(result.attentions[0][..., later].max()) == 0.0


def test_plain_hooks_on_torch_encoder_capture_nothing(torch_encoder):
    targets = [(path, module) for path, module in torch_encoder.named_modules() if isinstance(module, nn.MultiheadAttention)]
    recorder = AttentionRecorder(targets, 1)
    with recorder.attached(), torch.inference_mode():
        torch_encoder(torch.randn(1, 5, 16))

    assert all(weights is None for _, weights in recorder.calls)


class DirectForwardLayer(nn.TransformerEncoderLayer):
    """An encoder layer that calls its attention's ``.forward()`` directly, which skips every hook."""

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        return self.dropout1(self.self_attn.forward(x, x, x, need_weights=False)[0])


def test_direct_forward_reports_zero_layers():
    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(
        DirectForwardLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True, dropout=0.0), num_layers=2,
        enable_nested_tensor=False,
    ).eval()

    with pytest.raises(CaptureError, match=r"0 of 2 layers captured.*layers\.0\.self_attn"):
        capture_torch_encoder(encoder, torch.randn(1, 5, 16))
    assert count_hooks(encoder) == 0
    assert torch.backends.mha.get_fastpath_enabled()


# B2: keyword-only calls, direct .forward() and hooks piling up.


def test_keyword_only_calls_are_recorded():
    loaded = tiny_llama()
    seen_args = []
    handles = attach_to_attention(loaded, lambda module, args, kwargs: seen_args.append(args))
    try:
        result = capture(loaded, TEXT)
    finally:
        for handle in handles:
            handle.remove()

    assert seen_args and all(args == () for args in seen_args)
    assert result.num_layers == 2


class DirectForward(nn.Module):
    """A parent that calls its attention child's ``.forward()`` directly, so the child's hooks never run."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return self.inner.forward(*args, **kwargs)


@pytest.mark.parametrize("name", ["bert", "llama"])
def test_direct_forward_layer_is_named(name):
    loaded = ALL_SELF_BUILDERS[name]()
    layers = loaded.model.encoder.layer if name == "bert" else loaded.model.model.layers
    if name == "bert":
        layers[0].attention.self = DirectForward(layers[0].attention.self)
    else:
        layers[0].self_attn = DirectForward(layers[0].self_attn)

    for _ in range(3):
        with pytest.raises(CaptureError, match=r"1 of 2 layers captured.*\[0\].*inner"):
            capture(loaded, TEXT)
    assert count_hooks(loaded.model) == 0


def test_read_weights_never_raises_index_error():
    assert read_weights((), 1) is None
    assert read_weights((torch.zeros(1, 2, 3),), 1) is None
    assert read_weights(torch.zeros(1, 2, 3, 3), 1) is None
    assert read_weights((torch.zeros(1, 2), torch.zeros(1, 2, 3)), 1) is None
    assert read_weights((torch.zeros(1), torch.zeros(1, 2, 3, 3)), -1) is not None
    assert read_weights({"weights": torch.zeros(1, 2, 3, 3)}, 1) is None


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "bart", "t5"])
def test_hooks_never_pile_up(name):
    loaded = {**ALL_SELF_BUILDERS, **SEQ2SEQ_BUILDERS}[name]()
    for _ in range(5):
        capture(loaded, TEXT, target="The mat." if loaded.is_encoder_decoder else None)
        assert count_hooks(loaded.model) == 0
    if loaded.is_causal:
        capture_generation(loaded, TEXT, 2)
        with pytest.raises(InputError):
            capture_generation(loaded, TEXT, 0)
    with pytest.raises(InputError):
        capture(loaded, TEXT, layers=[99])
    assert count_hooks(loaded.model) == 0
    assert not loaded.lock.locked()


# C1: grouped-query attention: one pattern per query head.


@pytest.mark.parametrize("name", ["llama", "qwen2", "mistral", "gemma"])
@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_grouped_query_heads(name, kv_heads):
    loaded = DECODER_BUILDERS[name](num_key_value_heads=kv_heads)
    result = capture(loaded, TEXT)
    expected = eager_attentions(loaded, list(result.token_ids))

    assert result.num_heads == loaded.config.num_attention_heads == 4
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE
    if kv_heads == 4:
        assert result.kv_groups is None
    else:
        assert result.kv_groups == tuple(head // (4 // kv_heads) for head in range(4))
    assert not np.allclose(result.attentions[:, 0], result.attentions[:, 1])


# C2: banded attention is not a token x token matrix.


@pytest.mark.parametrize(
    ("model_type", "overrides"),
    [
        ("longformer", dict(attention_window=[4, 4], max_position_embeddings=64)),
        ("led", dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                     encoder_ffn_dim=64, decoder_ffn_dim=64, attention_window=[4, 4])),
        ("big_bird", dict(attention_type="block_sparse", block_size=2, num_random_blocks=1, max_position_embeddings=64)),
    ],
)
def test_banded_attention_is_not_supported(model_type, overrides):
    model = build_model(model_type, roberta_tokenizer(), **overrides)

    with pytest.raises(CaptureError, match=rf"'{model_type}' is not supported.*(banded|block-sparse)"):
        wrap_model(model, roberta_tokenizer(), f"tiny-{model_type}")


def _make_banded(module) -> None:
    original = module.forward

    def banded(*args, **kwargs):
        output, weights = original(*args, **kwargs)
        return output, torch.softmax(torch.randn(*weights.shape[:-1], 5), dim=-1)

    module.forward = banded


def test_band_in_one_layer_is_never_drawn():
    loaded = tiny_bert()
    _make_banded(loaded.model.encoder.layer[1].attention.self)

    with pytest.raises(CaptureError, match=r"captured shape \(4, \d+, 5\) for layer 1 .* does not match"):
        capture(loaded, TEXT)


def test_band_in_every_layer_is_never_drawn():
    loaded = tiny_bert()
    for layer in loaded.model.encoder.layer:
        _make_banded(layer.attention.self)

    with pytest.raises(CaptureError, match=r"does not match \[layer, 4 heads, \d+ queries, \d+ keys\]"):
        capture(loaded, TEXT)


# C3: read attention by name, one entry per layer, the same layer index everywhere.


@pytest.mark.parametrize("name", sorted(ALL_SELF_BUILDERS))
def test_one_entry_per_layer_by_index(name):
    loaded = ALL_SELF_BUILDERS[name]()
    full = capture(loaded, TEXT)
    second = capture(loaded, TEXT, layers=[1])

    assert full.layers == tuple(range(loaded.config.num_hidden_layers))
    assert second.layers == (1,)
    assert float(np.abs(second.layer(1) - full.layer(1)).max()) <= PARITY_TOLERANCE
    assert float(np.abs(full.attentions - eager_attentions(loaded, list(full.token_ids))).max()) <= PARITY_TOLERANCE


def test_hidden_states_are_not_read_as_weights():
    loaded = tiny_bert()
    module = loaded.model.encoder.layer[0].attention.self
    original = module.forward

    def hidden_second(*args, **kwargs):
        output, _ = original(*args, **kwargs)
        return output, output

    module.forward = hidden_second
    with pytest.raises(CaptureError, match=r"1 of 2 layers captured.*\[0\]"):
        capture(loaded, TEXT)


def test_seq2seq_layers_match_by_index():
    loaded = tiny_t5()
    full = capture(loaded, TEXT, target="The mat.")
    second = capture(loaded, TEXT, target="The mat.", layers=[1])

    assert full.layers == (0, 1)
    assert second.layers == (1,)
    assert np.array_equal(second.cross_attentions[0], full.cross_attentions[1])
    assert np.array_equal(second.decoder_attentions[0], full.decoder_attentions[1])


# D1: generate() returns one ragged tensor per step.


@pytest.mark.parametrize("name", sorted(DECODER_BUILDERS))
def test_generation_equals_plain_forward(name):
    loaded = DECODER_BUILDERS[name]()
    result = capture_generation(loaded, TEXT, 6)
    prompt_length = len(loaded.tokenizer(TEXT)["input_ids"])
    generated = len(result.generated_tokens)
    expected = eager_attentions(loaded, list(result.token_ids))
    later = np.triu(np.ones((result.num_tokens, result.num_tokens), dtype=bool), k=1)

    assert result.prompt_length == prompt_length
    assert 1 <= generated <= 6
    assert result.num_tokens == prompt_length + generated - 1
    assert result.attentions.shape == (2, 4, result.num_tokens, result.num_tokens)
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE
    assert float(result.attentions[..., later].max()) == 0.0
    assert result.tokens[prompt_length:] == result.generated_tokens[:-1]
    assert count_hooks(loaded.model) == 0


def test_generation_steps_match_generate_output():
    loaded = tiny_gpt2()
    result = capture_generation(loaded, TEXT, 4)
    inputs = loaded.tokenizer(TEXT, return_tensors="pt")
    with torch.inference_mode():
        output = loaded.model.generate(
            **inputs, max_new_tokens=4, do_sample=False, output_attentions=True, return_dict_in_generate=True,
            pad_token_id=loaded.tokenizer.pad_token_id,
        )
    steps_layer0 = [step[0] for step in output.attentions]

    assert output.sequences[0].tolist()[: result.num_tokens] == list(result.token_ids)
    assembled = assemble_steps(steps_layer0, result.prompt_length)

    assert len(steps_layer0) == len(result.generated_tokens)
    assert float(np.abs(assembled - result.attentions[0]).max()) <= PARITY_TOLERANCE


def test_generation_stopping_at_first_token():
    loaded = tiny_gpt2()
    generated_id = loaded.model.generate(**loaded.tokenizer(TEXT, return_tensors="pt"), max_new_tokens=1, do_sample=False,
                                         pad_token_id=loaded.tokenizer.pad_token_id)[0, -1].item()
    loaded.model.generation_config.eos_token_id = generated_id
    stopped = capture_generation(loaded, TEXT, 5)

    assert len(stopped.generated_tokens) == 1
    assert stopped.num_tokens == stopped.prompt_length
    assert np.array_equal(stopped.attentions, capture(loaded, TEXT).attentions)


def test_ragged_steps_assemble_lower_triangular():
    prompt = torch.softmax(torch.randn(1, 2, 3, 3).masked_fill(torch.triu(torch.ones(3, 3, dtype=torch.bool), 1), -1e9), -1)
    step1 = torch.softmax(torch.randn(1, 2, 1, 4), -1)
    step2 = torch.softmax(torch.randn(1, 2, 1, 5), -1)
    step_unused = torch.softmax(torch.randn(1, 2, 1, 6), -1)
    matrix = assemble_steps([prompt, step1, step2], 3)

    assert matrix.shape == (2, 5, 5)
    assert np.allclose(matrix[:, 3, :4], step1[0, :, 0].numpy())
    assert np.allclose(matrix[:, 4, :5], step2[0, :, 0].numpy())
    assert np.allclose(matrix.sum(-1), 1.0, atol=1e-6)
    assert assemble_steps([prompt, None], 3) is None
    with pytest.raises(CaptureError, match="expected one query over at most 4 keys"):
        assemble_steps([prompt, step_unused], 3)


def test_generation_rejects_encoder():
    with pytest.raises(InputError, match="decoder models"):
        capture_generation(tiny_bert(), TEXT, 3)


# E1: padded batches.

BATCH_TEXTS = ["The cat sat.", "A dog ran in the park and the cat watched it.", "it"]


@pytest.mark.parametrize("name", sorted(ALL_SELF_BUILDERS))
def test_padded_batch_equals_single_texts(name):
    loaded = ALL_SELF_BUILDERS[name]()
    sides = ("left", "right") if loaded.is_causal else ("right",)
    for side in sides:
        results = capture_batch(loaded, BATCH_TEXTS, padding_side=side)
        for text, result in zip(BATCH_TEXTS, results):
            alone = capture(loaded, text)

            assert result.tokens == alone.tokens
            assert result.attentions.shape == alone.attentions.shape
            assert float(np.abs(result.attentions - alone.attentions).max()) <= BATCH_TOLERANCE
            assert np.allclose(result.attentions.sum(-1), 1.0, atol=1e-5)
    assert count_hooks(loaded.model) == 0


def test_left_padding_without_positions_would_shift():
    loaded = tiny_gpt2()
    encodings = [loaded.tokenizer(text, return_tensors="pt") for text in BATCH_TEXTS]
    batch = pad_encodings([{k: v for k, v in e.items()} for e in encodings], loaded.tokenizer.pad_token_id, "left")
    with torch.inference_mode():
        shifted = loaded.model(**batch, output_attentions=True).attentions[0][0]
    real = batch["attention_mask"][0].bool()
    alone = capture(loaded, BATCH_TEXTS[0]).attentions[0]

    assert float(np.abs(shifted[:, real][:, :, real].numpy() - alone).max()) > BATCH_TOLERANCE
    assert float(np.abs(capture_batch(loaded, BATCH_TEXTS)[0].attentions[0] - alone).max()) <= BATCH_TOLERANCE


def test_left_padding_rejected_for_encoders():
    with pytest.raises(InputError, match="padded on the right"):
        capture_batch(tiny_bert(), BATCH_TEXTS, padding_side="left")


def test_batch_rejects_seq2seq():
    with pytest.raises(InputError, match="one by one"):
        capture_batch(tiny_bart(), BATCH_TEXTS)
