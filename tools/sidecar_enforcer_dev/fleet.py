"""A small fleet of the shapes a real one has (Fargate services opted in or not, a CODE_DEPLOY
service, a task too small for the sidecar, a sidecar added by hand), for the demo and the
integration tests.

- ``nexus-ai-api-prod``: a Fargate API service tagged ``tracing-sidecar=jaeger``, running a
  revision without Jaeger (its container carries a secret-looking environment value, which must
  never appear in any status or log);
- ``billing-worker``: untagged — must stay untouched;
- ``search-gateway``: tagged, already running the Jaeger sidecar as the profile says — compliant;
- ``payments-legacy``: tagged, CODE_DEPLOY deployment controller — skipped with a reason;
- ``checkout-web``: tagged, a Fargate task at 256 CPU units / 512 MiB whose app reserves all the
  CPU — the sidecar only fits once the task grows to the next valid size;
- ``catalog-search``: tagged, still running the end-of-life Jaeger v1 all-in-one by hand under the
  name ``jaeger`` — drifted from the profile (upgraded when the policy says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLUSTER = "shop-prod"
CANARY = "canary-s3cr3t-value-9f1c"  # an environment value that must never be published or logged


@dataclass(frozen=True)
class Fleet:
    cluster: str
    services: dict[str, str]  # name -> task definition ARN it was created with


def _container(
    name: str, image: str, *, log_group: str, port: int, env: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": name,
            },
        },
    }


def _fargate(
    family: str,
    containers: list[dict[str, Any]],
    account: str,
    tags: list[dict[str, str]] | None = None,
    size: tuple[str, str] = ("512", "1024"),
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "family": family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": size[0],
        "memory": size[1],
        "executionRoleArn": f"arn:aws:iam::{account}:role/ecsTaskExecutionRole",
        "taskRoleArn": f"arn:aws:iam::{account}:role/{family}-task",
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "containerDefinitions": containers,
    }
    if tags:
        request["tags"] = tags
    return request


# The Jaeger v1 sidecar catalog-search's team added by hand: the profile's upgrade replaces it.
JAEGER_V1 = {
    "name": "jaeger",
    "image": "jaegertracing/all-in-one:1.57",
    "essential": False,
    "memoryReservation": 128,
    "environment": [{"name": "COLLECTOR_OTLP_ENABLED", "value": "true"}],
    "portMappings": [{"containerPort": 4317, "protocol": "tcp"}],
}

# Each service's tags: opted in by value, opted out by absence, and a team's own tag.
SERVICE_TAGS = {
    "nexus-ai-api-prod": [
        {"key": "tracing-sidecar", "value": "jaeger"},
        {"key": "team", "value": "ai-platform"},
    ],
    "billing-worker": [{"key": "team", "value": "billing"}],
    "search-gateway": [{"key": "tracing-sidecar", "value": "required"}],
    "payments-legacy": [{"key": "tracing-sidecar", "value": "jaeger"}],
    "checkout-web": [{"key": "tracing-sidecar", "value": "jaeger"}],
    "catalog-search": [{"key": "tracing-sidecar", "value": "jaeger"}],
}


def seed(ecs: Any, ec2: Any, account: str, jaeger: dict[str, Any]) -> Fleet:
    """Create the cluster, network and services. ``jaeger`` is the jaeger profile's container."""
    network = _network(ec2)
    ecs.create_cluster(clusterName=CLUSTER)
    services: dict[str, str] = {}
    for name, request in _definitions(account, jaeger).items():
        arn = ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
        extra: dict[str, Any] = {}
        if name == "payments-legacy":
            extra["deploymentController"] = {"type": "CODE_DEPLOY"}
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=arn,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration=network,
            tags=SERVICE_TAGS[name],
            **extra,
        )
        services[name] = arn
    return Fleet(CLUSTER, services)


def _network(ec2: Any) -> dict[str, Any]:
    """A VPC, a subnet and a security group for the tasks: the services' network configuration."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="shop-prod-tasks", Description="demo tasks", VpcId=vpc)[
        "GroupId"
    ]
    return {
        "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}
    }


def _definitions(account: str, jaeger: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each service's task definition (a register request): what the demo's events find."""
    ecr = f"{account}.dkr.ecr.us-east-1.amazonaws.com"
    api = _container(
        "api",
        f"{ecr}/nexus-ai-api:1.8.2",
        log_group="/ecs/nexus-ai-api",
        port=8080,
        env={"DATABASE_PASSWORD": CANARY, "LOG_LEVEL": "info"},
    )
    return {
        "nexus-ai-api-prod": _fargate("nexus-ai-api", [api], account),
        "billing-worker": _fargate(
            "billing-worker",
            [_container("worker", f"{ecr}/billing-worker:3.1.0", log_group="/ecs/billing-worker", port=9000)],
            account,
        ),
        "search-gateway": _fargate(
            "search-gateway",
            [
                _container(
                    "gateway",
                    f"{ecr}/search-gateway:0.9.4",
                    log_group="/ecs/search-gateway",
                    port=8080,
                    env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317"},
                ),
                dict(jaeger),
            ],
            account,
        ),
        "payments-legacy": _fargate(
            "payments-legacy",
            [_container("payments", f"{ecr}/payments:2019.4", log_group="/ecs/payments", port=8443)],
            account,
        ),
        "checkout-web": _fargate(
            "checkout-web",
            [
                {
                    **_container("web", f"{ecr}/checkout-web:5.0.1", log_group="/ecs/checkout", port=3000),
                    "cpu": 256,
                }
            ],
            account,
            size=("256", "512"),
        ),
        "catalog-search": _fargate(
            "catalog-search",
            [
                _container("search", f"{ecr}/catalog-search:2.2.0", log_group="/ecs/catalog", port=9200),
                dict(JAEGER_V1),
            ],
            account,
        ),
    }
