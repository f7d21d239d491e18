"""Clients per account (adapters.aws.AccountClients) on the member role's sessions
(adapters.member.MemberSessions), with a fake STS: the enforcer's own account makes no AssumeRole,
a member account one per account however many callers ask, botocore refreshes the credentials
before they expire, and a refused AssumeRole is one line naming the role and the account."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sidecar_enforcer.adapters.aws import AccountClients, Clients, session
from sidecar_enforcer.adapters.member import DURATION_SECONDS, MemberSessions
from sidecar_enforcer.config import MEMBER_SESSION_NAME, Settings
from sidecar_enforcer.errors import AwsError, ConfigurationError, MisconfiguredError

HUB = "111111111111"
MEMBER = "222222222222"
OTHER = "333333333333"


class FakeSts:
    """AssumeRole answers with numbered credentials valid for ``valid``; ``error`` is raised instead."""

    def __init__(self, valid: timedelta = timedelta(hours=1)) -> None:
        self.valid = valid
        self.error: ClientError | None = None
        self.assumed: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.assumed.append(kwargs)
            n = len(self.assumed)
        if self.error is not None:
            raise self.error
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n:016d}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token-{n}",
                "Expiration": datetime.now(UTC) + self.valid,
            }
        }


def accounts(sts: FakeSts, settings: Settings | None = None) -> AccountClients:
    settings = settings or Settings()
    core = session("eu-west-1")
    core.set_credentials("AKIAHUB", "hub")
    hub = Clients(core)
    member = MemberSessions(
        sts, lambda account: settings.member_role_arn("aws", account), MEMBER_SESSION_NAME, "eu-west-1"
    )
    return AccountClients(hub, lambda: HUB, member)


def access_key(clients: Clients) -> str:
    credentials = clients.session.get_credentials()
    assert credentials is not None
    return str(credentials.get_frozen_credentials().access_key)


def test_the_enforcers_own_account_uses_its_own_credentials_and_assumes_nothing() -> None:
    sts = FakeSts()
    by_account = accounts(sts)

    own = by_account(HUB)

    assert own is by_account.home
    assert access_key(own) == "AKIAHUB"
    assert sts.assumed == []


def test_a_member_account_is_assumed_once_with_the_member_role_and_a_fixed_session_name() -> None:
    sts = FakeSts()
    by_account = accounts(sts)
    got: list[Clients] = []

    threads = [threading.Thread(target=lambda: got.append(by_account(MEMBER))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(20):
        by_account(MEMBER).client("ecs", "us-east-1")

    assert sts.assumed == [
        {
            "RoleArn": f"arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member",
            "RoleSessionName": "sidecar-enforcer",
            "DurationSeconds": 3600,
        }
    ]
    assert len({id(c) for c in got}) == 1
    assert access_key(got[0]) == "ASIA0000000000000001"
    assert got[0].config is by_account.home.config  # the hub's retries and timeouts
    assert got[0].region == "eu-west-1"


def test_each_member_account_has_its_own_role_session() -> None:
    sts = FakeSts()
    by_account = accounts(sts, Settings(member_role_name="/platform/enforcer"))

    assert access_key(by_account(MEMBER)) != access_key(by_account(OTHER))
    assert [a["RoleArn"] for a in sts.assumed] == [
        f"arn:aws:iam::{MEMBER}:role/platform/enforcer",
        f"arn:aws:iam::{OTHER}:role/platform/enforcer",
    ]


def test_role_chaining_keeps_the_session_within_an_hour() -> None:
    assert DURATION_SECONDS <= 3600


def test_botocore_refreshes_credentials_that_are_about_to_expire() -> None:
    # Within botocore's mandatory refresh window (10 minutes before expiry): the next use of the
    # credentials calls AssumeRole again, through the refresh function, with no timer of ours.
    sts = FakeSts(valid=timedelta(minutes=5))
    member = accounts(sts)(MEMBER)
    assert len(sts.assumed) == 1
    sts.valid = timedelta(hours=1)

    assert access_key(member) == "ASIA0000000000000002"
    assert access_key(member) == "ASIA0000000000000002"  # fresh for an hour now: no third call
    assert len(sts.assumed) == 2
    assert sts.assumed[1] == sts.assumed[0]


def test_credentials_far_from_expiry_are_not_refreshed() -> None:
    sts = FakeSts(valid=timedelta(hours=1))
    member = accounts(sts)(MEMBER)

    for _ in range(5):
        access_key(member)

    assert len(sts.assumed) == 1


def denied() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "AccessDenied",
                "Message": "User: arn:aws:sts::111111111111:assumed-role/w/x is "
                "not authorized to perform: sts:AssumeRole",
            }
        },
        "AssumeRole",
    )


def test_a_refused_assume_role_is_a_one_line_configuration_fault_naming_the_role_and_account() -> None:
    sts = FakeSts()
    sts.error = denied()
    by_account = accounts(sts)

    with pytest.raises(MisconfiguredError) as caught:
        by_account(MEMBER)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"account {MEMBER}: the enforcer may not assume ")
    assert f"arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member" in message
    assert "AccessDenied" in message
    assert "the member stack is missing in that account, or its role does not trust this enforcer" in message
    assert caught.value.retryable is False

    sts.error = None  # the member stack deployed: the next item gets through, nothing was kept
    assert access_key(by_account(MEMBER)) == "ASIA0000000000000002"


def test_a_throttled_assume_role_stays_a_retryable_aws_error() -> None:
    sts = FakeSts()
    sts.error = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "AssumeRole")

    with pytest.raises(AwsError) as caught:
        accounts(sts)(MEMBER)

    assert not isinstance(caught.value, MisconfiguredError)
    assert caught.value.retryable is True
    assert str(caught.value) == (
        f"AssumeRole arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member: Throttling: Rate exceeded"
    )


# -- MEMBER_ROLE_NAME --------------------------------------------------------------------------------


def test_the_member_role_defaults_to_the_member_stacks_role() -> None:
    settings = Settings.from_env({})

    assert settings.member_role_name == "sidecar-enforcer-member"
    assert (
        settings.member_role_arn("aws-cn", MEMBER) == f"arn:aws-cn:iam::{MEMBER}:role/sidecar-enforcer-member"
    )


@pytest.mark.parametrize(
    ("value", "arn", "name"),
    [
        ("enforcer+member@org.example", f"arn:aws:iam::{MEMBER}:role/enforcer+member@org.example", None),
        ("/platform/enforcer", f"arn:aws:iam::{MEMBER}:role/platform/enforcer", "enforcer"),
        ("/a/b/enforcer", f"arn:aws:iam::{MEMBER}:role/a/b/enforcer", "enforcer"),
    ],
)
def test_a_member_role_name_may_carry_its_iam_path(value: str, arn: str, name: str | None) -> None:
    settings = Settings.from_env({"MEMBER_ROLE_NAME": value})

    assert settings.member_role_arn("aws", MEMBER) == arn
    assert settings.member_role == (name or value)


@pytest.mark.parametrize(
    "value",
    [
        "has space",
        "platform/enforcer",  # a path begins with "/"
        "/platform/",  # no name
        "/platform//enforcer",
        "x" * 65,  # role names: 64 characters at most
        "rôle",  # ASCII only
        "arn:aws:iam::222222222222:role/x",  # a name, not an ARN
    ],
)
def test_an_invalid_member_role_name_is_a_configuration_fault_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^MEMBER_ROLE_NAME: "):
        Settings.from_env({"MEMBER_ROLE_NAME": value})


def test_a_member_session_reads_models_through_the_hub_s_loader_and_its_epoch_timestamps_in_utc() -> None:
    import json

    hub = session("eu-west-1")
    loader = hub.get_component("data_loader")
    member = MemberSessions(
        FakeSts(), lambda account: f"arn:aws:iam::{account}:role/m", MEMBER_SESSION_NAME, "eu-west-1",
        lambda: loader,
    )  # fmt: skip

    core = member(MEMBER)

    assert core.get_component("data_loader") is loader
    model = core.get_service_model("ecs").operation_model("DescribeServices")
    parser = core.get_component("response_parser_factory").create_parser("json")
    body = json.dumps({"services": [{"createdAt": 0}]}).encode()
    parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)
    assert parsed["services"][0]["createdAt"].tzinfo is UTC


class _StsCounted(Clients):
    """The hub's clients, counting the STS clients asked for (each would make GetCallerIdentity)."""

    def __init__(self) -> None:
        core = session("eu-west-1")
        core.set_credentials("AKIAHUB", "hub")
        super().__init__(core)
        self.sts = 0

    def client(self, service: str, region: str | None = None) -> Any:
        self.sts += service == "sts"
        return super().client(service, region)


def test_a_caller_already_asked_is_not_asked_again_and_still_names_the_member_role() -> None:
    # The command line asks GetCallerIdentity first (to fail fast); a fleet run built with that
    # answer makes no second call, and its identity still carries the member role and session that
    # recognise the enforcer's own calls in member accounts.
    from sidecar_enforcer.adapters.identity import Identity
    from sidecar_enforcer.wiring import build_shared

    settings = Settings.from_env({"MEMBER_ROLE_NAME": "/platform/enforcer-member"})
    clients = _StsCounted()
    caller = Identity(arn=f"arn:aws-cn:iam::{HUB}:user/ops", account=HUB)

    identity = build_shared(settings, clients, caller).identity()

    assert clients.sts == 0
    assert (identity.arn, identity.account, identity.partition) == (caller.arn, HUB, "aws-cn")
    assert identity.member_role == "/platform/enforcer-member"
    assert identity.member_session == MEMBER_SESSION_NAME
    member_session = f"arn:aws-cn:sts::{MEMBER}:assumed-role/enforcer-member/{MEMBER_SESSION_NAME}"
    assert identity.made(member_session, None)
