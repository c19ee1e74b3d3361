"""Request input decoded and bounded in one place.

Whatever a client sends is decoded here before anything else reads it, so that odd input
is refused with the error its API documents instead of reaching a 500 deep inside a
library: the ``Authorization: Basic`` credentials of the OAuth endpoints (RFC 7617, the
pair form-urlencoded as RFC 6749 section 2.3.1 asks), JSON bodies (a size and a nesting
depth limit, for the Flask views, the partner API's webargs parser and the lean WSGI
paths alike), the OAuth parameters Authlib repeats in its error descriptions, the query
string (made decodable in front of everything), NUL characters (refused), the ``next``
address a page returns to after signing in (a same-site path that is also a safe
``Location`` header) and the CSRF token a form sends back.

It imports nothing of the app: the views, the OAuth server and the lean paths call it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_from_bytes, unquote, urlsplit

from flask import Request, current_app, request
from flask.json.provider import DefaultJSONProvider
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, NotFound

#: Defaults of the settings ``json_max_depth`` and ``json_max_bytes`` (config.py).
DEFAULT_JSON_MAX_DEPTH = 32
DEFAULT_JSON_MAX_BYTES = 32 * 1024
#: Longest ``next`` address kept: it travels in the session cookie and a header.
MAX_NEXT_LENGTH = 2048

#: C0 controls, DEL and C1 controls: never part of a header value or a path we accept.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: What may stay as it is in a ``Location`` path and query (RFC 3986 reserved and
#: unreserved characters, and ``%`` so existing escapes are kept); the rest is escaped.
_LOCATION_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


class InputRefused(BadRequest):
    """Input this service does not decode: 400, the description says why.

    A werkzeug ``BadRequest``, so every error handler that answers HTTP errors in its
    API's shape (idservice/web/setup.py, the partner API's) answers this one too.
    """

    def __init__(self, message: str) -> None:
        super().__init__(description=message)
        self.message = message


class MalformedCredentials(ValueError):
    """An ``Authorization: Basic`` header that is not ``base64(utf-8 id:secret)``."""


# -- The WSGI environ ---------------------------------------------------------------

#: Printable ASCII but the space: kept as it is when a query string is escaped.
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


class DecodableInput:
    """WSGI middleware in front of everything (the lean paths too): the query string is
    made decodable before Werkzeug reads it.

    A server hands the query string over as it came, its bytes as Latin-1 characters;
    Werkzeug decodes it as strict UTF-8 when ``request.args`` is first read, so a byte
    that is not UTF-8 (a browser would have percent-encoded it) was a 500 on every page.
    Such a query string is percent-encoded here, as a browser would have sent it, and
    Werkzeug's percent-decoding replaces what is not UTF-8 with U+FFFD.
    """

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING", "")
        if query and not query.isascii():
            environ["QUERY_STRING"] = escape_query(query)
        return self.wrapped(environ, start_response)


def escape_query(query: str) -> str:
    """``query`` (WSGI's Latin-1 characters) with every byte outside printable ASCII
    percent-encoded."""
    return quote_from_bytes(query.encode("latin-1", "replace"), safe=_QUERY_SAFE)


#: Body types whose fields Werkzeug decodes into ``request.form``.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL = "\x00"
NUL_MESSAGE = "The request must not contain NUL characters"


def refuse_nul_characters() -> None:
    """``before_request``: no NUL in the path, the query or the form.

    Nothing this service names or stores can hold one, browsers never send one, and
    PostgreSQL refuses it in text with an error (a 500) wherever it reaches a query.
    A path is then not found; a query or form field is a 400.
    """
    if NUL in request.path:
        raise NotFound
    sources = [request.args]
    if request.mimetype in _FORM_TYPES:
        sources.append(request.form)
    for source in sources:
        for key, value in source.items(multi=True):
            if NUL in key or NUL in value:
                raise InputRefused(NUL_MESSAGE)


# -- Basic credentials -------------------------------------------------------------


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header.

    None when there is no such header (another scheme, or none);
    :class:`MalformedCredentials` when it is Basic but not base64 of UTF-8
    ``client_id:client_secret`` with a client id. WSGI hands headers over as Latin-1, so
    bytes that are not ASCII arrive as characters the base64 alphabet does not have.
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip().encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MalformedCredentials("The Basic credentials are not valid base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCredentials("The Basic credentials are not UTF-8") from None
    client_id, colon, secret = text.partition(":")
    if not colon or not client_id:
        raise MalformedCredentials("The Basic credentials must be client_id:client_secret")
    client_id, secret = unquote(client_id), unquote(secret)
    if _CONTROL.search(client_id) or _CONTROL.search(secret):
        raise MalformedCredentials("The Basic credentials contain control characters")
    return client_id, secret


# -- OAuth parameters -----------------------------------------------------------------

#: What an OAuth error description may hold (RFC 6749 section 5.2): Authlib refuses to
#: build an error with anything else, with a ValueError, a 500.
_NOT_IN_ERROR_TEXT = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
#: Parameters Authlib repeats in its error descriptions ("response_type=... is not
#: supported", "Redirect URI ... is not supported by client").
ECHOED_OAUTH_PARAMETERS = ("response_type", "grant_type", "redirect_uri")


def oauth_error_text(text: str) -> str:
    """``text`` with what an OAuth error description may not hold percent-encoded."""
    return _NOT_IN_ERROR_TEXT.sub(lambda m: quote(m.group(), safe="", errors="replace"), text)


def oauth_parameters(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """The request's OAuth parameters as Authlib reads them: the ones it repeats in error
    descriptions percent-encoded where they hold characters a description may not.

    No valid value of these parameters holds such characters (they are ASCII tokens and
    URIs, which percent-encode the rest), so this only changes what would be refused.
    """
    if all(
        _NOT_IN_ERROR_TEXT.search(v) is None
        for name in ECHOED_OAUTH_PARAMETERS
        for v in values.getlist(name)
    ):
        return values
    cleaned = MultiDict(values)
    for name in ECHOED_OAUTH_PARAMETERS:
        if name in cleaned:
            cleaned.setlist(name, [oauth_error_text(v) for v in cleaned.getlist(name)])
    return cleaned


# -- JSON -------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonLimits:
    """How large and how deeply nested a JSON body may be."""

    max_depth: int = DEFAULT_JSON_MAX_DEPTH
    max_bytes: int = DEFAULT_JSON_MAX_BYTES

    @classmethod
    def of(cls, settings: Any) -> JsonLimits:
        """The limits configured in ``settings`` (idservice.config.Settings)."""
        return cls(
            max_depth=getattr(settings, "json_max_depth", DEFAULT_JSON_MAX_DEPTH),
            max_bytes=getattr(settings, "json_max_bytes", DEFAULT_JSON_MAX_BYTES),
        )


def current_limits() -> JsonLimits:
    """The running app's limits (needs an app context)."""
    return JsonLimits.of(current_app.config["KENTCARD"])


def parse_json(body: bytes | str, limits: JsonLimits, **kwargs: Any) -> Any:
    """``body`` as JSON within ``limits``.

    :class:`InputRefused` when it is larger or nested deeper than allowed; ``ValueError``
    (as ``json.loads`` raises it) when it is not JSON, so callers keep their own answer to
    that. Python's parser recurses once per level and stops with ``RecursionError`` near
    its recursion limit: that is refused as too deep here, never left to escape.
    """
    if len(body) > limits.max_bytes:
        raise InputRefused(f"The JSON body must be {limits.max_bytes} bytes or fewer")
    escaped_nul = b"\\u0000" in body if isinstance(body, bytes) else "\\u0000" in body
    if escaped_nul:
        raise InputRefused(NUL_MESSAGE)  # as in a form: never valid, refused by PostgreSQL
    try:
        value = json.loads(body, **kwargs)
    except RecursionError:
        value = None
        deep = True
    else:
        deep = _opening_brackets(body) > limits.max_depth and _depth(value) > limits.max_depth
    if deep:
        raise InputRefused(f"The JSON must not be nested more than {limits.max_depth} levels")
    return value


def _opening_brackets(body: bytes | str) -> int:
    """An upper bound of the nesting depth, counted without parsing."""
    if isinstance(body, str):
        return body.count("[") + body.count("{")
    return body.count(b"[") + body.count(b"{")


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (0 for a scalar), without recursing."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONProvider(DefaultJSONProvider):
    """The app's JSON provider (``app.json``) with the limits applied to what it parses.

    Flask's ``Request.get_json`` parses with ``app.json.loads``: ``silent=True`` still turns
    text that is not JSON into None, while a body over the limits raises
    :class:`InputRefused`.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s, JsonLimits.of(self._app.config["KENTCARD"]), **kwargs)


class BoundedFlaskParser(FlaskParser):
    """webargs' Flask parser (the partner API's, through flask-smorest) with the same
    limits: webargs parses the body itself rather than through ``get_json``."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return webargs_core.missing
        body = req.get_data(cache=True)
        if not body:
            return webargs_core.missing
        # Not JSON: json.loads raises JSONDecodeError or UnicodeDecodeError, which webargs
        # answers as its own 400.
        return parse_json(body, current_limits())


