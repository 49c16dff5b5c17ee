"""Shared fixtures: the embedded model, loaded once per test session."""

import pytest

from model_utils import load_model


@pytest.fixture(scope="session")
def embedded_model():
    return load_model()
