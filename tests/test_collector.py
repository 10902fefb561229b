"""The garbage collector of a serving process: a higher first threshold, startup frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from django_asgi_ws import collector


@pytest.fixture(autouse=True)
def untuned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process not tuned yet; the collector as it was afterwards."""
    monkeypatch.setattr(collector, "_tuned", False)
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_the_first_threshold_is_raised_and_what_is_alive_is_frozen(settings: Any) -> None:
    settings.WEBSOCKET_GC_THRESHOLD = 30_000
    _, older, oldest = gc.get_threshold()
    alive_at_startup = object.__new__(type("AliveAtStartup", (), {}))
    collector.tune_collector()
    assert gc.get_threshold() == (30_000, older, oldest)
    assert gc.get_freeze_count() >= 1
    assert not any(alive_at_startup is found for found in gc.get_objects())  # frozen, untraversed


def test_the_default_is_20000(settings: Any) -> None:
    collector.tune_collector()
    assert gc.get_threshold()[0] == 20_000


def test_only_the_first_call_applies(settings: Any) -> None:
    settings.WEBSOCKET_GC_THRESHOLD = 30_000
    collector.tune_collector()
    settings.WEBSOCKET_GC_THRESHOLD = 50_000
    collector.tune_collector()
    assert gc.get_threshold()[0] == 30_000


def test_none_leaves_the_collector_alone(settings: Any) -> None:
    settings.WEBSOCKET_GC_THRESHOLD = None
    before = gc.get_threshold(), gc.get_freeze_count()
    collector.tune_collector()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
