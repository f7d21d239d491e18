"""The ECS adapter's deployment side on AWS-shaped answers (botocore's Stubber): the id of the
deployment UpdateService starts, the tasks a deployment started (ListTasks by startedBy, then
DescribeTasks in chunks of at most 100), and the marker lookup's paging (ListTaskDefinitions)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import ANY, Stubber
from sidecar_enforcer.adapters.ecs import EcsGateway, ServiceSnapshot
from sidecar_enforcer.domain.planning.plan import MARKER_PROFILE, MARKER_SOURCE

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
    state = ServiceSnapshot.from_api(
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


# -- the marker lookup (crash recovery): newer revisions only, newest first -------------------------
# moto ignores maxResults and never returns nextToken, so the paging is tested on AWS-shaped pages.

TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/"
LIST = {"familyPrefix": "api", "status": "ACTIVE", "sort": "DESC", "maxResults": 100}


def described(arn: str, tags: dict[str, str]) -> dict[str, Any]:
    name = arn.rsplit("/", 1)[-1]
    return {
        "taskDefinition": {
            "taskDefinitionArn": arn,
            "family": name.split(":")[0],
            "revision": int(name.split(":")[1]),
            "status": "ACTIVE",
            "containerDefinitions": [{"name": "app", "image": "app:1"}],
        },
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }


def describe(revision: int) -> dict[str, Any]:
    return {"taskDefinition": f"{TD}api:{revision}", "include": ["TAGS"]}


def test_the_marker_lookup_reads_newer_revisions_newest_first_and_stops_at_the_source() -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    source = f"{TD}api:5"
    # DESC lists the longer families the prefix also matches first, then api's revisions
    page = [f"{TD}api-v2:3", *(f"{TD}api:{n}" for n in range(8, 0, -1))]
    ours = {MARKER_SOURCE: source, MARKER_PROFILE: "jaeger@2"}
    with Stubber(ecs) as stub:
        stub.add_response("list_task_definitions", {"taskDefinitionArns": page, "nextToken": "t"}, LIST)
        stub.add_response("describe_task_definition", described(f"{TD}api:8", {}), describe(8))
        stub.add_response("describe_task_definition", described(f"{TD}api:7", ours), describe(7))

        found = EcsGateway(ecs).find_registered(source, "jaeger@2")

        stub.assert_no_pending_responses()  # and no second page was asked for (it was not stubbed)
    assert found == f"{TD}api:7"


def test_a_source_older_than_every_enforcer_revision_is_not_looked_up_further() -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    source = f"{TD}api:5"
    other = {MARKER_SOURCE: f"{TD}api:4", MARKER_PROFILE: "jaeger@2"}
    page = [f"{TD}api:{n}" for n in range(7, 0, -1)]
    with Stubber(ecs) as stub:
        stub.add_response("list_task_definitions", {"taskDefinitionArns": page, "nextToken": "t"}, LIST)
        for n in (7, 6):  # the revisions after the source; neither is this source's
            stub.add_response("describe_task_definition", described(f"{TD}api:{n}", other), describe(n))

        assert EcsGateway(ecs).find_registered(source, "jaeger@2") is None
        stub.assert_no_pending_responses()


def test_a_family_of_thousands_of_revisions_whose_source_is_newest_costs_one_page() -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    source = f"{TD}api:3000"
    page = [f"{TD}api:{n}" for n in range(3000, 2900, -1)]
    with Stubber(ecs) as stub:
        stub.add_response("list_task_definitions", {"taskDefinitionArns": page, "nextToken": "t"}, LIST)

        assert EcsGateway(ecs).find_registered(source, "jaeger@2") is None
        stub.assert_no_pending_responses()
