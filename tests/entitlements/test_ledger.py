"""The ledger on the suite's database (SQLite or PostgreSQL), built by the migrations."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from entitlements.ledger.events import Channel, EventError, EventKind, LedgerEvent
from entitlements.ledger.signing import SigningKey, load_or_create_key
from entitlements.ledger.store import (
    EVENTS,
    append,
    check_proof,
    inclusion,
    rebuild,
    sign_tree_head,
    states,
)
from entitlements.ledger.verify import verify
from tests.entitlements.ledger_helpers import T0, event, forge, shift_up_from, sql


def check(engine: Engine, key: SigningKey) -> tuple[bool, int | None, str | None]:
    report = verify(engine, {key.key_id: key.public_key})
    return report.ok, report.first_bad_seq, report.problem


def filled(engine: Engine, key: SigningKey, n: int = 20) -> Engine:
    append(engine, [event(i) for i in range(1, n // 2 + 1)])
    sign_tree_head(engine, key)
    append(engine, [event(i) for i in range(n // 2 + 1, n + 1)])
    sign_tree_head(engine, key)
    return engine


def test_append_numbers_events_from_one_and_verifies(engine: Engine, key: SigningKey) -> None:
    assert append(engine, [event(1), event(2)]) == [1, 2]
    assert append(engine, [event(3)]) == [3]
    sign_tree_head(engine, key)
    report = verify(engine, {key.key_id: key.public_key})
    assert report.ok and report.size == 3 and report.tree_heads_checked == 1


def test_projection_follows_the_events_and_rebuild_reproduces_it(engine: Engine) -> None:
    append(engine, [event(i, service=s) for i in range(30) for s in ("library", "blue-badge")])
    append(engine, [event(3, EventKind.SUSPEND), event(4, EventKind.REVOKE)])
    append(engine, [event(3, EventKind.RENEW), event(5, EventKind.EXPIRE, "blue-badge")])
    incremental = states(engine)
    by_key = {(s.resident, s.service): s for s in incremental}
    assert by_key[(event(3).resident, "library")].status == "active"
    assert by_key[(event(4).resident, "library")].status == "revoked"
    assert by_key[(event(5).resident, "blue-badge")].status == "expired"
    sql(engine, "UPDATE entitlement_states SET status = 'active'")  # a quiet change
    assert rebuild(engine) == len(incremental)
    assert states(engine) == incremental


def test_events_refuse_personal_data_shapes() -> None:
    with pytest.raises(EventError, match="pseudonymous"):
        LedgerEvent(EventKind.GRANT, "Jane Smith", "library", "staff-1", Channel.WEB, "ok", T0)
    with pytest.raises(EventError, match="time zone"):
        LedgerEvent(
            EventKind.GRANT, "res-00000001", "library", "staff-1", Channel.WEB, "ok",
            T0.replace(tzinfo=None),
        )  # fmt: skip


Tamper = Callable[[Engine], None]


def _edit_body(engine: Engine) -> None:
    sql(
        engine,
        "UPDATE ledger_events SET body = replace(body, 'eligible', 'eligib1e') WHERE seq = 7",
    )


def _edit_column(engine: Engine) -> None:
    sql(engine, "UPDATE ledger_events SET resident = 'res-99999999' WHERE seq = 7")


def _delete(engine: Engine) -> None:
    sql(engine, "DELETE FROM ledger_events WHERE seq = 7")


def _delete_and_renumber(engine: Engine) -> None:
    sql(engine, "DELETE FROM ledger_events WHERE seq = 7")
    sql(engine, "UPDATE ledger_events SET seq = -(seq - 1) WHERE seq > 7")
    sql(engine, "UPDATE ledger_events SET seq = -seq WHERE seq < 0")


def _reorder(engine: Engine) -> None:
    sql(engine, "UPDATE ledger_events SET seq = -1 WHERE seq = 7")
    sql(engine, "UPDATE ledger_events SET seq = 7 WHERE seq = 8")
    sql(engine, "UPDATE ledger_events SET seq = 8 WHERE seq = -1")


def _insert(engine: Engine) -> None:
    with engine.connect() as conn:
        previous = conn.execute(select(EVENTS.c.chain_hash).where(EVENTS.c.seq == 6)).scalar_one()
    shift_up_from(engine, 7)
    forge(engine, 7, bytes(previous))


@pytest.mark.parametrize(
    "tamper", [_edit_body, _edit_column, _delete, _delete_and_renumber, _reorder, _insert]
)
def test_tampering_names_the_sequence_number(
    engine: Engine, key: SigningKey, tamper: Tamper
) -> None:
    filled(engine, key)
    assert check(engine, key)[0]
    tamper(engine)
    ok, first_bad, problem = check(engine, key)
    assert not ok
    assert first_bad == 7, problem


@pytest.mark.parametrize(
    "tamper", [_edit_body, _edit_column, _delete, _delete_and_renumber, _reorder, _insert]
)
def test_tampering_is_named_across_read_batches(
    engine: Engine, key: SigningKey, tamper: Tamper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 3 put tree heads (10, 20) and the tampered event mid-batch."""
    monkeypatch.setattr("entitlements.ledger.verify._READ_BATCH", 3)
    filled(engine, key)
    assert check(engine, key) == (True, None, None)
    tamper(engine)
    ok, first_bad, problem = check(engine, key)
    assert not ok
    assert first_bad == 7, problem


