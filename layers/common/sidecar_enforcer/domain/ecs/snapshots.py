"""ECS resources as the enforcer sees them at one moment: plain data read from the API's answers,
and the rules that only read them (what a service runs or rolls out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeploymentState:
    id: str
    status: str  # PRIMARY (the newest), ACTIVE (draining) or INACTIVE
    task_definition: str
    rollout_state: str | None = None  # IN_PROGRESS, COMPLETED, FAILED (circuit breaker)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> DeploymentState:
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "")),
            task_definition=str(data.get("taskDefinition", "")),
            rollout_state=data.get("rolloutState"),
        )


@dataclass(frozen=True)
class TaskState:
    """A task, and the lastStatus of each of its containers by name."""

    arn: str
    task_definition: str
    last_status: str
    containers: dict[str, str]
    stopped_reason: str | None = None


@dataclass(frozen=True)
class ServiceSnapshot:
    arn: str
    name: str
    cluster_arn: str
    status: str
    task_definition: str
    deployment_controller: str
    tags: dict[str, str] = field(default_factory=dict)
    deployments: tuple[DeploymentState, ...] = ()

    @property
    def rolling_out(self) -> tuple[str, ...]:
        """The revision(s) of the PRIMARY deployment: what the service is moving to."""
        return tuple(d.task_definition for d in self.deployments if d.status == "PRIMARY")

    def deploys(self, task_definition_arn: str) -> bool:
        """Whether the service already runs or is rolling out this revision (its PRIMARY)."""
        return task_definition_arn in (self.task_definition, *self.rolling_out)

    def deployment(self, deployment_id: str) -> DeploymentState | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)

    @property
    def cluster(self) -> str:
        return self.cluster_arn.rsplit("/", 1)[-1]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ServiceSnapshot:
        return cls(
            arn=data["serviceArn"],
            name=data["serviceName"],
            cluster_arn=data.get("clusterArn", ""),
            status=data.get("status", "ACTIVE"),
            task_definition=data.get("taskDefinition", ""),
            deployment_controller=(data.get("deploymentController") or {}).get("type", "ECS"),
            tags={t["key"]: t.get("value", "") for t in data.get("tags") or []},
            deployments=tuple(DeploymentState.from_api(d) for d in data.get("deployments") or []),
        )
