"""The per-process client cache: bounded staleness, never caches unknown clients."""

from __future__ import annotations

from idservice.models.oauth import OAuthClient
from idservice.oauth.client_cache import ClientCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_client_is_read_once_per_ttl_and_again_after_it() -> None:
    clock = Clock()
    cache = ClientCache(ttl=10, clock=clock)
    loads: list[str] = []
    stored = {"c1": OAuthClient(client_id="c1", name="Library", active=True)}

    def load(client_id: str) -> OAuthClient | None:
        loads.append(client_id)
        return stored.get(client_id)

    first = cache.get("c1", load)
    assert first is not None and first.name == "Library"
    assert first is not stored["c1"], "the cache hands out a copy, not the session's object"
    clock.now += 9.9
    assert cache.get("c1", load) is first
    assert loads == ["c1"]
    stored["c1"] = OAuthClient(client_id="c1", name="Library (renamed)", active=True)
    clock.now += 0.2
    renewed = cache.get("c1", load)
    assert renewed is not None and renewed.name == "Library (renamed)"
    assert loads == ["c1", "c1"]


def test_a_withdrawn_client_disappears_when_its_entry_expires_or_is_forgotten() -> None:
    clock = Clock()
    cache = ClientCache(ttl=10, clock=clock)
    stored: dict[str, OAuthClient] = {"c1": OAuthClient(client_id="c1", name="Bus", active=True)}
    assert cache.get("c1", stored.get) is not None
    del stored["c1"]
    cache.forget("c1")
    assert cache.get("c1", stored.get) is None


def test_unknown_client_ids_are_not_cached() -> None:
    cache = ClientCache(ttl=10, clock=Clock())
    loads: list[str] = []

    def load(client_id: str) -> OAuthClient | None:
        loads.append(client_id)
        return None

    for _ in range(3):
        assert cache.get("nobody", load) is None
    assert loads == ["nobody"] * 3
