"""An event from another account is enforced in that account and in the event's region,
through the member role, on moto in process with several accounts (MOTO_ACCOUNT_ID unset: the
credentials AssumeRole returns for arn:aws:iam::222222222222:role/... act in 222222222222; moto
checks no trust policy, so the member role needs no setup and a refusal is injected).

The hub (moto's default account, 123456789012) runs the functions and holds the state table, the
status topic and the work queue; the member account holds the same demo fleet, in two regions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sidecar_enforcer.errors import EnforcementFailedError
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet

from .conftest import ACCOUNT, MEMBER, Aws, Functions, Inbox, clients_in, event

REGIONS = ("us-east-1", "eu-west-1")
NEXUS = "nexus-ai-api-prod"
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member"


@pytest.fixture
def member(aws: Aws, seeded: fleet.Fleet) -> dict[str, Any]:
    """The member account's ECS per region, each seeded with the demo fleet (the hub has it too)."""
    ecs = {}
    for region in REGIONS:
        session = clients_in(aws, MEMBER, region)
        ecs[region] = session.client("ecs")
        fleet.seed(ecs[region], session.client("ec2"), MEMBER, builtin_profiles()["jaeger"].container)
    return ecs


def in_member(name: str, region: str, **changes: Any) -> dict[str, Any]:
    """A sample event as the member account's trail delivers it in ``region``."""
    data = event(name, **changes)
    moved: dict[str, Any] = json.loads(
        json.dumps(data).replace(ACCOUNT, MEMBER).replace('"us-east-1"', f'"{region}"')
    )
    return moved


def task_definition_of(ecs: Any, service: str = NEXUS) -> str:
    found: str = ecs.describe_services(cluster=fleet.CLUSTER, services=[service])["services"][0][
        "taskDefinition"
    ]
    return found


def containers(ecs: Any, task_definition: str) -> list[str]:
    return [
        c["name"]
        for c in ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"][
            "containerDefinitions"
        ]
    ]


def snapshot(ecs: Any) -> dict[str, str]:
    services = ecs.list_services(cluster=fleet.CLUSTER)["serviceArns"]
    described = ecs.describe_services(cluster=fleet.CLUSTER, services=services)["services"]
    return {s["serviceName"]: s["taskDefinition"] for s in described}


def families(ecs: Any) -> list[str]:
    return sorted(ecs.list_task_definitions()["taskDefinitionArns"])


