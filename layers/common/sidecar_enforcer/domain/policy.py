"""What a platform team decides once for the fleet: how far the enforcer may go on its own.

The policy is data, read from the environment by ``config.Settings`` (or from a JSON file by the
CLI), and handed to the pure planner.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# The container members a profile may use only when the policy allows them for its name
# (``allow_profile_members``; ``profile_rules`` refuses them otherwise): member path -> what it
# gives the sidecar. The order is the order of the reasons.
GUARDED: dict[str, str] = {
    "container.privileged": "runs the sidecar privileged (every capability, the host's devices)",
    "container.user": "runs the sidecar as root",
    "container.linuxParameters.capabilities.add": "adds Linux capabilities to the sidecar",
    "container.linuxParameters.devices": "exposes host devices to the sidecar",
    "container.mountPoints": "mounts the task's volumes (host paths, other containers' data) in the sidecar",
    "container.volumesFrom": "mounts other containers' volumes in the sidecar",
    "container.dockerSecurityOptions": "changes the sidecar's isolation (AppArmor, SELinux labels)",
}
GUARDED_MEMBERS = frozenset(GUARDED)


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
    # Members of a profile's container the planner refuses (privileged, root, added capabilities,
    # host devices, mounts, security options) that a platform team allows on purpose, per profile
    # name: {"my-agent": ["container.linuxParameters.capabilities.add"]}. Empty: none allowed.
    allow_profile_members: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("allow_profile_members")
    @classmethod
    def _guarded_members_only(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for members in value.values():
            if not set(members) <= GUARDED_MEMBERS:
                # names the members one may list, never the value given
                raise ValueError(
                    f"lists a member that is not guarded (one of: {', '.join(sorted(GUARDED_MEMBERS))})"
                )
        return value
