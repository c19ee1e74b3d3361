"""Marshmallow schemas: they validate requests, serialise the answers (the view's and the
lean path's) and generate the OpenAPI document."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, post_dump, validate

from idservice.partner_api.checks import REASONS

CARD_NUMBER_PATTERN = r"^[0-9]{8,19}$"
#: base64url of an HMAC-SHA256, without padding: what ``sub`` looks like for partners.
SUBJECT_PATTERN = r"^[A-Za-z0-9_-]{43}$"

_REASON_LIST = "; ".join(f"`{code}`: {words}" for code, words in REASONS.items())


class CardCheckSchema(ma.Schema):
    card_number = fields.String(
        required=True,
        validate=validate.Regexp(CARD_NUMBER_PATTERN, error="Enter 8 to 19 digits"),
        metadata={
            "description": "The Kent Card number, digits only. Sent in the body so it never "
            "appears in a URL or an access log. A number with a wrong check digit is "
            "answered `unknown`.",
            "example": "9826010000000015",
        },
    )


class SubjectCheckSchema(ma.Schema):
    subject = fields.String(
        required=True,
        validate=validate.Regexp(SUBJECT_PATTERN, error="Enter the 43-character subject (sub)"),
        metadata={
            "description": "The pairwise subject identifier (`sub`) your service was given "
            "for the resident. Subjects given to other services never resolve."
        },
    )


class ProfileSchema(ma.Schema):
    given_name = fields.String(required=True)
    family_name = fields.String(required=True)


class CheckResultSchema(ma.Schema):
    service = fields.String(required=True, metadata={"description": "The catalogue code asked"})
    entitled = fields.Boolean(required=True, metadata={"description": "Holds it today"})
    valid_until = fields.Date(
        required=True,
        allow_none=True,
        metadata={"description": "Last valid day when entitled and the grant ends; else null"},
    )
    reason = fields.String(
        required=True,
        validate=validate.OneOf(list(REASONS)),
        metadata={"description": f"Why. {_REASON_LIST}"},
    )
    subject = fields.String(
        metadata={
            "description": "Your pairwise subject for the resident: only for a check by card "
            "number, and only if the resident agreed to share it with you (`openid`)"
        }
    )
    profile = fields.Nested(
        ProfileSchema,
        metadata={"description": "Only if the resident agreed to share their name (`profile`)"},
    )

    @post_dump
    def _released_only(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """``subject`` and ``profile`` are sent only when the resident released them."""
        for name in ("subject", "profile"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


#: Serialises every check's answer, the view's and the lean path's (built once).
CHECK_RESULT_SCHEMA = CheckResultSchema()


class OwnEntitlementSchema(ma.Schema):
    service = fields.String(required=True, metadata={"description": "Catalogue code"})
    name = fields.String(required=True, metadata={"description": "The service's name"})
    status = fields.String(
        required=True,
        validate=validate.OneOf(["active", "suspended", "revoked", "expired"]),
    )
    valid_from = fields.Date(required=True, allow_none=True)
    valid_until = fields.Date(required=True, allow_none=True)
    current = fields.Boolean(required=True, metadata={"description": "Active and in date today"})


class OwnEntitlementsSchema(ma.Schema):
    entitlements = fields.List(fields.Nested(OwnEntitlementSchema), required=True)
