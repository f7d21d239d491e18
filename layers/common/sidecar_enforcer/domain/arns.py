"""Names versus ARNs for ECS clusters, services and task definitions.

Service ARNs come in the current long format ``service/<cluster>/<name>`` and the retired short
format ``service/<name>`` (no cluster: the request's cluster, else ``default``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CLUSTER = "default"


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0].split(":", 1)[0]


def parse_arn(value: str | None) -> Arn | None:
    if not value or not value.startswith("arn:"):
        return None
    parts = value.split(":", 5)
    if len(parts) != 6:
        return None
    return Arn(*parts[1:])


def cluster_name(cluster: str | None) -> str:
    if not cluster:
        return DEFAULT_CLUSTER
    arn = parse_arn(cluster)
    return arn.resource.split("/", 1)[-1] if arn else cluster


def service_ref(service: str, cluster: str | None = None) -> tuple[str, str]:
    """(cluster name, service name) from a service name or ARN and an optional cluster."""
    arn = parse_arn(service)
    if arn is None:
        return cluster_name(cluster), service
    path = arn.resource.split("/")
    if len(path) >= 3:
        return path[1], path[2]
    return cluster_name(cluster), path[-1]


def task_definition_family(value: str) -> str:
    """Family of ``family``, ``family:3`` or a task definition ARN."""
    arn = parse_arn(value)
    name = arn.resource.split("/", 1)[-1] if arn else value
    return name.split(":", 1)[0]


def task_definition_revision(value: str) -> int | None:
    arn = parse_arn(value)
    name = arn.resource.split("/", 1)[-1] if arn else value
    _, _, revision = name.partition(":")
    return int(revision) if revision.isdigit() else None
