"""Partner services: their records, the outbox of events for them and its delivery.

Owns the ``partners`` and ``partner_events`` tables. Life events
(:mod:`idservice.services.life_events`) write outbox rows with :mod:`.outbox` in their
own transaction; ``kentcard events deliver`` (:mod:`.delivery`) pushes them as Security
Event Tokens (:mod:`.secevent`). See docs/partner-events.md.
"""
