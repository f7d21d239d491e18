"""The ECS adapter's deployment side on AWS-shaped answers (botocore's Stubber): the id of the
deployment UpdateService starts, and the tasks a deployment started (ListTasks by startedBy, then
DescribeTasks in chunks of at most 100)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import ANY, Stubber
from sidecar_enforcer.adapters.ecs import EcsGateway, ServiceState

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/shop"
OURS = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2"


def service(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/shop/api",
        "serviceName": "api",
        "clusterArn": CLUSTER,
        "status": "ACTIVE",
        "taskDefinition": OURS,
        "deployments": deployments,
    }


def test_deploy_returns_the_primary_deployment_it_started() -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    with Stubber(ecs) as stub:
        stub.add_response(
            "update_service",
            {
                "service": service(
                    [
                        {
                            "id": "ecs-svc/new",
                            "status": "PRIMARY",
                            "taskDefinition": OURS,
                            "rolloutState": "IN_PROGRESS",
                        },
                        {"id": "ecs-svc/old", "status": "ACTIVE", "taskDefinition": OURS[:-1] + "1"},
                    ]
                )
            },
            {"cluster": CLUSTER, "service": "api", "taskDefinition": OURS, "forceNewDeployment": True},
        )
        assert EcsGateway(ecs).deploy(CLUSTER, "api", OURS) == "ecs-svc/new"


def test_a_service_knows_what_its_primary_deployment_rolls_out() -> None:
    state = ServiceState.from_api(
        service(
            [
                {
                    "id": "ecs-svc/new",
                    "status": "PRIMARY",
                    "taskDefinition": "td:3",
                    "rolloutState": "FAILED",
                },
                {"id": "ecs-svc/old", "status": "ACTIVE", "taskDefinition": OURS},
            ]
        )
    )
    assert state.rolling_out == ("td:3",)
    assert state.deploys("td:3")
    assert state.deploys(OURS)  # what it runs
    assert not state.deploys("td:9")
    deployment = state.deployment("ecs-svc/new")
    assert deployment is not None
    assert deployment.rollout_state == "FAILED"


def test_the_tasks_of_a_deployment_are_listed_by_started_by_and_described_in_chunks_of_100() -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    arns = [f"arn:aws:ecs:us-east-1:123456789012:task/shop/{n:03d}" for n in range(150)]

    def described(chunk: list[str]) -> dict[str, Any]:
        return {
            "tasks": [
                {
                    "taskArn": arn,
                    "taskDefinitionArn": OURS,
                    "lastStatus": "RUNNING",
                    "containers": [
                        {"name": "app", "lastStatus": "RUNNING"},
                        {"name": "jaeger", "lastStatus": "STOPPED" if arn.endswith("149") else "RUNNING"},
                    ],
                }
                for arn in chunk
            ]
        }

    with Stubber(ecs) as stub:
        # startedBy must be the only filter (ListTasks API reference)
        stub.add_response(
            "list_tasks",
            {"taskArns": arns[:100], "nextToken": "t"},
            {"cluster": CLUSTER, "startedBy": "ecs-svc/1"},
        )
        stub.add_response(
            "list_tasks",
            {"taskArns": arns[100:]},
            {"cluster": CLUSTER, "startedBy": "ecs-svc/1", "nextToken": "t"},
        )
        stub.add_response("describe_tasks", described(arns[:100]), {"cluster": CLUSTER, "tasks": arns[:100]})
        stub.add_response("describe_tasks", described(arns[100:]), {"cluster": CLUSTER, "tasks": ANY})

        tasks = EcsGateway(ecs).deployment_tasks(CLUSTER, "ecs-svc/1")

    assert [t.arn for t in tasks] == arns
    assert tasks[0].containers == {"app": "RUNNING", "jaeger": "RUNNING"}
    assert tasks[-1].containers["jaeger"] == "STOPPED"
