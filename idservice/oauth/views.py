"""OAuth and OpenID Connect endpoints: /oauth/* and /.well-known/*.

The authorization endpoint is the only interactive one: it sends the browser to sign in
(or step up), asks for consent, and only then issues a code. Errors that can safely go
back to the service are redirected with ``iss``; errors about the client or its
redirect URI are shown here, because redirecting them would be an open redirect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from idservice.auth.levels import ACR_RANK, satisfies
from idservice.auth.sessions import current_resident, current_session
from idservice.models.base import utcnow
from idservice.oauth import authorization, consents, form_targets, scopes
from idservice.oauth.claims import EndUser
from idservice.oauth.lean import finish_endpoint_response
from idservice.oauth.metadata import provider_metadata
from idservice.oauth.server import add_issuer, get_server
from idservice.oauth.tokens import keystore, settings
from idservice.services import signin
from idservice.web.forms import Form

bp = Blueprint("oauth", __name__)

STEP_UP_PATH = "/sign-in/step-up"


class ConfirmForm(Form):
    """No questions: the buttons and the CSRF token are the whole form."""


def _authorize_path(fresh_sign_in: bool = False) -> str:
    """This authorization request as a local path, to come back to after signing in.

    After a forced sign-in (prompt=login, max_age) those parameters are dropped, or the
    resident would be asked to sign in again for ever.
    """
    args: list[tuple[str, str]] = []
    for key, value in request.args.items(multi=True):
        if fresh_sign_in and key == "max_age":
            continue
        if fresh_sign_in and key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        args.append((key, value))
    path = url_for("oauth.authorize")
    return f"{path}?{urlencode(args)}" if args else path


def _error_redirect(error: OAuth2Error) -> ResponseReturnValue:
    if error.redirect_uri:
        form_targets.forget(error.redirect_uri)
    error.state = request.values.get("state")
    return add_issuer(get_server().handle_error_response(None, error))


def _authorization_error(error: OAuth2Error) -> ResponseReturnValue:
    if error.redirect_uri:
        return add_issuer(get_server().handle_error_response(None, error))
    # Unknown client or redirect URI not registered: never redirect anywhere.
    return render_template(
        "oauth/error.html", error=error.error, description=error.get_error_description()
    ), 400


def _max_age_passed(auth_time: Any) -> bool:
    raw = request.values.get("max_age")
    if raw is None or raw == "":
        return False
    try:
        max_age = int(raw)
    except ValueError:
        raise InvalidRequestError("'max_age' must be a whole number of seconds.") from None
    if max_age < 0:
        raise InvalidRequestError("'max_age' must not be negative.")
    return bool(utcnow() - auth_time > timedelta(seconds=max_age))


def _step_up_level(requested: list[str]) -> str:
    """The weakest requested level we know: the least the resident must do."""
    known = [value for value in requested if value in ACR_RANK]
    return min(known, key=lambda value: ACR_RANK[value])


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    server = get_server()
    resident = current_resident()
    record = current_session()
    try:
        grant = server.get_consent_grant(end_user=resident)
    except OAuth2Error as error:
        return _authorization_error(error)
    client = grant.request.client
    redirect_uri = grant.redirect_uri
    prompts = set((request.values.get("prompt") or "").split())
    try:
        if resident is None or record is None:
            if "none" in prompts:
                raise LoginRequiredError(redirect_uri=redirect_uri)
            form_targets.allow(redirect_uri)
            return redirect(url_for("accounts.sign_in", next=_authorize_path()))
        if request.method == "GET" and ("login" in prompts or _max_age_passed(record.auth_time)):
            if "none" in prompts:
                raise LoginRequiredError(redirect_uri=redirect_uri)
            signin.sign_out()
            form_targets.allow(redirect_uri)  # after sign_out, which empties the session
            return redirect(url_for("accounts.sign_in", next=_authorize_path(fresh_sign_in=True)))
        requested_acr = (request.values.get("acr_values") or "").split()
        if requested_acr and not satisfies(record.acr, requested_acr):
            if "none" in prompts:
                raise LoginRequiredError(redirect_uri=redirect_uri)
            form_targets.allow(redirect_uri)
            query = urlencode({"next": _authorize_path(), "acr": _step_up_level(requested_acr)})
            return redirect(f"{STEP_UP_PATH}?{query}")
    except OAuth2Error as error:
        error.redirect_uri = error.redirect_uri or redirect_uri
        return _error_redirect(error)

    scope = grant.request.scope
    end_user = EndUser(resident, client.sector, record.auth_time, record.acr, list(record.amr))
    if request.method == "POST":
        form = ConfirmForm(request.form)
        if not form.validate():
            return _consent_page(client, scope, redirect_uri, form, status=400)
        if request.form.get("decision") != "allow":
            form_targets.forget(redirect_uri)
            refused = server.create_authorization_response(grant=grant, grant_user=None)
            return cast(Response, refused)  # Authlib's Flask Response (Authlib has no types)
        return _issue_code(grant, end_user, consent_given=True)

    if "consent" in prompts or not consents.consent_covers(resident.id, client.client_id, scope):
        if "none" in prompts:
            return _error_redirect(ConsentRequiredError(redirect_uri=redirect_uri))
        return _consent_page(client, scope, redirect_uri, ConfirmForm())
    return _issue_code(grant, end_user)


def _issue_code(grant: Any, end_user: EndUser, consent_given: bool = False) -> ResponseReturnValue:
    form_targets.forget(grant.redirect_uri)
    return authorization.issue_code(grant, end_user, consent_given=consent_given)


def _consent_page(
    client: Any, scope: str, redirect_uri: str, form: ConfirmForm, status: int = 200
) -> ResponseReturnValue:
    form_targets.allow(redirect_uri)  # Allow and Cancel both end in a redirect there
    return render_template(
        "oauth/consent.html",
        client=client,
        shares=scopes.descriptions(scopes.parse(scope)),
        form=form,
        action=request.full_path.rstrip("?"),
        page_has_errors=bool(form.errors),
    ), status


def _finish(response: Response) -> Response:
    """Commit what an endpoint wrote only when it succeeded: an error issues nothing."""
    return finish_endpoint_response(response)


@bp.post("/oauth/token")
def token() -> Response:
    return _finish(get_server().create_token_response())


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return _finish(get_server().create_endpoint_response("introspection"))


@bp.post("/oauth/revoke")
def revoke() -> Response:
    return _finish(get_server().create_endpoint_response("revocation"))


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    response: Response = get_server().create_endpoint_response("userinfo")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/oauth/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """RP-initiated logout; without a valid id_token_hint the resident confirms first."""
    server = get_server()
    try:
        logout_request = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        logout_request = None  # a bad hint is treated as none: confirm, never redirect
    if logout_request is None or logout_request.needs_confirmation:
        form = ConfirmForm(request.form if request.method == "POST" else None)
        if not form.validate():
            client = logout_request.client if logout_request else None
            status = 400 if form.errors else 200
            return render_template(
                "oauth/logout.html", form=form, client=client, page_has_errors=bool(form.errors)
            ), status
        signin.sign_out()
        return redirect(url_for("accounts.signed_out"))
    response = authorization.end_session_response(logout_request)
    return response or redirect(url_for("accounts.signed_out"))


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    response = jsonify(provider_metadata(settings().issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(keystore().jwks())
    # Never cache longer than the publish lead, or a new key could be missed.
    max_age = max(0, min(300, settings().key_publish_lead))
    response.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
    return response
