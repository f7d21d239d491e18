"""What a profile's container may ask for. Pure: plain data in, one-line reasons out.

A custom profile document (a folder, an SSM parameter) is planned into every opted-in task and runs
with that task's roles: write access to the document must not reach anything the platform team did
not grant. Every member of botocore's ContainerDefinition shape is classified: ``OPEN`` (what the
sidecar runs and how much of the task it takes) or ``policy.GUARDED`` (what the execution role
resolves for the task, root and the host's privileges, mounts, kernel parameters, the network
beyond the task). A guarded member is refused unless the platform team's policy allows it for that
profile name (``allowProfileMembers``); a member in neither list is refused until it is classified.

On Fargate, container members Fargate does not take are refused when the sidecar is to be added,
before RegisterTaskDefinition would fail on them.

Reasons name the profile and the member paths (``container.linuxParameters.capabilities.add``),
never an environment value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..ecs.taskdef import is_fargate
from .policy import GUARDED, Policy
from .profile import Profile
from .sidecar import IMAGE_BOUND

POLICY_KEY = "allowProfileMembers"
ENV_VAR = "ALLOWED_PROFILE_MEMBERS"

# The members of botocore's ContainerDefinition shape a profile may set without an allowance: what
# the sidecar runs and how much of the task it takes, none of which reaches beyond its own
# container. Every other member is in ``policy.GUARDED``; a member in neither (one botocore's model
# added since) is refused until it is classified, and a test fails while the shape has one.
OPEN: frozenset[str] = frozenset(
    {
        "container.name",
        "container.image",
        "container.cpu",
        "container.memory",
        "container.memoryReservation",
        "container.essential",
        "container.restartPolicy",
        "container.entryPoint",
        "container.command",
        "container.environment",  # the profile's own values: nothing resolved for the task
        "container.dependsOn",
        "container.startTimeout",
        "container.stopTimeout",
        "container.versionConsistency",
        "container.workingDirectory",
        "container.disableNetworking",
        "container.readonlyRootFilesystem",
        "container.interactive",
        "container.pseudoTerminal",
        "container.dockerLabels",
        "container.healthCheck",  # runs in the sidecar's own container
        "container.linuxParameters.capabilities.drop",
        "container.linuxParameters.initProcessEnabled",
        "container.linuxParameters.sharedMemorySize",
        "container.linuxParameters.tmpfs",
        "container.linuxParameters.maxSwap",
        "container.linuxParameters.swappiness",
        "container.logConfiguration.logDriver",
        "container.logConfiguration.options",
        "container.firelensConfiguration.type",
    }
)
# Structures classified member by member.
EXPANDED: frozenset[str] = frozenset(
    {
        "container.linuxParameters",
        "container.linuxParameters.capabilities",
        "container.logConfiguration",
        "container.firelensConfiguration",
    }
)

# Only tightens isolation: no allow-list needed.
HARMLESS_SECURITY_OPTIONS = frozenset({"no-new-privileges"})
# FireLens options that fetch nothing: the metadata switch, and a configuration file in the image.
HARMLESS_FIRELENS_OPTIONS = frozenset({"enable-ecs-log-metadata", "config-file-type", "config-file-value"})

# runc (github.com/moby/sys/user, GetExecUser) reads the user part of ``user[:group]`` as a uid
# when Go's strconv.Atoi takes it (an optional sign, ASCII digits), else as a name looked up in
# the image's /etc/passwd; an empty user part keeps the image's default, and uids run from 0 to
# 2^31 - 1. Docker starts the image's USER when ``user`` is unset.
_ATOI = re.compile(r"[+-]?[0-9]+")
MAX_UID = 2**31 - 1


def _is_set(value: Any) -> bool:
    """False, null and empty collections ask for nothing; 0 is a value."""
    return value is not None and value is not False and value not in ("", [], {})


def _linux(container: dict[str, Any]) -> dict[str, Any]:
    linux = container.get("linuxParameters")
    return linux if isinstance(linux, dict) else {}


def vouched_uid(user: Any) -> int | None:
    """The uid ``user`` starts the container as whatever its image says: a numeric user part other
    than 0 (``"10001"``, ``"10001:10001"``, ``"10001:staff"``); None when the image decides (unset,
    a name, an empty user part) or it is root (``"0"``, ``"00"``, ``"+0"``, ``"0:0"``)."""
    if not isinstance(user, str):
        return None
    name = user.partition(":")[0]
    if not _ATOI.fullmatch(name):
        return None
    uid = int(name)
    return uid if 0 < uid <= MAX_UID else None


def runs_as_root(user: Any) -> bool:
    """``user`` may start the container as root: unset, uid 0 in any spelling runc reads, or a name
    or empty user part, which only the image's /etc/passwd resolves."""
    return vouched_uid(user) is None


