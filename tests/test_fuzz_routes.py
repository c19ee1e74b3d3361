"""Every route, every method, fuzzed: no input reaches a 5xx or shows a stack trace.

The routes come from the app's ``url_map`` (so a new route is fuzzed without anyone
listing it), grouped by area so the groups run in parallel. Each request goes through the
app as deployed, the lean WSGI paths in front, as an identity that the route serves
(signed out, a resident, half signed in, a Gateway officer with the record open, an
administrator) with a CSRF token known to the session; tests/fuzz_world.py builds the data
and crawls the pages for real URLs and form fields. Hypothesis then sends, derandomized so
CI is reproducible: query strings, form bodies with the real field names and offered
values or random ones (control characters, very long strings, bytes that are not UTF-8),
JSON bodies (the real field names, nesting deep, oversized), raw bodies with odd content
types, odd headers (``Authorization: Basic`` garbage, crafted bearer tokens, long values)
and methods the route does not allow.

Each response must be below 500, carry no traceback, and leave no ERROR in the log (a lean
path that failed and handed the request on to Flask counts). Failures are collected over
every route and reported together. ``KENTCARD_FUZZ_EXAMPLES`` scales the examples per
route (default 1).
"""

from __future__ import annotations

import base64
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from idservice.cards.lean import LeanTapEndpoint
from idservice.oauth.lean import LeanTokenEndpoint
from idservice.partner_api.lean import LeanCheckEndpoint
from idservice.services import ratelimit
from tests import lean_paths
from tests.fuzz_world import World, build

GROUPS = ("accounts", "staff", "oauth", "api", "pages")
SCALE = float(os.environ.get("KENTCARD_FUZZ_EXAMPLES", "1"))
#: Examples per route and method: more where a body is read.
EXAMPLES = {"GET": 10, "POST": 24, "other": 3}
OTHER_METHODS = ("PUT", "DELETE", "PATCH", "TRACE", "PROPFIND")


def group_of(rule: Rule) -> str:
    path = rule.rule
    if path.startswith("/staff"):
        return "staff"
    if path.startswith(("/oauth", "/.well-known")):
        return "oauth"
    if path.startswith("/api"):
        return "api"
    if path.startswith(("/account", "/sign-", "/register", "/forgot-", "/reset-", "/confirm-")):
        return "accounts"
    return "pages"


IDENTITIES = {
    "accounts": ("anonymous", "resident", "half signed in"),
    "staff": ("anonymous", "staff officer", "staff administrator"),
    "oauth": ("anonymous", "resident"),
    "api": ("anonymous", "resident"),
    "pages": ("anonymous", "resident"),
}

# -- What is sent -------------------------------------------------------------------

#: Strings that have broken web apps: CR/LF, NUL, bidi overrides, traversal, markup,
#: numbers out of range, JSON and percent-encoding where text is expected.
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "/account\r\nSet-Cookie: x=1",
    "%0d%0a",
    "%ff%fe",
    "%",
    "%%",
    "%zz",
    "\u202eevil",
    "\ufeff",
    "\U0001f600",
    "\\",
    "//evil",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "null",
    "[]",
    "{}",
    "true",
    "31/02/2024",
    "\t",
    "\x7f",
    "\x85",
    "\u2028",
    "ABCD-1234",
    "a@b",
    "x" * 300,
]
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.integers(300, 70_000).map(lambda n: "A" * n),
)
RAW_BYTES = st.binary(max_size=64)


def value_for(offered: list[str]) -> st.SearchStrategy[str]:
    """A field's value: one the page offered (often), else anything."""
    if not offered:
        return TEXT
    return st.one_of(st.sampled_from(offered), st.sampled_from(offered), TEXT)


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    )


def nested(depth: int, kind: str) -> bytes:
    if kind == "[":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


DEEP_JSON = st.builds(nested, st.integers(30, 15_000), st.sampled_from(["[", "{"]))
HUGE_JSON = st.integers(20_000, 70_000).map(lambda n: b'{"a": "' + b"x" * n + b'"}')


