"""Model loading and attention capture: the only package that imports torch and transformers.

Example::

    from model_utils import load_model, capture
    model = load_model()                  # the embedded all-MiniLM-L6-v2
    result = capture(model, "The cat sat on the mat.")
    result.attentions.shape               # (layers, heads, query, key)

Encoder-decoders take a target (or generate one), ``capture(model, source, target=...)``,
and add ``decoder_attentions`` and ``cross_attentions``; sentence pairs pass ``text_pair``.
``capture_generation`` steps a decoder through greedy generation, ``capture_batch`` runs
padded batches, and ``capture_torch_encoder`` reads plain ``nn.TransformerEncoder`` stacks.
"""

from .batch import capture_batch
from .capture import capture
from .errors import AtlasError, CaptureError, InputError, ModelLoadError
from .generation import capture_generation
from .hooks import count_hooks
from .loading import EMBEDDED_MODEL_NAME, LoadedModel, load_model, wrap_model
from .result import CaptureResult
from .torch_encoder import capture_torch_encoder

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "AtlasError",
    "CaptureError",
    "CaptureResult",
    "InputError",
    "LoadedModel",
    "ModelLoadError",
    "capture",
    "capture_batch",
    "capture_generation",
    "capture_torch_encoder",
    "count_hooks",
    "load_model",
    "wrap_model",
]
