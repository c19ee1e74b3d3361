"""The ``kentcard`` command: one group, a module per area."""

from __future__ import annotations

import click

from idservice.cli.card import issuer_group, reader_group, virtual_card_group
from idservice.cli.cards import cards_group
from idservice.cli.core import db_group, demo, serve
from idservice.cli.entitlements import eligibility_group, entitlements_group, services_group
from idservice.cli.ledger import ledger_group
from idservice.cli.mail import mail_group
from idservice.cli.maintenance import maintenance_group
from idservice.cli.notices import notices_group
from idservice.cli.oauth import register as register_oauth
from idservice.cli.partners import register as register_partners
from idservice.cli.readers import readers_group
from idservice.cli.residents import residents_group
from idservice.cli.sip2 import sip2_group
from idservice.cli.snapshots import snapshots_group
from idservice.cli.staff import staff_group


@click.group(help="Kent Card and identity service.")
def main() -> None:
    """Entry point of the ``kentcard`` command."""


main.add_command(serve)
main.add_command(db_group)
main.add_command(demo)
main.add_command(residents_group)
main.add_command(mail_group)
main.add_command(notices_group)
main.add_command(maintenance_group)
main.add_command(services_group)
main.add_command(eligibility_group)
main.add_command(entitlements_group)
main.add_command(ledger_group)
main.add_command(staff_group)
main.add_command(sip2_group)
for _group in (
    issuer_group,
    virtual_card_group,
    reader_group,
    cards_group,
    snapshots_group,
    readers_group,
):
    main.add_command(_group)
register_oauth(main)
register_partners(main)

if __name__ == "__main__":  # pragma: no cover
    main()
