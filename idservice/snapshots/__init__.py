"""Signed offline lists for readers: built from the card register, served to readers.

Owns the ``offline_snapshots`` and ``offline_snapshot_deltas`` tables. ``kentcard
snapshots build`` calls :mod:`idservice.snapshots.build`; readers call ``GET
/api/v1/snapshots/{mode}`` (:mod:`idservice.snapshots.api`). The bytes and the
signature are :mod:`cardio.snapshot_format`'s, shared with the readers; the format is
described for reader vendors in docs/readers.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from idservice.openapi import api_for
    from idservice.snapshots.api import bp

    api_for(app).register_blueprint(bp)
