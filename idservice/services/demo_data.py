"""The demo residents ``kentcard demo`` loads, shared by the demo hooks that build on them.

Made-up people at real council addresses; never loaded outside a demo database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from idservice.db import transactional
from idservice.models.base import utcnow
from idservice.services.residents import create_resident, dao_get_resident_by_email

DEMO_RESIDENTS = [
    {
        "email": "ada.lovelace@example.com",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": date(1956, 12, 10),
        "address_line_1": "Sessions House",
        "address_line_2": "County Road",
        "town": "Maidstone",
        "postcode": "ME14 1XQ",
        "phone": "03000414141",
    },
    {
        "email": "sam.patel@example.com",
        "given_name": "Sam",
        "family_name": "Patel",
        "date_of_birth": date(2009, 3, 21),
        "address_line_1": "12 High Street",
        "town": "Ashford",
        "postcode": "TN23 1AA",
    },
    {
        "email": "grace.hopper@example.com",
        "given_name": "Grace",
        "family_name": "Hopper",
        "date_of_birth": date(1948, 6, 2),
        "address_line_1": "3 Marine Parade",
        "town": "Folkestone",
        "postcode": "CT20 1PX",
    },
]


@transactional
def load_demo_residents(password: str) -> list[str]:
    """Create the demo residents not there yet (email confirmed); their email addresses."""
    created = []
    for data in DEMO_RESIDENTS:
        if dao_get_resident_by_email(str(data["email"])) is None:
            resident = create_resident(
                password=password,
                actor_type="system",
                actor_id="demo",
                channel="system",
                **data,  # type: ignore[arg-type]
            )
            resident.email_verified_at = utcnow()
            created.append(str(data["email"]))
    return created


def run_demo_hooks(hooks: Iterable[Callable[[], None]]) -> None:
    """The packages' demo hooks, each committed before the next: the ledger's hook takes
    the database's write lock on its own connection (SQLite allows one writer)."""
    for hook in hooks:
        transactional(hook)()
