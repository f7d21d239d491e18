"""AWS Organizations' tree: an account's parents up to the root, and whether an id the rollout
policy names exists in the organisation.

IAM actions used: ``PERMISSIONS``. Like ListAccounts, these answer only in the management account or
in a member account that is a delegated administrator for an AWS service (Organizations API
reference, ListParents: "This operation can be called only from the organization's management
account or by a member account that is a delegated administrator"); elsewhere AccessDenied.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .aws import call, pages, translate

PERMISSIONS = (
    "organizations:ListParents",
    "organizations:ListRoots",
    "organizations:DescribeOrganizationalUnit",
    "organizations:DescribeAccount",
)

_UNKNOWN = {"OrganizationalUnitNotFoundException", "AccountNotFoundException", "ChildNotFoundException"}
MAX_DEPTH = 6  # Organizations nests OUs at most five deep under the root


class OrgUnits:
    def __init__(self, client: Any) -> None:
        self._client = client

    def path(self, account: str) -> list[str]:
        """The account's parents from the root down: ``["r-ab12", "ou-ab12-…", …]``."""
        path: list[str] = []
        child = account
        for _ in range(MAX_DEPTH + 1):
            found = call(f"ListParents {child}", self._client.list_parents, ChildId=child)
            parents = found.get("Parents") or []
            if not parents:
                break
            parent = parents[0]
            path.insert(0, str(parent["Id"]))
            if parent.get("Type") == "ROOT":
                break
            child = str(parent["Id"])
        return path

    def exists(self, target: str, kind: str) -> bool:
        """Whether the organisation knows ``target`` (an account, an OU or a root id)."""
        if kind == "root":
            roots = [r for page in pages("ListRoots", self._client, "list_roots") for r in page["Roots"]]
            return any(root.get("Id") == target for root in roots)
        operation, argument = (
            ("describe_account", "AccountId")
            if kind == "account"
            else ("describe_organizational_unit", "OrganizationalUnitId")
        )
        try:
            getattr(self._client, operation)(**{argument: target})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _UNKNOWN:
                return False
            raise translate(f"{operation} {target}", exc) from None
        except BotoCoreError as exc:
            raise translate(f"{operation} {target}", exc) from None
        return True
