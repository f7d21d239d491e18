"""The functions (router, then worker, through the SQS FIFO work queue) on the sample events, against
moto in process."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from sidecar_enforcer.adapters.ecs import EcsGateway
from sidecar_enforcer.domain.planning.plan import MARKER_MANAGED_BY, MARKER_PROFILE, MARKER_SOURCE
from sidecar_enforcer.errors import AwsError, EnforcementFailedError, MalformedEventError
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.local import Pipeline, lambda_context

from .conftest import ACCOUNT, Aws, Inbox, event

NEXUS = "nexus-ai-api-prod"
JAEGER = builtin_profiles()["jaeger"]


def service(aws: Aws, name: str) -> dict[str, Any]:
    found: dict[str, Any] = aws.ecs.describe_services(
        cluster=fleet.CLUSTER, services=[name], include=["TAGS"]
    )["services"][0]
    return found


def containers(aws: Aws, task_definition: str) -> list[str]:
    td = aws.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return [c["name"] for c in td["containerDefinitions"]]


def revisions(aws: Aws, family: str) -> list[str]:
    arns: list[str] = aws.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    return [a for a in arns if a.split("/")[-1].split(":")[0] == family]


def test_update_service_event_remediates_and_reports(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    # Given the tagged Fargate API service runs a revision without Jaeger
    source = service(aws, NEXUS)["taskDefinition"]
    assert "jaeger" not in containers(aws, source)

    # When the deploy pipeline's UpdateService call comes through CloudTrail
    update = event("cloudtrail-updateservice.json")
    result = invoke(update)

    # Then the service runs a new revision: the old one plus the sidecar, marked as ours
    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    new = service(aws, NEXUS)["taskDefinition"]
    assert new == finding["newTaskDefinitionArn"] != source
    assert containers(aws, new) == ["api", "jaeger"]
    described = aws.ecs.describe_task_definition(taskDefinition=new, include=["TAGS"])
    tags = {t["key"]: t["value"] for t in described["tags"]}
    assert tags[MARKER_MANAGED_BY] == "sidecar-enforcer"
    assert tags[MARKER_SOURCE] == source
    assert tags[MARKER_PROFILE] == JAEGER.label
    api = described["taskDefinition"]["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in api["environment"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4317"
    assert env["DATABASE_PASSWORD"] == fleet.CANARY  # the user's environment is kept as it was
    assert {"containerName": "jaeger", "condition": "START"} in api["dependsOn"]
    # Every member of the source is carried over
    old_td = aws.ecs.describe_task_definition(taskDefinition=source)["taskDefinition"]
    for member in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "runtimePlatform"):
        assert described["taskDefinition"][member] == old_td[member]

    # And one status message, with attributes for filter policies
    (message,) = inbox.messages()
    assert message["body"]["status"] == "REMEDIATED"
    assert message["body"]["eventId"] == update["id"]
    assert message["body"]["sourceTaskDefinitionArn"] == source
    assert message["body"]["newTaskDefinitionArn"] == new
    assert message["attributes"] == {
        "status": "REMEDIATED",
        "account": ACCOUNT,
        "region": "us-east-1",
        "cluster": "shop-prod",
        "profile": "jaeger",
        "mode": "enforce",
    }


def test_applying_twice_changes_nothing_more(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    invoke(event("cloudtrail-updateservice.json"))
    after_first = service(aws, NEXUS)["taskDefinition"]

    result = invoke(event("cloudtrail-updateservice.json"))

    assert [f["status"] for f in result["findings"]] == ["COMPLIANT"]
    assert service(aws, NEXUS)["taskDefinition"] == after_first
    assert len(revisions(aws, "nexus-ai-api")) == 2


def test_the_same_event_delivered_twice_while_the_first_is_queued_is_queued_once(
    aws: Aws, app: Any, pipeline: Pipeline, inbox: Inbox, seeded: fleet.Fleet, table: str
) -> None:
    # EventBridge delivers at least once: the second delivery has the same event id, and the router
    # gives its item the same deduplication id, which the FIFO queue drops within 5 minutes
    update = event("cloudtrail-updateservice.json")
    first = app.router.lambda_handler(update, lambda_context())
    second = app.router.lambda_handler(update, lambda_context())

    drained = pipeline.drain()

    assert first["queued"] == second["queued"] == 1  # SQS answers a duplicate like any message
    assert drained.delivered == 1
    assert [f["status"] for f in drained.findings] == ["REMEDIATED"]
    assert len(revisions(aws, "nexus-ai-api")) == 2
    assert [m["body"]["status"] for m in inbox.messages()] == ["REMEDIATED"]


def test_a_duplicate_delivered_after_the_first_was_worked_on_registers_and_deploys_nothing_again(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    """AWS keeps a deduplication id for 5 minutes after its message is deleted ("Amazon SQS FIFO
    queue key terms" in the SQS developer guide), so a duplicate within 5 minutes queues nothing.
    moto 5.2 forgets it once the message is deleted, which is what a duplicate arriving after the 5
    minutes meets on AWS: the worker reads the service again and finds it compliant (a routine
    outcome: logged and counted, not published)."""
    update = event("cloudtrail-updateservice.json")
    first = invoke(update)
    deployment = service(aws, NEXUS)["deployments"][0]["id"]

    second = invoke(update)

    assert [f["status"] for f in first["findings"]] == ["REMEDIATED"]
    assert [f["status"] for f in second["findings"]] == ["COMPLIANT"]
    assert len(revisions(aws, "nexus-ai-api")) == 2
    assert service(aws, NEXUS)["deployments"][0]["id"] == deployment
    assert [m["body"]["status"] for m in inbox.messages()] == ["REMEDIATED"]


def test_the_result_names_the_router_s_request_and_what_was_queued_and_delivered(invoke: Any) -> None:
    result = invoke(event("cloudtrail-updateservice.json"))

    assert list(result) == ["eventId", "requestId", "queued", "delivered", "findings"]
    assert (result["queued"], result["delivered"]) == (1, 1)
    assert result["requestId"]


@pytest.mark.parametrize(
    "sample",
    [
        "cloudtrail-createservice.json",
        "cloudtrail-tagresource-service.json",
        "ecs-deployment-in-progress.json",
    ],
)
def test_every_service_trigger_remediates(aws: Aws, invoke: Any, inbox: Inbox, sample: str) -> None:
    result = invoke(event(sample))

    assert [f["status"] for f in result["findings"]] == ["REMEDIATED"]
    assert "jaeger" in containers(aws, service(aws, NEXUS)["taskDefinition"])


def test_registration_gets_a_compliant_revision_that_the_next_update_reuses(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    # Given a team registers a new revision of the family, tagged for Jaeger
    base = aws.ecs.describe_task_definition(taskDefinition=service(aws, NEXUS)["taskDefinition"])[
        "taskDefinition"
    ]
    request = {k: base[k] for k in ("family", "containerDefinitions", "cpu", "memory", "networkMode")}
    request["requiresCompatibilities"] = ["FARGATE"]
    user_revision = aws.ecs.register_task_definition(
        **request, tags=[{"key": "tracing-sidecar", "value": "jaeger"}]
    )["taskDefinition"]["taskDefinitionArn"]

    # When its RegisterTaskDefinition event arrives (responseElements omitted, as CloudTrail may do)
    registered = invoke(event("cloudtrail-registertaskdefinition.json"))

    # Then a compliant revision is registered right after it, and no service is touched
    (finding,) = registered["findings"]
    assert finding["status"] == "REMEDIATED"
    assert finding["sourceTaskDefinitionArn"] == user_revision
    compliant = finding["newTaskDefinitionArn"]
    assert "jaeger" in containers(aws, compliant)
    assert service(aws, NEXUS)["taskDefinition"] != compliant

    # When the pipeline then deploys the user's revision
    aws.ecs.update_service(cluster=fleet.CLUSTER, service=NEXUS, taskDefinition=user_revision)
    updated = invoke(event("cloudtrail-updateservice.json", taskDefinition=user_revision))

    # Then the enforcer deploys the compliant revision it registered earlier instead of another one
    (finding,) = updated["findings"]
    assert finding["status"] == "REMEDIATED"
    assert finding["newTaskDefinitionArn"] == compliant
    assert any("reuse" in c for c in finding["changes"])
    assert service(aws, NEXUS)["taskDefinition"] == compliant
    assert len(revisions(aws, "nexus-ai-api")) == 3  # seed, the user's, ours


def test_a_crash_between_register_and_update_is_finished_by_the_retry(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given UpdateService fails once, after RegisterTaskDefinition succeeded
    real_deploy = EcsGateway.deploy
    calls = {"n": 0}

    def flaky(self: EcsGateway, cluster: str, svc: str, arn: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise AwsError("UpdateService: ServerException: the request timed out")
        real_deploy(self, cluster, svc, arn)

    monkeypatch.setattr(EcsGateway, "deploy", flaky)

    # When the event is handled, the handler raises so Lambda retries (and finally dead-letters)
    with pytest.raises(EnforcementFailedError, match="timed out"):
        invoke(event("cloudtrail-updateservice.json"))
    assert [m["body"]["status"] for m in inbox.messages()] == ["FAILED"]

    # Then the retry reuses the registered revision and redeploys: exactly one new revision in all
    result = invoke(event("cloudtrail-updateservice.json"))
    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert len(revisions(aws, "nexus-ai-api")) == 2
    assert service(aws, NEXUS)["taskDefinition"] == finding["newTaskDefinitionArn"]


def test_code_deploy_service_is_skipped_with_its_reason(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    before = service(aws, "payments-legacy")["taskDefinition"]

    result = invoke(event("cloudtrail-updateservice-codedeploy.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "SKIPPED"
    assert "CODE_DEPLOY" in finding["reasons"][0]
    assert service(aws, "payments-legacy")["taskDefinition"] == before
    assert len(revisions(aws, "payments-legacy")) == 1


def test_untagged_service_is_left_alone(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    before = service(aws, "billing-worker")["taskDefinition"]

    result = invoke(event("cloudtrail-updateservice.json", service="billing-worker"))

    assert [f["status"] for f in result["findings"]] == ["NOT_OPTED_IN"]
    assert service(aws, "billing-worker")["taskDefinition"] == before
    assert len(revisions(aws, "billing-worker")) == 1


def test_cluster_tag_opts_in_every_service_unless_one_opts_out(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    # Given the cluster is tagged, and one service opts out with its own tag
    cluster_arn = aws.ecs.describe_clusters(clusters=[fleet.CLUSTER])["clusters"][0]["clusterArn"]
    aws.ecs.tag_resource(resourceArn=cluster_arn, tags=[{"key": "tracing-sidecar", "value": "required"}])
    nexus_arn = service(aws, NEXUS)["serviceArn"]
    aws.ecs.tag_resource(resourceArn=nexus_arn, tags=[{"key": "tracing-sidecar", "value": "exempt"}])
    nexus_before = service(aws, NEXUS)["taskDefinition"]

    # When the cluster's TagResource event arrives
    tagged = copy.deepcopy(event("cloudtrail-tagresource-service.json"))
    tagged["detail"]["requestParameters"]["resourceArn"] = cluster_arn
    result = invoke(tagged)

    # Then every service of the cluster is looked at
    status = {f["service"]: f["status"] for f in result["findings"]}
    assert status == {
        "billing-worker": "REMEDIATED",  # opted in by its cluster
        NEXUS: "NOT_OPTED_IN",  # its own tag wins
        "search-gateway": "COMPLIANT",
        "payments-legacy": "SKIPPED",
        "checkout-web": "REMEDIATED",  # grown to 512 CPU units / 1024 MiB
        "catalog-search": "DRIFTED",  # Jaeger v1 by hand; the default policy does not upgrade
    }
    assert "jaeger" in containers(aws, service(aws, "billing-worker")["taskDefinition"])
    assert service(aws, NEXUS)["taskDefinition"] == nexus_before


def test_the_enforcers_own_calls_are_ignored(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    # Given CloudTrail hands back an UpdateService call made by the enforcer's own identity
    own = event("cloudtrail-updateservice.json")
    own["detail"]["userIdentity"] = {"type": "IAMUser", "arn": aws.sts.get_caller_identity()["Arn"]}
    before = service(aws, NEXUS)["taskDefinition"]

    result = invoke(own)

    assert [f["status"] for f in result["findings"]] == ["IGNORED"]
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert inbox.messages() == []


def test_audit_mode_reports_the_plan_and_changes_nothing(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENFORCEMENT_MODE", "audit")
    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "NONCOMPLIANT"
    assert any("add container 'jaeger'" in c for c in finding["changes"])
    assert len(revisions(aws, "nexus-ai-api")) == 1
    assert inbox.messages()[0]["attributes"]["status"] == "NONCOMPLIANT"


def test_an_unknown_profile_is_refused_naming_the_known_ones(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    aws.ecs.tag_resource(
        resourceArn=service(aws, NEXUS)["serviceArn"], tags=[{"key": "tracing-sidecar", "value": "zipkin"}]
    )

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["status"] == "REFUSED"
    assert "zipkin" in finding["reasons"][0]
    assert "jaeger" in finding["reasons"][0]


def test_an_event_from_another_account_is_looked_at_there_never_in_the_hub(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    # The member account 210987654321 has no such cluster; the hub has one of the same name, which
    # is not the event's (test_cross_account.py enforces a member's own services).
    foreign = event("cloudtrail-updateservice.json")
    foreign["account"] = "210987654321"
    before = service(aws, NEXUS)["taskDefinition"]

    (finding,) = invoke(foreign)["findings"]

    assert (finding["status"], finding["account"]) == ("SKIPPED", "210987654321")
    assert finding["reasons"] == ["DescribeServices: ClusterNotFoundException: Cluster not found."]
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert len(revisions(aws, "nexus-ai-api")) == 1


def test_a_deleted_service_is_skipped_not_crashed(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    (finding,) = invoke(event("cloudtrail-updateservice.json", service="no-such-service"))["findings"]

    assert finding["status"] == "SKIPPED"


def test_a_malformed_event_raises_a_one_line_error_and_changes_nothing(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    before = service(aws, NEXUS)["taskDefinition"]
    bad = event("malformed-updateservice-without-service.json")
    original = copy.deepcopy(bad)

    with pytest.raises(MalformedEventError) as raised:
        invoke(bad)

    assert "\n" not in str(raised.value)
    assert "service" in str(raised.value)
    assert bad == original  # Lambda hands this same event to the dead-letter destination
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert inbox.messages() == []


def test_no_environment_value_reaches_logs_results_or_messages(
    aws: Aws, invoke: Any, inbox: Inbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the app container carries a canary environment value, and a second service that will be
    # refused also carries it (in a member RegisterTaskDefinition rejects)
    caplog.set_level(logging.DEBUG)
    results = [
        invoke(event("cloudtrail-updateservice.json")),
        invoke(event("cloudtrail-updateservice.json")),
        invoke(event("ecs-deployment-in-progress.json")),
    ]
    with pytest.raises(MalformedEventError):
        invoke(event("malformed-updateservice-without-service.json"))

    printed = capsys.readouterr()
    everything = "\n".join(
        [printed.out, printed.err, caplog.text, repr(results), *(m["raw"] for m in inbox.messages())]
    )
    assert "REMEDIATED" in everything  # the capture did see the run
    assert fleet.CANARY not in everything


def test_a_service_moved_to_the_compliant_revision_meanwhile_is_not_deployed_again(
    aws: Aws, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the enforcer added the sidecar once, and the pipeline then reverted the service
    source = service(aws, NEXUS)["taskDefinition"]
    compliant = invoke(event("cloudtrail-updateservice.json"))["findings"][0]["newTaskDefinitionArn"]
    aws.ecs.update_service(cluster=fleet.CLUSTER, service=NEXUS, taskDefinition=source)
    # ...and while the next event is handled, something else deploys the compliant revision
    # between this invocation's first look at the service and its second, under the lease
    real_describe, real_deploy = EcsGateway.describe_service, EcsGateway.deploy
    looks: list[str] = []
    deploys: list[str] = []

    def describe(self: EcsGateway, cluster: str, name: str) -> Any:
        looks.append(name)
        if len(looks) == 2:
            aws.ecs.update_service(cluster=fleet.CLUSTER, service=NEXUS, taskDefinition=compliant)
        return real_describe(self, cluster, name)

    def deploy(self: EcsGateway, cluster: str, name: str, arn: str) -> str | None:
        deploys.append(arn)
        return real_deploy(self, cluster, name, arn)

    monkeypatch.setattr(EcsGateway, "describe_service", describe)
    monkeypatch.setattr(EcsGateway, "deploy", deploy)

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    # Then the decision is made on what the service runs under the lease: nothing to deploy
    assert len(looks) == 2
    assert finding["status"] == "COMPLIANT"
    assert deploys == []
    assert service(aws, NEXUS)["taskDefinition"] == compliant


def test_a_reverted_service_is_deployed_again_with_the_recorded_revision(aws: Aws, invoke: Any) -> None:
    source = service(aws, NEXUS)["taskDefinition"]
    compliant = invoke(event("cloudtrail-updateservice.json"))["findings"][0]["newTaskDefinitionArn"]
    aws.ecs.update_service(cluster=fleet.CLUSTER, service=NEXUS, taskDefinition=source)

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["newTaskDefinitionArn"] == compliant
    assert "service: UpdateService with forceNewDeployment" in finding["changes"]
    assert service(aws, NEXUS)["taskDefinition"] == compliant
    assert len(revisions(aws, "nexus-ai-api")) == 2


def test_a_service_tagged_for_audit_is_reported_not_changed(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    arn = service(aws, NEXUS)["serviceArn"]
    aws.ecs.tag_resource(resourceArn=arn, tags=[{"key": "tracing-sidecar", "value": "jaeger:audit"}])
    before = service(aws, NEXUS)["taskDefinition"]

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["status"] == "NONCOMPLIANT"
    assert finding["mode"] == "audit"
    assert any("add container 'jaeger'" in c for c in finding["changes"])
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert len(revisions(aws, "nexus-ai-api")) == 1
    assert [m["body"]["status"] for m in inbox.messages()] == ["NONCOMPLIANT"]
