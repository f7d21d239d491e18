"""member.yaml, the member-account stack: it forwards exactly the events the hub's rules match, to the
hub's event bus; its role trusts only the hub's roles inside the organisation, is created once per
account, and allows exactly what the worker does in an account (the ECS and IAM adapters' calls),
with the same conditions as the hub's own grants."""

from __future__ import annotations

from typing import Any

import pytest

from ._template import adapters, granted, load, statements, worker_statements


def member() -> dict[str, Any]:
    return load("member.yaml")


def hub_patterns() -> dict[str, Any]:
    events = load()["Resources"]["RouterFunction"]["Properties"]["Events"]
    return {
        name: event["Properties"]["Pattern"]
        for name, event in events.items()
        if event["Type"] == "EventBridgeRule"
    }


def forwarding_rules() -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in member()["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
    }


def test_the_member_forwards_exactly_the_events_the_hub_s_rules_match() -> None:
    forwarded = {
        name.removeprefix("Forward"): rule["EventPattern"] for name, rule in forwarding_rules().items()
    }

    assert forwarded == hub_patterns()


def test_each_rule_targets_the_hub_s_event_bus_with_a_role_and_a_dead_letter_queue() -> None:
    bus = "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/${HubEventBusName}"
    for name, rule in forwarding_rules().items():
        (target,) = rule["Targets"]
        assert target["Arn"] == bus, name
        assert target["RoleArn"] == "ForwardRole.Arn", name  # needed for a bus in another account
        assert target["DeadLetterConfig"]["Arn"] == "ForwardDeadLetterQueue.Arn", name
    forward = statements(member()["Resources"]["ForwardRole"]["Properties"]["Policies"])
    (put,) = forward.values()
    assert put["Action"] == "events:PutEvents"
    assert put["Resource"] == bus


def test_the_hub_s_own_bus_is_not_forwarded_to_itself() -> None:
    conditions = member()["Conditions"]

    assert conditions["IsHubBus"] == [
        ["AWS::AccountId", "HubAccountId"],
        ["AWS::Region", "HubRegion"],
    ]
    for name, resource in member()["Resources"].items():
        if name.startswith("Forward"):
            assert resource["Condition"] == "Forward", name


def test_the_role_is_created_once_per_account_in_the_hub_s_region() -> None:
    role = member()["Resources"]["MemberRole"]

    assert role["Condition"] == "CreateRole"
    assert ["AWS::Region", "HubRegion"] in member()["Conditions"]["CreateRole"]
    assert role["Properties"]["RoleName"] == "MemberRoleName"
    assert (
        member()["Parameters"]["MemberRoleName"]["Default"]
        == load()["Parameters"]["MemberRoleName"]["Default"]
    )


def test_the_role_trusts_only_the_hub_s_roles_within_the_organisation() -> None:
    (trust,) = member()["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert trust["Effect"] == "Allow"
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}
    assert trust["Condition"] == {
        # the hub account's roles on the hub's role path, whatever their generated names
        "ArnLike": {"aws:PrincipalArn": "arn:${AWS::Partition}:iam::${HubAccountId}:role${HubRolePath}*"},
        "StringEquals": {"aws:PrincipalOrgID": "OrganizationId"},
    }
    # Read as IAM would, with the README's parameters: tests/unit/test_policies.py.


def member_role_statements() -> dict[str, dict[str, Any]]:
    return statements(member()["Resources"]["MemberRole"]["Properties"]["Policies"])


def test_the_role_allows_exactly_what_the_worker_and_a_backfill_call_in_an_account() -> None:
    found = adapters()
    in_an_account = set(found["ecs"].PERMISSIONS) | set(found["iam"].PERMISSIONS)
    surveyed = set(found["survey"].PERMISSIONS)  # a backfill run lists the account's clusters

    assert granted("MemberRole", "member.yaml") == in_an_account | surveyed
    # ... which is the worker's grant less what stays in the hub (table, topics, queues, profiles,
    # the key, the member role itself, the organisation's tree the rollout policy reads).
    hub_only = {
        a
        for a in granted("WorkerFunction")
        if a.split(":")[0] in {"dynamodb", "sns", "sqs", "ssm", "kms", "sts", "s3", "organizations"}
    }
    assert granted("WorkerFunction") - hub_only == in_an_account


@pytest.mark.parametrize(
    "sid",
    [
        "EcsReadUnscoped",
        "EcsDescribeServicesAndClusters",
        "EcsDescribeTasks",
        "EcsRegisterMarkedTaskDefinitions",
        "EcsTagOnRegister",
        "EcsUpdateService",
        "PassTaskRolesToEcs",
        "SimulateTaskRoles",
    ],
)
def test_each_member_grant_is_the_hub_s_with_every_region(sid: str) -> None:
    hub, here = worker_statements()[sid], member_role_statements()[sid]

    def any_region(resource: Any) -> Any:
        if isinstance(resource, list):
            return [any_region(r) for r in resource]
        return resource.replace("${AWS::Region}", "*")

    assert here["Action"] == hub["Action"]
    assert here.get("Condition") == hub.get("Condition")
    assert here["Resource"] == any_region(hub["Resource"])


def test_the_forwarding_dead_letter_queue_is_alarmed_and_notifies_the_topic_given() -> None:
    from ._policy import Stack, load

    alarm = member()["Resources"]["ForwardDeadLetterQueueAlarm"]
    assert alarm["Condition"] == "Forward"
    properties = alarm["Properties"]
    assert properties["Namespace"] == "AWS/SQS"
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Dimensions"] == [{"Name": "QueueName", "Value": "ForwardDeadLetterQueue.QueueName"}]
    assert properties["Threshold"] == 0
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"

    given = {"HubAccountId": "111122223333", "HubRegion": "us-east-1", "OrganizationId": "o-abcdefghij"}
    here = {"account": "444455556666", "region": "eu-west-1"}
    quiet = Stack(load("member.yaml"), given, **here).properties("ForwardDeadLetterQueueAlarm")
    assert quiet["AlarmActions"] == []
    loud = Stack(load("member.yaml"), {**given, "AlarmTopicName": "ops"}, **here)
    topic = "arn:aws:sns:eu-west-1:444455556666:ops"  # each Region's instance: its own Region's topic
    assert loud.properties("ForwardDeadLetterQueueAlarm")["AlarmActions"] == [topic]
    assert loud.properties("ForwardDeadLetterQueueAlarm")["OKActions"] == [topic]
