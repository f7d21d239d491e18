"""Whether the task, with the sidecar, still fits its task-level cpu and memory; on Fargate, when
the policy allows, the smallest valid size that holds it."""

from __future__ import annotations

from typing import Any

from ..ecs import sizes
from ..ecs.taskdef import is_fargate
from .policy import Policy


def fit_size(request: dict[str, Any], policy: Policy) -> tuple[list[str], tuple[str, str] | None]:
    """Check (and on Fargate, when policy allows, grow) the task size so it holds every container:
    the sum of reservations (memoryReservation, else memory; cpu) and every hard memory limit.
    Changes ``request`` in place; returns the refusals and the (old, new) size when grown."""
    fargate = is_fargate(request)
    try:
        task_cpu = sizes.parse_cpu(request.get("cpu"))
        task_memory = sizes.parse_memory(request.get("memory"))
    except ValueError as exc:
        return [str(exc)], None
    containers = request["containerDefinitions"]
    reserved = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers)
    limit = max(int(c.get("memory") or 0) for c in containers)
    cpu = sum(int(c.get("cpu") or 0) for c in containers)
    if fargate:
        if task_cpu is None or task_memory is None:
            return ["a Fargate task definition needs task-level cpu and memory"], None
        need_cpu, need_memory = max(task_cpu, cpu), max(task_memory, reserved, limit)
        if (need_cpu, need_memory) == (task_cpu, task_memory):
            if sizes.is_fargate_size(task_cpu, task_memory):
                return [], None
            return [f"{sizes.describe(task_cpu, task_memory)} is not a valid Fargate task size"], None
        old = sizes.describe(task_cpu, task_memory)
        held = f"with the sidecar the containers need {sizes.describe(cpu, max(reserved, limit))}"
        target = sizes.smallest_fargate_size(need_cpu, need_memory)
        if target is None:
            return [f"{held}, more than any Fargate task size"], None
        new = sizes.describe(*target)
        if not policy.grow_task_size:
            return [
                f"{held}, more than the task's {old}; the policy does not allow growing it to {new}"
            ], None
        request["cpu"], request["memory"] = str(target[0]), str(target[1])
        return [], (old, new)
    reasons = []
    if task_memory is not None:
        if reserved > task_memory:
            reasons.append(
                f"with the sidecar the containers reserve {reserved} MiB, more than the task's "
                f"{task_memory} MiB; raise the task memory"
            )
        if limit > task_memory:
            reasons.append(f"a container's memory limit {limit} MiB exceeds the task's {task_memory} MiB")
    if task_cpu is not None and cpu > task_cpu:
        reasons.append(
            f"with the sidecar the containers reserve {cpu} CPU units, more than the task's {task_cpu}; "
            "raise the task cpu"
        )
    return reasons, None
