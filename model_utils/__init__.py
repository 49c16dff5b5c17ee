"""Model loading and attention capture: the only package that imports torch and transformers.

Example::

    from model_utils import load_model, capture
    model = load_model()                  # the embedded all-MiniLM-L6-v2
    result = capture(model, "The cat sat on the mat.")
    result.attentions.shape               # (layers, heads, query, key)
"""

from .capture import capture
from .errors import AtlasError, CaptureError, InputError, ModelLoadError
from .hooks import count_hooks
from .loading import EMBEDDED_MODEL_NAME, LoadedModel, load_model, wrap_model
from .result import CaptureResult

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "AtlasError",
    "CaptureError",
    "CaptureResult",
    "InputError",
    "LoadedModel",
    "ModelLoadError",
    "capture",
    "count_hooks",
    "load_model",
    "wrap_model",
]