@pytest.fixture
def assumed(app: Functions) -> Iterator[list[dict[str, Any]]]:
    """Every AssumeRole the worker makes, through its (the hub's) STS client."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    sts = app.worker.handler.clients().client("sts")
    sts.meta.events.register("before-parameter-build.sts.AssumeRole", record)
    yield calls
    sts.meta.events.unregister("before-parameter-build.sts.AssumeRole", record)


def test_a_member_event_is_enforced_in_that_account_and_region_and_nowhere_else(
    aws: Aws,
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    inbox: Inbox,
    member: dict[str, Any],
    assumed: list[dict[str, Any]],
) -> None:
    hub_before, hub_revisions = snapshot(aws.ecs), families(aws.ecs)
    before = {region: snapshot(member[region]) for region in REGIONS}

    for n, region in enumerate(REGIONS):
        # When the member's pipeline calls UpdateService in that region
        (finding,) = invoke(in_member("cloudtrail-updateservice.json", region))["findings"]

        # Then the member's service in that region runs the compliant revision, registered there
        assert finding["status"] == "REMEDIATED"
        assert (finding["account"], finding["region"]) == (MEMBER, region)
        new = task_definition_of(member[region])
        assert new == finding["newTaskDefinitionArn"]
        assert new.startswith(f"arn:aws:ecs:{region}:{MEMBER}:task-definition/nexus-ai-api:")
        assert containers(member[region], new) == ["api", "jaeger"]
        assert snapshot(member[region]) == before[region] | {NEXUS: new}
        # and nothing else changed: the other region (before its own event) and the hub
        for other in REGIONS[n + 1 :]:
            assert snapshot(member[other]) == before[other]
        assert snapshot(aws.ecs) == hub_before
        assert families(aws.ecs) == hub_revisions

        # And the status (the hub's topic) names the member account and the region
        (message,) = inbox.messages()
        assert message["body"]["status"] == "REMEDIATED"
        assert (message["body"]["account"], message["body"]["region"]) == (MEMBER, region)
        assert message["attributes"]["account"] == MEMBER

    # One AssumeRole for the account, both regions included, with the member role and session
    assert assumed == [
        {"RoleArn": MEMBER_ROLE, "RoleSessionName": "sidecar-enforcer", "DurationSeconds": 3600}
    ]
    # The hub's state table keeps the member's records under the member's ARNs
    items = aws.dynamodb.scan(TableName="sidecar-enforcer-state")["Items"]
    keys = {item["pk"]["S"] for item in items}
    for region in REGIONS:
        assert f"service#arn:aws:ecs:{region}:{MEMBER}:service/{fleet.CLUSTER}/{NEXUS}" in keys


def test_credentials_are_reused_one_assume_role_per_account_across_many_events(
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    inbox: Inbox,
    member: dict[str, Any],
    assumed: list[dict[str, Any]],
) -> None:
    statuses = []
    for _ in range(3):
        for region in REGIONS:
            for sample in ("cloudtrail-updateservice.json", "cloudtrail-createservice.json"):
                statuses += [f["status"] for f in invoke(in_member(sample, region))["findings"]]

    assert len(statuses) == 12
    assert set(statuses) <= {"REMEDIATED", "COMPLIANT"}
    assert [call["RoleArn"] for call in assumed] == [MEMBER_ROLE]


def test_outcomes_are_counted_per_account_for_the_dashboard(
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    inbox: Inbox,
    member: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local pipeline turns them off
    capsys.readouterr()
    invoke(in_member("cloudtrail-updateservice.json", REGIONS[0]))  # REMEDIATED in the member
    invoke(in_member("cloudtrail-updateservice.json", REGIONS[0]))  # COMPLIANT now: not per account
    invoke(event("cloudtrail-updateservice.json"))  # REMEDIATED in the hub

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    per_account = [
        (line["account"], name)
        for line in lines
        for block in line["_aws"]["CloudWatchMetrics"]
        if ["account", "service"] in block["Dimensions"]
        for name in (m["Name"] for m in block["Metrics"])
    ]
    assert per_account == [(MEMBER, "Remediated"), (ACCOUNT, "Remediated")]


def test_the_hubs_own_events_assume_nothing(
    aws: Aws, invoke: Callable[[dict[str, Any]], dict[str, Any]], inbox: Inbox, assumed: list[dict[str, Any]]
) -> None:
    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert (finding["status"], finding["account"]) == ("REMEDIATED", ACCOUNT)
    assert assumed == []


def test_the_enforcers_own_call_in_a_member_account_is_ignored(
    aws: Aws,
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    inbox: Inbox,
    member: dict[str, Any],
    assumed: list[dict[str, Any]],
) -> None:
    # The identity STS gives the member role's session: what the member's CloudTrail records
    session = aws.sts.assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="sidecar-enforcer")["AssumedRoleUser"]
    own = in_member("cloudtrail-updateservice.json", "eu-west-1")
    own["detail"]["userIdentity"] = {
        "type": "AssumedRole",
        "arn": session["Arn"],
        "accountId": MEMBER,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": MEMBER_ROLE, "accountId": MEMBER}},
    }
    assert session["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/sidecar-enforcer-member/sidecar-enforcer"
    before = snapshot(member["eu-west-1"])

    result = invoke(own)

    assert [f["status"] for f in result["findings"]] == ["IGNORED"]
    assert result["queued"] == 0
    assert snapshot(member["eu-west-1"]) == before
    assert assumed == []
    assert inbox.messages() == []


def test_a_member_cluster_opted_in_by_its_tag_is_fanned_out_and_enforced_in_that_account(
    aws: Aws,
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    inbox: Inbox,
    member: dict[str, Any],
    assumed: list[dict[str, Any]],
) -> None:
    ecs = member["eu-west-1"]
    cluster = ecs.describe_clusters(clusters=[fleet.CLUSTER])["clusters"][0]["clusterArn"]
    ecs.tag_resource(resourceArn=cluster, tags=[{"key": "tracing-sidecar", "value": "jaeger"}])
    tagged = in_member("cloudtrail-tagresource-service.json", "eu-west-1", resourceArn=cluster)
    hub_before = snapshot(aws.ecs)

    result = invoke(tagged)

    assert result["delivered"] > 1  # the cluster item, then one item per service
    assert {(f["account"], f["region"]) for f in result["findings"]} == {(MEMBER, "eu-west-1")}
    remediated = [f["service"] for f in result["findings"] if f["status"] == "REMEDIATED"]
    assert remediated
    for name in remediated:
        assert "jaeger" in containers(ecs, task_definition_of(ecs, name))
    assert snapshot(aws.ecs) == hub_before
    assert len(assumed) == 1


def test_a_member_whose_role_cannot_be_assumed_is_failed_visibly_and_retried(
    aws: Aws,
    app: Functions,
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    inbox: Inbox,
    member: dict[str, Any],
    assumed: list[dict[str, Any]],
) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}},
            "AssumeRole",
        )

    sts = app.worker.handler.clients().client("sts")
    sts.meta.events.register("before-parameter-build.sts.AssumeRole", refuse)
    before = snapshot(member["us-east-1"])

    with pytest.raises(EnforcementFailedError, match=f"account {MEMBER}: the enforcer may not assume"):
        invoke(in_member("cloudtrail-updateservice.json", "us-east-1"))

    (message,) = inbox.messages()
    body = message["body"]
    assert (body["status"], body["account"], body["region"]) == ("FAILED", MEMBER, "us-east-1")
    (reason,) = body["reasons"]
    assert "\n" not in reason
    assert MEMBER_ROLE in reason
    assert "the member stack is missing in that account, or its role does not trust this enforcer" in reason
    assert snapshot(member["us-east-1"]) == before

    # Once the member stack is deployed, the retried event goes through (nothing was kept)
    sts.meta.events.unregister("before-parameter-build.sts.AssumeRole", refuse)
    (finding,) = invoke(in_member("cloudtrail-updateservice.json", "us-east-1"))["findings"]
    assert (finding["status"], finding["account"]) == ("REMEDIATED", MEMBER)
