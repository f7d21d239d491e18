"""Builders for the unit tests: plain dicts shaped like real task definitions, no AWS."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sidecar_enforcer.profiles import builtin_profiles

JAEGER = builtin_profiles()["jaeger"]

ACCOUNT = "123456789012"
REGION = "eu-west-1"
SOURCE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/shop-api:7"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"

ROOT = Path(__file__).resolve().parents[2]
# The repository root is /work/main; the shared corpus ships beside it (/work/shared/corpus).
SHARED_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

OTEL_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"


def app(name: str = "app", image: str = "public.ecr.aws/nginx/nginx:1.27", **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
    }
    container.update(extra)
    return container


def fargate(
    *containers: dict[str, Any], cpu: str | None = "1024", memory: str | None = "2048", **extra: Any
) -> dict[str, Any]:
    """A DescribeTaskDefinition-shaped Fargate task (read-only members included)."""
    task: dict[str, Any] = {
        "taskDefinitionArn": SOURCE_ARN,
        "family": "shop-api",
        "revision": 7,
        "status": "ACTIVE",
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
        "registeredAt": "2026-11-01T10:00:00+00:00",
        "registeredBy": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": cpu,
        "memory": memory,
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": list(containers) or [app()],
    }
    task.update(extra)
    return task


def ec2(*containers: dict[str, Any], network_mode: str | None = "bridge", **extra: Any) -> dict[str, Any]:
    """An EC2 task; ``network_mode=None`` leaves networkMode out (ECS then uses bridge on Linux)."""
    task: dict[str, Any] = {
        "family": "legacy-web",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": list(containers) or [app(memoryReservation=256)],
    }
    if network_mode is not None:
        task["networkMode"] = network_mode
    task.update(extra)
    return task


def awslogs(group: str = "/ecs/shop-api", region: str = REGION, prefix: str = "app") -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {"awslogs-group": group, "awslogs-region": region, "awslogs-stream-prefix": prefix},
    }


def named(request: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in request["containerDefinitions"] if c.get("name") == name)


def env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as a dict (the tests never repeat a name on purpose)."""
    return {e["name"]: e.get("value") for e in container.get("environment") or []}


def env_count(container: dict[str, Any], name: str) -> int:
    return sum(1 for e in container.get("environment") or [] if e.get("name") == name)


def strip_nulls(value: Any) -> Any:
    """Independent of the code under test: what the API sees once explicit nulls are dropped."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def frozen_copy(value: Any) -> Any:
    return copy.deepcopy(value)


def report_row(service: str, status: str, **more: Any) -> dict[str, Any]:
    """One service's row of a backfill report (a status message), with ``more`` over the defaults."""
    return {
        "schemaVersion": "1.0",
        "status": status,
        "account": "123456789012",
        "region": "us-east-1",
        "cluster": "shop",
        "service": service,
        "reasons": [f"reason of {service}"],
        **more,
    }
