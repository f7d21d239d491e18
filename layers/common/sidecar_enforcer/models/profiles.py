"""A profile is data: the sidecar container to add, how to recognise it, and how apps reach it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..domain import schema


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class Otlp(_Model):
    """How app containers are pointed at the sidecar (OpenTelemetry SDK environment variables)."""

    grpc_port: int = Field(ge=1, le=65535)
    http_port: int = Field(ge=1, le=65535)
    protocol: str = Field(default="grpc", pattern="^(grpc|http/protobuf)$")


class Profile(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    version: str = Field(min_length=1)
    description: str = ""
    # Image repositories (registry host and tag stripped) that count as this sidecar. The first
    # entry is the current one; the others are older lines of the same product (present, outdated).
    recognizes: list[str] = Field(min_length=1)
    architectures: list[str] = Field(default_factory=lambda: ["X86_64"])
    log_stream_prefix: str
    otlp: Otlp | None = None
    # A ContainerDefinition as RegisterTaskDefinition takes it (checked against botocore's model).
    container: dict[str, Any]

    @field_validator("container")
    @classmethod
    def _container_is_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = schema.validate_container(value)
        if problems:
            raise ValueError("; ".join(problems))
        image = str(value.get("image", ""))
        if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
            raise ValueError("container.image must pin a version tag (never 'latest')")
        return value

    @model_validator(mode="after")
    def _image_is_recognised(self) -> Profile:
        if schema.image_repository(self.image) not in self.recognizes:
            raise ValueError(f"container.image {self.image!r} is not in 'recognizes'")
        return self

    @property
    def container_name(self) -> str:
        return str(self.container["name"])

    @property
    def image(self) -> str:
        return str(self.container["image"])

    @property
    def ports(self) -> list[int]:
        return [int(p["containerPort"]) for p in self.container.get("portMappings", [])]

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"
