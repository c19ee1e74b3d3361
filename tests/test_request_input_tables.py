"""The decoders of idservice/request_input.py, from tables (the findings they fix are
reproduced end to end in tests/test_request_input.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from idservice.request_input import (
    InputRefused,
    JsonLimits,
    MalformedCredentials,
    basic_credentials,
    escape_query,
    oauth_parameters,
    parse_json,
    safe_next_url,
    same_token,
)
from tests.test_request_input import DEEP, MALFORMED_BASIC

# -- Tables -----------------------------------------------------


def b64(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", None),
        (b64(b"client:secret"), ("client", "secret")),
        ("basic " + base64.b64encode(b"client:secret").decode(), ("client", "secret")),
        (b64(b"client:se:cret"), ("client", "se:cret")),
        (b64(b"client%3Aa:s%20t"), ("client:a", "s t")),  # form-urlencoded, RFC 6749 2.3.1
        (b64("cl\u00efent:s\u00e9cret".encode()), ("cl\u00efent", "s\u00e9cret")),
        (b64(b"client:"), ("client", "")),
    ],
)
def test_basic_credentials(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        *MALFORMED_BASIC.values(),
        b64(b"client%0a:secret"),  # a control character once unquoted
        b64(b"client:secret") + "!",
    ],
)
def test_malformed_basic_credentials(header: str) -> None:
    with pytest.raises(MalformedCredentials):
        basic_credentials(header)


LIMITS = JsonLimits(max_depth=3, max_bytes=100)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": [1, {"b": 2}]}', {"a": [1, {"b": 2}]}),
        (b"[[[]]]", [[[]]]),
        (b'"[[[[[[[["', "[[[[[[[["),  # brackets inside a string are not nesting
        (b'[{"a": "{{{{"}, [1], [2], [3]]', [{"a": "{{{{"}, [1], [2], [3]]),  # wide, not deep
        ("\u00e9".encode(), None),
    ],
)
def test_parse_json_within_limits(body: bytes, expected: Any) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_json(body, LIMITS)
    else:
        assert parse_json(body, LIMITS) == expected


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[[[[]]]]", "nested more than 3 levels"),
        (b'{"a": {"b": {"c": {}}}}', "nested more than 3 levels"),
        (DEEP[:50] + DEEP[-50:], "nested"),
        (b"[" * 100_000, "bytes or fewer"),
        (b" " * 101, "bytes or fewer"),
    ],
)
def test_parse_json_refuses(body: bytes, words: str) -> None:
    with pytest.raises(InputRefused, match=words) as refused:
        parse_json(body, LIMITS)
    assert refused.value.code == 400


def test_parse_json_refuses_nesting_deeper_than_python_can_parse() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InputRefused, match="nested"):
        parse_json(body, JsonLimits(max_depth=32, max_bytes=len(body)))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/security", "/account/security"),
        ("/oauth/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx", None),
        ("/staff/search?q=Zo\u00eb", "/staff/search?q=Zo%C3%AB"),
        ("/a b", "/a%20b"),
        (None, "/account"),
        ("", "/account"),
        ("account", "/account"),
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/account\r\nSet-Cookie: x=1", "/account"),
        ("/account\n", "/account"),
        ("/account\x00", "/account"),
        ("/account\x7f", "/account"),
        ("/account\x85", "/account"),
        ("//[", "/account"),
        ("/" + "a" * 3000, "/account"),
    ],
)
def test_safe_next_url(target: str | None, expected: str | None) -> None:
    assert safe_next_url(target) == (target if expected is None else expected)


def test_safe_next_url_keeps_its_default() -> None:
    assert safe_next_url("//evil", default="/staff/") == "/staff/"


@pytest.mark.parametrize(
    ("query", "expected"),
    [("a=1&b=%20", "a=1&b=%20"), ("next=\xbd", "next=%BD"), ("a=\xe9 b", "a=%E9%20b")],
)
def test_escape_query(query: str, expected: str) -> None:
    assert escape_query(query) == expected


def test_oauth_parameters_are_kept_unless_they_hold_what_an_error_may_not() -> None:
    plain = MultiDict({"response_type": "code", "state": "\u00e9"})
    assert oauth_parameters(plain) is plain
    odd = MultiDict({"response_type": 'a"\u00e9', "state": "\u00e9", "grant_type": "x\\"})
    cleaned = oauth_parameters(odd)
    assert cleaned["response_type"] == "a%22%C3%A9"
    assert cleaned["grant_type"] == "x%5C"
    assert cleaned["state"] == "\u00e9"  # not repeated in descriptions: as sent


@pytest.mark.parametrize(
    ("submitted", "expected"),
    [("abc", True), ("abd", False), ("\u00e9", False), (None, False), ("\ud800", False)],
)
def test_same_token(submitted: Any, expected: bool) -> None:
    assert same_token("abc", submitted) is expected
