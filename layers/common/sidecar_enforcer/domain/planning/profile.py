"""A profile is data: the sidecar container to add, how to recognise it, and how apps reach it.

Documents are JSON in camelCase (``profiles/*.json``, or custom ones from a folder or an SSM
path). Validation errors name the field, e.g. ``container.portMappings.0.containerPort``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..ecs import schema
from ..ecs.taskdef import container_ports

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class Otlp(_Model):
    """How app containers are pointed at the sidecar (OpenTelemetry SDK environment variables)."""

    grpc_port: int = Field(ge=1, le=65535)
    http_port: int = Field(ge=1, le=65535)
    protocol: str = Field(default="grpc", pattern="^(grpc|http/protobuf)$")


class Parameter(_Model):
    """A value the platform team supplies in its policy (an endpoint, a config location): set as an
    environment variable of the sidecar, or (``env: false``) only used in ``taskRolePermissions``.
    Values are configuration, not secrets; reasons and changes name the parameter, never its value
    (a resource ARN a permission is checked on does appear in the task-role check's output)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = ""
    required: bool = True
    env: bool = True
    pattern: str | None = None  # a regular expression the whole value must match

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class Permission(_Model):
    """An IAM action the task role needs for the sidecar to work; checked with IAM's policy
    simulator. ``resource`` may name a parameter as ``${NAME}``; unset parameters mean ``*``."""

    action: str = Field(pattern=r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
    resource: str = "*"


class Profile(_Model):
    # Its whole path under PROFILES_DIR or PROFILES_SSM_PATH: "jaeger", or "team-a/jaeger" for a
    # document one level deeper (a deeper document never stands in for another path's profile).
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}(/[a-z0-9][a-z0-9-]{0,62})*$", max_length=128)
    version: str = Field(min_length=1)
    description: str = ""
    # Image repositories (registry host and tag stripped) that count as this sidecar. The first
    # entry is the current one; the others are older lines of the same product (present, drifted).
    recognizes: list[str] = Field(min_length=1)
    architectures: list[str] = Field(default_factory=lambda: ["X86_64"])
    log_stream_prefix: str
    otlp: Otlp | None = None
    # Ports the sidecar listens on without a port mapping (a collector's receivers).
    listens: list[int] = Field(default_factory=list)
    # The environment variable holding the address the sidecar's listeners bind: the document sets
    # it to a loopback address (apps reach the sidecar on localhost in awsvpc and host mode); the
    # planner sets it to every interface where apps come from elsewhere (``exposure``).
    listen_host_variable: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # In host mode the sidecar's ports bind on the instance: two tasks on one instance collide.
    allow_host_mode: bool = False
    parameters: list[Parameter] = Field(default_factory=list)
    task_role_permissions: list[Permission] = Field(default_factory=list)
    # A ContainerDefinition as RegisterTaskDefinition takes it (checked against botocore's model).
    container: dict[str, Any]

    @field_validator("container")
    @classmethod
    def _container_is_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = schema.validate_container(value)
        if problems:
            raise ValueError("; ".join(problems))
        image = str(value.get("image", ""))
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if tag in ("", "latest") and "@sha256:" not in image:
            raise ValueError("container.image must pin a version tag (never 'latest')")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", str(value["name"])):
            raise ValueError("container.name: up to 255 letters, numbers, hyphens and underscores")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if schema.image_repository(self.image) not in self.recognizes:
            raise ValueError(f"container.image {self.image!r} is not in 'recognizes'")
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise ValueError("parameters: a name appears twice")
        if self.listen_host_variable is not None and self.listen_host_variable not in self.environment:
            raise ValueError(
                f"listenHostVariable: {self.listen_host_variable} is not set in container.environment "
                "(set it to the loopback address the sidecar binds where apps reach it on localhost)"
            )
        clash = set(names) & set(self.environment)
        if clash:
            raise ValueError(f"parameters: {', '.join(sorted(clash))} also set in container.environment")
        for permission in self.task_role_permissions:
            unknown = set(_PLACEHOLDER.findall(permission.resource)) - set(names)
            if unknown:
                raise ValueError(f"taskRolePermissions: {permission.resource} names no parameter")
        return self

    @property
    def container_name(self) -> str:
        return str(self.container["name"])

    @property
    def image(self) -> str:
        return str(self.container["image"])

    @property
    def essential(self) -> bool:
        return bool(self.container.get("essential", True))

    @property
    def environment(self) -> dict[str, str]:
        return {str(e["name"]): str(e.get("value", "")) for e in self.container.get("environment") or []}

    @property
    def ports(self) -> list[int]:
        """Every port the sidecar binds: its mappings, its OTLP receivers and ``listens``."""
        found = container_ports(self.container, host_ports=False)
        if self.otlp is not None:
            found |= {self.otlp.grpc_port, self.otlp.http_port}
        return sorted(found | set(self.listens))

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def resolve(self, values: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """The parameter values to set (from policy) and the problems (names only, never values)."""
        chosen: dict[str, str] = {}
        problems: list[str] = []
        for parameter in self.parameters:
            value = values.get(parameter.name)
            if value in (None, ""):
                if parameter.required:
                    what = f" ({parameter.description})" if parameter.description else ""
                    problems.append(
                        f"the policy sets no value for {self.name} parameter {parameter.name}{what}"
                    )
                continue
            assert value is not None
            if parameter.pattern and not re.fullmatch(parameter.pattern, value):
                problems.append(
                    f"the policy's value for {self.name} parameter {parameter.name} does not match "
                    f"{parameter.pattern}"
                )
                continue
            chosen[parameter.name] = value
        unknown = sorted(set(values) - {p.name for p in self.parameters})
        if unknown:
            problems.append(f"the policy sets unknown {self.name} parameters: {', '.join(unknown)}")
        return chosen, problems

    def sidecar_environment(self, values: dict[str, str]) -> dict[str, str]:
        """What the sidecar's environment must hold: the profile's entries plus the parameters."""
        env_params = {p.name for p in self.parameters if p.env}
        return {**self.environment, **{k: v for k, v in values.items() if k in env_params}}

    def resources(self, permission: Permission, values: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or "*", permission.resource)
