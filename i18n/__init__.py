"""Translation layer: every string on screen is looked up here by key, with English as the fallback."""

from __future__ import annotations

import logging
import string

from .messages_en import MESSAGES as ENGLISH
from .messages_zh_cn import MESSAGES as SIMPLIFIED_CHINESE

logger = logging.getLogger(__name__)

LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
CATALOGUES = {"en": ENGLISH, "zh-CN": SIMPLIFIED_CHINESE}
DEFAULT_LANGUAGE = "en"

_reported_missing: set[tuple[str, str]] = set()


def translate(language: str, key: str, /, **values) -> str:
    """Look up ``key`` in ``language`` and fill in ``values``; fall back to English when the key is untranslated.

    ``language`` and ``key`` are positional-only, so templates may use ``{key}`` and
    ``{language}`` fields. Raises KeyError when the key is missing from the English
    catalogue too, because then there is no text to show at all.
    """
    catalogue = CATALOGUES.get(language, ENGLISH)
    template = catalogue.get(key)
    if template is None:
        template = ENGLISH.get(key)
        if template is None:
            raise KeyError(f"Missing message key '{key}'. Add it to i18n/messages_en.py.")
        if language in CATALOGUES and (language, key) not in _reported_missing:
            _reported_missing.add((language, key))
            logger.warning("Message key '%s' has no %s translation; showing English.", key, language)
    return template.format(**values) if values else template


def placeholders(template: str) -> set[str]:
    """Return the names of the ``{name}`` fields in a message template (format specs ignored)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def language_from_locale(locale: str | None) -> str:
    """Map a browser locale such as ``zh-CN`` or ``en-US`` to a supported language.

    Every Chinese locale, Traditional ones included (``zh-TW``, ``zh-Hant``), maps to
    Simplified Chinese: it is the only Chinese catalogue, and closer than English.
    """
    if locale and locale.strip().lower().split("-")[0].split("_")[0] == "zh":
        return "zh-CN"
    return DEFAULT_LANGUAGE
