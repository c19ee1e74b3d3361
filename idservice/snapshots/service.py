"""What ``GET /api/v1/snapshots/{mode}`` answers: the stored bytes, never signed here.

A reader at a version the builder kept a delta from gets that delta; any other reader
(none yet, too far behind, or a version this service never made) gets the latest full
list and judges it itself (docs/readers.md). The ETag names the mode and the latest
version, so a reader that holds it is answered 304 and downloads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from cardio.snapshot_format import DELTA, FULL
from idservice.api_errors import ApiError
from idservice.cards.decisions import MODE_SERVICES
from idservice.db import db_session
from idservice.snapshots import dao

#: What a reader's client credentials token needs to fetch its offline list.
SNAPSHOTS_SCOPE = "snapshots:read"
MEDIA_TYPE = "application/vnd.kentcard.offline-list"


class UnknownMode(ApiError):
    status, code = 404, "unknown_mode"
    message = f"No such reader mode: use one of {', '.join(MODE_SERVICES)}"


class NoSnapshot(ApiError):
    status, code = 503, "no_snapshot"
    message = "No offline list has been built for this mode yet: try again later"


@dataclass(frozen=True)
class Latest:
    mode: str
    version: int

    @property
    def etag(self) -> str:
        """The entity tag (without quotes) of every answer that brings a reader here."""
        return f"{self.mode}-v{self.version}"


@dataclass(frozen=True)
class SnapshotAnswer:
    kind: str
    version: int
    body: bytes


def latest(mode: str) -> Latest:
    """The latest version of ``mode``: 404 ``unknown_mode``, 503 ``no_snapshot``."""
    if mode not in MODE_SERVICES:
        raise UnknownMode
    version = dao.dao_latest_version(db_session.connection(), mode)
    if version is None:
        raise NoSnapshot
    return Latest(mode, version)


def snapshot_for(at: Latest, since: int | None) -> SnapshotAnswer:
    """The delta from ``since`` to the latest version if one was kept, else the full list."""
    connection = db_session.connection()
    if since is not None:
        body = dao.dao_delta_body(connection, at.mode, since, at.version)
        if body is not None:
            return SnapshotAnswer(DELTA, at.version, body)
    full = dao.dao_full_body(connection, at.mode, at.version)
    if full is None:  # a build replaced it a moment ago: the reader asks again
        raise NoSnapshot("The offline list changed while it was read: try again")
    return SnapshotAnswer(FULL, at.version, full)
