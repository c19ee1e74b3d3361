"""Kent-scale data for benchmarks: residents, active Kent Cards, entitlements (PostgreSQL).

Kent has about 1.6 million residents. :func:`populate` fills an empty, migrated PostgreSQL
database with ``count`` residents, one **active** card each (a valid certificate signed by
the instance's issuer certificate key, a card key of its own) and the ledger projection
(``entitlement_states``) of what each holds, with ``COPY`` so that 1.6 million of each
take minutes. Everything is derived from a seed, so a load generator can make genuine
tap answers for any card without storing 1.6 million private keys.

Interface (for the online tap and the partner check benchmarks)::

    from benchmarks.kent_scale import KentScale, open_or_populate

    url, scale = open_or_populate(admin_url, "kentcard_kent_scale", instance, 1_600_000)
    # or step by step:
    scale = open_existing(url, instance)           # a database populated before, or None
    upgrade_existing(url)                          # ... brought to the migrations' head
    scale = scale or populate(url, instance, count=1_600_000)
    scale.count                                    # residents = active cards
    scale.resident_id(i), scale.card_number(i)     # 0 <= i < count
    scale.card_key(i)                              # the card's private key (ECDSA P-256)
    scale.select_answer(i)                         # what card i answers to SELECT
    scale.tap_answer(i, challenge)                 # its INTERNAL AUTHENTICATE signature
    scale.services(i)                              # services resident i holds ("library"...)
    scale.issuer                                   # cardio.issuer.Issuer of the instance
    ensure_pairwise_subjects(url, scale, sector, subject_of)  # a sector's pairwise subjects

    # for other data builders (the sweep's population):
    database_url(admin_url, db_name), database_exists(admin_url, db_name)
    recreate(admin_url, db_name, instance, template=None)  # empty and migrated, or a copy
    with parallel_copy(url, worker, args, count, workers, analyze) as (cur, blocks): ...

``url`` is a SQLAlchemy/psycopg URL of a database already upgraded to the migrations'
head (``idservice.migrate.upgrade``); ``instance`` is the folder the server will use as
``KENTCARD_INSTANCE_PATH``: the issuer keys go in ``instance/issuer`` (made if missing)
and the seed in ``instance/kent-scale.json``. Who holds what: every resident whose index
is not a multiple of 10 is a library member (90 %); every fifth resident was born
1940-1958 and holds the older person's bus pass (20 %); the others were born 1960-2008.
No personal data is real: names and addresses are made up from the index.

Pairwise subjects (``pairwise_subjects``: what the service keeps of each ``sub`` it
released to a sector, so a partner can check by subject) are added per sector by
:func:`ensure_pairwise_subjects`, as if every resident had signed in to that partner
once. The subject comes from the caller (``subject_of(resident_id)``, the server's own
``idservice.oauth.claims.pairwise_sub`` with the server's settings), since it depends on
the server's secret or pairwise salt, not on the seed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import multiprocessing
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from cardio import certificate as cert
from cardio import spec, tlv
from cardio.cardnumber import luhn_check_digit, to_bcd
from cardio.dates import encode_expiry
from cardio.issuer import Issuer
from idservice.cards.issuer_keys import issuer_store

if TYPE_CHECKING:
    import psycopg

PREFIX = "982601"
#: Card serials for the benchmark data start here, far above what issuing at a counter
#: hands out in a test database; the counter row is moved past them.
FIRST_SERIAL = 100_000_000
EXPIRY = date(2031, 12, 31)
STATE_FILE = "kent-scale.json"
#: The order of the P-256 group: card key scalars are taken modulo it.
_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
CHUNK = 20_000


def _pg_dsn(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass(frozen=True)
class KentScale:
    """What :func:`populate` wrote, and how to act as any of its cards."""

    instance: Path
    count: int
    seed: bytes

    @cached_property
    def issuer(self) -> Issuer:
        return issuer_store(self.instance).load()

    @cached_property
    def issuer_key_id(self) -> bytes:
        return self.issuer.certificate_key_id

    def resident_id(self, i: int) -> str:
        return str(uuid.UUID(int=(0xB5 << 120) | i))

    def card_id(self, i: int) -> str:
        return str(uuid.UUID(int=(0xCA << 120) | i))

    def card_number(self, i: int) -> str:
        payload = PREFIX + str(FIRST_SERIAL + i).zfill(9)
        return payload + luhn_check_digit(payload)

    def card_key(self, i: int) -> ec.EllipticCurvePrivateKey:
        digest = hmac.new(self.seed, i.to_bytes(8, "big"), hashlib.sha256).digest()
        scalar = int.from_bytes(digest, "big") % (_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP256R1())

    def services(self, i: int) -> tuple[str, ...]:
        held = []
        if i % 5 == 0:
            held.append("bus-pass-older")
        if i % 10 != 9:
            held.append("library")
        return tuple(held)

    def date_of_birth(self, i: int) -> date:
        if i % 5 == 0:
            return date(1940, 1, 1) + timedelta(days=(i * 7919) % (19 * 365))
        return date(1960, 1, 1) + timedelta(days=(i * 7919) % (48 * 365))

    def card_data(self, i: int) -> bytes:
        return tlv.encode(spec.TAG_CARD_NUMBER, to_bcd(self.card_number(i))) + tlv.encode(
            spec.TAG_EXPIRY, encode_expiry(EXPIRY)
        )

    def certificate(self, i: int, point: bytes | None = None) -> bytes:
        point = point or cert.point_of(self.card_key(i).public_key())
        key = self.issuer.certificate_key
        body = cert.encode_body(self.issuer_key_id, self.card_number(i), EXPIRY, point)
        signature = cert.sign_raw(key, spec.LABEL_CERTIFICATE + body)
        return tlv.encode(
            spec.TAG_CERTIFICATE, body + tlv.encode(spec.TAG_CERTIFICATE_SIGNATURE, signature)
        )

    def select_answer(self, i: int) -> bytes:
        """The FCI card ``i`` answers to SELECT (as the virtual card builds it)."""
        fields = (
            tlv.encode(spec.TAG_VERSION, bytes([spec.APPLICATION_VERSION]))
            + tlv.encode(spec.TAG_LIFE_CYCLE, bytes([spec.LifeCycle.LOCKED]))
            + self.card_data(i)
            + self.certificate(i)
        )
        return tlv.encode(
            spec.TAG_FCI,
            tlv.encode(spec.TAG_DF_NAME, spec.AID) + tlv.encode(spec.TAG_FCI_PROPRIETARY, fields),
        )

    def tap_answer(self, i: int, challenge: bytes) -> bytes:
        """Card ``i``'s DER signature over the tap message, as INTERNAL AUTHENTICATE."""
        message = spec.tap_message(challenge, self.card_data(i))
        return self.card_key(i).sign(message, ec.ECDSA(hashes.SHA256()))


