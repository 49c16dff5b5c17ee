"""Exception types that pages catch and show in plain language."""


class AtlasError(ValueError):
    """Base class for errors caused by user input or a model the app cannot use."""


class ModelLoadError(AtlasError):
    """A model source could not be loaded; the message names the source and the fix."""


class CaptureError(AtlasError):
    """Attention could not be captured, or what was captured failed a check."""


class InputError(AtlasError):
    """The text or options given for a capture are invalid."""
