"""Unusual events and faults through the real functions (moto in process, with the state table):
each docstring says what would go wrong without the behaviour the test holds."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sidecar_enforcer.errors import EnforcementFailedError, MalformedEventError
from sidecar_enforcer_dev import fleet

from .conftest import ACCOUNT, Aws, Inbox, event

NEXUS = "nexus-ai-api-prod"
OPT_IN = {"key": "tracing-sidecar", "value": "jaeger"}


def revisions(aws: Aws, family: str) -> list[str]:
    arns: list[str] = aws.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    return [a for a in arns if a.split("/")[-1].split(":")[0] == family]


def register(aws: Aws, family: str, image: str) -> str:
    arn: str = aws.ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[{"name": "app", "image": image, "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def tag_event(arn: str, tags: list[dict[str, str]]) -> dict[str, Any]:
    data = event("cloudtrail-tagresource-service.json")
    data["detail"]["requestParameters"] = {"resourceArn": arn, "tags": tags}
    return data


# -- the family's newest revision only ---------------------------------------------------------------


def test_tagging_an_older_revision_is_skipped_naming_the_newest(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    """An older revision tagged is not remediated: a copy of orders:1 plus the sidecar would become
    orders:3, the family's newest, and anything run by family name would go back one release."""
    old = register(aws, "orders", "public.ecr.aws/x/orders:1.0")
    new = register(aws, "orders", "public.ecr.aws/x/orders:2.0")

    (finding,) = invoke(tag_event(old, [OPT_IN]))["findings"]

    assert finding["status"] == "SKIPPED"
    assert f"{new} is" in finding["reasons"][0]
    assert "newest ACTIVE revision" in finding["reasons"][0]
    assert revisions(aws, "orders") == [old, new]


