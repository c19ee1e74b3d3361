"""The staff console: staff sign-in, finding residents, acting for them, identity evidence.

Owns the ``staff_*`` and ``identity_evidence`` tables. Views check
:mod:`idservice.staff.permissions` and call :mod:`idservice.staff.services`, which reuse
the residents' own services so a change made with staff help is the same change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, has_request_context, request

if TYPE_CHECKING:
    from flask import Flask

bp = Blueprint("staff", __name__, url_prefix="/staff")


def init_app(app: Flask) -> None:
    # Importing the view modules adds their routes to the blueprint.
    from idservice.staff import (  # noqa: F401
        auth_views,
        duplicate_views,
        evidence_views,
        fact_views,
        life_event_views,
        merge_views,
        reader_views,
        service_views,
        views,
    )
    from idservice.staff.auth import current_staff
    from idservice.staff.demo import create_demo_staff
    from idservice.staff.permissions import allowed, role_title

    app.register_blueprint(bp)
    app.extensions.setdefault("kentcard_demo_hooks", []).append(create_demo_staff)

    @app.context_processor
    def _staff_globals() -> dict[str, Any]:
        if not has_request_context() or request.blueprint != "staff":
            return {}
        return {"current_staff": current_staff(), "can": allowed, "role_title": role_title}
