"""Names versus ARNs for ECS clusters, services and task definitions.

Service ARNs come in the current long format ``service/<cluster>/<name>`` and the retired short
format ``service/<name>`` (no cluster: the request's cluster, else ``default``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import botocore.session
from botocore.exceptions import UnknownRegionError

DEFAULT_CLUSTER = "default"
ACCOUNT_ID = re.compile(r"[0-9]{12}")
# A sanity check before botocore's partition data: us-east-1, us-gov-west-1, eusc-de-east-1, ...
REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}")


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


def role_arn(role: str, partition: str, account: str) -> str:
    """A task role as an ARN: the API also takes a role's name."""
    return role if role.startswith("arn:") else f"arn:{partition}:iam::{account}:role/{role}"


def foreign_role(role: str, partition: str, account: str) -> str | None:
    """Why a role named by a task of ``account`` is not one the enforcer may check or assume: its
    ARN names another partition or account, or is no IAM role's; None for a role of the task's own
    account (a bare name is one: ECS reads it in the task's account)."""
    if not role.startswith("arn:"):
        return None
    arn = parse_arn(role)
    if arn is None or arn.service != "iam" or not arn.resource.startswith("role/"):
        return "is no IAM role ARN"
    if arn.partition != partition:
        return f"is in partition {arn.partition}, not the task's partition {partition}"
    if arn.account != account:
        return f"is in account {arn.account}, not the task's account {account}"
    return None


ROLES_STAY_HOME = "the enforcer checks and assumes a task's roles only in the task's own account"


@cache  # botocore reads its endpoint data from disk each time (about 80 ms): once per region
def partition_of(region: str) -> str | None:
    """The partition a region belongs to (aws, aws-cn, aws-us-gov, ...), from botocore's endpoint
    data (no client, no network); None for a string that is no region of any partition."""
    if not REGION.fullmatch(region):
        return None
    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError:
        return None


def shown(value: object, limit: int = 60) -> str:
    """A value from an event for a one-line message: quoted, and cut when long."""
    text = str(value)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def disagreement(arn: Arn, partition: str, account: str, region: str) -> str | None:
    """Why an ARN names a place other than (partition, account, region), or None when it agrees.
    Global resources (IAM: no region) agree on what they name; an ECS ARN names all three."""
    if arn.partition != partition:
        return f"partition {shown(arn.partition)}, not {partition}"
    if arn.account != account and (arn.account or arn.service == "ecs"):
        return f"account {shown(arn.account)}, not {account}"
    if arn.region != region and (arn.region or arn.service == "ecs"):
        return f"region {shown(arn.region)}, not {region}"
    return None
