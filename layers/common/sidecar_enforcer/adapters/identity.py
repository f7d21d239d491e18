"""Who the enforcer is, to recognise its own API calls when CloudTrail hands them back.

STS GetCallerIdentity needs no IAM permission. A Lambda function's identity is
``arn:aws:sts::<account>:assumed-role/<role>/<session>``; CloudTrail records the same call with
``userIdentity.arn`` equal to it and ``sessionContext.sessionIssuer.arn`` =
``arn:aws:iam::<account>:role/<path/><role>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.arns import parse_arn
from .aws import call

PERMISSIONS: tuple[str, ...] = ()  # sts:GetCallerIdentity needs no IAM permission


@dataclass(frozen=True)
class Identity:
    arn: str
    account: str

    @property
    def role_name(self) -> str | None:
        arn = parse_arn(self.arn)
        if arn and arn.resource.startswith("assumed-role/"):
            return arn.resource.split("/")[1]
        return None

    def made(self, caller_arn: str | None, caller_role_arn: str | None) -> bool:
        """True when a CloudTrail record's caller is this identity (any session of its role)."""
        if caller_arn and caller_arn == self.arn:
            return True
        issuer = parse_arn(caller_role_arn)
        return bool(
            issuer
            and self.role_name
            and issuer.account == self.account
            and issuer.resource.startswith("role/")
            and issuer.resource.rsplit("/", 1)[-1] == self.role_name
        )


def caller_identity(sts: Any) -> Identity:
    response = call("GetCallerIdentity", sts.get_caller_identity)
    return Identity(arn=str(response["Arn"]), account=str(response["Account"]))