def _bytea(value: bytes) -> str:
    return "\\\\x" + value.hex()


def _rows(scale_args: tuple[Path, int, bytes], start: int, stop: int) -> tuple[str, str, str]:
    """COPY text for residents, cards and states of indexes ``start``..``stop`` (a worker)."""
    scale = KentScale(*scale_args)
    residents, cards, states = io.StringIO(), io.StringIO(), io.StringIO()
    now = "2026-01-01 00:00:00+00"
    key_id = scale.issuer_key_id.hex()
    for i in range(start, stop):
        rid = scale.resident_id(i)
        residents.write(
            f"{rid}\tResident\tNumber {i}\t{scale.date_of_birth(i).isoformat()}\t"
            f"{i} High Street\tMaidstone\tME14 {i % 10}XQ\ten\t[]\tf\tactive\t"
            f"documents-seen\t{now}\t{now}\n"
        )
        point = cert.point_of(scale.card_key(i).public_key())
        certificate = scale.certificate(i, point)
        cards.write(
            f"{scale.card_id(i)}\t{scale.card_number(i)}\t{rid}\tactive\t"
            f"{EXPIRY.isoformat()}\t{_bytea(point)}\t{_bytea(certificate)}\t"
            f"{key_id}\t{now}\t{now}\t{now}\n"
        )
        for service in scale.services(i):
            until = "2031-12-31" if service == "library" else "\\N"
            states.write(f"{rid}\t{service}\tactive\t2026-01-01\t{until}\t{i + 1}\n")
    return residents.getvalue(), cards.getvalue(), states.getvalue()


def _rows_star(job: tuple[tuple[Path, int, bytes], int, int]) -> tuple[str, str, str]:
    return _rows(*job)