def _asks(path: str, value: Any) -> bool:
    """Whether a guarded member's value asks for more than its container."""
    if path == "container.privileged":
        return value is True
    if path == "container.dockerSecurityOptions":
        return isinstance(value, list) and any(o not in HARMLESS_SECURITY_OPTIONS for o in value)
    if path == "container.firelensConfiguration.options":
        options = value if isinstance(value, dict) else {}
        return (
            not set(options) <= HARMLESS_FIRELENS_OPTIONS or options.get("config-file-type", "file") != "file"
        )
    return _is_set(value)


def _walk(holder: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in holder.items():
        path = f"{prefix}.{key}"
        if path in EXPANDED and isinstance(value, dict):
            yield from _walk(value, path)
        else:
            yield path, value


def guarded_members(container: dict[str, Any]) -> list[str]:
    """The guarded members the container uses, in ``GUARDED`` order: ``container.user`` also when
    no user is set (the image's default may be root)."""
    used = {path for path, value in _walk(container, "container") if path in GUARDED and _asks(path, value)}
    used.discard("container.user")
    if runs_as_root(container.get("user")):
        used.add("container.user")
    return [member for member in GUARDED if member in used]


def unclassified_members(container: dict[str, Any]) -> list[str]:
    """Members the container sets that are in neither ``OPEN`` nor ``GUARDED``: ones botocore's model
    added since the enforcer classified its members."""
    return sorted(
        path for path, value in _walk(container, "container") if path not in OPEN and path not in GUARDED
    )


def _allow(profile: Profile, policy: Policy, members: list[str]) -> str:
    allowed = policy.allow_profile_members.get(profile.name, [])
    wanted = [m for m in GUARDED if m in allowed or m in members]
    return (
        f"to allow {'them' if len(members) > 1 else 'it'} on purpose, the policy's {POLICY_KEY} "
        f"({ENV_VAR}) must list {'them' if len(members) > 1 else 'it'}: {json.dumps({profile.name: wanted})}"
    )


def needs_allowance(profile: Profile) -> list[str]:
    """The guarded members the profile's container uses: what its name needs in ``allowProfileMembers``."""
    return guarded_members(profile.container)


def profile_refusals(profile: Profile, policy: Policy) -> list[str]:
    """One line naming every guarded member the profile's container uses that the policy does not
    allow for the profile's name, and the allowance that would; one line for members the enforcer
    has not classified, which no allowance permits."""
    allowed = policy.allow_profile_members.get(profile.name, [])
    missing = [m for m in needs_allowance(profile) if m not in allowed]
    reasons = []
    if missing:
        what = "; ".join(f"{member} {GUARDED[member]}" for member in missing)
        reasons.append(f"profile {profile.label}: {what}; {_allow(profile, policy, missing)}")
    unknown = unclassified_members(profile.container)
    if unknown:
        reasons.append(
            f"profile {profile.label} sets {', '.join(unknown)}, which the enforcer has not classified "
            "(a member newer than its rules): refused until it is; no allowance permits it"
        )
    return reasons


# What an upgrade in place takes from the profile (``sidecar.upgraded``); the present container's
# other members are kept.
_FROM_PROFILE = ("image", "essential", "portMappings", "firelensConfiguration", *IMAGE_BOUND)


def upgrade_refusals(present: dict[str, Any], profile: Profile, policy: Policy) -> list[str]:
    """An upgrade in place keeps the present sidecar's members and runs the profile's image in it:
    one line naming every guarded member the upgraded container would use that the policy does not
    allow for the profile's name."""
    allowed = policy.allow_profile_members.get(profile.name, [])
    kept = {k: v for k, v in present.items() if k not in _FROM_PROFILE}
    upgraded = {**kept, **{k: profile.container[k] for k in _FROM_PROFILE if k in profile.container}}
    missing = [m for m in guarded_members(upgraded) if m not in allowed]
    if not missing:
        return []
    what = "; ".join(f"{member.removeprefix('container.')}, which {GUARDED[member]}" for member in missing)
    return [
        f"container '{present.get('name')}' sets {what}: an upgrade would run profile {profile.label}'s "
        f"image with it; {_allow(profile, policy, missing)}"
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
