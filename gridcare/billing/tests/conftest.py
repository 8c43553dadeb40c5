"""Billing tests check behaviour in English (the msgids); the zh-Hans catalogue is checked
by core's i18n test, and the browser journeys run in the default Chinese."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english(settings: object) -> Iterator[None]:
    settings.LANGUAGE_CODE = "en"  # type: ignore[attr-defined]
    with translation.override("en"):
        yield
