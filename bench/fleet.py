"""The backfill bench's fleet: N services in C clusters over F task-definition families, planned as
plain data (what is tagged, what runs the sidecar, which services are non-compliant) and seeded into
moto.

The plan, by index (deterministic, any size):

- cluster ``j`` (``bench-c000``...): carries the opt-in tag (``<key>=jaeger``) when ``j % 4 == 1``;
- family ``f`` (``bench-app-0000``...): two revisions when ``f % 4 == 0``, else one. Its revisions
  run the profile's sidecar (the Jaeger profile's container, exactly, beside the app) when
  ``f % 3 == 0``; none does when ``f % 3 == 1``; when ``f % 3 == 2`` only its second revision does;
- service ``i`` (``svc-00000``...): in cluster ``j = i % C``, of family ``(i // C + j * N // C) % F``
  (every cluster's services spread over the families); a family's services take its revisions in
  turn; its own opt-in tag is ``jaeger`` when ``i % 6`` is 0 or 3,
  ``required`` (the default profile: Jaeger) when ``i % 6 == 2``, none otherwise (a ``team`` tag).

A service opts in by its own tag or, without one, by its cluster's. No tag value opts out (Cloud
Custodian's tag filter would need to spell the enforcer's opt-out words). It is non-compliant when it
opts in and its revision has no container named like the profile's sidecar (``jaeger``). Every
revision is a Fargate task (512 CPU units, 1 GiB) whose app leaves room for the sidecar, so the
enforcer's audit has no other reason to refuse or skip one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
CLUSTER_OPT_IN = "jaeger"
SIDECAR_NAME = "jaeger"  # the profile's container name, what the c7n policy looks for


@dataclass(frozen=True)
class Spec:
    services: int
    clusters: int
    families: int

    @property
    def label(self) -> str:
        return f"{self.services:,} services in {self.clusters} clusters over {self.families} families"


SMALL = Spec(1_000, 10, 100)
LARGE = Spec(10_000, 100, 1_000)
ORG_SLICE = Spec(1_250, 13, 100)  # one account and Region of the 8 (10,000 in all); under 100 a cluster


@dataclass(frozen=True)
class Cluster:
    name: str
    tag: str | None  # the opt-in tag's value, None: untagged


@dataclass(frozen=True)
class Family:
    name: str
    sidecar: tuple[bool, ...]  # per revision (1-based revision k at index k-1): runs the sidecar


@dataclass(frozen=True)
class Service:
    name: str
    cluster: str
    family: str
    revision: int  # 1-based
    tag: str | None  # its own opt-in tag's value, None: none


@dataclass(frozen=True)
class Plan:
    spec: Spec
    clusters: tuple[Cluster, ...]
    families: tuple[Family, ...]
    services: tuple[Service, ...]

    def opted_in(self) -> list[Service]:
        tagged = {c.name for c in self.clusters if c.tag is not None}
        return [s for s in self.services if s.tag is not None or s.cluster in tagged]

    def noncompliant(self) -> set[tuple[str, str]]:
        """(cluster, service) of every service that opts in and runs no sidecar."""
        sidecar = {f.name: f.sidecar for f in self.families}
        return {(s.cluster, s.name) for s in self.opted_in() if not sidecar[s.family][s.revision - 1]}

    def revisions(self, services: list[Service] | None = None) -> set[tuple[str, int]]:
        """Distinct (family, revision) the services run (all of them by default)."""
        return {(s.family, s.revision) for s in (self.services if services is None else services)}

    def per_cluster(self) -> dict[str, int]:
        counts = {c.name: 0 for c in self.clusters}
        for s in self.services:
            counts[s.cluster] += 1
        return counts


def plan(spec: Spec) -> Plan:
    if min(spec.services, spec.clusters, spec.families) < 1:
        raise ValueError(f"a fleet needs at least one of each: {spec}")
    clusters = tuple(
        Cluster(f"bench-c{j:03d}", CLUSTER_OPT_IN if j % 4 == 1 else None) for j in range(spec.clusters)
    )
    families = []
    for f in range(spec.families):
        count = 2 if f % 4 == 0 else 1
        if f % 3 == 0:
            sidecar = (True,) * count
        elif f % 3 == 1:
            sidecar = (False,) * count
        else:
            sidecar = (False, True)[:count] if count == 2 else (False,)
        families.append(Family(f"bench-app-{f:04d}", sidecar))
    services = []
    seen = [0] * spec.families
    per_cluster = spec.services // spec.clusters
    for i in range(spec.services):
        j = i % spec.clusters
        f = (i // spec.clusters + j * per_cluster) % spec.families
        family = families[f]
        revision = seen[f] % len(family.sidecar) + 1
        seen[f] += 1
        tag = {0: "jaeger", 3: "jaeger", 2: "required"}.get(i % 6)
        services.append(Service(f"svc-{i:05d}", clusters[j].name, family.name, revision, tag))
    return Plan(spec, clusters, tuple(families), tuple(services))


# -- what goes into moto ------------------------------------------------------------------------------


def task_definition(
    family: Family, revision: int, account: str, sidecar: Mapping[str, Any], region: str = REGION
) -> dict[str, Any]:
    """RegisterTaskDefinition's request (camelCase) for one revision of the family."""
    app: dict[str, Any] = {
        "name": "app",
        "image": f"{account}.dkr.ecr.{region}.amazonaws.com/{family.name}:{revision}.0.0",
        "essential": True,
        "cpu": 256,
        "memoryReservation": 512,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "environment": [{"name": "LOG_LEVEL", "value": "info"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{family.name}",
                "awslogs-region": region,
                "awslogs-stream-prefix": "app",
            },
        },
    }
    containers = [app]
    if family.sidecar[revision - 1]:
        app["environment"].append({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317"})
        containers.append(copy.deepcopy(dict(sidecar)))
    return {
        "family": family.name,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": f"arn:aws:iam::{account}:role/ecsTaskExecutionRole",
        "taskRoleArn": f"arn:aws:iam::{account}:role/{family.name}-task",
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "containerDefinitions": containers,
    }


def _tags(key: str, value: str | None, team: str) -> list[dict[str, str]]:
    tags = [{"key": "team", "value": team}]
    if value is not None:
        tags.insert(0, {"key": key, "value": value})
    return tags


def network(ec2: Any) -> dict[str, Any]:
    """A VPC, a subnet and a security group for the fleet's tasks (``ec2``: a boto3 client), as a
    service's networkConfiguration."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="bench-tasks", Description="bench tasks", VpcId=vpc)
    return {
        "awsvpcConfiguration": {
            "subnets": [subnet],
            "securityGroups": [group["GroupId"]],
            "assignPublicIp": "DISABLED",
        }
    }


def seed_backend(
    fleet: Plan,
    backend: Any,
    account: str,
    tag_key: str,
    sidecar: Mapping[str, Any],
    net: dict[str, Any],
    region: str = REGION,
) -> None:
    """Straight into moto's ECS backend (``ecs_backends[account][region]``), in process: what ECS's
    API calls (CreateCluster, RegisterTaskDefinition, CreateService) would create, without HTTP."""
    for c in fleet.clusters:
        backend.create_cluster(cluster_name=c.name, tags=_tags(tag_key, c.tag, "platform"))
    arns: dict[tuple[str, int], str] = {}
    for family in fleet.families:
        for revision in range(1, len(family.sidecar) + 1):
            request = task_definition(family, revision, account, sidecar, region)
            created = backend.register_task_definition(
                family=request["family"],
                container_definitions=request["containerDefinitions"],
                network_mode=request["networkMode"],
                requires_compatibilities=request["requiresCompatibilities"],
                cpu=request["cpu"],
                memory=request["memory"],
                task_role_arn=request["taskRoleArn"],
                execution_role_arn=request["executionRoleArn"],
                runtime_platform=request["runtimePlatform"],
            )
            arns[(family.name, revision)] = created.arn
    for s in fleet.services:
        backend.create_service(
            cluster_str=s.cluster,
            service_name=s.name,
            desired_count=1,
            task_definition_str=arns[(s.family, s.revision)],
            tags=_tags(tag_key, s.tag, f"team-{s.family}"),
            launch_type="FARGATE",
            network_configuration=net,
        )
