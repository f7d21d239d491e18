"""What a platform team decides once for the fleet: how far the enforcer may go on its own.

The policy is data, read from the environment by ``config.Settings`` (or from a JSON file by the
CLI), and handed to the pure planner.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# The container members a profile may use only when the policy allows them for its name
# (``allow_profile_members``; ``profile_rules`` refuses them otherwise): member path -> what it
# gives the sidecar. Every member of botocore's ContainerDefinition shape is either here or in
# ``profile_rules.OPEN`` (a test holds the two to the shape). The order is the order of the reasons.
GUARDED: dict[str, str] = {
    # what the task's execution role resolves on the task's behalf
    "container.secrets": "has the execution role read secrets (Secrets Manager, SSM) into the sidecar",
    "container.environmentFiles": "has the execution role read S3 objects into the sidecar's environment",
    "container.repositoryCredentials": "has the execution role read a registry secret to pull the image",
    "container.logConfiguration.secretOptions": "has the execution role read secrets into the log driver",
    "container.firelensConfiguration.options": (
        "has the execution role fetch a FireLens configuration from S3 "
        "(or sets options the enforcer does not know)"
    ),
    "container.credentialSpecs": "has the task fetch Active Directory credentials (gMSA) for the sidecar",
    # root, and the host's privileges
    "container.privileged": "runs the sidecar privileged (every capability, the host's devices)",
    "container.user": (
        "runs the sidecar as root, or as a user only its image defines (no user, a name, uid 0); "
        "a profile vouches with a numeric uid other than 0"
    ),
    "container.linuxParameters.capabilities.add": "adds Linux capabilities to the sidecar",
    "container.linuxParameters.devices": "exposes host devices to the sidecar",
    "container.resourceRequirements": "gives the sidecar GPUs or accelerators (host devices)",
    "container.mountPoints": "mounts the task's volumes (host paths, other containers' data) in the sidecar",
    "container.volumesFrom": "mounts other containers' volumes in the sidecar",
    "container.dockerSecurityOptions": "changes the sidecar's isolation (AppArmor, SELinux labels)",
    "container.systemControls": "sets kernel parameters, which apply to the whole task's namespaces",
    "container.ulimits": "changes the sidecar's resource limits on the host",
    # the network beyond the task
    "container.portMappings": (
        "publishes the sidecar's ports beyond the task (security groups, the instance's ports)"
    ),
    "container.links": "links the sidecar to the task's other containers",
    "container.hostname": "sets the sidecar's host name",
    "container.extraHosts": "rewrites the sidecar's /etc/hosts (where its names resolve)",
    "container.dnsServers": "changes the sidecar's DNS servers (where its names resolve)",
    "container.dnsSearchDomains": "changes the sidecar's DNS search domains (where its names resolve)",
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
    # Members of a profile's container the planner refuses (``GUARDED``: secrets, root, privileges,
    # host devices, mounts, port mappings, name resolution) that a platform team allows on purpose,
    # per profile name: {"my-agent": ["container.linuxParameters.capabilities.add"]}. Empty: none.
    allow_profile_members: dict[str, list[str]] = Field(default_factory=dict)
    # Ports of a profile's sidecar to map beyond the task, per profile name: {"jaeger": [16686]}.
    # None by default: apps reach the sidecar on localhost (awsvpc, host) or through their link
    # (bridge), which no port mapping serves; a published port also makes the sidecar listen on
    # every interface (``exposure``), where the task's security groups decide who reaches it.
    publish_ports: dict[str, list[Annotated[int, Field(ge=1, le=65535)]]] = Field(default_factory=dict)

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
