"""Every supported family: hooked weights equal transformers' own eager output, with the right shapes."""

import numpy as np
import pytest
import torch

from transformers import AutoModel

from model_utils import AtlasError, CaptureError, InputError, capture, count_hooks, load_model, wrap_model
from model_utils import families
from model_utils.families import CROSS, DECODER, ENCODER, FAMILIES, family_for, kv_groups_for, model_kind
from tests.tiny_models import (
    DECODER_BUILDERS,
    ENCODER_BUILDERS,
    SEQ2SEQ_BUILDERS,
    build,
    build_model,
    byte_level_tokenizer,
    roberta_tokenizer,
    save_tiny_model,
    tiny_bert,
    tiny_gpt2,
    tiny_llama,
    tiny_roberta,
    tiny_bart,
    tiny_t5,
)

TEXT = "The cat sat on the mat because it was tired, the cat said."
TARGET = "Die Katze sitzt auf der Matte."
PARITY_TOLERANCE = 1e-6
ROW_SUM_TOLERANCE = 1e-5


def eager_output(loaded, text: str, **extra):
    inputs = loaded.tokenizer(text, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in loaded.tokenizer.model_input_names:
        names.append("token_type_ids")
    with torch.inference_mode():
        return loaded.model(**{name: inputs[name] for name in names if name in inputs}, **extra, output_attentions=True)


def stacked(attentions) -> np.ndarray:
    return torch.stack(attentions)[:, 0].float().numpy()


def assert_rows_are_distributions(array: np.ndarray) -> None:
    assert float(np.abs(array.sum(axis=-1) - 1.0).max()) <= ROW_SUM_TOLERANCE


def assert_causal(array: np.ndarray) -> None:
    size = array.shape[-1]
    later = np.triu(np.ones((size, size), dtype=bool), k=1)
    assert float(np.abs(array[..., later]).max()) == 0.0


@pytest.fixture(scope="module", params=sorted(ENCODER_BUILDERS))
def encoder(request):
    return ENCODER_BUILDERS[request.param]()


@pytest.fixture(scope="module", params=sorted(DECODER_BUILDERS))
def decoder(request):
    return DECODER_BUILDERS[request.param]()


@pytest.fixture(scope="module", params=sorted(SEQ2SEQ_BUILDERS))
def seq2seq(request):
    return SEQ2SEQ_BUILDERS[request.param]()


def test_encoder_weights_equal_eager_output(encoder):
    result = capture(encoder, TEXT)
    expected = stacked(eager_output(encoder, TEXT).attentions)

    assert result.attentions.shape == expected.shape
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE
    assert result.num_heads == encoder.config.num_attention_heads
    assert result.num_layers == encoder.config.num_hidden_layers
    assert result.is_causal is False
    assert_rows_are_distributions(result.attentions)
    assert model_kind(encoder.config) == "encoder"
    assert count_hooks(encoder.model) == 0


def test_decoder_weights_equal_eager_output(decoder):
    result = capture(decoder, TEXT)
    expected = stacked(eager_output(decoder, TEXT).attentions)

    assert result.attentions.shape == expected.shape
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE
    assert result.num_heads == decoder.config.num_attention_heads
    assert result.num_layers == decoder.config.num_hidden_layers
    assert result.is_causal is True
    assert_causal(result.attentions)
    assert_rows_are_distributions(result.attentions)
    assert model_kind(decoder.config) == "decoder"
    assert count_hooks(decoder.model) == 0


@pytest.mark.parametrize("target", [TARGET, None], ids=["target", "generated"])
def test_seq2seq_weights_equal_eager_output(seq2seq, target):
    result = capture(seq2seq, TEXT, target=target, max_new_tokens=6)
    decoder_ids = torch.tensor([result.manifest["target_token_ids"]])
    output = eager_output(seq2seq, TEXT, decoder_input_ids=decoder_ids)
    source_count, target_count = len(result.tokens), len(result.target_tokens)
    heads = seq2seq.config.num_attention_heads

    assert float(np.abs(result.attentions - stacked(output.encoder_attentions)).max()) <= PARITY_TOLERANCE
    assert float(np.abs(result.decoder_attentions - stacked(output.decoder_attentions)).max()) <= PARITY_TOLERANCE
    assert float(np.abs(result.cross_attentions - stacked(output.cross_attentions)).max()) <= PARITY_TOLERANCE
    assert result.attentions.shape == (2, heads, source_count, source_count)
    assert result.decoder_attentions.shape == (2, heads, target_count, target_count)
    assert result.cross_attentions.shape == (2, heads, target_count, source_count)
    assert_causal(result.decoder_attentions)
    for array in (result.attentions, result.decoder_attentions, result.cross_attentions):
        assert_rows_are_distributions(array)
    assert model_kind(seq2seq.config) == "encoder-decoder"
    assert count_hooks(seq2seq.model) == 0


def test_seq2seq_target_rows_start_with_decoder_start(seq2seq):
    result = capture(seq2seq, TEXT, target=TARGET)
    target_ids = seq2seq.tokenizer(text_target=TARGET)["input_ids"]

    assert result.manifest["target_token_ids"] == [seq2seq.config.decoder_start_token_id, *target_ids]
    assert len(result.target_tokens) == len(target_ids) + 1
    assert result.manifest["target_generated"] is False


def test_seq2seq_generated_target_matches_generate(seq2seq):
    result = capture(seq2seq, TEXT, max_new_tokens=5)
    inputs = seq2seq.tokenizer(TEXT, return_tensors="pt")
    with torch.inference_mode():
        expected = seq2seq.model.generate(**inputs, max_new_tokens=5, do_sample=False, num_beams=1)

    assert result.manifest["target_token_ids"] == expected[0].tolist()
    assert result.manifest["target_generated"] is True
    assert 2 <= len(result.target_tokens) <= 6


def test_empty_target_means_generate(seq2seq):
    result = capture(seq2seq, TEXT, target="   ", max_new_tokens=3)

    assert result.manifest["target_generated"] is True


def test_t5_weights_are_not_position_bias():
    model = tiny_t5()
    result = capture(model, TEXT)
    bias_spec = FAMILIES["t5"].__class__("T5 with index 1", ("T5Attention",), weights_index=1)
    misread = wrap_model(model.model, model.tokenizer, "t5-misread")
    object.__setattr__(misread, "family", bias_spec)

    assert FAMILIES["t5"].weights_index == 2
    assert_rows_are_distributions(result.attentions)
    with pytest.raises(CaptureError, match="rows must sum to 1"):
        capture(misread, TEXT, target=TARGET)


@pytest.mark.parametrize("model_type", ["t5", "bart", "llama", "bert"])
def test_fallback_to_transformers_recorders(monkeypatch, model_type):
    builders = {**ENCODER_BUILDERS, **DECODER_BUILDERS, **SEQ2SEQ_BUILDERS}
    reference = builders[model_type]()
    expected = capture(reference, TEXT, target=TARGET if reference.is_encoder_decoder else None)
    monkeypatch.delitem(FAMILIES, model_type)
    fallback = wrap_model(reference.model, reference.tokenizer, f"fallback-{model_type}")
    result = capture(fallback, TEXT, target=TARGET if fallback.is_encoder_decoder else None)

    assert fallback.family.name == model_type
    assert float(np.abs(result.attentions - expected.attentions).max()) == 0.0
    if expected.cross_attentions is not None:
        assert float(np.abs(result.cross_attentions - expected.cross_attentions).max()) == 0.0
        assert float(np.abs(result.decoder_attentions - expected.decoder_attentions).max()) == 0.0


def test_unknown_family_uses_transformers_recorders():
    model = build("olmo2", byte_level_tokenizer(), causal=True, num_key_value_heads=2)
    result = capture(model, TEXT)
    expected = stacked(eager_output(model, TEXT).attentions)

    assert "olmo2" not in FAMILIES
    assert model.family.name == "olmo2"
    assert model.family.causal is True
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE


def test_model_without_attention_is_rejected():
    model = build_model("mamba", byte_level_tokenizer(), causal=True)
    with pytest.raises(CaptureError, match="may not be a Transformer"):
        wrap_model(model, byte_level_tokenizer(), "tiny-mamba")


@pytest.mark.parametrize(("kv_heads", "expected"), [(4, None), (2, (0, 0, 1, 1)), (1, (0, 0, 0, 0))])
def test_kv_groups_per_query_head(kv_heads, expected):
    model = tiny_llama(num_key_value_heads=kv_heads)
    result = capture(model, TEXT)

    assert result.kv_groups == expected
    assert result.num_heads == 4
    assert kv_groups_for(model.config) == expected


def test_kv_groups_reject_uneven_split():
    config = type("Config", (), {"num_attention_heads": 6, "num_key_value_heads": 4})()
    with pytest.raises(CaptureError, match="6 query heads cannot be split evenly over 4"):
        kv_groups_for(config)


@pytest.mark.parametrize("builder", [tiny_bert, tiny_roberta], ids=["bert", "roberta"])
def test_sentence_pair_segments(builder):
    model = builder()
    result = capture(model, "The cat sat.", "It was tired.")
    segments = np.array(result.segment_ids)
    encoding = model.tokenizer("The cat sat.", "It was tired.")
    sequences = encoding.sequence_ids()

    assert len(segments) == result.num_tokens
    assert segments[0] == 0
    assert segments[-1] == 1
    for position, sequence in enumerate(sequences):
        if sequence is not None:
            assert segments[position] == sequence
    for label, segment, special in zip(result.tokens, segments, result.special_mask):
        if not special and label != "␣":
            assert label.removeprefix("##") in ("The cat sat." if segment == 0 else "It was tired.")
    assert_rows_are_distributions(result.attentions)


def test_pair_with_token_types_equals_eager():
    model = tiny_bert()
    result = capture(model, "The cat sat.", "It was tired.")
    inputs = model.tokenizer("The cat sat.", "It was tired.", return_tensors="pt")
    with torch.inference_mode():
        expected = stacked(model.model(**inputs, output_attentions=True).attentions)

    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE
    assert result.segment_ids == tuple(inputs["token_type_ids"][0].tolist())


def test_pair_on_decoder_is_rejected():
    with pytest.raises(InputError, match="Sentence pairs apply to encoder models"):
        capture(tiny_gpt2(), "The cat sat.", "It was tired.")


def test_target_on_encoder_is_rejected():
    with pytest.raises(InputError, match="encoder-decoder models only"):
        capture(tiny_bert(), "The cat sat.", target="Die Katze.")


def test_gpt_neo_local_layer_masks_far_keys():
    result = capture(DECODER_BUILDERS["gpt_neo"](), TEXT)
    window = 4
    size = result.num_tokens
    far = np.tril(np.ones((size, size), dtype=bool), k=-window)

    assert float(result.attentions[1][:, far].max()) == 0.0
    assert float(result.attentions[0][:, far].max()) > 0.0


def test_every_family_listed_once():
    names = [spec.name for spec in FAMILIES.values()]

    assert len(names) == len(set(names))
    for model_type in ("bert", "roberta", "distilbert", "albert", "electra", "gpt2", "gpt_neo", "llama", "qwen2",
                       "mistral", "gemma", "phi", "bart", "t5", "marian", "mbart"):
        assert model_type in FAMILIES
    assert family_for(tiny_t5().model) is FAMILIES["t5"]
    assert families.UNSUPPORTED_FAMILIES.keys().isdisjoint(FAMILIES)


@pytest.fixture(scope="module")
def unusable_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("unusable")
    mamba = build_model("mamba", byte_level_tokenizer(), causal=True)
    longformer = build_model("longformer", roberta_tokenizer(), attention_window=[4, 4], max_position_embeddings=64)
    for name, model, tokenizer in (("mamba", mamba, byte_level_tokenizer()), ("longformer", longformer, roberta_tokenizer())):
        model.config.architectures = [type(model).__name__]
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return root


def test_folder_without_attention_says_not_a_transformer(unusable_folders):
    with pytest.raises(AtlasError, match="may not be a Transformer"):
        load_model(str(unusable_folders / "mamba"))


def test_banded_folder_is_rejected_before_weights_load(unusable_folders, monkeypatch):
    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded for an unsupported model")

    monkeypatch.setattr(AutoModel, "from_pretrained", no_weights)
    with pytest.raises(AtlasError, match="'longformer' is not supported.*banded") as caught:
        load_model(str(unusable_folders / "longformer"))

    assert ".." not in str(caught.value)
    assert "config.json" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(SEQ2SEQ_BUILDERS) + ["llama", "gpt_neo", "albert"])
