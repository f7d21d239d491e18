"""Triage (usecases/triage.py) and the Router on fakes: the events that ask for nothing, answered
with as few calls as possible."""

from __future__ import annotations

import pytest
from sidecar_enforcer.config import Settings
from sidecar_enforcer.models.events import (
    ServiceTarget,
    Trigger,
)
from sidecar_enforcer.models.findings import Status

from ._world import (
    MEMBER,
    MEMBER_REGION,
    RELEASE_KEY,
    World,
    deployed_world,
    member_world,
    outcome,
    service_arn,
    snapshot,
    trigger,
)


def test_the_enforcers_own_call_is_ignored_without_an_aws_call() -> None:
    world = World(snapshot())
    own = trigger(
        caller_arn="arn:aws:sts::123456789012:assumed-role/sidecar-enforcer-fn/other-session",
        caller_role_arn="arn:aws:iam::123456789012:role/sidecar-enforcer-fn",
    )

    finding = world.triage(own)

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert finding.reasons == ["the enforcer's own call (CloudTrail hands it back): nothing to do"]
    assert world.ecs.calls == []
    assert world.table.ops == []


MEMBER_ROLE_SESSION = f"arn:aws:sts::{MEMBER}:assumed-role/sidecar-enforcer-member/sidecar-enforcer"
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member"


def test_the_enforcers_own_call_in_a_member_account_is_ignored_without_an_aws_call() -> None:
    """CloudTrail in the member account records the enforcer's calls as its member role's session."""
    world = member_world()

    finding = world.router.ignored(
        Trigger(
            "event-9",
            MEMBER,
            MEMBER_REGION,
            "UpdateService",
            (ServiceTarget("shop", "api"),),
            caller_arn=MEMBER_ROLE_SESSION,
            caller_role_arn=MEMBER_ROLE,
        )
    )

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert finding.reasons == ["the enforcer's own call (CloudTrail hands it back): nothing to do"]
    assert (finding.account, finding.region) == (MEMBER, MEMBER_REGION)
    assert world.ecs_asked == []  # no gateway, no AssumeRole
    assert world.members[MEMBER].calls == []
    assert world.table.ops == []
    assert world.publisher.published == []


@pytest.mark.parametrize(
    ("caller", "issuer"),
    [
        # another role of the member account (its pipeline)
        (
            f"arn:aws:sts::{MEMBER}:assumed-role/deploy-pipeline/run-9",
            f"arn:aws:iam::{MEMBER}:role/deploy-pipeline",
        ),
        # the member role's name, another session name: not the enforcer's session
        (f"arn:aws:sts::{MEMBER}:assumed-role/sidecar-enforcer-member/alice", MEMBER_ROLE),
        # the enforcer's session name on a role that is not the member role
        (f"arn:aws:sts::{MEMBER}:assumed-role/admin/sidecar-enforcer", f"arn:aws:iam::{MEMBER}:role/admin"),
        # the session matches, but the issuer is a same-named role on another path
        (MEMBER_ROLE_SESSION, f"arn:aws:iam::{MEMBER}:role/other/sidecar-enforcer-member"),
        # the session matches, but the issuer is in another account
        (MEMBER_ROLE_SESSION, "arn:aws:iam::333333333333:role/sidecar-enforcer-member"),
        # a user of the member account
        (f"arn:aws:iam::{MEMBER}:user/sidecar-enforcer", None),
    ],
)
def test_other_callers_in_a_member_account_are_not_ignored(caller: str, issuer: str | None) -> None:
    world = member_world()

    assert world.triage(trigger(account=MEMBER, caller_arn=caller, caller_role_arn=issuer)) is None


def test_the_member_roles_path_is_part_of_its_issuer() -> None:
    world = member_world(settings=Settings(member_role_name="/platform/sidecar-enforcer-member"))
    own = trigger(
        account=MEMBER,
        caller_arn=MEMBER_ROLE_SESSION,  # an assumed-role ARN carries no path
        caller_role_arn=f"arn:aws:iam::{MEMBER}:role/platform/sidecar-enforcer-member",
    )
    unpathed = trigger(account=MEMBER, caller_arn=MEMBER_ROLE_SESSION, caller_role_arn=MEMBER_ROLE)

    assert world.triage(own) is not None
    assert world.triage(unpathed) is None


def test_someone_elses_call_is_not_ignored() -> None:
    world = World(snapshot())

    assert world.triage(trigger()) is None
    assert world.ecs.calls == []
    assert world.table.ops == []


@pytest.mark.parametrize(
    ("keys", "ignored"),
    [
        (frozenset({"team", "cost-center"}), True),
        (frozenset(), True),
        (frozenset({"team", "tracing-sidecar"}), False),
        (frozenset({RELEASE_KEY}), False),
    ],
)
def test_a_tag_resource_call_matters_only_for_the_opt_in_or_release_key(
    keys: frozenset[str], ignored: bool
) -> None:
    world = World(snapshot())

    finding = world.triage(trigger(name="TagResource", tag_keys=keys))

    assert (finding is not None) is ignored
    if finding is not None:
        assert finding.status is Status.IGNORED
        assert "other than tracing-sidecar and tracing-sidecar-release" in finding.reasons[0]
    assert world.ecs.calls == []
    assert world.table.ops == []


def test_an_ended_deployment_not_ours_is_ignored_after_one_ledger_read() -> None:
    world = World(snapshot())
    ended = trigger(
        name="SERVICE_DEPLOYMENT_COMPLETED", caller_arn=None, targets=(outcome("ecs-svc/theirs"),)
    )

    finding = world.triage(ended)

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert finding.reasons == ["deployment ecs-svc/theirs was not started by the enforcer"]
    assert finding.deployment_id == "ecs-svc/theirs"
    assert world.table.ops == [("get", f"service#{service_arn()}", "state")]
    assert world.ecs.calls == []
    assert world.identity_asked == 0


def test_an_ended_deployment_of_ours_is_not_ignored() -> None:
    world = deployed_world()
    world.table.ops.clear()
    ended = trigger(name="SERVICE_DEPLOYMENT_COMPLETED", caller_arn=None, targets=(outcome(),))

    assert world.triage(ended) is None
    assert [op[0] for op in world.table.ops] == ["get"]


def test_an_ignored_trigger_through_the_gate_is_logged_not_published() -> None:
    world = World(snapshot())

    finding = world.router.ignored(trigger(ignored="DeleteService needs no enforcement"))

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert world.publisher.published == []
    assert world.ecs.calls == []
    assert world.table.ops == []
