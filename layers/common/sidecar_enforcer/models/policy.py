"""What a platform team decides once for the fleet: how far the enforcer may go on its own.

The policy is data, read from the environment by ``config.Settings`` (or from a JSON file by the
CLI), and handed to the pure planner.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Policy(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    # A Fargate task too small for the sidecar moves to the smallest valid size that holds it.
    grow_task_size: bool = True
    # A sidecar that differs from its profile (image, ports, essential, environment, command) is
    # replaced by the profile's container in a new revision; off: reported as DRIFTED only.
    upgrade_drifted: bool = False
    # A task already running an OpenTelemetry collector, X-Ray daemon, ADOT or Jaeger counts as
    # compliant; off: the profile's sidecar is required all the same.
    accept_equivalents: bool = True
    # A foreign container holding the sidecar's name: add the sidecar under a free name; off: refuse.
    rename_on_conflict: bool = True
    # Values for the profiles' parameters: {"adot": {"AWS_PROMETHEUS_ENDPOINT": "https://..."}}.
    parameters: dict[str, dict[str, str]] = Field(default_factory=dict)
