"""The Enforcer (enforcer.py) on fakes: each target enforced in its event's account and Region."""

from __future__ import annotations

from sidecar_enforcer.errors import (
    MisconfiguredError,
)
from sidecar_enforcer.models.events import (
    ClusterTarget,
    ServiceTarget,
)
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.models.work import items_of

from ._factories import ACCOUNT, JAEGER, REGION
from ._fakes import FakeEcs, task_definition_arn
from ._world import (
    MEMBER,
    MEMBER_CLUSTER,
    MEMBER_REGION,
    MEMBER_SOURCE,
    OPT_IN,
    World,
    cluster_item,
    member_trigger,
    member_world,
    snapshot,
    trigger,
)


def test_a_member_accounts_event_is_enforced_in_that_account_and_region_not_in_the_hub() -> None:
    world = member_world()

    (finding,) = world.enforcer.handle(member_trigger())

    assert finding.status is Status.REMEDIATED
    assert (finding.account, finding.region) == (MEMBER, MEMBER_REGION)
    assert world.ecs_asked == [(MEMBER, MEMBER_REGION)]
    member = world.members[MEMBER]
    compliant = task_definition_arn("shop-api", 8, MEMBER, MEMBER_REGION)
    assert member.args("deploy") == [(MEMBER_CLUSTER, "api", compliant)]
    assert finding.new_task_definition_arn == compliant
    assert world.ecs.calls == []  # the hub's own service of the same name is not touched
    # The state table (the hub's) keys the member's records by the member's ARNs
    service_key = f"service#arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/api"
    assert (service_key, "state") in world.table.stored()
    assert (f"source#{MEMBER_SOURCE}", JAEGER.label) in world.table.stored()
    assert world.publisher.published == [finding]


def test_a_hub_event_stays_in_the_hub_account() -> None:
    world = member_world()

    (finding,) = world.enforcer.handle(trigger(account=ACCOUNT))

    assert finding.status is Status.REMEDIATED
    assert world.ecs_asked == [(ACCOUNT, REGION)]
    assert world.members[MEMBER].calls == []


def test_a_member_whose_role_cannot_be_assumed_fails_every_target_naming_the_account() -> None:
    world = member_world()
    reason = (
        f"account {MEMBER}: the enforcer may not assume arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member "
        "(...): the member stack is missing in that account, or its role does not trust this enforcer"
    )
    world.unreachable[MEMBER] = MisconfiguredError(reason)

    findings = world.enforcer.handle(
        member_trigger(ServiceTarget("shop", "api"), ServiceTarget("shop", "web"))
    )

    assert [(f.status, f.account, f.region, f.service) for f in findings] == [
        (Status.FAILED, MEMBER, MEMBER_REGION, "api"),
        (Status.FAILED, MEMBER, MEMBER_REGION, "web"),
    ]
    assert findings[0].reasons == [reason]
    assert world.publisher.published == findings  # visible, and the worker fails the item: retried
    assert world.ecs.calls == []


def test_a_member_accounts_cluster_is_fanned_out_in_that_account() -> None:
    world = member_world("api", "web", cluster_tags=OPT_IN)
    (item,) = items_of(member_trigger(ClusterTarget("shop"), name="TagResource"))

    queued = world.enforcer.fan_out(item)

    assert queued == 2
    assert world.ecs_asked == [(MEMBER, MEMBER_REGION)]
    assert world.members[MEMBER].args("cluster_tags") == [("shop", True)]
    assert world.ecs.calls == []
    assert [(i.trigger.account, i.trigger.region) for i in world.queued] == [(MEMBER, MEMBER_REGION)] * 2
    assert [i.group for i in world.queued] == [
        f"arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/api",
        f"arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/web",
    ]


def test_a_cluster_whose_listed_services_are_another_accounts_queues_nothing() -> None:
    """A guard: what ECS lists in the item's account must be that account's."""
    world = World()
    world.members[MEMBER] = FakeEcs((snapshot("api"),), cluster_tags={"shop": OPT_IN})  # the hub's ARNs

    assert world.enforcer.fan_out(cluster_item(account=MEMBER)) is None
    assert world.queued == []
