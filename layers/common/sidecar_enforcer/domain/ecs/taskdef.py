"""Task definitions in the forms people have them, reduced to one: a RegisterTaskDefinition request.

Accepted: a bare task definition (console/CLI export), DescribeTaskDefinition or
RegisterTaskDefinition output (``{"taskDefinition": {...}, "tags": [...]}``), or a register request
(``tags`` inside). Tags sit beside ``taskDefinition`` in API output and are only returned with
``include=["TAGS"]``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import InputError
from . import schema


@dataclass(frozen=True)
class TaskDefinitionDocument:
    task_definition: dict[str, Any]
    tags: list[dict[str, str]] = field(default_factory=list)

    @property
    def arn(self) -> str | None:
        value = self.task_definition.get("taskDefinitionArn")
        return value if isinstance(value, str) else None

    @property
    def family(self) -> str | None:
        value = self.task_definition.get("family")
        return value if isinstance(value, str) else None


def load_document(text: str | bytes) -> TaskDefinitionDocument:
    """Parse JSON text (a UTF-8 byte-order mark is tolerated) into a document."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return unwrap(data)


def unwrap(data: Any, *, owned: bool = False) -> TaskDefinitionDocument:
    """The document in ``data`` (a task definition, or a DescribeTaskDefinition answer). A copy of
    it, unless the caller hands it over (``owned``: an answer just parsed, held by no one else)."""
    if not isinstance(data, dict):
        raise InputError(f"not a task definition: a JSON {type(data).__name__}, not an object")
    tags: Any = []
    if isinstance(data.get("taskDefinition"), dict):
        tags = data.get("tags") or []
        data = data["taskDefinition"]
    data = dict(data) if owned else copy.deepcopy(data)
    if "tags" in data:
        tags = data.pop("tags") or []
    if not isinstance(data.get("containerDefinitions"), list):
        raise InputError("not a task definition: no containerDefinitions list")
    if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
        raise InputError("tags must be a list of {key, value} objects")
    return TaskDefinitionDocument(data, [_tag(t) for t in tags])


def _tag(tag: dict[str, Any]) -> dict[str, str]:
    return {
        "key": str(tag.get("key", tag.get("Key", ""))),
        "value": str(tag.get("value", tag.get("Value", ""))),
    }


def drop_nulls(value: Any) -> Any:
    """Old console exports carry explicit nulls; for the API an absent member and null are the same."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def to_register_request(task_definition: dict[str, Any]) -> dict[str, Any]:
    """Every member kept except the read-only ones (and explicit nulls)."""
    read_only = schema.read_only_members()
    kept = {k: v for k, v in task_definition.items() if k not in read_only}
    result: dict[str, Any] = drop_nulls(kept)
    return result


def is_fargate(request: dict[str, Any]) -> bool:
    """Whether the task definition requires Fargate (``requiresCompatibilities``)."""
    return "FARGATE" in (request.get("requiresCompatibilities") or [])


def container_ports(container: dict[str, Any], *, host_ports: bool = True) -> set[int]:
    """The ports a container's portMappings name: container ports and ranges, and unless
    ``host_ports`` is false, host ports and ranges too."""
    ports: set[int] = set()
    for mapping in container.get("portMappings") or []:
        if not isinstance(mapping, dict):
            continue
        for key in ("containerPort", "hostPort") if host_ports else ("containerPort",):
            if isinstance(mapping.get(key), int) and mapping[key] > 0:
                ports.add(mapping[key])
        for key in ("containerPortRange", "hostPortRange") if host_ports else ("containerPortRange",):
            low, _, high = str(mapping.get(key) or "").partition("-")
            if low.isdigit() and high.isdigit():
                ports.update(range(int(low), int(high) + 1))
    return ports