def test_the_newest_revision_is_enforced_and_then_its_copy_counts_as_compliant(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    register(aws, "orders", "public.ecr.aws/x/orders:1.0")
    newest = register(aws, "orders", "public.ecr.aws/x/orders:2.0")

    (first,) = invoke(tag_event(newest, [OPT_IN]))["findings"]
    (again,) = invoke(tag_event(newest, [OPT_IN]))["findings"]

    assert first["status"] == "REMEDIATED"
    assert first["newTaskDefinitionArn"] == revisions(aws, "orders")[-1]
    assert again["status"] == "COMPLIANT"
    assert "compliant copy" in again["reasons"][0]
    assert len(revisions(aws, "orders")) == 3


# -- what does not exist is skipped, not retried ----------------------------------------------------------


def test_a_task_definition_that_does_not_exist_is_skipped_not_failed(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    """ECS's ClientException 'Unable to describe task definition.' is no failure: as FAILED, the
    event would be retried and dead-lettered for a family nobody has."""
    registered = event("cloudtrail-registertaskdefinition.json")
    registered["detail"]["requestParameters"]["family"] = "ghost"

    (finding,) = invoke(registered)["findings"]

    assert finding["status"] == "SKIPPED"
    assert finding["reasons"] == ["task definition ghost does not exist"]
    assert [m["body"]["status"] for m in inbox.messages()] == ["SKIPPED"]


# -- a cluster tag acts only when it is the opt-in or release key ----------------------------------------


def test_an_unrelated_tag_on_a_cluster_changes_and_publishes_nothing(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    """A tag on the cluster other than the opt-in tag (a cost centre) enforces nothing, and
    publishes no status for the services in it."""
    cluster_arn = aws.ecs.describe_clusters(clusters=[fleet.CLUSTER])["clusters"][0]["clusterArn"]
    before = {
        s: aws.ecs.describe_services(cluster=fleet.CLUSTER, services=[s])["services"][0]["taskDefinition"]
        for s in [NEXUS]
    }

    (finding,) = invoke(tag_event(cluster_arn, [{"key": "cost-centre", "value": "42"}]))["findings"]

    assert finding["status"] == "IGNORED"
    assert "cost-centre" in finding["reasons"][0]
    assert inbox.messages() == []
    after = {
        s: aws.ecs.describe_services(cluster=fleet.CLUSTER, services=[s])["services"][0]["taskDefinition"]
        for s in [NEXUS]
    }
    assert after == before


def test_the_opt_in_tag_on_a_cluster_still_enforces_its_services(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    cluster_arn = aws.ecs.describe_clusters(clusters=[fleet.CLUSTER])["clusters"][0]["clusterArn"]
    tags = [OPT_IN, {"key": "cost-centre", "value": "42"}]
    aws.ecs.tag_resource(resourceArn=cluster_arn, tags=tags)  # the call the event reports

    findings = invoke(tag_event(cluster_arn, tags))["findings"]

    by_service = {f["service"]: f["status"] for f in findings}
    assert by_service[NEXUS] == "REMEDIATED"
    assert by_service["billing-worker"] == "REMEDIATED"  # untagged itself: the cluster's tag opts it in
    assert by_service["payments-legacy"] == "SKIPPED"  # CODE_DEPLOY


# -- events act only where they say --------------------------------------------------------------------


@pytest.mark.parametrize(
    "elsewhere",
    [
        "arn:aws:ecs:us-east-1:999999999999",
        f"arn:aws:ecs:eu-west-1:{ACCOUNT}",
        f"arn:aws-us-gov:ecs:us-east-1:{ACCOUNT}",
    ],
    ids=["account", "region", "partition"],
)
def test_an_event_naming_a_service_elsewhere_is_malformed_and_the_local_namesake_untouched(
    aws: Aws, invoke: Any, inbox: Inbox, elsewhere: str
) -> None:
    """The service's ARN names another account, region or partition: the same-named service in this
    account and region is not the one it means, and stays untouched."""
    before = aws.ecs.describe_services(cluster=fleet.CLUSTER, services=[NEXUS])["services"][0][
        "taskDefinition"
    ]
    update = event("cloudtrail-updateservice.json", service=f"{elsewhere}:service/{fleet.CLUSTER}/{NEXUS}")
    original = dict(update)

    with pytest.raises(MalformedEventError) as caught:
        invoke(update)

    assert "an event acts only where it happened" in str(caught.value)
    assert update == original
    after = aws.ecs.describe_services(cluster=fleet.CLUSTER, services=[NEXUS])["services"][0][
        "taskDefinition"
    ]
    assert after == before
    assert inbox.messages() == []


@pytest.mark.parametrize("region", ["", "mars-north-1x", "us-east-1 "])
def test_an_invalid_region_is_a_one_line_malformed_event_not_a_traceback(
    aws: Aws, invoke: Any, inbox: Inbox, region: str
) -> None:
    """An invalid region is a malformed event, not botocore's InvalidRegionError escaping while the
    ECS client is built."""
    update = event("cloudtrail-updateservice.json")
    update["region"] = region
    update["detail"]["awsRegion"] = region

    with pytest.raises(MalformedEventError) as caught:
        invoke(update)

    assert "is not an AWS region" in str(caught.value)


# -- configuration faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["cloudtrail-updateservice.json", "ecs-deployment-failed.json"])
def test_a_state_table_that_does_not_exist_is_a_failed_status_and_one_log_line(
    aws: Aws,
    invoke: Any,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sample: str,
) -> None:
    """A missing state table is a FAILED status and one line, not Powertools'
    IdempotencyPersistenceLayerError with a traceback: the worker meets it (an update), or the
    router does (a deployment's record)."""
    monkeypatch.setenv("STATE_TABLE_NAME", "no-such-table")
    data = event(sample)

    with caplog.at_level(logging.ERROR), pytest.raises(EnforcementFailedError) as caught:
        invoke(data)

    assert "(the state table no-such-table: check STATE_TABLE_NAME)" in str(caught.value)
    assert caught.value.__cause__ is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    (message,) = inbox.messages()
    assert message["body"]["status"] == "FAILED"
    assert message["body"]["eventId"] == data["id"]
    assert "no-such-table" in message["body"]["reasons"][0]


@pytest.mark.parametrize(
    ("name", "value"),
    [("ENFORCEMENT_MODE", "yolo"), ("PROFILES_DIR", "/no/such/folder"), ("MAX_REVERTS", "many")],
)
def test_invalid_settings_are_a_failed_status_and_one_log_line(
    aws: Aws,
    invoke: Any,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    value: str,
) -> None:
    """A configuration fault is a FAILED status and one line, not a traceback without a status."""
    monkeypatch.setenv(name, value)

    with caplog.at_level(logging.ERROR), pytest.raises(EnforcementFailedError) as caught:
        invoke(event("cloudtrail-updateservice.json"))

    assert str(caught.value).startswith(f"configuration fault: {name}:")
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    (message,) = inbox.messages()
    assert message["body"]["status"] == "FAILED"


def test_a_router_without_a_work_queue_is_a_configuration_fault(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORK_QUEUE_URL")

    with pytest.raises(EnforcementFailedError, match=r"^configuration fault: WORK_QUEUE_URL: not set"):
        invoke(event("cloudtrail-updateservice.json"))

    assert [m["body"]["status"] for m in inbox.messages()] == ["FAILED"]


def test_a_missing_state_table_is_failed_for_the_cli_too_not_a_missing_service(
    aws: Aws, seeded: fleet.Fleet, inbox: Inbox
) -> None:
    """DynamoDB's ResourceNotFoundException (the table) is not read as 'the service does not exist'
    (SKIPPED)."""
    from sidecar_enforcer.config import Settings
    from sidecar_enforcer.wiring import build_enforcer

    enforcer = build_enforcer(Settings(state_table_name="no-such-table"))

    finding = enforcer.enforce_service("us-east-1", fleet.CLUSTER, NEXUS)

    assert finding.status.value == "FAILED"
    assert "STATE_TABLE_NAME" in finding.reasons[0]


def test_a_work_queue_that_refuses_the_items_fails_the_event_with_a_status_and_queues_nothing(
    aws: Aws, invoke: Any, inbox: Inbox, work_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router raises (Lambda retries the event, then its on-failure destination keeps it), and
    says why in a FAILED status; it is not called a configuration fault."""
    from ._safety import error, inject

    inject(
        monkeypatch,
        "before-send.sqs.SendMessageBatch",
        lambda n: error("KmsThrottled", "the queue's key is throttled"),
    )
    data = event("cloudtrail-updateservice.json")

    with pytest.raises(EnforcementFailedError) as caught:
        invoke(data)

    assert (
        str(caught.value) == "event not queued: SendMessageBatch: KmsThrottled: the queue's key is throttled"
    )
    (message,) = inbox.messages()
    assert message["body"]["status"] == "FAILED"
    assert message["body"]["eventId"] == data["id"]
    assert aws.sqs.receive_message(QueueUrl=work_queue).get("Messages", []) == []


# -- events that ask for nothing are answered before the event is recorded ------------------------------


@pytest.mark.parametrize("kind", ["own-call", "unrelated-tag", "failed-call"])
def test_an_event_that_asks_for_nothing_writes_nothing_to_the_state_table(
    aws: Aws, invoke: Any, inbox: Inbox, table: str, kind: str
) -> None:
    """An event that asks for nothing (the enforcer's own calls, ignored events) takes no
    idempotency record (a PutItem and an UpdateItem)."""
    if kind == "own-call":
        data = event("cloudtrail-updateservice.json")
        data["detail"]["userIdentity"] = {"type": "IAMUser", "arn": aws.sts.get_caller_identity()["Arn"]}
    elif kind == "unrelated-tag":
        cluster_arn = aws.ecs.describe_clusters(clusters=[fleet.CLUSTER])["clusters"][0]["clusterArn"]
        data = tag_event(cluster_arn, [{"key": "owner", "value": "team-a"}])
    else:
        data = event("cloudtrail-updateservice.json")
        data["detail"]["errorCode"] = "AccessDenied"
    invoke(event("cloudtrail-updateservice-codedeploy.json"))  # a warm container: identity known
    before = aws.dynamodb.scan(TableName=table)["Items"]

    (finding,) = invoke(data)["findings"]

    assert finding["status"] == "IGNORED"
    assert aws.dynamodb.scan(TableName=table)["Items"] == before


def test_a_deployment_the_enforcer_did_not_start_is_told_from_its_record_alone(
    aws: Aws, invoke: Any, inbox: Inbox, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone else's deployment is known as such from one read of the service's record, not from
    the idempotency record, DescribeServices and the service's lease (7 calls)."""
    from sidecar_enforcer.adapters.ecs import EcsGateway

    remediated = invoke(event("cloudtrail-updateservice.json"))["findings"][0]
    assert remediated["status"] == "REMEDIATED"
    described: list[str] = []
    real = EcsGateway.describe_services

    def describe(self: EcsGateway, cluster: str, services: list[str]) -> Any:
        described.extend(services)
        return real(self, cluster, services)

    monkeypatch.setattr(EcsGateway, "describe_services", describe)
    before = aws.dynamodb.scan(TableName=table)["Items"]
    completed = event("ecs-deployment-failed.json")
    completed["detail"].update(
        {"eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": "ecs-svc/someone-elses", "reason": ""}
    )

    (finding,) = invoke(completed)["findings"]

    assert finding["status"] == "IGNORED"
    assert finding["reasons"] == ["deployment ecs-svc/someone-elses was not started by the enforcer"]
    assert finding["service"] == NEXUS
    assert described == []
    assert aws.dynamodb.scan(TableName=table)["Items"] == before
    # and the enforcer's own deployment is still verified the full way
    own = event("ecs-deployment-failed.json")
    own["detail"]["deploymentId"] = remediated["deploymentId"]
    assert invoke(own)["findings"][0]["status"] == "DEPLOYMENT_FAILED"
