"""Helpers for the tests of the lean WSGI paths (idservice/lean.py and the three fast
paths behind its one router): find one, take it out for a moment, or check that a
request never reached Flask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask

from idservice.lean import ROUTER, LeanRouter

M = TypeVar("M")


def router(app: Flask) -> LeanRouter:
    found: LeanRouter | None = app.extensions.get(ROUTER)
    if found is None:
        raise AssertionError("the app is not deployed with the lean router")
    return found


def middleware(app: Flask, kind: type[M]) -> M:
    """The app's fast path of ``kind``."""
    for endpoint in router(app).endpoints:
        if isinstance(endpoint, kind):
            return endpoint
    raise AssertionError(f"the app is not deployed with {kind.__name__}")


@contextmanager
def without(app: Flask, kind: type[Any]) -> Iterator[None]:
    """Take one fast path out for a moment: its requests go on to the Flask views."""
    endpoints = router(app).endpoints
    found = middleware(app, kind)
    index = endpoints.index(found)
    endpoints.remove(found)
    try:
        yield
    finally:
        endpoints.insert(index, found)


@contextmanager
def flask_must_not_see(app: Flask, kind: type[Any]) -> Iterator[list[str]]:
    """Record every request that gets past the fast paths (``kind`` among them) to the
    Flask app."""
    middleware(app, kind)
    wsgi = router(app)
    original = wsgi.wrapped
    seen: list[str] = []

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ["PATH_INFO"])
        return original(environ, start_response)

    wsgi.wrapped = spy
    try:
        yield seen
    finally:
        wsgi.wrapped = original
