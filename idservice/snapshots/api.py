"""``GET /api/v1/snapshots/{mode}``: a registered reader fetches its signed offline list.

The reader's client credentials token needs the ``snapshots:read`` scope. Without
``since`` the answer is the latest full list; with ``?since=VERSION`` it is the delta from
that version when the builder kept one, else the full list (the list says which, in its
signed header). Every answer carries ``ETag: "<mode>-v<version>"`` and ``Cache-Control:
no-cache``; a reader that sends ``If-None-Match`` with the tag of the version it holds
gets 304 and no body. Errors are the usual JSON ``{"error", "message"}``: 400
``invalid_request`` (``since`` not a whole number), 401 ``invalid_token``, 403
``insufficient_scope``, 404 ``unknown_mode``, 503 ``no_snapshot``. docs/readers.md is the
reader vendor's description.
"""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from idservice import api_errors
from idservice.api_errors import InvalidRequest
from idservice.oauth.bearer import bearer_token, require_scope
from idservice.openapi import BEARER_ERRORS, document_errors
from idservice.snapshots import service
from idservice.snapshots.service import MEDIA_TYPE, SNAPSHOTS_SCOPE

bp = Blueprint(
    "snapshots_api",
    __name__,
    url_prefix="/api/v1",
    description="Signed offline lists for registered readers.",
)
api_errors.register(bp)

SNAPSHOT_ERRORS = {
    400: "invalid_request: since is not a whole number",
    **BEARER_ERRORS,
    404: "unknown_mode: the path names no reader mode",
    503: "no_snapshot: no list has been built for this mode yet",
}
_ETAG = {"ETag": {"schema": {"type": "string"}, "description": '"<mode>-v<version>"'}}
_RESPONSES = {
    "200": {
        "description": "A signed kentcard-offline-list/1 snapshot, full or delta (docs/readers.md)",
        "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        "headers": _ETAG,
    },
    "304": {"description": "The reader holds the latest version already", "headers": _ETAG},
}
_PARAMETERS = [
    {
        "name": "since",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0},
        "description": "The version the reader holds: answer a delta from it when one is kept",
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "The ETag of the version the reader holds: 304 if it is the latest",
    },
]


def _since() -> int | None:
    text = request.args.get("since")
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidRequest("since must be a version number (a whole number)")
    return int(text)


@bp.route("/snapshots/<mode>", methods=["GET"])
@document_errors(bp, SNAPSHOT_ERRORS)
@bp.doc(
    security=[{"reader": [SNAPSHOTS_SCOPE]}],
    operationId="getOfflineList",
    parameters=_PARAMETERS,
    responses=_RESPONSES,
)
def snapshot(mode: str) -> Response:
    """The signed offline list for a reader mode: the latest full list, or a delta.

    Needs a reader's client credentials token with the `snapshots:read` scope.
    """
    require_scope(bearer_token(), SNAPSHOTS_SCOPE)
    since = _since()
    at = service.latest(mode)
    headers = {"ETag": f'"{at.etag}"', "Cache-Control": "no-cache"}
    if request.if_none_match.contains_weak(at.etag):
        return Response(status=304, headers=headers)
    answer = service.snapshot_for(at, since)
    return Response(answer.body, status=200, mimetype=MEDIA_TYPE, headers=headers)
