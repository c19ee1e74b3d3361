"""Creating staff accounts (``kentcard staff create`` and the demo)."""

from __future__ import annotations

from idservice import audit, validation
from idservice.db import transactional
from idservice.models.staff import StaffMember
from idservice.services.passwords import hash_password
from idservice.staff import dao
from idservice.staff.permissions import Role


class StaffExists(ValueError):
    """A staff account already has this email address."""


@transactional
def create_staff(*, email: str, name: str, role: Role, password: str) -> StaffMember:
    """Add a staff account and its audit record, written together.

    The authenticator app is set up by the member of staff at their first sign-in.
    """
    email = validation.EMAIL.clean_required(email)
    name = validation.STAFF_NAME.clean_required(name)
    validation.check_password(password)
    if dao.dao_get_staff_by_email(email) is not None:
        raise StaffExists(email)
    staff = dao.dao_create_staff(
        email=email, name=name, role=role.value, password_hash=hash_password(password)
    )
    audit.record(
        "staff.created",
        resident_id=None,
        actor_type="system",
        actor_id="cli",
        channel="system",
        details={"staff_id": staff.id, "staff_role": staff.role},
    )
    return staff
