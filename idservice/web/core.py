"""Pages that belong to no account: home, accessibility statement, privacy, contact."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("core", __name__)


@bp.get("/")
def home() -> str:
    return render_template("core/home.html")


@bp.get("/accessibility")
def accessibility() -> str:
    return render_template("core/accessibility.html")


@bp.get("/privacy")
def privacy() -> str:
    return render_template("core/privacy.html")


@bp.get("/contact")
def contact() -> str:
    return render_template("core/contact.html")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    from idservice.services import health

    health.check_database()
    return {"status": "ok"}, 200
