"""AWS Organizations: the organisation's active accounts, for a fleet run over ``ORGANIZATION``.

IAM action used: ``PERMISSIONS``. ListAccounts answers only in the management account or a
delegated administrator account. An account's ``State`` (ACTIVE, SUSPENDED, PENDING_CLOSURE,
CLOSED) replaces the older ``Status`` (ACTIVE, SUSPENDED, PENDING_CLOSURE); either is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .aws import pages

PERMISSIONS = ("organizations:ListAccounts",)


class Organization:
    def __init__(self, client: Any) -> None:
        self._client = client

    def active_accounts(self) -> Iterator[str]:
        for page in pages("ListAccounts", self._client, "list_accounts"):
            for account in page.get("Accounts", []):
                if (account.get("State") or account.get("Status")) == "ACTIVE":
                    yield str(account["Id"])
