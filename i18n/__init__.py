"""Translation layer: every string on screen is looked up here by key, with English as the fallback."""

from __future__ import annotations

from .messages_en import MESSAGES as ENGLISH
from .messages_zh_cn import MESSAGES as SIMPLIFIED_CHINESE

LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
CATALOGUES = {"en": ENGLISH, "zh-CN": SIMPLIFIED_CHINESE}
DEFAULT_LANGUAGE = "en"


def translate(language: str, key: str, **values) -> str:
    """Return the message for ``key`` in ``language`` (English when missing), formatted with ``values``."""
    catalogue = CATALOGUES.get(language, ENGLISH)
    template = catalogue.get(key) or ENGLISH.get(key)
    if template is None:
        raise KeyError(f"Missing message key '{key}'. Add it to i18n/messages_en.py.")
    return template.format(**values) if values else template


def language_from_locale(locale: str | None) -> str:
    """Map a browser locale such as ``zh-CN`` or ``en-US`` to a supported language."""
    if locale and locale.lower().startswith("zh"):
        return "zh-CN"
    return DEFAULT_LANGUAGE
