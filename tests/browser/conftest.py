"""Browser tests sign in dozens of times; argon2id at production cost takes about half a
second a hash on a small CI machine, which would dominate the suite. Here the same
argon2id code runs with minimal parameters. The cost itself is tested in tests/accounts,
which keeps the production hasher.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from idservice.services import passwords

CHEAP = PasswordHasher(type=Type.ID, time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", CHEAP)