def crafted_bearer(depth: int) -> str:
    part = base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).rstrip(b"=").decode()
    return f"Bearer {part}.{part}.c2ln"


def authorization(world: World, group: str) -> st.SearchStrategy[str | None]:
    # The machine APIs read a body only for a valid token: send one most of the time.
    bearer = [a for a in world.authorization if a.startswith("Bearer ")]
    real = [st.sampled_from(bearer if group == "api" else world.authorization)]
    real *= 8 if group == "api" else 2
    return st.one_of(
        st.none(),
        *real,
        RAW_BYTES.map(lambda b: "Basic " + base64.b64encode(b).decode()),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30).map(
            lambda t: "Basic " + t
        ),
        TEXT.map(lambda t: "Bearer " + t.encode("latin-1", "replace").decode("latin-1")),
        st.integers(1, 2900).map(crafted_bearer),
        st.sampled_from(["Basic", "Bearer", "Basic =", "Digest x", "basic Og=="]),
    )


HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
) | st.integers(1000, 12_000).map(lambda n: "h" * n)
HEADER_NAMES = st.sampled_from(
    [
        "Accept",
        "Accept-Language",
        "Origin",
        "Referer",
        "X-Requested-With",
        "If-None-Match",
        "Range",
        "X-Forwarded-For",
        "Cookie",
        "Content-Encoding",
        "Transfer-Encoding",
        "Expect",
    ]
)


@dataclass
class Target:
    rule: Rule
    method: str
    group: str

    @property
    def endpoint(self) -> str:
        return str(self.rule.endpoint)

    @property
    def label(self) -> str:
        return f"{self.method} {self.rule.rule}"


def _fill(rule: Rule, args: dict[str, str]) -> str:
    path = rule.rule
    for name, value in args.items():
        for converter in ("", "int:", "path:"):
            path = path.replace(f"<{converter}{name}>", quote(value, safe=""))
    return path


def _form_bytes(pairs: list[tuple[str, str | bytes]]) -> bytes:
    out = []
    for key, value in pairs:
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        out.append(quote(key, safe="") + "=" + quote_from_bytes(raw, safe=""))
    return "&".join(out).encode()


@st.composite
def requests(draw: st.DrawFn, world: World, target: Target) -> dict[str, Any]:
    """One request for ``target``: the keyword arguments of ``FlaskClient.open``."""
    identity = draw(st.sampled_from(IDENTITIES[target.group]))
    names = list(target.rule.arguments)
    known = world.args.get(target.endpoint, [])
    random_args = st.fixed_dictionaries({n: TEXT.filter(bool) for n in names})
    args = draw(
        st.one_of(st.sampled_from(known), st.sampled_from(known), random_args)
        if known
        else random_args
    )
    fields = world.fields.get(target.endpoint, {})
    keys = st.sampled_from([*sorted(fields), "next", "csrf_token"]) | TEXT
    # The real fields, each offered, random or left out, and perhaps others.
    chosen: list[tuple[str, str | bytes]] = []
    for name in sorted(fields):
        if draw(st.integers(0, 4)) > 0:
            chosen.append((name, draw(value_for(fields[name]))))
    chosen += draw(st.lists(st.tuples(keys, TEXT | RAW_BYTES), max_size=3))
    csrf = draw(st.sampled_from([world.csrf, world.csrf, world.csrf, None, "\u00e9", "x"]))
    if csrf is not None:
        chosen.append(("csrf_token", csrf))
    headers: dict[str, str] = {}
    auth = draw(authorization(world, target.group))
    if auth is not None:
        headers["Authorization"] = auth
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    for name, value in draw(st.lists(st.tuples(HEADER_NAMES, HEADER_TEXT), max_size=2)):
        headers[name] = value
    # No server passes CR or LF inside a header value on (and the test client refuses it).
    headers = {k: v.replace("\r", " ").replace("\n", " ") for k, v in headers.items()}
    request: dict[str, Any] = {"method": target.method, "headers": headers}
    query_style = draw(st.sampled_from(["none", "fields", "fields", "raw"]))
    body_style = "none"
    if target.method == "POST":
        styles = ["form", "form", "form", "json", "json", "raw", "deep", "huge", "none"]
        if target.group == "api":  # JSON APIs: mostly JSON
            styles = ["json", "json", "json", "deep", "deep", "huge", "raw", "form", "none"]
        body_style = draw(st.sampled_from(styles))
    if query_style == "fields" and (target.method == "GET" or body_style == "none"):
        query = _form_bytes(chosen).decode("ascii")
    elif query_style == "fields":
        query = _form_bytes(draw(st.lists(st.tuples(keys, TEXT | RAW_BYTES), max_size=3)))
        query = query.decode("ascii")
    elif query_style == "raw":  # bytes as a server hands them over (Latin-1), unescaped
        query = draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40))
    else:
        query = ""
    if body_style == "form":
        request["data"] = _form_bytes(chosen)
        request["content_type"] = "application/x-www-form-urlencoded"
    elif body_style == "json":
        obj = {
            k: draw(json_values(keys)) if draw(st.booleans()) else draw(value_for(v))
            for k, v in fields.items()
            if draw(st.integers(0, 4)) > 0
        }
        value = obj if draw(st.integers(0, 3)) else draw(json_values(keys))
        request["json"] = value
    elif body_style == "raw":
        request["data"] = draw(RAW_BYTES | TEXT.map(str.encode))
        request["content_type"] = draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                    "multipart/form-data; boundary=x",
                    "text/plain",
                    "application/json; charset=latin-1",
                    "",
                ]
            )
        )
    elif body_style in ("deep", "huge"):
        request["data"] = draw(DEEP_JSON if body_style == "deep" else HUGE_JSON)
        request["content_type"] = "application/json"
    request["path"] = _fill(target.rule, args)
    request["environ_overrides"] = {"QUERY_STRING": query}
    return {"identity": identity, "request": request}


