"""The enforcer in a member account: a botocore session on the member role's credentials, one per
account, assumed on first use through the hub's STS client and refreshed by botocore before they
expire. IAM action used: ``PERMISSIONS``, on ``arn:<partition>:iam::*:role/<MEMBER_ROLE_NAME>``;
the member role's trust policy admits the hub account's roles on the hub's role path (member.yaml,
HubRolePath), where the worker's and the backfill function's roles sit.

- The credentials are botocore's ``RefreshableCredentials`` (``create_from_metadata`` with
  AssumeRole's answer, ``refresh_using`` calling AssumeRole again), the machinery botocore's own
  assume-role provider uses: botocore refreshes them itself in its advisory window (15 minutes
  before they expire; the current ones go on being used if that refresh fails) and must refresh
  them in its mandatory window (10 minutes before), under its own lock. No timer of ours.
- They reach a botocore session through its public extension point: the session's
  ``credential_provider`` component (``register_component``) is a ``CredentialResolver`` whose only
  provider returns them, so ``get_credentials`` looks nowhere else (no environment, no profile);
  ``adapters.aws.Clients`` builds the clients on that session.
- DurationSeconds 3600: the function's role assuming the member role is role chaining, which
  limits the session to one hour (IAM user guide, "Roles terms and concepts"; STS AssumeRole
  fails with a larger DurationSeconds).
- A refused AssumeRole (AccessDenied: the member stack is missing in that account, or its role does
  not trust the hub) is a configuration fault of that account, not a transient error:
  MisconfiguredError, one line naming the role and the account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials

from ..errors import AccessDeniedError, MisconfiguredError
from .aws import session, translate

PERMISSIONS = ("sts:AssumeRole",)

DURATION_SECONDS = 3600  # role chaining: at most one hour


class MemberSessions:
    """``sessions(account)``: the member role's botocore session in ``account``, built once per account
    (the first AssumeRole happens then, so a role that cannot be assumed says so at once)."""

    def __init__(
        self,
        sts: Any,
        role_arn: Callable[[str], str],
        session_name: str,
        region: str | None = None,
        loader: Callable[[], Any] | None = None,
    ) -> None:
        self._sts = sts  # the hub's
        # The hub session's data loader (botocore's ``data_loader`` component), when given: every
        # member session reads the service models and endpoint data the hub has read already.
        self._loader = loader
        self._role_arn = role_arn
        self._session_name = session_name
        self._region = region
        self._sessions: dict[str, botocore.session.Session] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def __call__(self, account: str) -> botocore.session.Session:
        with self._lock:
            lock = self._locks.setdefault(account, threading.Lock())
        with lock:  # one AssumeRole per account, however many threads ask at once
            session = self._sessions.get(account)
            if session is None:
                session = self._sessions[account] = self._session(account)
            return session

    def _session(self, account: str) -> botocore.session.Session:
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=self._assume(account),
            refresh_using=lambda: self._assume(account),
            method="assume-role",
        )
        core = session()  # the enforcer's own kind of session (it reads answers fast)
        if self._loader is not None:
            core.register_component("data_loader", self._loader())
        core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
        if self._region:
            core.set_config_variable("region", self._region)
        return core

    def _assume(self, account: str) -> dict[str, Any]:
        """AssumeRole into ``account``: the credentials as botocore's refreshable metadata."""
        role = self._role_arn(account)
        try:
            answer = self._sts.assume_role(
                RoleArn=role, RoleSessionName=self._session_name, DurationSeconds=DURATION_SECONDS
            )
        except Exception as exc:
            error = translate(f"AssumeRole {role}", exc)
            if isinstance(error, AccessDeniedError):
                raise MisconfiguredError(
                    f"account {account}: the enforcer may not assume {role} ({error}): the member "
                    "stack is missing in that account, or its role does not trust this enforcer"
                ) from None
            raise error from None
        credentials = answer["Credentials"]
        expiration = credentials["Expiration"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": expiration if isinstance(expiration, str) else expiration.isoformat(),
            "account_id": account,
        }


class _Given(CredentialProvider):
    """A credential provider that has exactly the credentials it was given."""

    METHOD = "assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials
