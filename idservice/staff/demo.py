"""``kentcard demo``: a Gateway officer to try the staff console with."""

from __future__ import annotations

import click
import pyotp

from idservice.models.base import utcnow
from idservice.staff import dao
from idservice.staff.permissions import Role
from idservice.staff.staff_accounts import create_staff

DEMO_EMAIL = "gateway.officer@example.com"
DEMO_PASSWORD = "kent-staff-demo-password"  # noqa: S105 - printed for the demo; demo data only


def create_demo_staff() -> None:
    """Add the demo officer with an authenticator app already set up; print how to sign in."""
    staff = dao.dao_get_staff_by_email(DEMO_EMAIL)
    if staff is None:
        staff = create_staff(
            email=DEMO_EMAIL,
            name="Demo Gateway officer",
            role=Role.GATEWAY_OFFICER,
            password=DEMO_PASSWORD,
        )
        staff.totp_secret = pyotp.random_base32()
        staff.totp_enabled_at = utcnow()
    click.echo(
        f"Demo Gateway officer {DEMO_EMAIL} (password {DEMO_PASSWORD}, "
        f"authenticator app secret {staff.totp_secret}) signs in at /staff/sign-in"
    )
