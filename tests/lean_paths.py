"""Helpers for the tests of the lean WSGI paths (idservice/oauth/lean.py,
idservice/cards/lean.py): find one in the app's middleware chain, take it out for a
moment, or check that a request never reached Flask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

M = TypeVar("M")


def _chain(app: Flask) -> Iterator[tuple[Any, Any]]:
    """(the middleware in front, this one) from the outermost in; ``None`` in front of the
    outermost. Each lean path keeps what it wraps as ``wrapped`` (werkzeug's ProxyFix,
    outermost when configured, as ``app``)."""
    parent: Any = None
    current: Any = app.wsgi_app
    while current is not None:
        yield parent, current
        inner = current.app if isinstance(current, ProxyFix) else None
        parent, current = current, getattr(current, "wrapped", inner)


def middleware(app: Flask, kind: type[M]) -> M:
    for _parent, found in _chain(app):
        if isinstance(found, kind):
            return found
    raise AssertionError(f"the app is not deployed with {kind.__name__}")


def _set_inner(app: Flask, parent: Any, inner: Any) -> None:
    if parent is None:
        app.wsgi_app = inner  # type: ignore[method-assign]
    elif isinstance(parent, ProxyFix):
        parent.app = inner
    else:
        parent.wrapped = inner


@contextmanager
def without(app: Flask, kind: type[Any]) -> Iterator[None]:
    """Take one lean path out for a moment: its requests go on to the Flask views."""
    for parent, found in _chain(app):
        if isinstance(found, kind):
            _set_inner(app, parent, found.wrapped)
            try:
                yield
            finally:
                _set_inner(app, parent, found)
            return
    raise AssertionError(f"the app is not deployed with {kind.__name__}")


@contextmanager
def flask_must_not_see(app: Flask, kind: type[Any]) -> Iterator[list[str]]:
    """Record every request that gets past the ``kind`` lean path to the Flask app."""
    wsgi = middleware(app, kind)
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
