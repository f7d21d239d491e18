"""What the demo's acts share on moto's server: its region, a sample event from ``events/``, ECS as a
person would look at it (a cluster's services and what they run), a queue read empty, a cluster
opted in by its tag, and a forced redeployment."""

from __future__ import annotations

import json
from typing import Any

from . import fleet
from .local import project_root

REGION = "us-east-1"


def sample_event(name: str) -> dict[str, Any]:
    """A fresh copy of a sample event (``events/<name>``)."""
    data: dict[str, Any] = json.loads((project_root() / "events" / name).read_text(encoding="utf-8"))
    return data


def forced_update(cluster: str, service: str, event_id: str) -> dict[str, Any]:
    """A forced redeployment of ``service`` as CloudTrail reports it (an UpdateService that only
    scales is noise, dropped by the rule)."""
    data = sample_event("cloudtrail-updateservice.json")
    data["id"] = event_id
    data["detail"]["requestParameters"] = {"cluster": cluster, "service": service, "forceNewDeployment": True}
    return data


def snapshot(ecs: Any) -> dict[str, dict[str, str]]:
    """The fleet cluster's services by name: tag, revision, containers, controller, size, images."""
    rows: dict[str, dict[str, str]] = {}
    names = sorted(fleet_services(ecs))
    for svc in ecs.describe_services(cluster=fleet.CLUSTER, services=names, include=["TAGS"])["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        tags = {t["key"]: t["value"] for t in svc.get("tags", [])}
        rows[svc["serviceName"]] = {
            "tag": tags.get("tracing-sidecar", "-"),
            "revision": f"{td['family']}:{td['revision']}",
            "arn": td["taskDefinitionArn"],
            "containers": ", ".join(c["name"] for c in td["containerDefinitions"]),
            "controller": (svc.get("deploymentController") or {}).get("type", "ECS"),
            "size": f"{td.get('cpu')}/{td.get('memory')}",
            "images": ", ".join(c["image"] for c in td["containerDefinitions"]),
        }
    return rows


def fleet_services(ecs: Any) -> list[str]:
    return [arn.rsplit("/", 1)[-1] for arn in ecs.list_services(cluster=fleet.CLUSTER)["serviceArns"]]


def snapshot_cluster(ecs: Any, cluster: str) -> dict[str, str]:
    """Each service's containers (comma separated) in a cluster."""
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    found = {}
    for svc in ecs.describe_services(cluster=cluster, services=arns)["services"]:
        definition = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        found[svc["serviceName"]] = ",".join(c["name"] for c in definition["containerDefinitions"])
    return found


def drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message on a queue, with its attributes, taken off it."""
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    return found


def opted_in_cluster(ecs: Any, cluster: str, prefix: str, count: int) -> None:
    """A cluster opted in by its own tag, with ``count`` services (``prefix-0``...) that run
    billing-worker's revision, without the sidecar."""
    source = ecs.describe_services(cluster=fleet.CLUSTER, services=["billing-worker"])["services"][0]
    ecs.create_cluster(clusterName=cluster, tags=[{"key": "tracing-sidecar", "value": "jaeger"}])
    for n in range(count):
        ecs.create_service(
            cluster=cluster,
            serviceName=f"{prefix}-{n}",
            taskDefinition=source["taskDefinition"],
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=source["networkConfiguration"],
        )