def test_appends_while_verifying_are_not_taken_for_tampering(
    engine: Engine, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verify reads the head and the events in one snapshot: a writer that appends in
    between is not "events added outside the ledger" (it was, before the snapshot)."""
    from entitlements.ledger import verify as verify_module

    filled(engine, key)
    read_head = verify_module.read_head

    def read_head_then_someone_appends(conn: Connection, for_update: bool) -> tuple[int, bytes]:
        head = read_head(conn, for_update)
        append(engine, [event(i) for i in range(21, 24)])  # another connection, committed
        return head

    monkeypatch.setattr(verify_module, "read_head", read_head_then_someone_appends)
    report = verify(engine, {key.key_id: key.public_key})
    assert report.ok and report.size == 20, report.problem
    monkeypatch.undo()
    report = verify(engine, {key.key_id: key.public_key})
    assert report.ok and report.size == 23, report.problem


def test_appending_behind_the_ledgers_back_is_caught(engine: Engine, key: SigningKey) -> None:
    filled(engine, key)
    with engine.connect() as conn:
        previous = conn.execute(select(EVENTS.c.chain_hash).where(EVENTS.c.seq == 20)).scalar_one()
    forge(engine, 21, bytes(previous))
    assert check(engine, key)[:2] == (False, 21)


def test_deleting_the_newest_event_is_caught(engine: Engine, key: SigningKey) -> None:
    filled(engine, key)
    sql(engine, "DELETE FROM ledger_events WHERE seq = 20")
    assert check(engine, key)[:2] == (False, 20)


def test_a_rewritten_tail_is_caught_by_the_signed_tree_head(
    engine: Engine, key: SigningKey
) -> None:
    """A forger who recomputes every later hash and the head row still cannot sign."""
    filled(engine, key)  # tree heads signed at 10 and 20
    with engine.connect() as conn:
        previous = bytes(
            conn.execute(select(EVENTS.c.chain_hash).where(EVENTS.c.seq == 14)).scalar_one()
        )
    sql(engine, "DELETE FROM ledger_events WHERE seq >= 15")
    for seq in range(15, 21):
        forge(engine, seq, previous)
        with engine.connect() as conn:
            previous = bytes(
                conn.execute(select(EVENTS.c.chain_hash).where(EVENTS.c.seq == seq)).scalar_one()
            )
    sql(engine, "UPDATE ledger_head SET chain_hash = :c", c=previous)
    ok, first_bad, problem = check(engine, key)
    assert not ok and first_bad == 11, problem  # after the last good signed head (10)


def test_an_unknown_signing_key_is_reported(
    engine: Engine, key: SigningKey, tmp_path: Path
) -> None:
    filled(engine, key)
    other = load_or_create_key(tmp_path / "other")
    report = verify(engine, {other.key_id: other.public_key})
    assert not report.ok and "signature" in (report.problem or "")


def test_inclusion_proofs_check_out_for_an_outside_party(engine: Engine, key: SigningKey) -> None:
    filled(engine, key, n=13)
    head = sign_tree_head(engine, key)
    for seq in range(1, 14):
        proof = inclusion(engine, seq, head, key)
        assert check_proof(proof, key.public_key), seq
    proof = inclusion(engine, 5, head, key)
    forged = {**proof, "event": proof["event"].replace("library", "blue-badge")}
    assert not check_proof(forged, key.public_key)
    other = load_or_create_key(Path(str(key.key_id)))  # a different key entirely
    try:
        assert not check_proof(proof, other.public_key)
    finally:
        (Path(str(key.key_id)) / "ledger-signing-key.pem").unlink()
        Path(str(key.key_id)).rmdir()


def _concurrent_appends(engine: Engine, writers: int, appends: int) -> None:
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for i in range(appends):
                append(engine, [event(writer * appends + i)])
        except BaseException as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


def _assert_unbroken(engine: Engine, key: SigningKey, total: int) -> None:
    with engine.connect() as conn:
        seqs = [row.seq for row in conn.execute(select(EVENTS.c.seq).order_by(EVENTS.c.seq))]
    assert seqs == list(range(1, total + 1))
    sign_tree_head(engine, key)
    assert check(engine, key) == (True, None, None)


def test_concurrent_writers_never_fork_or_gap(engine: Engine, key: SigningKey) -> None:
    _concurrent_appends(engine, writers=4, appends=25)
    _assert_unbroken(engine, key, 100)


def test_eight_writers_a_thousand_appends_each_on_postgresql(
    engine: Engine, key: SigningKey
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the full-size concurrency test runs in the PostgreSQL pass")
    _concurrent_appends(engine, writers=8, appends=1000)
    _assert_unbroken(engine, key, 8000)


def test_ledger_commands(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from idservice.cli import main

    monkeypatch.setenv("KENTCARD_DATABASE_URL", database_url)
    monkeypatch.setenv("KENTCARD_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("KENTCARD_SECRET_KEY", "test-only")
    append(engine, [event(i) for i in range(1, 9)])
    runner = CliRunner()
    result = runner.invoke(main, ["ledger", "proof", "5"])
    assert result.exit_code == 0, result.output
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(result.output)
    assert (tmp_path / "instance" / "ledger-signing-key.pem").stat().st_mode & 0o077 == 0
    result = runner.invoke(main, ["ledger", "check-proof", str(proof_file)])
    assert result.exit_code == 0 and "Event 5 is in the signed ledger" in result.output
    result = runner.invoke(main, ["ledger", "verify"])
    assert result.exit_code == 0 and "8 events, 1 signed tree heads" in result.output
    assert runner.invoke(main, ["ledger", "rebuild"]).exit_code == 0
    sql(
        engine,
        "UPDATE ledger_events SET body = replace(body, 'library', 'libraries') WHERE seq = 3",
    )
    result = runner.invoke(main, ["ledger", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["first_bad_seq"] == 3


def test_signing_twice_at_one_size_keeps_the_first_tree_head(
    engine: Engine, key: SigningKey
) -> None:
    append(engine, [event(1)])
    first = sign_tree_head(engine, key)
    again = sign_tree_head(engine, key)
    assert again == first  # ECDSA signatures differ each time; the stored one is returned
