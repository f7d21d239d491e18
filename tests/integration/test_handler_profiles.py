"""The enforcer handler with the other profiles and policies: Fargate growth, drift upgrades, adot with
its task-role check, custom profiles from SSM. moto in process; settings come from the environment,
read when the handler builds its enforcer (on the first invocation)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3
import pytest
from sidecar_enforcer.adapters.iam import TaskRoleChecker
from sidecar_enforcer.errors import AccessDeniedError
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet

from ..conftest import ROOT
from .conftest import ACCOUNT, Aws, Inbox, event

NEXUS = "nexus-ai-api-prod"
NEXUS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nexus-ai-api-task"
JAEGER = builtin_profiles()["jaeger"]
ADOT = builtin_profiles()["adot"]
EXAMPLE_PARAMETERS: dict[str, dict[str, str]] = json.loads(
    (ROOT / "examples" / "policy.json").read_text(encoding="utf-8")
)["parameters"]
AMP_ARN = EXAMPLE_PARAMETERS["adot"]["AMP_WORKSPACE_ARN"]
SSM_PATH = "/sidecar-enforcer/profiles"
LITE_IMAGE = "cr.jaegertracing.io/jaegertracing/jaeger:2.20.0"


def service(aws: Aws, name: str) -> dict[str, Any]:
    found: dict[str, Any] = aws.ecs.describe_services(
        cluster=fleet.CLUSTER, services=[name], include=["TAGS"]
    )["services"][0]
    return found


def task_definition(aws: Aws, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = aws.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return found


def container(aws: Aws, arn: str, name: str) -> dict[str, Any]:
    return next(c for c in task_definition(aws, arn)["containerDefinitions"] if c["name"] == name)


def revisions(aws: Aws, family: str) -> list[str]:
    arns: list[str] = aws.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    return [a for a in arns if a.split("/")[-1].split(":")[0] == family]


def update_service(name: str, family: str) -> dict[str, Any]:
    return event("cloudtrail-updateservice.json", service=name, taskDefinition=f"{family}:1")


def retag(aws: Aws, name: str, profile: str) -> None:
    aws.ecs.tag_resource(
        resourceArn=service(aws, name)["serviceArn"], tags=[{"key": "tracing-sidecar", "value": profile}]
    )


def assert_no_canary(result: dict[str, Any], inbox: Inbox) -> list[dict[str, Any]]:
    """No environment value in the returned findings nor in any status message; returns the messages."""
    messages = inbox.messages()
    assert messages
    assert fleet.CANARY not in json.dumps(result)
    for message in messages:
        assert fleet.CANARY not in message["raw"]
    return messages


# -- Fargate growth -------------------------------------------------------------------------------------


def test_a_fargate_task_too_small_grows_and_the_message_says_so(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    # Given checkout-web runs 256 CPU units / 512 MiB and its app reserves all the CPU
    source = service(aws, "checkout-web")["taskDefinition"]

    result = invoke(update_service("checkout-web", "checkout-web"))

    # Then the new revision holds the sidecar at the next valid Fargate size
    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    new = finding["newTaskDefinitionArn"]
    assert service(aws, "checkout-web")["taskDefinition"] == new != source
    described = task_definition(aws, new)
    assert (described["cpu"], described["memory"]) == ("512", "1024")
    assert [c["name"] for c in described["containerDefinitions"]] == ["web", "jaeger"]
    assert (finding["oldTaskSize"], finding["newTaskSize"]) == (
        "256 CPU units / 512 MiB",
        "512 CPU units / 1024 MiB",
    )
    (message,) = inbox.messages()
    assert message["body"]["oldTaskSize"] == "256 CPU units / 512 MiB"
    assert message["body"]["newTaskSize"] == "512 CPU units / 1024 MiB"
    assert any("task size" in c for c in message["body"]["changes"])


# -- drift: catalog-search runs Jaeger v1 under the name 'jaeger' ---------------------------------------


def test_a_drifted_sidecar_is_upgraded_when_the_policy_says_so(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPGRADE_DRIFTED", "true")
    source = service(aws, "catalog-search")["taskDefinition"]

    result = invoke(update_service("catalog-search", "catalog-search"))

    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert any("jaegertracing/all-in-one:1.57" in r for r in finding["reasons"])
    assert any("upgrade container 'jaeger'" in c for c in finding["changes"])
    new = finding["newTaskDefinitionArn"]
    assert service(aws, "catalog-search")["taskDefinition"] == new != source
    names = [c["name"] for c in task_definition(aws, new)["containerDefinitions"]]
    assert names == ["search", "jaeger"]  # replaced in place, no second sidecar
    jaeger = container(aws, new, "jaeger")
    assert jaeger["image"] == JAEGER.image
    assert {"name": "COLLECTOR_OTLP_ENABLED", "value": "true"} in jaeger["environment"]
    assert not jaeger.get("portMappings")  # the profile maps none: apps reach it on localhost (moto: [])
    search = container(aws, new, "search")
    assert {"containerName": "jaeger", "condition": "START"} in search["dependsOn"]
    assert [m["body"]["status"] for m in inbox.messages()] == ["REMEDIATED"]

    # And the next event finds it compliant
    (again,) = invoke(update_service("catalog-search", "catalog-search"))["findings"]
    assert again["status"] == "COMPLIANT"
    assert len(revisions(aws, "catalog-search")) == 2


def test_a_drifted_sidecar_is_only_reported_by_default(aws: Aws, invoke: Any, inbox: Inbox) -> None:
    source = service(aws, "catalog-search")["taskDefinition"]

    (finding,) = invoke(update_service("catalog-search", "catalog-search"))["findings"]

    assert finding["status"] == "DRIFTED"
    assert "newTaskDefinitionArn" not in finding
    assert any("does not upgrade" in r for r in finding["reasons"])
    assert finding["changes"] == []
    assert service(aws, "catalog-search")["taskDefinition"] == source
    assert len(revisions(aws, "catalog-search")) == 1
    assert [m["attributes"]["status"] for m in inbox.messages()] == ["DRIFTED"]


def test_in_audit_mode_an_upgrade_is_reported_with_its_changes_and_not_made(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPGRADE_DRIFTED", "true")
    monkeypatch.setenv("ENFORCEMENT_MODE", "audit")
    source = service(aws, "catalog-search")["taskDefinition"]

    (finding,) = invoke(update_service("catalog-search", "catalog-search"))["findings"]

    assert finding["status"] == "DRIFTED"
    assert finding["mode"] == "audit"
    assert any("upgrade container 'jaeger'" in c for c in finding["changes"])
    assert "newTaskDefinitionArn" not in finding
    assert service(aws, "catalog-search")["taskDefinition"] == source
    assert len(revisions(aws, "catalog-search")) == 1
    (message,) = inbox.messages()
    assert message["body"]["status"] == "DRIFTED"
    assert message["body"]["changes"] == finding["changes"]


def test_a_drifted_sidecar_of_a_code_deploy_service_is_skipped_not_upgraded(
    aws: Aws, invoke: Any, inbox: Inbox, seeded: fleet.Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a CODE_DEPLOY service running Jaeger v1 by hand, and upgrades on
    monkeypatch.setenv("UPGRADE_DRIFTED", "true")
    network = service(aws, "catalog-search")["networkConfiguration"]
    aws.ecs.create_service(
        cluster=fleet.CLUSTER,
        serviceName="catalog-bluegreen",
        taskDefinition=seeded.services["catalog-search"],
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
        deploymentController={"type": "CODE_DEPLOY"},
        tags=[{"key": "tracing-sidecar", "value": "jaeger"}],
    )

    (finding,) = invoke(update_service("catalog-bluegreen", "catalog-search"))["findings"]

    # Then, as for a missing sidecar, nothing is registered and the reason names the controller
    assert finding["status"] == "SKIPPED"
    assert "CODE_DEPLOY" in finding["reasons"][0]
    assert len(revisions(aws, "catalog-search")) == 1


# -- adot: parameters from policy, the task role checked with IAM's simulator ---------------------------


@pytest.fixture
def adot_service(aws: Aws, seeded: fleet.Fleet, monkeypatch: pytest.MonkeyPatch) -> str:
    """nexus-ai-api-prod asks for adot; the policy holds the adot parameters."""
    retag(aws, NEXUS, "adot")
    monkeypatch.setenv("PROFILE_PARAMETERS", json.dumps({"adot": EXAMPLE_PARAMETERS["adot"]}))
    return NEXUS


@pytest.fixture
def role_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[tuple[str, str]]]]:
    """moto has no iam:SimulatePrincipalPolicy: the checker denies every aps action it is asked about."""
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def missing(self: TaskRoleChecker, role_arn: str, permissions: Sequence[tuple[str, str]]) -> list[str]:
        calls.append((role_arn, list(permissions)))
        return [f"{a} on {r} (implicitDeny)" for a, r in permissions if a.startswith("aps:")]

    monkeypatch.setattr(TaskRoleChecker, "missing", missing)
    return calls


def test_adot_is_added_with_its_parameters_and_the_task_role_gaps_are_warned(
    aws: Aws, invoke: Any, inbox: Inbox, adot_service: str, role_checks: list[Any]
) -> None:
    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert finding["profile"] == "adot"
    new = finding["newTaskDefinitionArn"]
    assert service(aws, NEXUS)["taskDefinition"] == new
    collector = container(aws, new, "aws-otel-collector")
    assert collector["image"] == ADOT.image
    assert collector["command"] == ["--config=/etc/ecs/ecs-amp-xray.yaml"]
    assert not collector.get("portMappings")
    collector_env = {e["name"]: e["value"] for e in collector["environment"]}
    assert collector_env == {"AWS_PROMETHEUS_ENDPOINT": EXAMPLE_PARAMETERS["adot"]["AWS_PROMETHEUS_ENDPOINT"]}
    api = container(aws, new, "api")
    assert {"name": "DATABASE_PASSWORD", "value": fleet.CANARY} in api["environment"]  # kept, not shown
    # The task role was checked for what the sidecar needs
    ((role, permissions),) = role_checks
    assert role == NEXUS_ROLE
    assert ("aps:RemoteWrite", AMP_ARN) in permissions
    assert ("xray:PutTraceSegments", "*") in permissions
    (warning,) = finding["warnings"]
    assert NEXUS_ROLE in warning
    assert "aps:RemoteWrite" in warning
    assert "adot sidecar" in warning
    (message,) = assert_no_canary(result, inbox)
    assert message["body"]["warnings"] == finding["warnings"]
    assert message["attributes"]["profile"] == "adot"


def test_a_task_role_check_that_fails_is_a_warning_not_a_stop(
    aws: Aws, invoke: Any, inbox: Inbox, adot_service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: TaskRoleChecker, role_arn: str, permissions: Sequence[tuple[str, str]]) -> list[str]:
        raise AccessDeniedError("SimulatePrincipalPolicy: AccessDenied: not authorized")

    monkeypatch.setattr(TaskRoleChecker, "missing", denied)

    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert any(
        c["name"] == "aws-otel-collector"
        for c in task_definition(aws, finding["newTaskDefinitionArn"])["containerDefinitions"]
    )
    (warning,) = finding["warnings"]
    assert warning.startswith("could not check the task role's permissions")
    assert "AccessDenied" in warning
    assert_no_canary(result, inbox)


def test_adot_without_its_parameters_is_refused_naming_the_parameter(
    aws: Aws, invoke: Any, inbox: Inbox, seeded: fleet.Fleet, role_checks: list[Any]
) -> None:
    retag(aws, NEXUS, "adot")

    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REFUSED"
    assert any("AWS_PROMETHEUS_ENDPOINT" in r for r in finding["reasons"])
    assert len(revisions(aws, "nexus-ai-api")) == 1
    assert role_checks == []  # a refused plan asks IAM nothing
    assert_no_canary(result, inbox)


# -- custom profiles from SSM Parameter Store -----------------------------------------------------------


@pytest.fixture
def ssm(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PROFILES_SSM_PATH", SSM_PATH)
    return boto3.session.Session(region_name="us-east-1").client("ssm")


def lite_document(**changes: Any) -> dict[str, Any]:
    """A small custom profile (standard SSM parameters hold at most 4 KB)."""
    document: dict[str, Any] = {
        "name": "jaeger-lite",
        "version": "1.0.0",
        "recognizes": ["jaegertracing/jaeger"],
        "logStreamPrefix": "jaeger-lite",
        "otlp": {"grpcPort": 4317, "httpPort": 4318},
        "container": {
            "name": "jaeger",
            "image": LITE_IMAGE,
            "essential": False,
            "cpu": 32,
            "memoryReservation": 64,
            "user": "10001",
        },
    }
    document.update(changes)
    return document


def test_a_custom_profile_from_ssm_is_used(aws: Aws, invoke: Any, inbox: Inbox, ssm: Any) -> None:
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger-lite", Value=json.dumps(lite_document()), Type="String")
    retag(aws, NEXUS, "jaeger-lite")

    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert (finding["profile"], finding["profileVersion"]) == ("jaeger-lite", "1.0.0")
    jaeger = container(aws, finding["newTaskDefinitionArn"], "jaeger")
    assert jaeger["image"] == LITE_IMAGE
    assert jaeger["user"] == "10001"
    assert_no_canary(result, inbox)


def test_an_invalid_ssm_document_replacing_jaeger_refuses_instead_of_falling_back(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any
) -> None:
    broken = lite_document(name="jaeger")
    broken["container"]["portMappings"] = [{"containerPort": "four-three-one-seven"}]
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger", Value=json.dumps(broken), Type="String")
    before = service(aws, NEXUS)["taskDefinition"]

    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REFUSED"
    assert finding["profile"] == "jaeger"
    (reason,) = finding["reasons"]
    assert f"ssm:{SSM_PATH}/jaeger" in reason
    assert "container.portMappings.0.containerPort" in reason
    assert "four-three-one-seven" not in reason
    assert JAEGER.image not in json.dumps(finding)
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert len(revisions(aws, "nexus-ai-api")) == 1
    assert_no_canary(result, inbox)


def test_an_invalid_ssm_document_leaves_the_other_profiles_working(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any
) -> None:
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger", Value="{not json", Type="String")
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger-lite", Value=json.dumps(lite_document()), Type="String")
    retag(aws, NEXUS, "jaeger-lite")

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["status"] == "REMEDIATED"
    assert container(aws, finding["newTaskDefinitionArn"], "jaeger")["image"] == LITE_IMAGE


# -- a custom document replacing a shipped profile says so in every status it makes ------------------


REPLACED = f"profile jaeger comes from ssm:{SSM_PATH}/jaeger, replacing the shipped one"


def test_an_ssm_document_replacing_jaeger_is_warned_in_the_status(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any
) -> None:
    ssm.put_parameter(
        Name=f"{SSM_PATH}/jaeger", Value=json.dumps(lite_document(name="jaeger")), Type="String"
    )
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger-lite", Value=json.dumps(lite_document()), Type="String")

    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert (finding["profile"], finding["profileVersion"]) == ("jaeger", "1.0.0")
    assert container(aws, finding["newTaskDefinitionArn"], "jaeger")["image"] == LITE_IMAGE
    assert finding["warnings"] == [REPLACED]
    (message,) = assert_no_canary(result, inbox)
    assert message["body"]["warnings"] == [REPLACED]

    # And the next status of the same service says so again
    (again,) = invoke(event("cloudtrail-updateservice.json"))["findings"]
    assert again["status"] == "COMPLIANT"
    assert again["warnings"] == [REPLACED]

    # A custom profile under a name of its own replaces nothing: no warning
    retag(aws, NEXUS, "jaeger-lite")
    (lite,) = invoke(event("cloudtrail-updateservice.json"))["findings"]
    assert (lite["status"], lite["profile"]) == ("COMPLIANT", "jaeger-lite")
    assert lite["warnings"] == []


def test_a_privileged_ssm_document_replacing_jaeger_is_refused_and_warned(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any
) -> None:
    document = lite_document(name="jaeger")
    document["container"]["privileged"] = True
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger", Value=json.dumps(document), Type="String")
    before = service(aws, NEXUS)["taskDefinition"]

    result = invoke(event("cloudtrail-updateservice.json"))

    (finding,) = result["findings"]
    assert finding["status"] == "REFUSED"
    (reason,) = finding["reasons"]
    assert reason.startswith("profile jaeger@1.0.0: container.privileged ")
    assert finding["warnings"] == [REPLACED]
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert len(revisions(aws, "nexus-ai-api")) == 1
    (message,) = assert_no_canary(result, inbox)
    assert message["body"]["warnings"] == [REPLACED]


def test_the_policy_allowance_lets_a_root_replacement_in(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = lite_document(name="jaeger")
    document["container"]["user"] = "0"
    ssm.put_parameter(Name=f"{SSM_PATH}/jaeger", Value=json.dumps(document), Type="String")
    monkeypatch.setenv("ALLOWED_PROFILE_MEMBERS", json.dumps({"jaeger": ["container.user"]}))

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["status"] == "REMEDIATED"
    assert container(aws, finding["newTaskDefinitionArn"], "jaeger")["user"] == "0"
    assert finding["warnings"] == [REPLACED]


def test_a_folder_document_replacing_jaeger_is_warned_with_its_path(
    aws: Aws, invoke: Any, inbox: Inbox, seeded: fleet.Fleet, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jaeger.json"
    path.write_text(json.dumps(lite_document(name="jaeger")), encoding="utf-8")
    monkeypatch.setenv("PROFILES_DIR", str(tmp_path))

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["status"] == "REMEDIATED"
    assert finding["warnings"] == [f"profile jaeger comes from {path}, replacing the shipped one"]


# -- a profile's name is its whole path under PROFILES_SSM_PATH ----------------------------------------


def test_a_deeper_ssm_document_never_stands_in_for_the_shipped_profile(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any
) -> None:
    # Given a document in a team's sub-path that calls itself jaeger, privileged
    document = lite_document(name="jaeger")
    document["container"]["privileged"] = True
    ssm.put_parameter(Name=f"{SSM_PATH}/team-a/jaeger", Value=json.dumps(document), Type="String")

    # When nexus-ai-api-prod (tagged jaeger) is enforced
    result = invoke(event("cloudtrail-updateservice.json"))

    # Then it gets the shipped jaeger: the deeper document is the profile "team-a/jaeger" (invalid)
    (finding,) = result["findings"]
    assert finding["status"] == "REMEDIATED"
    assert finding["warnings"] == []
    sidecar = container(aws, finding["newTaskDefinitionArn"], "jaeger")
    assert sidecar["image"] == JAEGER.image
    assert not sidecar.get("privileged")
    assert_no_canary(result, inbox)


def test_ssm_documents_resolving_to_one_name_are_both_refused_naming_both(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any
) -> None:
    # Given two parameters a tag cannot tell apart (tag values are read case-insensitively)
    for name in ("jaeger-lite", "Jaeger-Lite"):
        ssm.put_parameter(Name=f"{SSM_PATH}/{name}", Value=json.dumps(lite_document()), Type="String")
    retag(aws, NEXUS, "jaeger-lite")
    before = service(aws, NEXUS)["taskDefinition"]

    result = invoke(event("cloudtrail-updateservice.json"))

    # Then the service is refused, the status naming both parameters, and nothing changed
    (finding,) = result["findings"]
    assert finding["status"] == "REFUSED"
    (reason,) = finding["reasons"]
    assert f"ssm:{SSM_PATH}/Jaeger-Lite and ssm:{SSM_PATH}/jaeger-lite resolve to one profile name" in reason
    assert service(aws, NEXUS)["taskDefinition"] == before
    assert len(revisions(aws, "nexus-ai-api")) == 1
    (message,) = assert_no_canary(result, inbox)
    assert message["body"]["status"] == "REFUSED"
    assert f"ssm:{SSM_PATH}/jaeger-lite" in json.dumps(message["body"]["reasons"])


def test_a_folder_and_an_ssm_document_of_one_name_refuse_the_service(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jaeger.json").write_text(json.dumps(lite_document(name="jaeger")), encoding="utf-8")
    monkeypatch.setenv("PROFILES_DIR", str(tmp_path))
    ssm.put_parameter(
        Name=f"{SSM_PATH}/jaeger", Value=json.dumps(lite_document(name="jaeger")), Type="String"
    )

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert finding["status"] == "REFUSED"
    (reason,) = finding["reasons"]
    assert f"{tmp_path / 'jaeger.json'} and ssm:{SSM_PATH}/jaeger" in reason
