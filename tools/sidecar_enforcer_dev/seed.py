"""``sidecar-enforcer seed``: something to work on, on a local endpoint (moto's server): the fleet the
sample events in ``events/`` name, and a service per example task definition in
``examples/taskdefs/``, each opted in by its tags.

- cluster ``shop-prod``: the demo's fleet (``fleet``), the services the events name
  (``nexus-ai-api-prod``, ``payments-legacy`` with its CODE_DEPLOY controller...), and the
  tagged ``nexus-ai-api`` revision that ``events/cloudtrail-registertaskdefinition.json``
  registers (its request, replayed);
- cluster ``examples``: one service per file of ``examples/taskdefs/``, tagged as the file is.

Only against a local endpoint (``AWS_ENDPOINT_URL`` on this machine): it creates a demo fleet, never
in an account of yours. Running it again creates nothing twice.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sidecar_enforcer.adapters import aws
from sidecar_enforcer.profiles import builtin_profiles

from . import fleet
from .local import UsageError, project_root

EXAMPLES_CLUSTER = "examples"
REGISTER_EVENT = "events/cloudtrail-registertaskdefinition.json"
LOCAL_HOSTS = ("localhost", "localhost.localdomain")


def local_endpoint(url: str) -> str:
    """The endpoint, when it is on this machine (a loopback address or localhost); else why not."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in LOCAL_HOSTS
    if not loopback:
        raise UsageError(
            f"seed creates a demo fleet on a local endpoint only, not on {host or url!r}: set "
            "AWS_ENDPOINT_URL to one on this machine (e.g. http://127.0.0.1:5000, moto's server)"
        )
    return url


def example_files(root: Path | None = None) -> list[Path]:
    return sorted(((root or project_root()) / "examples" / "taskdefs").glob("*.json"))


def seed(clients: aws.Clients | None = None, root: Path | None = None) -> dict[str, Any]:
    """Create what is missing of the local fleet, in the events' region; what there is, by cluster
    (service -> its task definition), and the clusters this run created."""
    root = root or project_root()
    region = json.loads((root / REGISTER_EVENT).read_text(encoding="utf-8"))["region"]
    clients = clients or aws.Clients()
    ecs, ec2, sts = (clients.client(name, region) for name in ("ecs", "ec2", "sts"))
    for client in (ecs, ec2, sts):  # where each request would go, as the SDK resolved it
        local_endpoint(client.meta.endpoint_url)
    account = str(aws.call("GetCallerIdentity", sts.get_caller_identity)["Account"])
    created: list[str] = []
    if not _services(ecs, fleet.CLUSTER):
        fleet.seed(ecs, ec2, account, builtin_profiles()["jaeger"].container)
        # The revision events/cloudtrail-registertaskdefinition.json says was registered, tags and all
        request = json.loads((root / REGISTER_EVENT).read_text(encoding="utf-8"))["detail"][
            "requestParameters"
        ]
        aws.call("RegisterTaskDefinition", ecs.register_task_definition, **request)
        created.append(fleet.CLUSTER)
    if not _services(ecs, EXAMPLES_CLUSTER):
        aws.call("CreateCluster", ecs.create_cluster, clusterName=EXAMPLES_CLUSTER)
        network = _network_of(ecs, fleet.CLUSTER, "nexus-ai-api-prod")
        for path in example_files(root):
            _example_service(ecs, path, network)
        created.append(EXAMPLES_CLUSTER)
    return {
        "account": account,
        "region": ecs.meta.region_name,
        "created": created,
        "clusters": {c: _services(ecs, c) for c in (fleet.CLUSTER, EXAMPLES_CLUSTER)},
        "next": [
            "sidecar-enforcer invoke events/cloudtrail-updateservice.json",
            "sidecar-enforcer backfill --mode audit --report fleet.html",
        ],
    }


def _services(ecs: Any, cluster: str) -> dict[str, str]:
    """The cluster's services and the task definition each runs; empty when there is no cluster."""
    if not aws.call("DescribeClusters", ecs.describe_clusters, clusters=[cluster]).get("clusters"):
        return {}
    arns = aws.call("ListServices", ecs.list_services, cluster=cluster).get("serviceArns", [])
    if not arns:
        return {}
    described = aws.call("DescribeServices", ecs.describe_services, cluster=cluster, services=arns)[
        "services"
    ]
    return {s["serviceName"]: s["taskDefinition"] for s in sorted(described, key=lambda s: s["serviceName"])}


def _network_of(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """The awsvpc configuration a seeded service runs with (its subnet and security group)."""
    found = aws.call("DescribeServices", ecs.describe_services, cluster=cluster, services=[service])[
        "services"
    ][0]
    return dict(found["networkConfiguration"])


def _example_service(ecs: Any, path: Path, network: dict[str, Any]) -> None:
    """Register an example task definition (a RegisterTaskDefinition request with its tags) and run
    it as a service named like its family, tagged as the file is."""
    request = json.loads(path.read_text(encoding="utf-8"))
    arn = aws.call("RegisterTaskDefinition", ecs.register_task_definition, **request)["taskDefinition"][
        "taskDefinitionArn"
    ]
    launch = (request.get("requiresCompatibilities") or ["EC2"])[0]
    extra: dict[str, Any] = (
        {"networkConfiguration": network} if request.get("networkMode") == "awsvpc" else {}
    )
    aws.call(
        "CreateService",
        ecs.create_service,
        cluster=EXAMPLES_CLUSTER,
        serviceName=request["family"],
        taskDefinition=arn,
        desiredCount=1,
        launchType=launch,
        tags=request.get("tags", []),
        **extra,
    )
