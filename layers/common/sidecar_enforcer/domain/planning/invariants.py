"""What must hold for any request the enforcer plans, checked independently of how it was built:
botocore accepts it; ECS's server-side rules hold (limits, names, references, no start-order
cycle: ``ecs_rules``); every member of the source is kept (only the sidecar, the wiring of app
containers, the tags and a grown Fargate size may differ); container names are unique; no port is
used twice in a task whose containers share a network namespace; a Fargate size is valid and
holds every container.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..ecs import ecs_rules, schema, sizes
from ..ecs.taskdef import container_ports, is_fargate, to_register_request
from .plan import network_mode

# Members of an app container the wiring may add entries to (never remove or change entries).
WIRED = ("environment", "dependsOn", "links")


def _grew(before: Any, after: Any) -> bool:
    return isinstance(after, list) and all(item in after for item in before or [])


# Members of the sidecar an upgrade in place sets from the profile.
UPGRADED = (
    "image",
    "essential",
    "portMappings",
    "command",
    "entryPoint",
    "healthCheck",
    "firelensConfiguration",
)


def violations(
    task_definition: dict[str, Any], request: dict[str, Any], upgraded: str | None = None
) -> list[str]:
    """Every broken invariant; ``upgraded`` names the sidecar replaced in place, whose
    ``UPGRADED`` members (and environment entries) may change."""
    found = [f"botocore: {p}" for p in schema.validate_register_request(request)]
    found += [f"ECS: {p}" for p in ecs_rules.request_problems(request, network_mode(request))]
    started = set(ecs_rules.start_problems(to_register_request(task_definition)))
    found += [f"ECS at task start: {p}" for p in ecs_rules.start_problems(request) if p not in started]
    source = to_register_request(task_definition)
    for member, value in source.items():
        if member in ("containerDefinitions", "tags"):
            continue
        if member in ("cpu", "memory") and is_fargate(source):
            continue  # checked below: a valid size at least as large
        if request.get(member) != value:
            found.append(f"member {member} changed or lost")
    after = {c.get("name"): c for c in request["containerDefinitions"]}
    for container in source["containerDefinitions"]:
        name = container.get("name")
        if name not in after:
            found.append(f"container '{name}' lost")
            continue
        for member, value in container.items():
            new = after[name].get(member)
            wired = member in WIRED and _grew(value, new)
            replaced = name == upgraded and member in (*UPGRADED, "environment")
            if new != value and not wired and not replaced:
                found.append(f"container '{name}' member {member} changed")
    names = Counter(c.get("name") for c in request["containerDefinitions"])
    found.extend(f"container name '{n}' used {k} times" for n, k in names.items() if k > 1)
    if network_mode(request) in ("awsvpc", "host"):
        ports = Counter(p for c in request["containerDefinitions"] for p in container_ports(c))
        found.extend(f"port {p} used by {k} containers" for p, k in ports.items() if k > 1)
    if is_fargate(request):
        cpu, memory = sizes.parse_cpu(request.get("cpu")), sizes.parse_memory(request.get("memory"))
        old_cpu, old_memory = sizes.parse_cpu(source.get("cpu")), sizes.parse_memory(source.get("memory"))
        containers = request["containerDefinitions"]
        if cpu is None or memory is None or not sizes.is_fargate_size(cpu, memory):
            found.append(f"{sizes.describe(cpu, memory)} is not a valid Fargate size")
        else:
            if (old_cpu or 0) > cpu or (old_memory or 0) > memory:
                found.append("the task size shrank")
            if sum(int(c.get("cpu") or 0) for c in containers) > cpu:
                found.append("the containers' cpu exceeds the task's")
            if sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers) > memory:
                found.append("the containers' memory exceeds the task's")
    return found
