"""``POST /api/v1/taps/batch`` and ``POST /api/v1/readers/status``: taps a registered reader
decided offline, verified again, decided and recorded once, and the reader's state."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cardio.verify import new_challenge
from hardware.virtual_card import VirtualKentCard
from idservice.cards import fleet, issuance
from idservice.db import db_session
from idservice.models import Reader, Tap
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.cards.test_issuance import issue_one
from tests.cards.test_taps_api import bearer, tap_body
from tests.oauth.conftest import RP, make_rp

HOUR = 3600.0


def register(app: Flask, **overrides: Any) -> RP:
    """A reader in the fleet (``kentcard readers register``), as an RP to ask tokens for."""
    values: dict[str, Any] = {
        "name": "Stagecoach bus 15623",
        "mode": "transport",
        "location": "Canterbury bus station",
        "operator": "Stagecoach South East",
        "route": "Triangle",
        "vehicle": "15623",
    }
    values.update(overrides)
    with in_app(app):
        made = fleet.register_reader(**values)
    secret = made.client_secret
    assert secret is not None
    return RP(made.state.client_id, secret, "")


@pytest.fixture
def reader(app: Flask) -> RP:
    return register(app)


def offline_tap(
    card: VirtualKentCard,
    *,
    ago: float = HOUR,
    decision: str = "allow",
    mode: str = "transport",
) -> dict[str, Any]:
    """A tap the reader decided ``ago`` seconds ago, as its queue uploads it."""
    body = tap_body(card, mode, now=time.time() - ago)
    return {
        **body,
        "id": uuid.uuid4().hex,
        "decision": decision,
        "code": "entitled" if decision == "allow" else "not_entitled",
        "reason": "from the offline snapshot",
    }


def status(queued: int = 0, ahead: float = 0.0, version: str | None = "41") -> dict[str, Any]:
    clock = time.time() + ahead
    return {
        "snapshot_version": version,
        "queued": queued,
        "clock": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock))
        + f".{int(clock * 1000) % 1000:03d}+00:00",
    }


def upload(
    client: FlaskClient, headers: dict[str, str], taps: list[dict[str, Any]], **reader: Any
) -> Any:
    return client.post(
        "/api/v1/taps/batch", json={"reader": status(**reader), "taps": taps}, headers=headers
    )


@pytest.fixture
def bus_pass_card(app: Flask, blank_card, resident_and_actor) -> tuple[VirtualKentCard, Any]:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "bus-pass-older")
    card = blank_card()
    return card, issue_one(app, actor, resident_id, card)


def _taps(app: Flask) -> list[Tap]:
    with in_app(app):
        return list(db_session.scalars(select(Tap).order_by(Tap.id)))


def _reader_row(app: Flask, client_id: str) -> Reader:
    with in_app(app):
        row = db_session.get(Reader, client_id)
        assert row is not None
        db_session.expunge(row)
        return row


def test_offline_taps_are_verified_decided_and_recorded_in_order(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, issued = bus_pass_card
    taps = [offline_tap(card, ago=3 * HOUR), offline_tap(card, ago=2 * HOUR, decision="deny")]
    response = upload(client, bearer(client, reader), taps, queued=2)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert [r["id"] for r in answer["results"]] == [t["id"] for t in taps]
    assert [(r["result"], r["decision"], r["code"], r["follow_up"]) for r in answer["results"]] == [
        ("recorded", "allow", "entitled", False),
        ("recorded", "allow", "entitled", False),  # the reader refused; nobody to follow up
    ]
    assert (answer["recorded"], answer["duplicates"], answer["refused"], answer["flagged"]) == (
        2,
        0,
        0,
        0,
    )
    rows = _taps(app)
    assert [(t.reader_tap_id, t.reader_decision, t.decision) for t in rows] == [
        (taps[0]["id"], "allow", "allow"),
        (taps[1]["id"], "deny", "allow"),
    ]
    first = rows[0]
    assert first.card_number == issued.card_number
    assert first.reader_client_id == reader.client_id
    assert first.reader_code == "entitled" and first.reader_reason == "from the offline snapshot"
    assert first.challenge == bytes.fromhex(taps[0]["challenge"])
    # When it happened is the challenge's time (the reader's clock), not the upload's.
    assert first.uploaded_at is not None
    assert 2.9 * HOUR < (first.uploaded_at - first.at).total_seconds() < 3.1 * HOUR
    state = _reader_row(app, reader.client_id)
    assert (state.taps_recorded, state.taps_flagged, state.taps_refused) == (2, 0, 0)
    assert state.queued_taps == 2 and state.snapshot_version == "41"
    assert state.last_contact_at is not None and abs(state.clock_drift_ms or 0) < 5000


def test_a_batch_sent_twice_is_recorded_once(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, _ = bus_pass_card
    headers = bearer(client, reader)
    taps = [offline_tap(card, ago=HOUR - i) for i in range(5)]
    first = upload(client, headers, taps).get_json()
    again = upload(client, headers, taps).get_json()
    assert [r["result"] for r in first["results"]] == ["recorded"] * 5
    assert [r["result"] for r in again["results"]] == ["duplicate"] * 5
    # A duplicate answers with the first recording's decision.
    assert [(r["decision"], r["code"]) for r in again["results"]] == [("allow", "entitled")] * 5
    assert (again["recorded"], again["duplicates"]) == (0, 5)
    assert len(_taps(app)) == 5
    # A batch overlapping the last one: only the new taps are recorded.
    more = [*taps[3:], offline_tap(card, ago=60)]
    third = upload(client, headers, more).get_json()
    assert [r["result"] for r in third["results"]] == ["duplicate", "duplicate", "recorded"]
    assert len(_taps(app)) == 6
    assert _reader_row(app, reader.client_id).taps_recorded == 6


def test_a_tap_allowed_offline_that_the_service_refuses_is_flagged_and_counted(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card, resident_and_actor
) -> None:
    """The card was reported stolen after the reader's snapshot was made: the reader
    allowed it; the service records the tap with its refusal, flagged for follow-up."""
    card, issued = bus_pass_card
    _, actor = resident_and_actor
    taps = [offline_tap(card, ago=2 * HOUR), offline_tap(card, ago=HOUR, decision="deny")]
    with in_app(app):
        issuance.report_card(actor, issued.id, "stolen")
    answer = upload(client, bearer(client, reader), taps).get_json()
    assert [(r["result"], r["decision"], r["code"], r["follow_up"]) for r in answer["results"]] == [
        ("recorded", "deny", "hotlisted", True),
        ("recorded", "deny", "hotlisted", False),  # the reader refused it too
    ]
    assert answer["flagged"] == 1
    rows = _taps(app)
    assert [(t.reader_decision, t.decision, t.follow_up) for t in rows] == [
        ("allow", "deny", True),
        ("deny", "deny", False),
    ]
    assert rows[0].reason == "card reported stolen"
    assert _reader_row(app, reader.client_id).taps_flagged == 1
    with in_app(app):
        listed = {s.client_id: s for s in fleet.fleet()}
    assert listed[reader.client_id].taps_flagged == 1


def test_taps_are_refused_one_by_one_and_the_rest_recorded(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, _ = bus_pass_card
    headers = bearer(client, reader)
    online = tap_body(card)  # decided online a moment ago: its answer is recorded
    assert client.post("/api/v1/taps", json=online, headers=headers).status_code == 200
    good = offline_tap(card, ago=2 * 24 * HOUR)  # days old: no freshness window offline
    future = offline_tap(card, ago=-HOUR)  # an hour ahead of the service's clock
    near_future = offline_tap(card, ago=-60)  # within the drift allowance
    replayed = {**online, "id": uuid.uuid4().hex, "decision": "allow", "code": "x", "reason": "y"}
    not_a_card = {**offline_tap(card), "select_answer": "6f00"}
    forged = offline_tap(card)
    forged["challenge"] = new_challenge(time.time() - HOUR).hex()  # signed another challenge
    taps = [good, future, near_future, replayed, not_a_card, forged]
    answer = upload(client, headers, taps).get_json()
    assert [(r["result"], r["code"]) for r in answer["results"]] == [
        ("recorded", "entitled"),
        ("refused", "future_tap"),
        ("recorded", "entitled"),
        ("refused", "replayed_tap"),
        ("refused", "unprocessable_tap"),
        ("recorded", "not_genuine"),
    ]
    assert "ahead of the service's clock" in answer["results"][1]["reason"]
    forged_result = answer["results"][5]
    assert forged_result["decision"] == "deny" and forged_result["follow_up"] is True
    assert (answer["recorded"], answer["refused"], answer["flagged"]) == (3, 3, 1)
    state = _reader_row(app, reader.client_id)
    assert (state.taps_recorded, state.taps_refused, state.taps_flagged) == (3, 3, 1)
    # The answer of a tap that did not verify is not kept: no challenge on its row.
    assert [t.challenge is None for t in _taps(app)] == [False, False, False, True]


def test_the_same_tap_id_twice_in_one_batch_counts_once(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, _ = bus_pass_card
    tap = offline_tap(card)
    answer = upload(client, bearer(client, reader), [tap, tap]).get_json()
    assert [r["result"] for r in answer["results"]] == ["recorded", "duplicate"]
    assert len(_taps(app)) == 1


def test_tap_ids_are_unique_per_reader_not_across_readers(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, _ = bus_pass_card
    other = register(app, name="Library desk 2", mode="library", location="Maidstone library")
    first = offline_tap(card)
    second = {**offline_tap(card, mode="library", decision="deny"), "id": first["id"]}
    assert upload(client, bearer(client, reader), [first]).get_json()["recorded"] == 1
    assert upload(client, bearer(client, other), [second]).get_json()["recorded"] == 1
    assert {(t.reader_client_id, t.reader_tap_id) for t in _taps(app)} == {
        (reader.client_id, first["id"]),
        (other.client_id, first["id"]),
    }


def test_the_whole_batch_is_refused_for_its_form(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, _ = bus_pass_card
    headers = bearer(client, reader)
    tap = offline_tap(card)
    cases: list[tuple[Any, int, str]] = [
        ("not json", 400, "invalid_request"),
        ([tap], 400, "invalid_request"),
        ({"taps": [tap]}, 422, "reader"),
        ({"reader": status(), "taps": []}, 422, "taps"),
        ({"reader": status(), "taps": [{**tap, "challenge": "zz"}]}, 422, "taps.0.challenge"),
        ({"reader": status(), "taps": [{**tap, "decision": "maybe"}]}, 422, "taps.0.decision"),
        ({"reader": status(), "taps": [{**tap, "id": "no spaces"}]}, 422, "taps.0.id"),
        ({"reader": {**status(), "clock": "yesterday"}, "taps": [tap]}, 422, "reader.clock"),
        ({"reader": {**status(), "queued": -1}, "taps": [tap]}, 422, "reader.queued"),
        ({"reader": status(), "taps": [tap] * 1001}, 422, "taps"),
    ]
    for body, code, where in cases:
        if isinstance(body, str):
            response = client.post(
                "/api/v1/taps/batch",
                data=body,
                headers={**headers, "Content-Type": "application/json"},
            )
        else:
            response = client.post("/api/v1/taps/batch", json=body, headers=headers)
        assert response.status_code == code, (where, response.get_json())
        problem = response.get_json()
        if code == 422:
            assert problem["error"] == "invalid_request" and where in problem["errors"], problem
        else:
            assert problem["error"] == where
    assert _taps(app) == []
    assert _reader_row(app, reader.client_id).last_contact_at is None


def test_only_registered_readers_upload(app: Flask, client: FlaskClient, bus_pass_card) -> None:
    card, _ = bus_pass_card
    online_only = make_rp(
        app,
        name="Old reader",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write cards:read",
    )
    body = {"reader": status(), "taps": [offline_tap(card)]}
    refused = client.post("/api/v1/taps/batch", json=body, headers=bearer(client, online_only))
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_a_reader"
    wrong_scope = client.post(
        "/api/v1/taps/batch", json=body, headers=bearer(client, online_only, "cards:read")
    )
    assert wrong_scope.status_code == 403
    assert wrong_scope.get_json()["error"] == "insufficient_scope"
    assert client.post("/api/v1/taps/batch", json=body).status_code == 401
    assert _taps(app) == []
    # The existing client joins the fleet; its uploads are taken from then on.
    with in_app(app):
        fleet.register_reader(
            client_id=online_only.client_id, mode="transport", location="Dover depot"
        )
    accepted = client.post("/api/v1/taps/batch", json=body, headers=bearer(client, online_only))
    assert accepted.status_code == 200 and accepted.get_json()["recorded"] == 1


def test_a_body_over_the_batch_limit_is_refused(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    card, _ = bus_pass_card
    limit = app.config["KENTCARD"].tap_batch_max_bytes
    tap = {**offline_tap(card), "reason": "x" * 3000}
    taps = [{**tap, "id": uuid.uuid4().hex} for _ in range(1000)]
    assert len(json.dumps(taps)) > limit
    body = {"reader": status(), "taps": taps}
    response = client.post("/api/v1/taps/batch", json=body, headers=bearer(client, reader))
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["error"] == "request_too_large"


def test_a_large_batch_within_the_limit_is_taken(
    app: Flask, client: FlaskClient, reader: RP, bus_pass_card
) -> None:
    """1,000 taps (about 700 KB) in one request: far above the 32 KB of other JSON APIs."""
    card, _ = bus_pass_card
    one = offline_tap(card)
    taps = [{**one, "id": f"t{i}"} for i in range(1000)]
    answer = json.loads(upload(client, bearer(client, reader), taps).data)
    # One card answer: recorded once, then refused as the same answer under other ids.
    assert answer["recorded"] == 1 and answer["refused"] == 999
    assert {r["code"] for r in answer["results"][1:]} == {"replayed_tap"}


def test_reader_status_records_the_contact(app: Flask, client: FlaskClient, reader: RP) -> None:
    headers = bearer(client, reader)
    response = client.post(
        "/api/v1/readers/status", json=status(queued=17, ahead=90, version="v7"), headers=headers
    )
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert 85_000 < answer["clock_drift_ms"] < 95_000
    assert "service_time" in answer
    state = _reader_row(app, reader.client_id)
    assert (state.queued_taps, state.snapshot_version) == (17, "v7")
    assert state.clock_drift_ms == answer["clock_drift_ms"]
    with in_app(app):
        listed = {s.client_id: s for s in fleet.fleet()}
    assert listed[reader.client_id].clock_wrong
    missing = client.post("/api/v1/readers/status", json={"queued": 1}, headers=headers)
    assert missing.status_code == 422
    assert set(missing.get_json()["errors"]) == {"clock", "snapshot_version"}


def test_the_same_batch_uploaded_twice_at_once_is_recorded_once(
    app: Flask, live_server, bus_pass_card
) -> None:
    """Two uploads of one batch racing (a reader killed and restarted while its first
    request was still being answered): every tap is recorded exactly once."""
    import urllib.request

    from cardio.online import OnlineDecisionSource

    card, _ = bus_pass_card
    reader = register(app, name="Racing reader")
    taps = [offline_tap(card, ago=HOUR + i) for i in range(60)]
    document = {"reader": status(), "taps": taps}
    answers: list[dict[str, Any]] = []
    source = OnlineDecisionSource(live_server.url, reader.client_id, reader.client_secret)
    token = source.token()

    def send() -> None:
        request = urllib.request.Request(  # noqa: S310 - the test's own server
            live_server.url + "/api/v1/taps/batch",
            data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            answers.append(json.loads(response.read()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 2
    assert sum(a["recorded"] for a in answers) == 60
    for position in range(60):
        kinds = {a["results"][position]["result"] for a in answers}
        assert kinds == {"recorded", "duplicate"}, (position, kinds)
    rows = _taps(app)
    assert len(rows) == 60 and len({t.reader_tap_id for t in rows}) == 60
    assert _reader_row(app, reader.client_id).taps_recorded == 60


FLEET_OPERATIONS = {
    "/api/v1/taps/batch": (
        "TapBatchRequest",
        "TapBatchAnswer",
        {"400", "401", "403", "413", "422", "503"},
    ),
    "/api/v1/readers/status": ("ReaderStatus", "ReaderStatusAnswer", {"400", "401", "403", "422"}),
}


def test_the_fleet_operations_are_in_the_openapi_document(client: FlaskClient) -> None:
    document = json.loads(client.get("/api/v1/openapi.json").data)
    for path, (body, answer, failures) in FLEET_OPERATIONS.items():
        operation = document["paths"][path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{body}"}
        responses = operation["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{answer}"
        }
        assert set(responses) == {"200", "default", *failures}, path
        assert operation["security"] == [{"reader": ["taps:write"]}]
    result = document["components"]["schemas"]["TapResult"]["properties"]["result"]
    assert result["enum"] == ["recorded", "duplicate", "refused"]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_the_fleet_operations_answer_as_documented(
    app: Flask, client: FlaskClient, reader: RP, mode: str
) -> None:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from tests.partner_api.test_openapi import run_operation

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path in FLEET_OPERATIONS
    ]
    assert len(operations) == 2
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    seen: set[int] = set()
    for operation in operations:
        seen |= run_operation(
            operation,
            generation,
            bearer(client, reader),
            max_examples=20,
            excluded_checks=[positive_data_acceptance],
        )
    assert (200 in seen) if mode == "positive" else ({400, 422} & seen), seen


def _verdict(load: Any, body: dict[str, Any]) -> tuple[bool, set[str], Any]:
    import marshmallow as ma

    from idservice.cards.fleet_api import _flatten

    try:
        loaded = load(body)
    except ma.ValidationError as exc:
        return False, set(_flatten(exc.messages)), None
    return True, set(), loaded


def test_the_fast_batch_loader_holds_the_schema_s_verdicts() -> None:
    """The view loads a batch with ``load_tap_batch`` (marshmallow costs about 0.1 ms a
    tap); the documented schema must say the same of every body."""
    from idservice.cards.schemas import TAP_BATCH_REQUEST_SCHEMA, load_tap_batch

    tap = {
        "id": "a" * 32,
        "select_answer": "6f00",
        "challenge": "0A" * 16,
        "signature": "3045",
        "mode": "library",
        "decision": "deny",
        "code": "c",
        "reason": "r",
        "extra": "ignored",
    }
    reader = status()
    bodies: list[dict[str, Any]] = [
        {"reader": reader, "taps": [tap]},
        {"reader": reader, "taps": [tap] * 1000},
        {"reader": reader, "taps": [tap] * 1001},
        {"reader": reader, "taps": []},
        {"reader": reader},
        {"taps": [tap]},
        {"reader": None, "taps": [tap]},
        {"reader": "x", "taps": [tap]},
        {"reader": reader, "taps": None},
        {"reader": reader, "taps": "x"},
        {"reader": reader, "taps": {"0": tap}},
        {"reader": {**reader, "queued": "3"}, "taps": [tap, 3, None]},
        {"reader": {**reader, "snapshot_version": None, "extra": 1}, "taps": [tap]},
        {"reader": {**reader, "snapshot_version": "v" * 65}, "taps": [tap]},
        {"reader": {**reader, "clock": "2026-12-07T10:00:00"}, "taps": [tap]},
        {"reader": reader, "taps": [tap] * 1001 + [{}]},
    ]
    for name in ("id", "select_answer", "challenge", "signature", "mode", "decision", "code"):
        for value in (None, 7, "", "zz", "ab\n", "0" * 33, "a b", "x" * 65, "ABCD", "allow"):
            bodies.append({"reader": reader, "taps": [tap, {**tap, name: value}]})
        bodies.append({"reader": reader, "taps": [{k: v for k, v in tap.items() if k != name}]})
    for body in bodies:
        schema = _verdict(TAP_BATCH_REQUEST_SCHEMA.load, body)
        fast = _verdict(load_tap_batch, body)
        assert schema[:2] == fast[:2], (
            body if len(str(body)) < 800 else "long body",
            schema[:2],
            fast[:2],
        )
        if schema[0]:
            assert schema[2] == fast[2]
    assert sum(1 for body in bodies if _verdict(load_tap_batch, body)[0]) >= 10