# -- Sending and checking -------------------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _describe(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        tb = exc.__traceback__
        where = ""
        while tb is not None:
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
            tb = tb.tb_next
        text += f" -- {type(exc).__name__}: {str(exc)[:200]} at {where}"
    return text


def send(world: World, drawn: dict[str, Any], errors: _Errors, seen: Counter[int]) -> str | None:
    """Send one request; a description of what went wrong, or None."""
    app = world.app
    limiter = app.extensions[ratelimit.EXTENSION_KEY]
    limiter.reset()  # every example gets past the rate limits to the code behind them
    client = app.test_client()
    session = world.identities[drawn["identity"]].make_session()
    with client.session_transaction() as sess:
        sess.update(session)
    errors.records.clear()
    request = drawn["request"]
    response = client.open(**request)
    body = response.get_data()
    seen[response.status_code] += 1
    problems = []
    if response.status_code >= 500:
        problems.append(f"answered {response.status_code}")
    if b"Traceback (most recent call last)" in body:
        problems.append("a traceback in the body")
    problems += [f"logged: {_describe(r)}" for r in errors.records]
    if not problems:
        return None
    shown = {k: (v[:300] if isinstance(v, str | bytes) else v) for k, v in request.items()}
    return f"{'; '.join(problems)}\n  as {drawn['identity']}: {shown!r}\n  body: {body[:300]!r}"


