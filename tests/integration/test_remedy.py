"""A pipeline that keeps reverting the sidecar is told what to add: the FLAPPING status carries the
remedy (the container definition, the app container's additions, the Terraform and CloudFormation
snippets), published through SNS and valid against the schema, with no value of the service's own
task definition in any message. The real functions against moto in process."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet

from ._safety import PIPELINE, TERRAFORM, one, revert, service, update_by
from .conftest import Aws, Inbox, event


def test_a_flapping_status_carries_the_remedy_and_no_value_of_the_service(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MAX_REVERTS", "1")
    caplog.set_level(logging.INFO, logger="sidecar_enforcer")
    source = service(aws)["taskDefinition"]
    app = aws.ecs.describe_task_definition(taskDefinition=source)["taskDefinition"]["containerDefinitions"][0]
    assert {"name": "DATABASE_PASSWORD", "value": fleet.CANARY} in app["environment"]

    invoke(update_by(PIPELINE))
    revert(aws, source)
    invoke(update_by(TERRAFORM))
    revert(aws, source)
    flapping = one(invoke(update_by(TERRAFORM)))

    assert flapping["status"] == "FLAPPING"
    assert "the status's remedy holds its container definition" in flapping["reasons"][0]
    messages = inbox.messages()  # each one checked against schemas/status-v1.json
    assert [m["body"]["status"] for m in messages] == ["REMEDIATED", "REMEDIATED", "FLAPPING"]
    assert all("remedy" not in m["body"] for m in messages[:2])  # nothing to do: no remedy
    published = messages[2]["body"]
    assert published["schemaVersion"] == "1.2"
    remedy = published["remedy"]
    jaeger = builtin_profiles()["jaeger"]
    assert remedy["containerDefinitions"] == [dict(jaeger.container)]
    assert remedy["appContainers"] == [
        {
            "name": "api",
            "environment": [
                {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317"},
                {"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "grpc"},
            ],
            "dependsOn": [{"containerName": "jaeger", "condition": "START"}],
        }
    ]
    assert remedy["terraform"].startswith("# aws_ecs_task_definition: add this object")
    assert remedy["cloudformation"].startswith("# AWS::ECS::TaskDefinition: add this entry")
    assert remedy["steps"][0].startswith(f"add container 'jaeger' ({jaeger.image}")
    assert "leftOut" not in remedy
    # Nothing of the service's own task definition: not its values, nor its log group
    assert "/ecs/nexus-ai-api" not in json.dumps(remedy)
    for message in messages:
        assert fleet.CANARY not in message["raw"]
    logged = [r for r in caplog.records if r.name.startswith("sidecar_enforcer")]
    assert any(getattr(r, "finding", {}).get("remedy") for r in logged)  # the remedy is logged too
    assert all(fleet.CANARY not in json.dumps(getattr(r, "finding", None)) for r in logged)
    assert fleet.CANARY not in "".join(r.getMessage() for r in logged)


def test_a_service_another_controller_deploys_is_told_where_to_add_it_from_describe_services_alone(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    skipped = one(invoke(event("cloudtrail-updateservice.json", service="payments-legacy")))

    assert skipped["status"] == "SKIPPED"
    assert "CODE_DEPLOY" in skipped["reasons"][0]
    assert "`sidecar-enforcer plan` on that task definition says what to add" in skipped["reasons"][0]
    (message,) = inbox.messages()
    # Its task definition is not read (rule 1 answers first): no remedy made from it
    assert "remedy" not in message["body"]
    assert message["body"]["family"] == "payments-legacy"
