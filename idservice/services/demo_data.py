"""The demo residents ``kentcard demo`` loads, shared by the demo hooks that build on them.

Made-up people at real council addresses; never loaded outside a demo database.
"""

from __future__ import annotations

from datetime import date

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