_TABLES = ("residents", "cards", "entitlement_states")
_COLUMNS = (
    "id, given_name, family_name, date_of_birth, address_line_1, town, postcode, language, "
    "alternative_formats, text_relay, status, identity_level, created_at, updated_at",
    "id, card_number, resident_id, status, expiry, public_key, certificate, issuer_key_id, "
    "ordered_at, issued_at, status_changed_at",
    "resident, service, status, valid_from, valid_until, last_seq",
)


def _chunks(count: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, CHUNK):
        yield start, min(count, start + CHUNK)


def open_existing(url: str, instance: Path) -> KentScale | None:
    """The data a previous :func:`populate` left in this database and instance, if whole."""
    import psycopg

    state = instance / STATE_FILE
    if not state.exists() or not (instance / "issuer").exists():
        return None
    saved = json.loads(state.read_text())
    scale = KentScale(instance, int(saved["count"]), bytes.fromhex(saved["seed"]))
    with psycopg.connect(_pg_dsn(url)) as conn:
        try:
            cards = conn.execute(
                "SELECT count(*) FROM cards WHERE card_number >= %s AND status = 'active'",
                (scale.card_number(0),),
            ).fetchone()
            last = conn.execute(
                "SELECT issuer_key_id FROM cards WHERE card_number = %s",
                (scale.card_number(scale.count - 1),),
            ).fetchone()
        except psycopg.Error:
            return None
    if not cards or cards[0] != scale.count or not last:
        return None
    if last[0] != scale.issuer.certificate_key_id.hex():
        return None
    return scale


def populate(
    url: str,
    instance: Path,
    count: int = 1_600_000,
    workers: int = 2,
    progress: Callable[[str], None] = print,
) -> KentScale:
    """Fill a migrated, empty PostgreSQL database with ``count`` residents and cards.

    The issuer in ``instance/issuer`` is made if missing; a new seed is saved. One
    transaction: a failure leaves the database as it was.
    """
    # A benchmark instance of its own: a development passphrase file is fine here.
    store = issuer_store(instance, create_development=True)
    if not store.exists():
        store.init()
    scale = KentScale(instance, count, secrets.token_bytes(32))
    args = (scale.instance, scale.count, scale.seed)
    # Chunk by chunk (workers sign ahead), residents before the cards that refer to them.
    with parallel_copy(url, _rows_star, args, count, workers, _TABLES) as (cur, blocks):
        for block, stop in blocks:
            for table, columns, text in zip(_TABLES, _COLUMNS, block, strict=True):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(text)
            if stop % 200_000 < CHUNK or stop == count:
                progress(f"kent_scale: {stop:,} of {count:,} residents and cards")
        cur.execute(
            "INSERT INTO card_number_counters (issuer_prefix, next_serial) VALUES (%s, %s) "
            "ON CONFLICT (issuer_prefix) DO UPDATE SET next_serial = EXCLUDED.next_serial",
            (PREFIX, FIRST_SERIAL + count),
        )
    (instance / STATE_FILE).write_text(json.dumps({"count": count, "seed": scale.seed.hex()}))
    return scale


@contextmanager
def parallel_copy(
    url: str,
    worker: Callable[[Any], Any],
    args: Any,
    count: int,
    workers: int,
    analyze: Sequence[str],
) -> Iterator[tuple[psycopg.Cursor[Any], Iterator[tuple[Any, int]]]]:
    """A cursor in one transaction and, in order, what ``worker((args, start, stop))``
    makes of each chunk of ``range(count)`` with the chunk's ``stop`` (``workers``
    processes make them ahead). Committed when the block ends (nothing on an error), then
    the ``analyze`` tables are analysed."""
    import psycopg

    with (
        psycopg.connect(_pg_dsn(url)) as conn,
        multiprocessing.get_context("fork").Pool(workers) as pool,
    ):
        conn.execute("SET synchronous_commit = off")
        with conn.cursor() as cur:
            chunks = [(args, a, b) for a, b in _chunks(count)]
            yield cur, zip(pool.imap(worker, chunks), (b for _, _, b in chunks), strict=True)
        conn.commit()
        for table in analyze:
            conn.execute(f"ANALYZE {table}")


def upgrade_existing(url: str) -> None:
    """Bring a database populated by an earlier version to the migrations' head.

    Later migrations add nullable columns and new tables (0010 the card photo reference,
    0011 facts and service requests), which the rows written here do not need; without
    this the server would meet a schema older than its models.
    """
    from idservice import migrate

    migrate.upgrade(url)


