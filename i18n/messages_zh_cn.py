"""Simplified Chinese messages; a missing key falls back to English."""

MESSAGES: dict[str, str] = {}
