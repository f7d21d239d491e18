"""Task-level cpu/memory strings as people write them: "256", "1 vcpu", ".5 gb", "2GB", 512.

RegisterTaskDefinition takes task-level cpu and memory as strings in CPU units / MiB, or with a
unit ("1 vCPU", "2 GB"); container-level values are integers (ECS developer guide, task size).
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def _parse(value: object, units: dict[str, int], what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"task-level {what} {value!r} is not a size")
    if isinstance(value, int | float):
        return int(value)
    match = _NUMBER.match(str(value))
    if not match or match.group(2).lower() not in units:
        raise ValueError(f"task-level {what} {value!r} is not a size ECS understands")
    return int(float(match.group(1)) * units[match.group(2).lower()])


def parse_cpu(value: object) -> int | None:
    """CPU units (1 vCPU = 1024), or None when unset."""
    return _parse(value, {"": 1, "vcpu": 1024, "vcpus": 1024}, "cpu")


def parse_memory(value: object) -> int | None:
    """MiB, or None when unset."""
    return _parse(value, {"": 1, "mb": 1, "mib": 1, "gb": 1024, "gib": 1024}, "memory")


# Fargate's valid task sizes for Linux: cpu units -> memory MiB (ECS developer guide, "Task CPU and
# memory"; 8 and 16 vCPU need platform version 1.4.0, which LATEST is).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def is_fargate_size(cpu: int, memory: int) -> bool:
    return memory in FARGATE_SIZES.get(cpu, ())


def smallest_fargate_size(cpu: int, memory: int) -> tuple[int, int] | None:
    """The smallest valid pair holding at least ``cpu`` units and ``memory`` MiB: the fewest CPU
    units first (a vCPU-hour costs about nine GB-hours: AWS Fargate pricing, Linux/x86,
    us-east-1: $0.04048 vs $0.004445), then the least memory.
    None when no size is that large."""
    for task_cpu, memories in FARGATE_SIZES.items():
        if task_cpu >= cpu:
            fitting = [m for m in memories if m >= memory]
            if fitting:
                return task_cpu, fitting[0]
    return None


def describe(cpu: int | None, memory: int | None) -> str:
    parts = [f"{cpu} CPU units" if cpu is not None else None, f"{memory} MiB" if memory is not None else None]
    return " / ".join(p for p in parts if p) or "no task-level size"
