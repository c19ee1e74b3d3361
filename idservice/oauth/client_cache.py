"""A short-lived, per-process cache of registered clients for the OAuth endpoints.

Every token request authenticates its client; reading the client from the database each
time doubles the cost of a token. Clients change rarely (registration, a new secret,
withdrawal), so each worker keeps a copy for ``ttl`` seconds: a withdrawn client or a
changed secret takes effect everywhere within that time, and at once in the process that
made the change (``forget``). Unknown client ids are never cached.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from idservice.models.oauth import OAuthClient

if TYPE_CHECKING:
    from collections.abc import Callable

#: Bound on memory: far more clients than Kent will ever register.
MAX_ENTRIES = 10_000


def _copy(client: OAuthClient) -> OAuthClient:
    """A transient copy holding only column values: safe to share between requests."""
    values = {attr.key: getattr(client, attr.key) for attr in OAuthClient.__mapper__.column_attrs}
    return OAuthClient(**values)


class ClientCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, OAuthClient]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str, load: Callable[[str], OAuthClient | None]) -> OAuthClient | None:
        now = self._clock()
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        client = load(client_id)
        if client is None:
            self.forget(client_id)
            return None
        copy = _copy(client)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[client_id] = (now + self.ttl, copy)
        return copy

    def forget(self, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)