def open_or_populate(
    admin_url: str,
    db_name: str,
    instance: Path,
    count: int,
    rebuild: bool = False,
    progress: Callable[[str], None] = print,
) -> tuple[str, KentScale]:
    """The SQLAlchemy URL of ``db_name`` and its data: reused when an earlier run left
    ``count`` residents there (brought to the migrations' head), else built afresh.

    ``admin_url`` is a libpq URL of a maintenance database (``.../postgres``) with the
    right to create databases. The tap and the partner check benchmarks share the default
    database, so 1.6 million residents are built once.
    """
    import time

    url = database_url(admin_url, db_name)
    scale = None
    if database_exists(admin_url, db_name) and not rebuild:
        scale = open_existing(url, instance)
        if scale is not None and scale.count != count:
            scale = None
    if scale is None:
        progress(f"building {db_name}: {count:,} residents and cards (takes minutes)")
        recreate(admin_url, db_name, instance)
        started = time.monotonic()
        scale = populate(url, instance, count, progress=progress)
        progress(f"built in {time.monotonic() - started:.0f} s")
    else:
        upgrade_existing(url)
        progress(f"reusing {db_name} ({scale.count:,} residents and cards)")
    return url, scale


def database_url(admin_url: str, db_name: str) -> str:
    """The SQLAlchemy URL of ``db_name`` on the server of ``admin_url`` (a libpq URL)."""
    import re

    return re.sub(r"/[^/]*$", "/" + db_name, admin_url).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


def database_exists(admin_url: str, db_name: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,))
        return found.fetchone() is not None


def recreate(admin_url: str, db_name: str, instance: Path, template: str | None = None) -> str:
    """Drop ``db_name`` and make it again: migrated to the head, or a copy of ``template``
    (``CREATE DATABASE ... TEMPLATE``, a file copy). Without a template the ``instance``
    folder is emptied too (its keys and state belong to the data). Returns its URL."""
    import shutil

    import psycopg

    from idservice import migrate

    url = database_url(admin_url, db_name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{db_name}"{copy}')
    if template is None:
        shutil.rmtree(instance, ignore_errors=True)
        instance.mkdir(parents=True)
        migrate.upgrade(url)
    return url


def ensure_pairwise_subjects(
    url: str,
    scale: KentScale,
    sector: str,
    subject_of: Callable[[str], str],
    progress: Callable[[str], None] = print,
) -> None:
    """Every resident's pairwise subject for ``sector``, as if each had signed in to that
    partner once; nothing to do when they are already there.

    Whole means one row per resident in the sector and the stored subjects of the first
    and last residents equal ``subject_of`` now (a new secret or salt changes every
    subject). Otherwise the sector's rows are replaced with ``COPY``, chunk by chunk, in
    one transaction.
    """
    import psycopg

    sample = (0, scale.count - 1)
    with psycopg.connect(_pg_dsn(url)) as conn:
        have = conn.execute(
            "SELECT count(*) FROM pairwise_subjects WHERE sector = %s", (sector,)
        ).fetchone()
        stored = {
            str(row[0]): row[1]
            for row in conn.execute(
                "SELECT resident_id, subject FROM pairwise_subjects "
                "WHERE sector = %s AND resident_id = ANY(%s)",
                (sector, [scale.resident_id(i) for i in sample]),
            )
        }
        wanted = {scale.resident_id(i): subject_of(scale.resident_id(i)) for i in sample}
        if have and have[0] == scale.count and stored == wanted:
            return
        progress(f"kent_scale: pairwise subjects for {sector}: {scale.count:,} residents")
        conn.execute("DELETE FROM pairwise_subjects WHERE sector = %s", (sector,))
        now = "2026-01-01 00:00:00+00"
        with conn.cursor() as cur:
            for start, stop in _chunks(scale.count):
                text = io.StringIO()
                for i in range(start, stop):
                    rid = scale.resident_id(i)
                    text.write(f"{sector}\t{subject_of(rid)}\t{rid}\t{now}\n")
                with cur.copy(
                    "COPY pairwise_subjects (sector, subject, resident_id, created_at) FROM STDIN"
                ) as copy:
                    copy.write(text.getvalue())
                if stop % 200_000 < CHUNK or stop == scale.count:
                    progress(f"kent_scale: {stop:,} of {scale.count:,} pairwise subjects")
        conn.commit()
        conn.execute("ANALYZE pairwise_subjects")
