"""Facts taken from botocore's ECS service model (data shipped with botocore; no client, no network).

- Read-only members: DescribeTaskDefinition's ``TaskDefinition`` output shape minus the
  RegisterTaskDefinition input shape. Deriving them keeps up with new members; the list copied
  around by the official deploy action misses ``deleteRequestedAt``.
- ``botocore.validate.ParamValidator`` checks a request offline (unknown keys, types, required
  members; not enum values or ranges). Its own report prints the offending *values*, which may be
  environment values or secrets, so errors are formatted here from their kind and path only.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator


@cache
def _ecs_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ecs")


@cache
def _register_operation() -> OperationModel:
    return _ecs_model().operation_model("RegisterTaskDefinition")


def register_input_shape() -> Shape:
    shape = _register_operation().input_shape
    assert shape is not None
    return shape


@cache
def read_only_members() -> frozenset[str]:
    """Members DescribeTaskDefinition returns that RegisterTaskDefinition rejects."""
    output = _ecs_model().shape_for("TaskDefinition")
    return frozenset(output.members) - frozenset(register_input_shape().members)  # type: ignore[attr-defined]


@cache
def register_members() -> frozenset[str]:
    return frozenset(register_input_shape().members)  # type: ignore[attr-defined]


@cache
def network_modes() -> frozenset[str]:
    """The values RegisterTaskDefinition accepts for networkMode (the validator skips enums)."""
    return frozenset(_ecs_model().shape_for("NetworkMode").enum)  # type: ignore[attr-defined]


def _describe(kind: str, path: str, details: dict[str, Any]) -> str:
    path = path.lstrip(".") or "(request)"
    if kind == "unknown field":
        return f"unknown member {path}.{details['unknown_param']}".replace("(request).", "")
    if kind == "missing required field":
        where = f"{path}." if path != "(request)" else ""
        return f"missing required member {where}{details['required_name']}"
    if kind == "invalid type":
        expected = ", ".join(t.replace("<class '", "").replace("'>", "") for t in details["valid_types"])
        return f"{path} has the wrong type (expected {expected})"
    if kind in ("invalid length", "invalid range"):
        return f"{path} is out of range"
    return f"{path}: {kind}"


def _validate(params: dict[str, Any], shape: Shape, prefix: str = "") -> list[str]:
    report = ParamValidator().validate(params, shape)
    if not report.has_errors():
        return []
    # _errors is (kind, dotted path, details); the public report embeds parameter values.
    return [_describe(kind, prefix + path, details) for kind, path, details in report._errors]


def validate_register_request(request: dict[str, Any]) -> list[str]:
    """Problems botocore would raise before sending RegisterTaskDefinition (empty when valid)."""
    return _validate(request, register_input_shape())


def container_shape() -> Shape:
    """The ContainerDefinition shape: a container as RegisterTaskDefinition takes it."""
    return _ecs_model().shape_for("ContainerDefinition")


def validate_container(container: dict[str, Any]) -> list[str]:
    problems = _validate(container, container_shape(), prefix="container")
    for required in ("name", "image"):
        if not container.get(required):
            problems.append(f"missing required member container.{required}")
    return problems


def image_repository(image: str) -> str:
    """``registry/ns/repo:tag@digest`` -> ``ns/repo``: the part that names the product."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts)


def container_member_paths(expanded: frozenset[str]) -> frozenset[str]:
    """Every member path of the ContainerDefinition shape (``container.user``), with the members of
    the structures named in ``expanded`` (``container.linuxParameters``) in their place."""
    found: set[str] = set()

    def walk(shape: Shape, prefix: str) -> None:
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            path = f"{prefix}.{name}"
            if path in expanded and member.type_name == "structure":
                walk(member, path)
            else:
                found.add(path)

    walk(container_shape(), "container")
    return frozenset(found)
