"""The operators' switches in SSM Parameter Store: the rollout policy document and the stop switch,
both read in one GetParameters call (up to 10 names a call; a name that does not exist comes back
in ``InvalidParameters``, not as an error).

IAM action used: ``PERMISSIONS``, on the two parameters.
"""

from __future__ import annotations

from typing import Any

from .aws import call

PERMISSIONS = ("ssm:GetParameters",)


class Switches:
    def __init__(self, client: Any) -> None:
        self._client = client

    def read(self, names: list[str]) -> dict[str, tuple[str, int]]:
        """Each named parameter that exists: its value and version (a missing one is left out)."""
        if not names:
            return {}
        found = call(f"GetParameters {', '.join(names)}", self._client.get_parameters, Names=names)
        return {
            str(p["Name"]): (str(p.get("Value", "")), int(p.get("Version", 0)))
            for p in found.get("Parameters", [])
        }
