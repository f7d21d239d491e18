"""Work items on the SQS FIFO work queue: one target each, a versioned JSON body read back strictly,
a message group per service (cluster, task definition family) and a dedup id per event and target.
Plain data, no AWS."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sidecar_enforcer.errors import MalformedEventError
from sidecar_enforcer.models.events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    TaskDefinitionTarget,
    Trigger,
)
from sidecar_enforcer.models.work import SQS_ID_MAX, RunTag, WorkItem, items_of, parse_item

ACCOUNT = "123456789012"
ECS = f"arn:aws:ecs:eu-west-1:{ACCOUNT}"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-pipeline/run-1"
CALLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/deploy-pipeline"


def trigger(*targets: object, **changes: object) -> Trigger:
    base = Trigger(
        event_id="event-1",
        account=ACCOUNT,
        region="eu-west-1",
        name="TagResource",
        targets=tuple(targets),  # type: ignore[arg-type]
        caller_arn=CALLER,
        caller_role_arn=CALLER_ROLE,
        tag_keys=frozenset({"tracing-sidecar", "owner"}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


TARGETS = [
    ServiceTarget("shop-prod", "api"),
    ClusterTarget("shop-prod"),
    TaskDefinitionTarget("shop-api", {"tracing-sidecar": "jaeger"}),
    TaskDefinitionTarget(f"{ECS}:task-definition/shop-api:7"),
    DeploymentOutcome(
        "shop-prod", "api", "ecs-svc/1234", False, "circuit breaker", f"{ECS}:service/shop-prod/api"
    ),
    DeploymentOutcome("default", "api", "ecs-svc/1234", True),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: type(t).__name__)
def test_every_target_kind_goes_through_the_queue_unchanged(target: object) -> None:
    (item,) = items_of(trigger(target))

    back = parse_item(item.to_body())

    assert back == item
    assert back.trigger.targets == (target,)
    assert back.trigger.tag_keys == frozenset({"tracing-sidecar", "owner"})
    assert back.trigger.caller_arn == CALLER
    assert back.trigger.caller_role_arn == CALLER_ROLE
    assert (back.group, back.dedup_id) == (item.group, item.dedup_id)
    assert json.loads(item.to_body())["v"] == 1


def test_no_tag_keys_stays_none_not_an_empty_set() -> None:
    (item,) = items_of(trigger(ServiceTarget("shop-prod", "api"), tag_keys=None, caller_arn=None))

    back = parse_item(item.to_body())

    assert back.trigger.tag_keys is None
    assert back.trigger.caller_arn is None


def test_one_item_per_target_each_in_its_own_group() -> None:
    items = items_of(trigger(*TARGETS[:3]))

    assert [i.target for i in items] == TARGETS[:3]
    assert [i.group for i in items] == [
        f"{ECS}:service/shop-prod/api",
        f"{ECS}:cluster/shop-prod",
        f"{ECS}:task-definition/shop-api",
    ]
    assert len({i.dedup_id for i in items}) == 3


def test_a_service_s_items_share_a_group_whatever_the_event() -> None:
    update = items_of(trigger(ServiceTarget("shop-prod", "api"), event_id="a", name="UpdateService"))[0]
    deployed = items_of(trigger(TARGETS[4], event_id="b", name="SERVICE_DEPLOYMENT_FAILED"))[0]
    revision = items_of(trigger(TARGETS[3], event_id="c"))[0]
    family = items_of(trigger(TARGETS[2], event_id="d"))[0]

    assert update.group == deployed.group
    assert revision.group == family.group  # a revision and its family: one group
    assert update.dedup_id != deployed.dedup_id


def test_the_same_event_gives_the_same_dedup_id_and_another_event_another() -> None:
    first = items_of(trigger(ServiceTarget("shop-prod", "api")))[0]
    again = items_of(trigger(ServiceTarget("shop-prod", "api")))[0]
    other = items_of(trigger(ServiceTarget("shop-prod", "api"), event_id="event-2"))[0]

    assert first.dedup_id == again.dedup_id
    assert other.dedup_id != first.dedup_id


def test_a_cluster_s_service_items_derive_their_dedup_id_from_the_cluster_item() -> None:
    (cluster,) = items_of(trigger(ClusterTarget("shop-prod")))

    child = cluster.child(ServiceTarget("shop-prod", "api"))
    direct = items_of(trigger(ServiceTarget("shop-prod", "api")))[0]

    assert child.trigger.event_id == "event-1"
    assert child.trigger.tag_keys == cluster.trigger.tag_keys
    assert child.group == direct.group  # ordered with the service's other items
    assert child.dedup_id != direct.dedup_id  # but not mistaken for the event's own service item
    assert child.dedup_id == cluster.child(ServiceTarget("shop-prod", "api")).dedup_id
    assert parse_item(child.to_body()) == child


def test_long_names_are_hashed_into_sqs_s_128_characters() -> None:
    long = "c" * 255
    (item,) = items_of(
        trigger(ServiceTarget(long, "s" * 255), partition="aws-us-gov", region="us-gov-west-1")
    )

    assert len(item.key) > SQS_ID_MAX
    assert item.group.startswith("sha256:")
    assert len(item.group) == len("sha256:") + 64
    assert len(item.dedup_id) <= SQS_ID_MAX
    (short,) = items_of(trigger(ServiceTarget("shop-prod", "api")))
    assert short.group == short.key  # readable when it fits


def test_an_item_has_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one target"):
        WorkItem(trigger(*TARGETS[:2]), origin="event-1")


def _body(**changes: object) -> str:
    data = json.loads(items_of(trigger(ServiceTarget("shop-prod", "api")))[0].to_body())
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "work item: not JSON (Expecting value at column 1)"),
        ("[1, 2]", "work item: a JSON list, not an object"),
        (_body(v=2), "work item: version 2, expected 1"),
        (json.dumps({"hello": "world"}), "work item: version None, expected 1"),
        (_body(target={"kind": "queue", "cluster": "c"}), "work item: target: Input tag 'queue'"),
        (
            _body(target={"kind": "service", "cluster": "c"}),
            "work item: target.service.service: Field required",
        ),
        (
            _body(target={"kind": "service", "cluster": "c", "service": "a b"}),
            "work item: target.service.service:",
        ),
        (_body(account="12345"), "work item: account: String should match pattern"),
        (_body(extra=True), "work item: extra: Extra inputs are not permitted"),
        (_body(tagKeys="tracing-sidecar"), "work item: tagKeys: Input should be a valid list"),
    ],
)
def test_a_body_that_is_not_a_work_item_is_refused_in_one_line(body: str, message: str) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_item(body)

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_body_that_is_no_string_is_refused() -> None:
    with pytest.raises(MalformedEventError, match="a dict, not a JSON string"):
        parse_item({"v": 1})


def test_a_run_item_without_a_wave_parses_as_before_and_a_wave_item_keeps_its_wave() -> None:
    (item,) = items_of(trigger(ServiceTarget("shop-prod", "api")))
    before = json.loads(item.to_body())
    before["run"] = {"id": "bf-1", "mode": "enforce"}  # an item queued before waves existed

    survey = parse_item(json.dumps(before))
    wave = replace(survey, run=RunTag("bf-1", "enforce", 3))

    assert survey.run == RunTag("bf-1", "enforce")
    assert survey.run.wave is None
    assert survey.run.audit  # a survey decides in audit, whatever the run's mode
    assert parse_item(wave.to_body()) == wave
    assert wave.run is not None
    assert not wave.run.audit
    assert "wave" not in json.loads(survey.to_body())["run"]
    with pytest.raises(MalformedEventError, match=r"run\.wave: Input should be greater than or equal to 1"):
        parse_item(json.dumps({**before, "run": {"id": "bf-1", "mode": "enforce", "wave": 0}}))


def test_the_largest_wave_s_items_fit_one_state_table_item() -> None:
    """A wave's items are kept in one DynamoDB item (at most 400 KB): the largest wave a payload may
    ask for, of services with the longest names ECS allows, fits with room to spare."""
    from sidecar_enforcer.models.backfill import LARGEST_WAVE

    longest = ServiceTarget("c" * 255, "s" * 255)
    item = WorkItem(
        replace(trigger(longest), event_id="r" * 64, name="backfill", caller_arn=None, caller_role_arn=None),
        origin="r" * 64 + "#wave9999",
        run=RunTag("r" * 64, "enforce", 9999),
    )

    stored = json.dumps({"items": [item.to_body()] * LARGEST_WAVE})

    assert len(stored.encode()) < 400 * 1024 / 2
