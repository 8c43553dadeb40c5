"""Reference data kept in process memory for a few seconds (the working-calendar overrides,
the service standards, the work-order categories): small tables every intake reads, which
change a few times a year.

Each cache reloads when older than ``settings.GRIDCARE_REFERENCE_CACHE_SECONDS`` (default 30;
0 turns caching off, as the test settings do). The services that change the data in this
process clear it at once; a change made in another process (another gunicorn worker, the
admin) reaches this one within the time to live.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings

T = TypeVar("T")

_ALL: list[RefCache[object]] = []


class RefCache(Generic[T]):
    """A value loaded by ``loader`` and kept for the configured time to live."""

    def __init__(self, name: str, loader: Callable[[], T]) -> None:
        self.name = name
        self._loader = loader
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = 0.0
        _ALL.append(self)  # type: ignore[arg-type]

    def get(self) -> T:
        ttl = float(getattr(settings, "GRIDCARE_REFERENCE_CACHE_SECONDS", 30))
        if ttl <= 0:
            return self._loader()
        now = time.monotonic()
        with self._lock:
            if self._value is None or now - self._loaded_at > ttl:
                self._value = self._loader()
                self._loaded_at = now
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None


def clear_all() -> None:
    """Forget every cached table (tests, and after bulk changes)."""
    for cache in _ALL:
        cache.clear()