def explicit(world: World, target: Target) -> list[dict[str, Any]]:
    """The attack run's inputs, sent to every route first with valid credentials for its
    area (a partner's token for the APIs, a client's Basic credentials for OAuth) as the
    identity it serves: random generation alone seldom combines a valid token with a bad
    body."""
    identity = "anonymous" if target.group == "api" else IDENTITIES[target.group][-1]
    known = world.args.get(target.endpoint) or [dict.fromkeys(target.rule.arguments, "x")]
    basic, _, partner_bearer, _ = world.authorization
    headers = {"X-CSRF-Token": world.csrf}
    auth = {"api": partner_bearer, "oauth": basic}.get(target.group)
    if auth:
        headers["Authorization"] = auth
    fields = world.fields.get(target.endpoint, {})
    plain: list[tuple[str, str | bytes]] = [
        (n, v[0] if v else "x") for n, v in sorted(fields.items())
    ]
    plain.append(("csrf_token", world.csrf))
    nul: list[tuple[str, str | bytes]] = [(n, "a\x00b") for n in sorted(fields)]
    nul.append(("csrf_token", world.csrf))
    # Deeper than Python's recursion limit even as Hypothesis raises it while a test runs
    # (a server's limit is 1,000); within the default JSON size limit.
    deep = nested(15_000, "[")
    first = sorted(fields)[0] if fields else "a"
    variants: list[dict[str, Any]] = [
        {"query": "next=/account\xbd\xff&x=\xe9", "form": plain},  # not UTF-8
        {"query": "next=/account%0d%0aSet-Cookie:%20x=1", "form": plain},  # header injection
        {"query": "", "form": nul},
        {"query": "", "form": plain, "auth": "Basic " + base64.b64encode(b"\xff:\xfe").decode()},
    ]
    if target.method == "POST":
        variants += [
            {"query": "", "json": deep},
            {"query": "", "json": b'{"' + first.encode() + b'": ' + deep + b"}"},
            {"query": "", "json": b'{"a": "' + b"x" * 40_000 + b'"}'},
        ]
    cases = []
    for variant in variants:
        request: dict[str, Any] = {
            "method": target.method,
            "headers": {
                **headers,
                **({"Authorization": variant["auth"]} if "auth" in variant else {}),
            },
            "path": _fill(target.rule, known[0]),
        }
        query = variant["query"]
        if "json" in variant:
            request.update(data=variant["json"], content_type="application/json")
        elif target.method == "POST":
            request.update(
                data=_form_bytes(variant["form"]), content_type="application/x-www-form-urlencoded"
            )
        elif not query:
            query = _form_bytes(variant["form"]).decode("ascii")
        request["environ_overrides"] = {"QUERY_STRING": query}
        cases.append({"identity": identity, "request": request})
    return cases


def fuzz(world: World, target: Target, examples: int, seen: Counter[int]) -> str | None:
    """Hypothesis over one route and method; the first problem found, or None."""
    errors = _Errors()

    @settings(
        max_examples=max(1, int(examples * SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=requests(world, target))
    def run(drawn: dict[str, Any]) -> None:
        problem = send(world, drawn, errors, seen)
        assert problem is None, problem

    for case in explicit(world, target):
        run = example(drawn=case)(run)
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        run()
    except AssertionError as exc:
        return f"{target.label}: {exc}"
    finally:
        root.removeHandler(errors)
    return None


def targets(app: Flask, group: str) -> list[Target]:
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if group_of(rule) != group:
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        found += [Target(rule, method, group) for method in methods]
        found.append(Target(rule, OTHER_METHODS[len(found) % len(OTHER_METHODS)], group))
    return found


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> Iterator[World]:
    for lean in (LeanTokenEndpoint, LeanTapEndpoint, LeanCheckEndpoint):
        lean_paths.middleware(app, lean)  # the requests go through them
    yield build(app, client)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@pytest.mark.parametrize("group", GROUPS)
def test_no_input_reaches_a_5xx(world: World, group: str) -> None:
    found = targets(world.app, group)
    assert found, f"no routes in {group}"
    problems = []
    seen: Counter[int] = Counter()
    for target in found:
        examples = EXAMPLES.get(target.method, EXAMPLES["other"])
        problem = fuzz(world, target, examples, seen)
        if problem:
            problems.append(problem)
    assert not problems, f"{len(problems)} routes failed:\n\n" + "\n\n".join(problems)
    # The input reached real answers, not only refusals at the door.
    assert any(200 <= status < 400 for status in seen), seen
    assert any(400 <= status < 500 for status in seen), seen


def test_every_route_is_in_a_group(app: Flask) -> None:
    """Nothing is left out: every rule is fuzzed by exactly one group."""
    rules = list(app.url_map.iter_rules())
    assert {group_of(rule) for rule in rules} <= set(GROUPS)
    fuzzed = {(t.rule.rule, t.method) for g in GROUPS for t in targets(app, g)}
    for rule in rules:
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (rule.rule, method) in fuzzed
