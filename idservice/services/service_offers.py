"""Services offered to a resident, as the pages show them: "You can now get ...".

The resident's account and services pages list their open offers, and so does the staff
console when a record is opened (:mod:`idservice.services.offers` makes and closes them);
each links to the add-a-service journey, which starts from the facts already held. "Not
interested" closes an offer for a year, said by the resident or by staff for them.
"""

from __future__ import annotations

from datetime import date

from idservice.db import transactional
from idservice.models.service_requests import REQUEST_WAITING
from idservice.services import add_service, add_service_dao, offers
from idservice.services.residents import NotFound, dao_get_resident_by_id


@transactional
def open_offers(resident_id: str) -> list[add_service.Offer]:
    """What the resident's account and a staff member opening the record show."""
    dao_get_resident_by_id(resident_id)
    waiting = {
        r.service
        for r in add_service_dao.dao_requests_for(resident_id)
        if r.status == REQUEST_WAITING
    }
    return add_service.offers_open(resident_id, add_service.held_services(resident_id), waiting)


@transactional
def open_offer(resident_id: str, offer_id: int) -> add_service.Offer:
    """One open offer of the resident's; anybody else's (or a closed one) is not found."""
    for offer in open_offers(resident_id):
        if offer.id == offer_id:
            return offer
    raise NotFound("offer")


@transactional
def not_interested(applicant: add_service.Applicant, offer_id: int, on: date) -> date:
    """ "Not interested": the offer closes and the service is not offered again for a year
    (audited with who said so); returns the first day it may be offered again."""
    declined = offers.decline(
        applicant.resident_id,
        offer_id,
        on,
        actor_type=applicant.recorder.type,
        actor_id=applicant.recorder.id,
        channel=applicant.recorder.channel,
        reason=applicant.recorder.reason,
    )
    assert declined.declined_until is not None
    return declined.declined_until
