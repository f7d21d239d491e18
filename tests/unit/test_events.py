"""Events -> what the enforcer should look at, or a one-line MalformedEventError."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.errors import MalformedEventError
from sidecar_enforcer.models.events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    TaskDefinitionTarget,
    Trigger,
    parse_trigger,
)

from ._factories import SHARED_CORPUS

PROJECT_EVENTS = Path(__file__).resolve().parents[2] / "events"
CORPUS_EVENTS = SHARED_CORPUS / "events"
ACCOUNT = "123456789012"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-pipeline/gha-run-4711"
CALLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/deploy-pipeline"
ECS = f"arn:aws:ecs:us-east-1:{ACCOUNT}"


def read(path: Path) -> Any:
    # utf-8-sig: one corpus fixture starts with a byte-order mark
    return json.loads(path.read_text(encoding="utf-8-sig"))


def cloudtrail(event_name: str, params: Any, **detail: Any) -> dict[str, Any]:
    """An EventBridge-wrapped CloudTrail record of an ECS call. An UpdateService that names no task
    definition forces a new deployment: one that only scales the service is noise, ignored
    (tests/unit/test_noise.py)."""
    if event_name == "UpdateService" and isinstance(params, dict) and "taskDefinition" not in params:
        params = {**params, "forceNewDeployment": True}
    return {
        "version": "0",
        "id": "11111111-2222-3333-4444-555555555555",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": "2026-11-20T09:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": CALLER,
                "accountId": ACCOUNT,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": CALLER_ROLE}},
            },
            "eventSource": "ecs.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "requestParameters": params,
            "responseElements": None,
            "eventID": "e0e0e0e0-0000-4000-8000-000000000009",
            **detail,
        },
    }


def deployment(event_name: str, resources: list[str]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "22222222-2222-3333-4444-555555555555",
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": "2026-11-20T09:16:00Z",
        "region": "us-east-1",
        "resources": resources,
        "detail": {"eventType": "INFO", "eventName": event_name, "deploymentId": "ecs-svc/1"},
    }


def only_target(trigger: Trigger) -> Any:
    assert trigger.ignored is None
    assert len(trigger.targets) == 1
    return trigger.targets[0]


def malformed(event: Any) -> str:
    with pytest.raises(MalformedEventError) as caught:
        parse_trigger(event)
    message = str(caught.value)
    assert message.strip()
    assert "\n" not in message
    return message


# -- the project's sample events ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("cloudtrail-createservice.json", ServiceTarget("shop-prod", "nexus-ai-api-prod")),
        ("cloudtrail-updateservice.json", ServiceTarget("shop-prod", "nexus-ai-api-prod")),
        ("cloudtrail-updateservice-codedeploy.json", ServiceTarget("shop-prod", "payments-legacy")),
        ("cloudtrail-tagresource-service.json", ServiceTarget("shop-prod", "nexus-ai-api-prod")),
        (
            "cloudtrail-registertaskdefinition.json",
            TaskDefinitionTarget("nexus-ai-api", {"tracing-sidecar": "jaeger"}),
        ),
        ("ecs-deployment-in-progress.json", ServiceTarget("shop-prod", "nexus-ai-api-prod")),
        (
            "ecs-deployment-failed.json",
            DeploymentOutcome(
                "shop-prod",
                "nexus-ai-api-prod",
                "ecs-svc/1234567890123456789",
                False,
                "ECS deployment circuit breaker: task failed to start.",
                "arn:aws:ecs:us-east-1:123456789012:service/shop-prod/nexus-ai-api-prod",
            ),
        ),
    ],
)
def test_project_sample_events(name: str, target: Any) -> None:
    event = read(PROJECT_EVENTS / name)

    trigger = parse_trigger(event)

    assert only_target(trigger) == target
    assert trigger.event_id == event["id"]
    assert trigger.account == event["account"]
    assert trigger.region == "us-east-1"


def test_project_cloudtrail_samples_name_the_caller() -> None:
    trigger = parse_trigger(read(PROJECT_EVENTS / "cloudtrail-createservice.json"))

    assert trigger.name == "CreateService"
    assert trigger.caller_arn == CALLER
    assert trigger.caller_role_arn == CALLER_ROLE


def test_the_malformed_project_sample_raises() -> None:
    message = malformed(read(PROJECT_EVENTS / "malformed-updateservice-without-service.json"))

    assert "UpdateService" in message
    assert "service" in message


def test_the_scheduled_sample_is_the_outbox_tick() -> None:
    trigger = parse_trigger(read(PROJECT_EVENTS / "scheduled-outbox-tick.json"))

    assert (trigger.name, trigger.targets, trigger.ignored) == ("Scheduled Event", (), None)


def test_every_project_sample_is_covered() -> None:
    names = {p.name for p in PROJECT_EVENTS.glob("*.json")}
    assert names == {
        "ecs-deployment-failed.json",
        "scheduled-outbox-tick.json",
        "cloudtrail-createservice.json",
        "cloudtrail-updateservice.json",
        "cloudtrail-updateservice-codedeploy.json",
        "cloudtrail-updateservice-autoscaling.json",
        "cloudtrail-tagresource-service.json",
        "cloudtrail-registertaskdefinition.json",
        "ecs-deployment-in-progress.json",
        "malformed-updateservice-without-service.json",
    }


# -- the shared corpus' real events --------------------------------------------------------------------

corpus = pytest.mark.skipif(
    not CORPUS_EVENTS.is_dir(),
    reason=f"shared corpus not found at {CORPUS_EVENTS}: "
    "it ships beside the repo in CI, not in a user's clone",
)


def corpus_event(name: str) -> Any:
    path = CORPUS_EVENTS / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this copy of the corpus")
    return read(path)


@corpus
def test_a_deployment_in_progress_targets_its_service() -> None:
    trigger = parse_trigger(corpus_event("ecs-deployment-state-change-in-progress.json"))

    assert only_target(trigger) == ServiceTarget(cluster="default", service="servicetest")
    assert trigger.account == "111122223333"
    assert trigger.region == "us-west-2"


@corpus
@pytest.mark.parametrize(
    ("name", "completed"),
    [
        ("ecs-deployment-state-change-completed.json", True),
        ("ecs-deployment-state-change-failed.json", False),
        ("ecs-deployment-state-change-rollback-in-progress.json", False),
    ],
)
def test_a_finished_or_rolled_back_deployment_is_an_outcome_to_verify(name: str, completed: bool) -> None:
    trigger = parse_trigger(corpus_event(name))

    assert trigger.ignored is None
    (target,) = trigger.targets
    assert target == DeploymentOutcome(
        "default",
        "servicetest",
        "ecs-svc/123",
        completed,
        corpus_event(name)["detail"]["reason"],
        "arn:aws:ecs:us-west-2:111122223333:service/default/servicetest",
    )


def test_a_deployment_outcome_of_a_short_service_arn_has_no_record_key() -> None:
    # The retired short format (service/<name>) is not the key of the service's record (ECS
    # answers DescribeServices with the long one): that record is found the long way.
    trigger = parse_trigger(deployment("SERVICE_DEPLOYMENT_COMPLETED", [f"{ECS}:service/web"]))

    (target,) = trigger.targets
    assert isinstance(target, DeploymentOutcome)
    assert (target.cluster, target.service, target.service_arn) == ("default", "web", None)


def test_a_deployment_outcome_without_its_id_is_malformed() -> None:
    event = deployment("SERVICE_DEPLOYMENT_COMPLETED", [f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/c/s"])
    del event["detail"]["deploymentId"]

    with pytest.raises(MalformedEventError, match=r"without detail\.deploymentId"):
        parse_trigger(event)


@corpus
def test_a_non_ecs_tag_resource_is_ignored() -> None:
    trigger = parse_trigger(corpus_event("eventbridge-cloudtrail-tagresource-cloudfront-non-ecs.json"))

    assert trigger.targets == ()
    assert trigger.ignored is not None
    assert "not an ECS" in trigger.ignored
    assert trigger.name == "TagResource"


@corpus
@pytest.mark.parametrize(
    "name",
    [
        "ecs-service-action-capacity-provider-steady-state.json",
        "ecs-service-action-handwritten-test-event.json",
        "ecs-service-action-placement-failure-ec2-cpu.json",
        "ecs-service-action-placement-failure-fargate-spot.json",
        "ecs-service-action-steady-state.json",
        "ecs-service-action-task-start-impaired.json",
        "ecs-task-state-change-dotnet-fixture.json",
        "ecs-task-state-change-fargate-running.json",
    ],
)
def test_other_ecs_detail_types_are_unsupported(name: str) -> None:
    event = corpus_event(name)

    message = malformed(event)

    assert "unsupported detail-type" in message
    assert event["detail-type"] in message


@corpus
@pytest.mark.parametrize(
    "name",
    [
        "cloudtrail-record-ecs-createcluster-awsdocs.json",
        "cloudtrail-record-ecs-putaccountsettingdefault-awsdocs.json",
        "cloudtrail-fragment-createcluster-cryptomining.json",
        "cloudtrail-fragment-createservice-cryptomining.json",
        "cloudtrail-fragment-registertaskdefinition-cryptomining.json",
    ],
)
def test_a_bare_cloudtrail_record_is_rejected_as_such(name: str) -> None:
    assert "bare CloudTrail record" in malformed(corpus_event(name))


@corpus
def test_every_corpus_event_gives_a_trigger_or_a_one_line_error() -> None:
    messages: dict[str, str] = {}
    for path in sorted(CORPUS_EVENTS.glob("*.json")):
        try:
            trigger = parse_trigger(read(path))
        except MalformedEventError as exc:
            messages[path.name] = str(exc)
        else:
            assert trigger.targets or trigger.ignored, path.name
    assert messages
    assert {name: m for name, m in messages.items() if "\n" in m or not m.strip()} == {}


# -- CloudTrail calls, shape by shape --------------------------------------------------------------------


class TestServiceCalls:
    def test_update_service_with_a_long_arn_takes_the_cluster_from_the_arn(self) -> None:
        event = cloudtrail("UpdateService", {"cluster": "elsewhere", "service": f"{ECS}:service/prod/web"})

        assert only_target(parse_trigger(event)) == ServiceTarget("prod", "web")

    @pytest.mark.parametrize(
        ("cluster", "expected"),
        [
            pytest.param("prod", "prod", id="request-cluster"),
            pytest.param(f"{ECS}:cluster/prod", "prod", id="request-cluster-arn"),
            pytest.param(None, "default", id="no-cluster"),
        ],
    )
    def test_update_service_with_a_short_arn_uses_the_request_cluster(
        self, cluster: str | None, expected: str
    ) -> None:
        params: dict[str, Any] = {"service": f"{ECS}:service/web"}
        if cluster is not None:
            params["cluster"] = cluster

        assert only_target(parse_trigger(cloudtrail("UpdateService", params))) == ServiceTarget(
            expected, "web"
        )

    def test_a_cluster_arn_becomes_its_name(self) -> None:
        event = cloudtrail("UpdateService", {"cluster": f"{ECS}:cluster/prod", "service": "web"})

        assert only_target(parse_trigger(event)) == ServiceTarget("prod", "web")

    def test_create_service_without_cluster_is_in_default(self) -> None:
        event = cloudtrail("CreateService", {"serviceName": "web", "taskDefinition": "web:1"})

        assert only_target(parse_trigger(event)) == ServiceTarget("default", "web")

    def test_create_service_with_a_cluster_arn(self) -> None:
        event = cloudtrail("CreateService", {"serviceName": "web", "cluster": f"{ECS}:cluster/prod"})

        assert only_target(parse_trigger(event)) == ServiceTarget("prod", "web")

    @pytest.mark.parametrize(
        ("call", "params"),
        [
            pytest.param("CreateService", {"cluster": "prod"}, id="create-without-name"),
            pytest.param("CreateService", {"serviceName": ""}, id="create-empty-name"),
            pytest.param("UpdateService", {"cluster": "prod"}, id="update-without-service"),
            pytest.param("UpdateService", None, id="update-without-parameters"),
            pytest.param("TagResource", {"tags": []}, id="tag-without-arn"),
            pytest.param("TagResource", {"resourceArn": "web"}, id="tag-not-an-arn"),
            pytest.param(
                "RegisterTaskDefinition", {"containerDefinitions": []}, id="register-without-family"
            ),
        ],
    )
    def test_missing_request_parameters_are_malformed(self, call: str, params: Any) -> None:
        message = malformed(cloudtrail(call, params))

        assert call in message
        assert "requestParameters" in message


class TestTagResource:
    def test_on_a_service_arn(self) -> None:
        event = cloudtrail("TagResource", {"resourceArn": f"{ECS}:service/prod/web", "tags": []})

        assert only_target(parse_trigger(event)) == ServiceTarget("prod", "web")

    def test_on_a_cluster_arn_targets_the_cluster(self) -> None:
        event = cloudtrail(
            "TagResource",
            {"resourceArn": f"{ECS}:cluster/prod", "tags": [{"key": "tracing-sidecar", "value": "jaeger"}]},
        )

        assert only_target(parse_trigger(event)) == ClusterTarget("prod")

    def test_on_a_task_definition_arn_targets_it_with_the_request_tags(self) -> None:
        arn = f"{ECS}:task-definition/web:3"
        event = cloudtrail(
            "TagResource", {"resourceArn": arn, "tags": [{"key": "tracing-sidecar", "value": "required"}]}
        )

        assert only_target(parse_trigger(event)) == TaskDefinitionTarget(arn, {"tracing-sidecar": "required"})

    @pytest.mark.parametrize(
        "arn",
        [
            f"{ECS}:capacity-provider/spot",
            f"{ECS}:task/prod/0123456789abcdef",
            f"{ECS}:container-instance/prod/1",
        ],
    )
    def test_on_another_resource_is_ignored(self, arn: str) -> None:
        trigger = parse_trigger(cloudtrail("TagResource", {"resourceArn": arn, "tags": []}))

        assert trigger.targets == ()
        assert trigger.ignored


class TestRegisterTaskDefinition:
    @pytest.mark.parametrize(
        "response",
        [
            pytest.param({"omitted": True}, id="omitted"),
            pytest.param(None, id="null"),
            pytest.param({"taskDefinition": {"taskDefinitionArn": "not-an-arn"}}, id="junk-arn"),
        ],
    )
    def test_without_a_usable_response_the_target_is_the_family(self, response: Any) -> None:
        event = cloudtrail("RegisterTaskDefinition", {"family": "web", "tags": []}, responseElements=response)

        assert only_target(parse_trigger(event)) == TaskDefinitionTarget("web", {})

    def test_with_an_arn_in_the_response_the_target_is_still_the_family(self) -> None:
        # Not the response's ARN: responseElements is untrusted, and the family's latest ACTIVE
        # revision is the one to enforce.
        arn = f"{ECS}:task-definition/web:4"
        event = cloudtrail(
            "RegisterTaskDefinition",
            {"family": "web", "tags": [{"Key": "tracing-sidecar", "Value": "jaeger"}]},
            responseElements={"taskDefinition": {"taskDefinitionArn": arn, "revision": 4}},
        )

        target = only_target(parse_trigger(event))

        assert target == TaskDefinitionTarget("web", {"tracing-sidecar": "jaeger"})


class TestCallerAndFilters:
    def test_caller_arns_are_read_from_user_identity(self) -> None:
        trigger = parse_trigger(cloudtrail("UpdateService", {"service": "web"}))

        assert trigger.caller_arn == CALLER
        assert trigger.caller_role_arn == CALLER_ROLE

    def test_an_iam_user_has_no_role(self) -> None:
        event = cloudtrail("UpdateService", {"service": "web"})
        event["detail"]["userIdentity"] = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/jdoe"}

        trigger = parse_trigger(event)

        assert trigger.caller_arn == f"arn:aws:iam::{ACCOUNT}:user/jdoe"
        assert trigger.caller_role_arn is None

    def test_no_user_identity_means_no_caller(self) -> None:
        event = cloudtrail("UpdateService", {"service": "web"})
        del event["detail"]["userIdentity"]

        trigger = parse_trigger(event)

        assert trigger.caller_arn is None
        assert trigger.caller_role_arn is None

    def test_a_failed_call_is_ignored(self) -> None:
        event = cloudtrail(
            "UpdateService", {"service": "web"}, errorCode="AccessDenied", errorMessage="not allowed"
        )

        trigger = parse_trigger(event)

        assert trigger.targets == ()
        assert trigger.ignored is not None
        assert "AccessDenied" in trigger.ignored

    def test_an_unsupported_ecs_call_is_ignored(self) -> None:
        trigger = parse_trigger(cloudtrail("DeleteService", {"service": "web"}))

        assert trigger.targets == ()
        assert trigger.ignored

    def test_tag_resource_records_the_keys_it_set(self) -> None:
        event = cloudtrail(
            "TagResource",
            {"resourceArn": f"{ECS}:cluster/prod", "tags": [{"key": "owner", "value": "x"}, {"key": "cc"}]},
        )

        assert parse_trigger(event).tag_keys == frozenset({"owner", "cc"})


# -- an event acts only where it happened -----------------------------------------------------------------

OTHER_ACCOUNT = "arn:aws:ecs:us-east-1:999999999999"
OTHER_REGION = f"arn:aws:ecs:eu-west-1:{ACCOUNT}"
OTHER_PARTITION = f"arn:aws-cn:ecs:us-east-1:{ACCOUNT}"


class TestEventsActOnlyWhereTheySay:
    """An ARN's account, region and partition are where the event acts: a service named by an ARN of
    elsewhere is not looked up by its name in the envelope's account and region (a same-named
    service there stays untouched), and an invalid region is malformed, not a client that fails to
    build."""

    @pytest.mark.parametrize("account", ["", "12345", "abcdefghijkl", "1234567890123"])
    def test_an_invalid_account_is_malformed(self, account: str) -> None:
        event = cloudtrail("UpdateService", {"service": "web"})
        event["account"] = account

        assert "12-digit AWS account id" in malformed(event)

    @pytest.mark.parametrize("region", ["", "not a region", "US-EAST-1", "xx-fake-9", "us-east-1; rm"])
    def test_an_invalid_region_is_malformed(self, region: str) -> None:
        event = deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", [f"{ECS}:service/prod/web"])
        event["region"] = region

        assert "is not an AWS region" in malformed(event)

    @pytest.mark.parametrize(
        "region",
        ["cn-north-1", "us-gov-west-1", "eu-central-1", "ap-southeast-7", "eusc-de-east-1", "us-isob-east-1"],
    )
    def test_regions_of_every_partition_are_understood(self, region: str) -> None:
        partition = {
            "cn-north-1": "aws-cn",
            "us-gov-west-1": "aws-us-gov",
            "eusc-de-east-1": "aws-eusc",
            "us-isob-east-1": "aws-iso-b",
        }.get(region, "aws")
        arn = f"arn:{partition}:ecs:{region}:{ACCOUNT}:service/prod/web"
        event = deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", [arn])
        event["region"] = region

        trigger = parse_trigger(event)

        assert (trigger.partition, trigger.region) == (partition, region)

    def test_a_record_region_other_than_the_envelope_s_is_malformed(self) -> None:
        event = cloudtrail("UpdateService", {"service": "web"}, awsRegion="eu-central-1")

        assert "detail.awsRegion 'eu-central-1' disagrees with the event's region us-east-1" in malformed(
            event
        )

    @pytest.mark.parametrize("elsewhere", [OTHER_ACCOUNT, OTHER_REGION, OTHER_PARTITION])
    @pytest.mark.parametrize(
        ("call", "params"),
        [
            pytest.param("UpdateService", lambda e: {"service": f"{e}:service/prod/web"}, id="service"),
            pytest.param(
                "UpdateService", lambda e: {"cluster": f"{e}:cluster/prod", "service": "web"}, id="cluster"
            ),
            pytest.param(
                "CreateService", lambda e: {"serviceName": "web", "cluster": f"{e}:cluster/prod"}, id="create"
            ),
            pytest.param(
                "CreateService",
                lambda e: {"serviceName": "web", "taskDefinition": f"{e}:task-definition/web:1"},
                id="task-definition",
            ),
            pytest.param(
                "TagResource", lambda e: {"resourceArn": f"{e}:cluster/prod", "tags": []}, id="tagged"
            ),
        ],
    )
    def test_an_arn_of_another_place_in_the_request_is_malformed(
        self, call: str, params: Any, elsewhere: str
    ) -> None:
        message = malformed(cloudtrail(call, params(elsewhere)))

        assert "requestParameters." in message
        assert "an event acts only where it happened" in message

    @pytest.mark.parametrize("elsewhere", [OTHER_ACCOUNT, OTHER_REGION, OTHER_PARTITION])
    def test_a_deployment_of_a_service_elsewhere_is_malformed(self, elsewhere: str) -> None:
        message = malformed(deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", [f"{elsewhere}:service/prod/web"]))

        assert message.startswith("resources[] ")

    def test_resources_of_a_cloudtrail_event_are_checked_too(self) -> None:
        event = cloudtrail("UpdateService", {"service": "web"})
        event["resources"] = [f"{OTHER_REGION}:service/prod/web"]

        assert "region 'eu-west-1', not us-east-1" in malformed(event)

    def test_a_global_caller_arn_is_not_a_place(self) -> None:
        # userIdentity names who called (an IAM role has no region), not where the call acted
        event = cloudtrail("UpdateService", {"service": "web", "cluster": "prod"})
        event["resources"] = [f"arn:aws:iam::{ACCOUNT}:role/deploy"]

        assert only_target(parse_trigger(event)) == ServiceTarget("prod", "web")

    @pytest.mark.parametrize(
        ("call", "params"),
        [
            pytest.param("UpdateService", {"service": "w" * 300_000}, id="huge-service"),
            pytest.param("UpdateService", {"service": "web", "cluster": "prod/../x"}, id="cluster-path"),
            pytest.param("CreateService", {"serviceName": "web app"}, id="space"),
            pytest.param("RegisterTaskDefinition", {"family": "f" * 256}, id="long-family"),
        ],
    )
    def test_a_name_ecs_could_not_have_accepted_is_malformed_in_one_short_line(
        self, call: str, params: dict[str, Any]
    ) -> None:
        message = malformed(cloudtrail(call, params))

        assert "is not one ECS accepts" in message
        assert len(message) < 300


class TestDeploymentEvents:
    def test_in_progress_with_a_short_service_arn_is_in_default(self) -> None:
        trigger = parse_trigger(deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", [f"{ECS}:service/web"]))

        assert only_target(trigger) == ServiceTarget("default", "web")

    @pytest.mark.parametrize(
        "resources", [[], [f"{ECS}:cluster/prod"], ["servicetest"]], ids=["none", "cluster", "not-an-arn"]
    )
    def test_in_progress_without_a_service_arn_is_malformed(self, resources: list[str]) -> None:
        assert "resources[0]" in malformed(deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", resources))


class TestMalformedEnvelopes:
    @pytest.mark.parametrize(
        "event",
        [
            pytest.param([], id="a-list"),
            pytest.param("event", id="a-string"),
            pytest.param(None, id="null"),
            pytest.param({}, id="empty"),
            pytest.param({"detail-type": "Scheduled Event", "source": "aws.events"}, id="partial-envelope"),
        ],
    )
    def test_not_an_eventbridge_event(self, event: Any) -> None:
        malformed(event)

    def test_a_cloudtrail_event_without_event_source(self) -> None:
        event = cloudtrail("UpdateService", {"service": "web"})
        del event["detail"]["eventSource"]

        assert "eventSource" in malformed(event)

    def test_a_deployment_event_without_event_name(self) -> None:
        event = deployment("SERVICE_DEPLOYMENT_IN_PROGRESS", [f"{ECS}:service/prod/web"])
        del event["detail"]["eventName"]

        assert "eventName" in malformed(event)

    def test_a_scheduled_event_is_an_unsupported_detail_type(self) -> None:
        event = copy.deepcopy(deployment("X", []))
        event["detail-type"] = "Scheduled Event"
        event["detail"] = {}

        assert "unsupported detail-type" in malformed(event)