# -- Where to go next --------------------------------------------------------------


def safe_next_url(target: str | None, default: str = "/account") -> str:
    """``target`` when it is a path on this site that is safe to redirect to, else
    ``default``: never an open redirect, never a broken or injected ``Location`` header.

    Refused: anything with a scheme or host, scheme-relative ``//`` and ``/\\`` (browsers
    read a backslash as a slash), control characters (CR and LF would split the header),
    and addresses longer than :data:`MAX_NEXT_LENGTH`. Characters outside ASCII are
    percent-encoded, so the header is always ASCII.
    """
    if not target or not isinstance(target, str) or len(target) > MAX_NEXT_LENGTH:
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if _CONTROL.search(target):
        return default
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unbalanced "[" where a host would be
        return default
    if parts.scheme or parts.netloc:
        return default
    return quote(target, safe=_LOCATION_SAFE)


# -- CSRF tokens ------------------------------------------------------------------


def same_token(expected: str, submitted: object) -> bool:
    """Constant-time comparison of a token we issued with what a client sent back.

    ``hmac.compare_digest`` refuses ``str`` with characters outside ASCII (a TypeError),
    so both are compared as UTF-8 bytes; anything but a string is simply wrong.
    """
    if not isinstance(submitted, str):
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogatepass"))
