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
