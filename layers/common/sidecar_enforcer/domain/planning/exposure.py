"""Where the sidecar listens and which of its ports are mapped: nothing beyond what the apps of the
task need unless the policy asks. Pure.

Apps reach the sidecar on localhost in ``awsvpc`` mode (the task's containers share one network
namespace) and in ``host`` mode (the instance's), so a sidecar listening on 127.0.0.1 serves them
and nothing else; a port mapping adds nothing there but a way in for whatever the security groups
admit. In ``bridge`` mode each container has its own namespace and apps come over the bridge by
their link, which ECS documents as working "without the need for port mappings" (ContainerDefinition
``links``, Amazon ECS API reference): the sidecar listens on every interface, with no mapping.

A policy that publishes a port (``publishPorts``) gets the mapping, and the sidecar listens on every
interface so that the mapping reaches it.
"""

from __future__ import annotations

from typing import Any

from .policy import Policy
from .profile import Profile

LOOPBACK = "127.0.0.1"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - bridge mode and published ports need it, by design


def listen_host(mode: str, published: list[int]) -> str:
    """The address the sidecar binds in a task of network ``mode``."""
    return EVERY_INTERFACE if mode == "bridge" or published else LOOPBACK


def placed(profile: Profile, policy: Policy, mode: str) -> tuple[Profile, list[str]]:
    """The profile as its sidecar runs in a task of network ``mode``: its listen host set and the
    ports the policy publishes mapped; and what is wrong with the policy's ports (names only)."""
    published = sorted(set(policy.publish_ports.get(profile.name, [])))
    unknown = [p for p in published if p not in profile.ports]
    problems = (
        [
            f"the policy publishes port {', '.join(map(str, unknown))} of profile {profile.name}, which "
            f"its sidecar does not listen on ({', '.join(map(str, profile.ports))})"
        ]
        if unknown
        else []
    )
    container: dict[str, Any] = dict(profile.container)
    variable = profile.listen_host_variable
    if variable is not None:
        host = listen_host(mode, published)
        container["environment"] = [
            {**e, "value": host} if isinstance(e, dict) and e.get("name") == variable else e
            for e in profile.container.get("environment") or []
        ]
    mappings = list(profile.container.get("portMappings") or [])
    mapped = {m.get("containerPort") for m in mappings if isinstance(m, dict)}
    added = [
        {"containerPort": p, "protocol": "tcp"} for p in published if p not in unknown and p not in mapped
    ]
    if added:
        container["portMappings"] = mappings + added
    if container == profile.container:
        return profile, problems
    return profile.model_copy(update={"container": container}), problems
