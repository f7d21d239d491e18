"""Who the enforcer is, to recognise its own API calls when CloudTrail hands them back.

STS GetCallerIdentity needs no IAM permission. A Lambda function's identity is
``arn:aws:sts::<account>:assumed-role/<role>/<session>``; CloudTrail records the same call with
``userIdentity.arn`` equal to it and ``sessionContext.sessionIssuer.arn`` =
``arn:aws:iam::<account>:role/<path/><role>``.

In a member account the enforcer acts as its member role, assumed with a fixed session name:
CloudTrail records those calls in that account with ``userIdentity.arn`` =
``arn:aws:sts::<member>:assumed-role/<role name>/<session name>`` (an assumed-role ARN carries the
role's name, never its path) and ``sessionIssuer.arn`` = ``arn:aws:iam::<member>:role/<path/><role>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.ecs.arns import parse_arn
from .aws import call

PERMISSIONS: tuple[str, ...] = ()  # sts:GetCallerIdentity needs no IAM permission


@dataclass(frozen=True)
class Identity:
    arn: str
    account: str
    # The role the enforcer assumes in member accounts (MEMBER_ROLE_NAME, with its path when it has
    # one) and the session name it assumes it with: its calls there are its own too.
    member_role: str | None = None
    member_session: str | None = None

    @property
    def partition(self) -> str:
        arn = parse_arn(self.arn)
        return arn.partition if arn else "aws"

    @property
    def role_name(self) -> str | None:
        arn = parse_arn(self.arn)
        if arn and arn.resource.startswith("assumed-role/"):
            return arn.resource.split("/")[1]
        return None

    def made(self, caller_arn: str | None, caller_role_arn: str | None) -> bool:
        """True when a CloudTrail record's caller is this identity (any session of its role), or
        its member role's session in a member account."""
        if caller_arn and caller_arn == self.arn:
            return True
        issuer = parse_arn(caller_role_arn)
        if (
            issuer
            and self.role_name
            and issuer.account == self.account
            and issuer.resource.startswith("role/")
            and issuer.resource.rsplit("/", 1)[-1] == self.role_name
        ):
            return True
        return self._member_session(caller_arn, caller_role_arn)

    def _member_session(self, caller_arn: str | None, caller_role_arn: str | None) -> bool:
        """The caller is the member role's session of this enforcer (its role name and its session
        name, in this partition), issued by that account's member role (path included) when the
        record names the issuer. Any other caller in a member account is not the enforcer."""
        caller = parse_arn(caller_arn)
        if caller is None or not self.member_role or not self.member_session:
            return False
        role = self.member_role.rsplit("/", 1)[-1]
        if (
            caller.partition != self.partition
            or caller.service != "sts"
            or caller.resource != f"assumed-role/{role}/{self.member_session}"
        ):
            return False
        issuer = parse_arn(caller_role_arn)
        return caller_role_arn is None or (
            issuer is not None
            and issuer.service == "iam"
            and issuer.account == caller.account
            and issuer.resource == f"role/{self.member_role.lstrip('/')}"
        )


def caller_identity(sts: Any, member_role: str | None = None, member_session: str | None = None) -> Identity:
    """Who the enforcer is (GetCallerIdentity), with the member role and session name it assumes
    in other accounts."""
    response = call("GetCallerIdentity", sts.get_caller_identity)
    return Identity(
        arn=str(response["Arn"]),
        account=str(response["Account"]),
        member_role=member_role,
        member_session=member_session,
    )
