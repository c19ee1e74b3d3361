"""Marshmallow schemas: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from idservice.partner_api.checks import REASONS

CARD_NUMBER_PATTERN = r"^[0-9]{8,19}$"
#: base64url of an HMAC-SHA256, without padding: what ``sub`` looks like for partners.
SUBJECT_PATTERN = r"^[A-Za-z0-9_-]{43}$"

_REASON_LIST = "; ".join(f"`{code}`: {words}" for code, words in REASONS.items())


class ErrorSchema(ma.Schema):
    """Every failure: a code to branch on, words for a person, and field details."""

    error = fields.String(
        required=True,
        metadata={
            "description": "invalid_token, insufficient_scope, invalid_request, not_found, "
            "method_not_allowed, rate_limited or server_error"
        },
    )
    message = fields.String(required=True, metadata={"description": "What went wrong, in words"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For validation failures: each field and what is wrong with it"},
    )


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
