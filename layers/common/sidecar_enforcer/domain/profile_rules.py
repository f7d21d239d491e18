"""What a profile's container may ask for. Pure: plain data in, one-line reasons out.

A custom profile document (a folder, an SSM parameter) is planned into every opted-in task and runs
with that task's IAM role: write access to the document must not become code running with the
host's privileges. So a profile whose container runs privileged or as root, adds Linux
capabilities, reaches host devices, mounts volumes or weakens its isolation is refused, unless the
platform team's policy allows that member for that profile name (``allowProfileMembers``).

On Fargate, container members Fargate does not take are refused when the sidecar is to be added,
before RegisterTaskDefinition would fail on them.

Reasons name the profile and the member path (``container.linuxParameters.capabilities.add``),
never an environment value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .policy import GUARDED, Policy
from .profile import Profile
from .taskdef import is_fargate

POLICY_KEY = "allowProfileMembers"
ENV_VAR = "ALLOWED_PROFILE_MEMBERS"

# Only tightens isolation: no allow-list needed.
HARMLESS_SECURITY_OPTIONS = frozenset({"no-new-privileges"})


def _is_set(value: Any) -> bool:
    """False, null and empty collections ask for nothing; 0 is a value."""
    return value is not None and value is not False and value not in ("", [], {})


def _linux(container: dict[str, Any]) -> dict[str, Any]:
    linux = container.get("linuxParameters")
    return linux if isinstance(linux, dict) else {}


def runs_as_root(user: Any) -> bool:
    """``user`` names root: "0", "root", "0:<gid>", "root:<group>" (the part before the colon)."""
    if not isinstance(user, str):
        return False
    name = user.partition(":")[0]
    return name == "root" or (name.isascii() and name.isdigit() and int(name) == 0)


def guarded_members(container: dict[str, Any]) -> list[str]:
    """The guarded members the container uses, in ``GUARDED`` order."""
    linux = _linux(container)
    capabilities = linux.get("capabilities")
    options = container.get("dockerSecurityOptions")
    used = {
        "container.privileged": container.get("privileged") is True,
        "container.user": runs_as_root(container.get("user")),
        "container.linuxParameters.capabilities.add": isinstance(capabilities, dict)
        and _is_set(capabilities.get("add")),
        "container.linuxParameters.devices": _is_set(linux.get("devices")),
        "container.mountPoints": _is_set(container.get("mountPoints")),
        "container.volumesFrom": _is_set(container.get("volumesFrom")),
        "container.dockerSecurityOptions": isinstance(options, list)
        and any(o not in HARMLESS_SECURITY_OPTIONS for o in options),
    }
    return [member for member in GUARDED if used[member]]


def _allow(profile: Profile, member: str) -> str:
    return (
        f"to allow it on purpose, the policy's {POLICY_KEY} ({ENV_VAR}) must list it: "
        f"{json.dumps({profile.name: [member]})}"
    )


def profile_refusals(profile: Profile, policy: Policy) -> list[str]:
    """One reason per guarded member the profile's container uses and the policy does not allow
    for the profile's name."""
    allowed = policy.allow_profile_members.get(profile.name, [])
    return [
        f"profile {profile.label}: {member} {GUARDED[member]}; {_allow(profile, member)}"
        for member in guarded_members(profile.container)
        if member not in allowed
    ]


def upgrade_refusals(present: dict[str, Any], profile: Profile, policy: Policy) -> list[str]:
    """An upgrade in place keeps the present sidecar's members and runs the profile's image in it:
    one reason per guarded member the present container uses that the policy does not allow for
    the profile's name."""
    allowed = policy.allow_profile_members.get(profile.name, [])
    return [
        f"container '{present.get('name')}' sets {member.removeprefix('container.')}, which "
        f"{GUARDED[member]}: an upgrade would run profile {profile.label}'s image with it; "
        f"{_allow(profile, member)}"
        for member in guarded_members(present)
        if member not in allowed
    ]


def sidecar_refusals(
    request: dict[str, Any], profile: Profile, policy: Policy, present: dict[str, Any] | None
) -> list[str]:
    """Why the planned sidecar cannot be: added (``present`` None), members Fargate does not take;
    upgraded in place (``present`` the container replaced), guarded members the policy does not
    allow."""
    if present is not None:
        return upgrade_refusals(present, profile, policy)
    return fargate_refusals(request, profile)


# Container members Fargate does not take, from the Amazon ECS Developer Guide, "Amazon ECS task
# definition differences for Fargate" (Task definition parameters):
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
# "not valid in Fargate tasks": disableNetworking, dnsSearchDomains, dnsServers,
# dockerSecurityOptions, extraHosts, gpu, links, privileged, maxSwap, swappiness (ipcMode and
# placementConstraints too, members of the task, not of a container); linuxParameters: "devices,
# sharedMemorySize, and tmpfs parameters are not supported", and the only capability to add is
# SYS_PTRACE (also the API reference, KernelCapabilities:
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_KernelCapabilities.html).
FARGATE_INVALID: tuple[str, ...] = (
    "disableNetworking",
    "dnsSearchDomains",
    "dnsServers",
    "dockerSecurityOptions",
    "extraHosts",
    "privileged",
    "linuxParameters.devices",
    "linuxParameters.maxSwap",
    "linuxParameters.sharedMemorySize",
    "linuxParameters.swappiness",
    "linuxParameters.tmpfs",
    # links and hostname are not supported in awsvpc mode, which Fargate requires: domain/ecs_rules
    # refuses them for every awsvpc task, Fargate or EC2.
)
FARGATE_CAPABILITIES = frozenset({"SYS_PTRACE"})


def _fargate_problems(container: dict[str, Any]) -> Iterator[str]:
    linux = _linux(container)
    for path in FARGATE_INVALID:
        parent, _, member = path.rpartition(".")
        holder = linux if parent else container
        if _is_set(holder.get(member)):
            yield f"container.{path}"
    capabilities = linux.get("capabilities")
    added = capabilities.get("add") if isinstance(capabilities, dict) else None
    others = sorted({str(c) for c in added or []} - FARGATE_CAPABILITIES)
    if others:
        yield f"container.linuxParameters.capabilities.add ({', '.join(others)}; only SYS_PTRACE)"
    requirements = container.get("resourceRequirements")
    if any(isinstance(r, dict) and r.get("type") == "GPU" for r in requirements or []):
        yield "container.resourceRequirements (a GPU)"


def fargate_refusals(request: dict[str, Any], profile: Profile) -> list[str]:
    """On a Fargate task, one reason per member of the profile's container Fargate does not take."""
    if not is_fargate(request):
        return []
    return [
        f"profile {profile.label} sets {what}, which Fargate does not take: "
        "the sidecar cannot be added to a Fargate task"
        for what in _fargate_problems(profile.container)
    ]
