"""Task definition + profile -> decision, and for a missing sidecar the register request to send.

The request is the old task definition with every member kept except the read-only ones, plus:
- the profile's sidecar container (its awslogs configuration mirroring the app's, when the app
  logs with awslogs);
- on each app container: ``OTEL_EXPORTER_OTLP_ENDPOINT``/``_PROTOCOL`` pointing at the sidecar when
  the user has not set them, a ``dependsOn`` START on the sidecar, and in ``bridge`` mode a link
  (localhost does not reach another container there: the sidecar's name is the host);
- the tags carried over (minus ``aws:`` system tags, which callers cannot set) plus marker tags
  naming the enforcer, the profile and the source revision.

A task definition the enforcer cannot change safely is refused with reasons; it is never
half-changed. Reasons and changes name containers, members and ports — never values of
environment variables or secrets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .. import ENFORCER_NAME
from ..models.profiles import Profile
from . import schema, sizes
from .taskdef import to_register_request

MARKER_MANAGED_BY = f"{ENFORCER_NAME}:managed-by"
MARKER_PROFILE = f"{ENFORCER_NAME}:profile"
MARKER_SOURCE = f"{ENFORCER_NAME}:source"
MARKER_KEYS = frozenset({MARKER_MANAGED_BY, MARKER_PROFILE, MARKER_SOURCE})
MAX_TAGS = 50  # per ECS resource (ECS API reference, Tag)

OTEL_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"


class Decision(StrEnum):
    COMPLIANT = "COMPLIANT"
    OUTDATED = "OUTDATED"
    MISSING = "MISSING"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class Plan:
    decision: Decision
    profile: Profile
    reasons: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    register_input: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "reasons": self.reasons,
            "profile": self.profile.label,
            "changes": self.changes,
            "registerTaskDefinitionInput": self.register_input,
        }


def is_managed(tags: list[dict[str, str]]) -> bool:
    return any(t["key"] == MARKER_MANAGED_BY and t["value"] == ENFORCER_NAME for t in tags)


def source_of(tags: list[dict[str, str]]) -> str | None:
    return next((t["value"] for t in tags if t["key"] == MARKER_SOURCE), None)


def network_mode(request: dict[str, Any]) -> str:
    """The effective mode: absent means ``bridge`` on EC2/EXTERNAL Linux (Fargate demands awsvpc)."""
    mode = request.get("networkMode")
    if isinstance(mode, str) and mode:
        return mode
    return "awsvpc" if "FARGATE" in (request.get("requiresCompatibilities") or []) else "bridge"


def _container_ports(container: dict[str, Any]) -> set[int]:
    ports: set[int] = set()
    for mapping in container.get("portMappings") or []:
        if not isinstance(mapping, dict):
            continue
        for key in ("containerPort", "hostPort"):
            if isinstance(mapping.get(key), int) and mapping[key] > 0:
                ports.add(mapping[key])
        for key in ("containerPortRange", "hostPortRange"):
            low, _, high = str(mapping.get(key) or "").partition("-")
            if low.isdigit() and high.isdigit():
                ports.update(range(int(low), int(high) + 1))
    return ports


def _env_names(container: dict[str, Any]) -> set[str]:
    names = {e.get("name") for e in container.get("environment") or [] if isinstance(e, dict)}
    names |= {s.get("name") for s in container.get("secrets") or [] if isinstance(s, dict)}
    return {n for n in names if isinstance(n, str)}


def app_containers(containers: list[dict[str, Any]], request: dict[str, Any], sidecar: str) -> list[int]:
    """Indexes of the containers that get wired: all but the sidecar, FireLens log routers and the
    App Mesh proxy (``proxyConfiguration.containerName``)."""
    proxy = (request.get("proxyConfiguration") or {}).get("containerName")
    return [
        i
        for i, c in enumerate(containers)
        if c.get("name") != sidecar and not c.get("firelensConfiguration") and c.get("name") != proxy
    ]


_WINDOWS_IMAGES = ("windows/", "microsoft/iis", "microsoft/windowsservercore", "nanoserver", "servercore")
_WINDOWS_SHELLS = ("powershell", "powershell.exe", "pwsh.exe", "cmd", "cmd.exe")


def _windows_signal(request: dict[str, Any]) -> str | None:
    """Why the task looks like Windows: EC2 Windows task definitions often have no runtimePlatform."""
    os_family = str((request.get("runtimePlatform") or {}).get("operatingSystemFamily") or "")
    if os_family.upper().startswith("WINDOWS"):
        return os_family
    if any((v or {}).get("fsxWindowsFileServerVolumeConfiguration") for v in request.get("volumes") or []):
        return "an FSx for Windows File Server volume"
    for c in request["containerDefinitions"]:
        image = schema.image_repository(str(c.get("image", ""))).lower()
        if any(marker in image for marker in _WINDOWS_IMAGES):
            return f"container '{c.get('name')}' runs a Windows image"
        start = [*(c.get("entryPoint") or []), *(c.get("command") or [])][:1]
        if start and str(start[0]).lower() in _WINDOWS_SHELLS:
            return f"container '{c.get('name')}' starts {start[0]}"
    return None


def _refusals(request: dict[str, Any], profile: Profile, mode: str) -> list[str]:
    reasons: list[str] = []
    containers: list[dict[str, Any]] = request["containerDefinitions"]
    platform = request.get("runtimePlatform") or {}
    windows = _windows_signal(request)
    if windows:
        reasons.append(f"a Windows task definition ({windows}) cannot run the Linux image {profile.image}")
    arch = str(platform.get("cpuArchitecture") or "X86_64")
    if arch not in profile.architectures:
        reasons.append(
            f"profile {profile.label} has no {arch} image ({', '.join(profile.architectures)} only)"
        )
    if mode not in schema.network_modes():
        known = ", ".join(sorted(schema.network_modes()))
        reasons.append(
            f"networkMode {mode!r} is not one ECS accepts ({known}): cannot tell how to reach the sidecar"
        )
    elif mode == "none":
        reasons.append("networkMode 'none' gives the app no network to reach the sidecar")
    elif mode == "host":
        ports = ", ".join(str(p) for p in profile.ports)
        reasons.append(
            f"networkMode 'host': the sidecar's ports ({ports}) would bind on the instance, so two "
            "tasks on one instance collide; this profile does not allow host mode"
        )
    for c in containers:
        if c.get("name") == profile.container_name:
            reasons.append(
                f"container '{profile.container_name}' already exists with another image; "
                "rename it or add the sidecar by hand"
            )
    if mode in ("awsvpc", "host"):
        wanted = set(profile.ports)
        for c in containers:
            clash = sorted(_container_ports(c) & wanted)
            if clash:
                reasons.append(
                    f"container '{c.get('name')}' already uses port {', '.join(map(str, clash))}, "
                    f"which the {profile.name} sidecar needs (containers of an {mode} task share ports)"
                )
    reasons.extend(_size_refusals(request, profile))
    return reasons


def _size_refusals(request: dict[str, Any], profile: Profile) -> list[str]:
    """The sum of container reservations must fit in the task size (Fargate and, when task-level
    values are set, EC2). Growing the task is left to a later release: refuse instead."""
    fargate = "FARGATE" in (request.get("requiresCompatibilities") or [])
    try:
        task_cpu = sizes.parse_cpu(request.get("cpu"))
        task_memory = sizes.parse_memory(request.get("memory"))
    except ValueError as exc:
        return [str(exc)]
    if fargate and (task_cpu is None or task_memory is None):
        return ["a Fargate task definition needs task-level cpu and memory"]
    containers = [*request["containerDefinitions"], profile.container]
    reasons = []
    if task_memory is not None:
        reserved = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers)
        if reserved > task_memory:
            reasons.append(
                f"with the sidecar the containers reserve {reserved} MiB, more than the task's "
                f"{task_memory} MiB; raise the task memory"
            )
        sidecar_limit = int(profile.container.get("memory") or 0)
        if sidecar_limit > task_memory:
            reasons.append(
                f"the sidecar's memory limit {sidecar_limit} MiB exceeds the task's {task_memory} MiB"
            )
    if task_cpu is not None:
        used = sum(int(c.get("cpu") or 0) for c in containers)
        if used > task_cpu:
            reasons.append(
                f"with the sidecar the containers reserve {used} CPU units, more than the task's {task_cpu}; "
                "raise the task cpu"
            )
    return reasons


def _awslogs_of(containers: list[dict[str, Any]], apps: list[int], prefix: str) -> dict[str, Any] | None:
    for i in apps:
        log = containers[i].get("logConfiguration") or {}
        options = log.get("options") or {}
        if log.get("logDriver") == "awslogs" and options.get("awslogs-group"):
            mirrored = {k: v for k, v in options.items() if k in ("awslogs-group", "awslogs-region")}
            if options.get("awslogs-create-group"):
                mirrored["awslogs-create-group"] = options["awslogs-create-group"]
            mirrored["awslogs-stream-prefix"] = prefix
            return {"logDriver": "awslogs", "options": mirrored}
    return None


def _wire(container: dict[str, Any], profile: Profile, host: str, bridge: bool) -> list[str]:
    """Point one app container at the sidecar; return what changed (names only)."""
    name = container.get("name")
    sidecar = profile.container_name
    changes: list[str] = []
    if profile.otlp is not None:
        present = _env_names(container)
        if container.get("environmentFiles"):
            changes.append(
                f"{name}: loads environmentFiles, which may set {OTEL_ENDPOINT}; left unset so no value "
                "of yours is overridden (set it to reach the sidecar)"
            )
        elif OTEL_ENDPOINT not in present and OTEL_TRACES_ENDPOINT not in present:
            env = container.setdefault("environment", [])
            # The SDK prefers the traces-specific protocol; a secret-held one is unreadable here.
            user = {e.get("name"): e.get("value") for e in env if isinstance(e, dict)}
            protocol = user.get(OTEL_TRACES_PROTOCOL) or user.get(OTEL_PROTOCOL) or profile.otlp.protocol
            port = profile.otlp.grpc_port if protocol == "grpc" else profile.otlp.http_port
            env.append({"name": OTEL_ENDPOINT, "value": f"http://{host}:{port}"})
            added = [OTEL_ENDPOINT]
            if OTEL_PROTOCOL not in present:
                env.append({"name": OTEL_PROTOCOL, "value": protocol})
                added.append(OTEL_PROTOCOL)
            changes.append(f"{name}: set {', '.join(added)} (OTLP to {host}:{port})")
    depends = container.setdefault("dependsOn", [])
    if not any(d.get("containerName") == sidecar for d in depends if isinstance(d, dict)):
        depends.append({"containerName": sidecar, "condition": "START"})
        changes.append(f"{name}: dependsOn {sidecar} START")
    if bridge:
        links = container.setdefault("links", [])
        if not any(str(link).split(":", 1)[0] == sidecar for link in links):
            links.append(sidecar)
            changes.append(f"{name}: link {sidecar}")
    return changes


def plan(
    task_definition: dict[str, Any],
    tags: list[dict[str, str]],
    profile: Profile,
    *,
    source_arn: str | None = None,
) -> Plan:
    """Decide for one task definition. Pure: the input is not modified."""
    request = to_register_request(task_definition)
    source_arn = source_arn or task_definition.get("taskDefinitionArn")
    containers = request.get("containerDefinitions")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        return Plan(Decision.REFUSED, profile, ["the task definition has no container definitions"])

    present = [
        c for c in containers if schema.image_repository(str(c.get("image", ""))) in profile.recognizes
    ]
    if present:
        found = present[0]
        if found.get("image") == profile.image:
            return Plan(
                Decision.COMPLIANT,
                profile,
                [f"container '{found.get('name')}' runs {profile.image} ({profile.label})"],
            )
        return Plan(
            Decision.OUTDATED,
            profile,
            [
                f"container '{found.get('name')}' runs {found.get('image')}; "
                f"profile {profile.label} pins {profile.image}"
            ],
        )

    problems = schema.validate_register_request(request)
    if problems:
        return Plan(
            Decision.REFUSED, profile, [f"RegisterTaskDefinition would reject it: {p}" for p in problems]
        )
    mode = network_mode(request)
    reasons = _refusals(request, profile, mode)
    carried = [t for t in tags if not t["key"].startswith("aws:") and t["key"] not in MARKER_KEYS]
    markers = [
        {"key": MARKER_MANAGED_BY, "value": ENFORCER_NAME},
        {"key": MARKER_PROFILE, "value": profile.label},
    ]
    if source_arn:
        markers.append({"key": MARKER_SOURCE, "value": source_arn})
    if len(carried) + len(markers) > MAX_TAGS:
        reasons.append(
            f"the task definition has {len(carried)} tags; the enforcer's markers would exceed {MAX_TAGS}"
        )
    if reasons:
        return Plan(Decision.REFUSED, profile, reasons)

    result = copy.deepcopy(request)
    containers = result["containerDefinitions"]
    sidecar = copy.deepcopy(profile.container)
    apps = app_containers(containers, result, profile.container_name)
    log = _awslogs_of(containers, apps, profile.log_stream_prefix)
    if log is not None:
        sidecar["logConfiguration"] = log
    bridge = mode == "bridge"
    host = profile.container_name if bridge else "localhost"
    essential = str(sidecar.get("essential", True)).lower()
    changes = [f"add container '{profile.container_name}' ({profile.image}, essential={essential})"]
    if log is not None:
        changes.append(
            f"{profile.container_name}: awslogs like the app, stream prefix {profile.log_stream_prefix}"
        )
    for i in apps:
        changes.extend(_wire(containers[i], profile, host, bridge))
    containers.append(sidecar)
    result["tags"] = carried + markers
    changes.append("tags: carried over, plus markers " + ", ".join(m["key"] for m in markers))

    problems = schema.validate_register_request(result)
    if problems:  # a bug of ours, or a profile botocore's model does not accept: never send it
        return Plan(Decision.REFUSED, profile, [f"the planned request is invalid: {p}" for p in problems])
    return Plan(
        Decision.MISSING,
        profile,
        [f"no container runs {' or '.join(profile.recognizes)}"],
        changes,
        result,
    )