def test_saved_folder_loads_with_same_weights(tmp_path, name):
    builders = {**ENCODER_BUILDERS, **DECODER_BUILDERS, **SEQ2SEQ_BUILDERS}
    built = builders[name]()
    loaded = load_model(save_tiny_model(built, tmp_path / name))
    target = "The mat." if built.is_encoder_decoder else None

    assert loaded.family is built.family
    assert np.array_equal(capture(loaded, TEXT, target=target).attentions, capture(built, TEXT, target=target).attentions)


@pytest.mark.parametrize(
    ("builder", "overrides"), [(tiny_t5, dict(num_decoder_layers=1)), (tiny_bart, dict(decoder_layers=1))], ids=["t5", "bart"]
)
def test_shorter_decoder_keeps_its_layers(builder, overrides):
    model = builder(**overrides)
    result = capture(model, TEXT, target=TARGET)
    output = eager_output(model, TEXT, decoder_input_ids=torch.tensor([result.manifest["target_token_ids"]]))

    assert result.layers == (0, 1)
    assert result.decoder_layers == (0,)
    assert result.decoder_attentions.shape[0] == 1
    assert result.cross_attentions.shape[0] == 1
    assert float(np.abs(result.cross_attentions - stacked(output.cross_attentions)).max()) <= PARITY_TOLERANCE
    assert capture(model, TEXT, target=TARGET, layers=[0]).decoder_layers is None
    with pytest.raises(InputError, match="out of range: the model has layers 0 to 0"):
        capture(model, TEXT, target=TARGET, layers=[1])
