"""Task definition + profile + policy -> decision, and when the enforcer should act, the register
request to send.

Decisions:
- COMPLIANT: the profile's sidecar runs as the profile says, or (policy allowing) an equivalent
  collector does.
- DRIFTED: the sidecar is present but differs from its profile (image, essential flag, ports,
  environment, command). With ``policy.upgrade_drifted`` a request replacing it is planned.
- MISSING: no sidecar; a request adding it is planned.
- REFUSED: the enforcer cannot change the task definition safely; ``reasons`` says why.

A planned request is the old task definition with every member kept except the read-only ones,
plus:
- the profile's sidecar container (its parameters from policy in its environment; its awslogs
  configuration mirroring the app's when the app logs with awslogs), under a free name when a
  foreign container already holds the profile's name;
- on each app container: ``OTEL_EXPORTER_OTLP_ENDPOINT``/``_PROTOCOL`` pointing at the sidecar when
  the user has not set them, a ``dependsOn`` START on the sidecar, and in ``bridge`` mode a link
  (localhost does not reach another container there: the sidecar's name is the host);
- on Fargate, the smallest valid task size that holds every container, when the old one does not
  and policy allows growth;
- the tags carried over (minus ``aws:`` system tags, which callers cannot set) plus marker tags
  naming the enforcer, the profile and the source revision.

Nothing is half-changed. Reasons and changes name containers, members, parameters and ports —
never values of environment variables or secrets.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .. import ENFORCER_NAME
from . import ecs_rules, profile_rules, schema, sizes
from .policy import Policy
from .profile import Profile
from .taskdef import container_ports, is_fargate, to_register_request

MARKER_MANAGED_BY = f"{ENFORCER_NAME}:managed-by"
MARKER_PROFILE = f"{ENFORCER_NAME}:profile"
MARKER_SOURCE = f"{ENFORCER_NAME}:source"
MARKER_KEYS = frozenset({MARKER_MANAGED_BY, MARKER_PROFILE, MARKER_SOURCE})
MAX_TAGS = ecs_rules.MAX_TAGS

OTEL_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"

# Collectors that receive the same telemetry as a profile's sidecar (image repository -> product).
# A profile's own ``recognizes`` wins: for the jaeger profile a Jaeger image is the sidecar itself.
EQUIVALENTS: dict[str, str] = {
    "otel/opentelemetry-collector": "OpenTelemetry Collector",
    "otel/opentelemetry-collector-contrib": "OpenTelemetry Collector",
    "otel/opentelemetry-collector-k8s": "OpenTelemetry Collector",
    "open-telemetry/opentelemetry-collector-releases/opentelemetry-collector": "OpenTelemetry Collector",
    "open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib": (
        "OpenTelemetry Collector"
    ),
    "amazon/aws-xray-daemon": "AWS X-Ray daemon",
    "xray/aws-xray-daemon": "AWS X-Ray daemon",
    "amazon/aws-otel-collector": "ADOT collector",
    "aws-observability/aws-otel-collector": "ADOT collector",
    "jaegertracing/jaeger": "Jaeger",
    "jaegertracing/all-in-one": "Jaeger",
}

DEFAULT_POLICY = Policy()


class Decision(StrEnum):
    COMPLIANT = "COMPLIANT"
    DRIFTED = "DRIFTED"
    MISSING = "MISSING"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class Plan:
    decision: Decision
    profile: Profile
    reasons: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    register_input: dict[str, Any] | None = None
    # (old, new) task size when the plan grows a Fargate task.
    resize: tuple[str, str] | None = None
    # What IAM's policy simulator should confirm for the task role: (action, resource) pairs.
    task_role_arn: str | None = None
    permissions: list[tuple[str, str]] = field(default_factory=list)
    # What a person should fix that does not stop the change (the sidecar still runs).
    warnings: list[str] = field(default_factory=list)
    # The name of the present sidecar the request replaces in place (DRIFTED, upgrades on).
    upgraded: str | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "decision": self.decision.value,
            "reasons": self.reasons,
            "profile": self.profile.label,
            "changes": self.changes,
        }
        if self.resize is not None:
            result["taskSize"] = {"from": self.resize[0], "to": self.resize[1]}
        if self.warnings:
            result["warnings"] = self.warnings
        if self.permissions:
            result["taskRole"] = {
                "arn": self.task_role_arn,
                "needs": [f"{action} on {resource}" for action, resource in self.permissions],
            }
        result["registerTaskDefinitionInput"] = self.register_input
        return result


def is_managed(tags: list[dict[str, str]]) -> bool:
    return any(t["key"] == MARKER_MANAGED_BY and t["value"] == ENFORCER_NAME for t in tags)


def source_of(tags: list[dict[str, str]]) -> str | None:
    return next((t["value"] for t in tags if t["key"] == MARKER_SOURCE), None)


def older_revision(
    source_arn: str | None, newest_arn: str | None, newest_tags: list[dict[str, str]]
) -> tuple[bool, str]:
    """A task definition revision that is not its family's newest ACTIVE one is never enforced:
    (whether the newest is the enforcer's compliant copy of it, the reason to report)."""
    if is_managed(newest_tags) and source_arn and source_of(newest_tags) == source_marker(source_arn):
        return (
            True,
            f"the family's newest ACTIVE revision {newest_arn} is the enforcer's compliant copy of it",
        )
    return False, (
        f"not the family's newest ACTIVE revision ({newest_arn} is): enforcing it would make a copy of "
        "an older release the family's newest; tag or register the newest revision instead"
    )


def source_marker(source_arn: str) -> str:
    """The source marker's value: the source revision's ARN, or when that is longer than a tag
    value may be (256 characters: a family name near its 255-character limit), its SHA-256."""
    if len(source_arn) <= ecs_rules.MAX_TAG_VALUE:
        return source_arn
    return "sha256:" + hashlib.sha256(source_arn.encode()).hexdigest()


def network_mode(request: dict[str, Any]) -> str:
    """The effective mode: absent means ``bridge`` on EC2/EXTERNAL Linux (Fargate demands awsvpc)."""
    mode = request.get("networkMode")
    if isinstance(mode, str) and mode:
        return mode
    return "awsvpc" if is_fargate(request) else "bridge"


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


def _repository(container: dict[str, Any]) -> str:
    return schema.image_repository(str(container.get("image", "")))


def find_sidecar(containers: list[dict[str, Any]], profile: Profile) -> int | None:
    """The index of the container that is this profile's sidecar (by image), preferring the one
    under the profile's own name."""
    found = [i for i, c in enumerate(containers) if _repository(c) in profile.recognizes]
    own = [i for i in found if containers[i].get("name") == profile.container_name]
    candidates = own or found
    return candidates[0] if candidates else None


def equivalents(containers: list[dict[str, Any]], profile: Profile) -> list[str]:
    """'container (product)' for each container running a collector equivalent to the profile's."""
    return [
        f"'{c.get('name')}' ({EQUIVALENTS[_repository(c)]}, {c.get('image')})"
        for c in containers
        if _repository(c) in EQUIVALENTS and _repository(c) not in profile.recognizes
    ]


def _owned_name(name: str, profile: Profile) -> bool:
    """Names the enforcer gives its sidecar: the profile's, or a free one derived from it."""
    base = re.escape(profile.container_name)
    return re.fullmatch(rf"{base}(-sidecar(-[0-9]+)?)?", name) is not None


def free_name(containers: list[dict[str, Any]], profile: Profile) -> str:
    taken = {c.get("name") for c in containers}
    name, n = f"{profile.container_name}-sidecar", 2
    while name in taken:
        name, n = f"{profile.container_name}-sidecar-{n}", n + 1
    return name


def _mapped_ports(container: dict[str, Any]) -> list[int]:
    mappings = container.get("portMappings")
    return sorted(
        {
            m["containerPort"]
            for m in (mappings if isinstance(mappings, list) else [])
            if isinstance(m, dict) and isinstance(m.get("containerPort"), int)
        }
    )


def drift(container: dict[str, Any], profile: Profile, values: dict[str, str]) -> list[str]:
    """How a present sidecar differs from its profile. Names only: never environment values."""
    name = container.get("name")
    found: list[str] = []
    if container.get("image") != profile.image:
        found.append(
            f"container '{name}' runs {container.get('image')}; profile {profile.label} pins {profile.image}"
        )
    if bool(container.get("essential", True)) != profile.essential:
        found.append(
            f"container '{name}' has essential={str(bool(container.get('essential', True))).lower()}; "
            f"the profile says {str(profile.essential).lower()}"
        )
    have, want = _mapped_ports(container), _mapped_ports(profile.container)
    if have != want:
        shown = ", ".join(map(str, have)) or "none"
        found.append(
            f"container '{name}' maps ports {shown}; the profile maps {', '.join(map(str, want)) or 'none'}"
        )
    current = {
        e.get("name"): e.get("value") for e in container.get("environment") or [] if isinstance(e, dict)
    }
    for key, value in profile.sidecar_environment(values).items():
        if key not in current:
            found.append(f"container '{name}' lacks environment {key}")
        elif current[key] != value:
            found.append(f"container '{name}' has another value for environment {key}")
    for member in ("command", "firelensConfiguration"):
        if member in profile.container and container.get(member) != profile.container[member]:
            found.append(f"container '{name}' has another {member} than the profile")
    return found


IMAGE_BOUND = ("command", "entryPoint", "healthCheck")


def _upgraded(container: dict[str, Any], profile: Profile, values: dict[str, str]) -> dict[str, Any]:
    """The present sidecar with the profile's managed members; its name, logging and anything else
    the team set are kept."""
    result = copy.deepcopy(container)
    result["image"] = profile.image
    result["essential"] = profile.essential
    if profile.container.get("portMappings"):
        result["portMappings"] = copy.deepcopy(profile.container["portMappings"])
    else:
        result.pop("portMappings", None)
    # How the old image was started and probed belongs to the old image (Jaeger v1 flags and
    # health ports break v2): the profile's, or none.
    for member in (*IMAGE_BOUND, "firelensConfiguration"):
        if member in profile.container:
            result[member] = copy.deepcopy(profile.container[member])
        elif member in IMAGE_BOUND:
            result.pop(member, None)
    wanted = profile.sidecar_environment(values)
    env = [
        e for e in result.get("environment") or [] if not (isinstance(e, dict) and e.get("name") in wanted)
    ]
    result["environment"] = env + [{"name": k, "value": v} for k, v in wanted.items()]
    return result


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
        image = str(c.get("image", "")).lower()  # the tag counts: aspnet:4.8-windowsservercore-ltsc2019
        if any(marker in image for marker in _WINDOWS_IMAGES):
            return f"container '{c.get('name')}' runs a Windows image"
        start = [*(c.get("entryPoint") or []), *(c.get("command") or [])][:1]
        if start and str(start[0]).lower() in _WINDOWS_SHELLS:
            return f"container '{c.get('name')}' starts {start[0]}"
    return None


def _platform_refusals(request: dict[str, Any], profile: Profile, mode: str) -> list[str]:
    reasons: list[str] = []
    windows = _windows_signal(request)
    if windows:
        reasons.append(f"a Windows task definition ({windows}) cannot run the Linux image {profile.image}")
    arch = str((request.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64")
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
    elif mode == "host" and not profile.allow_host_mode:
        ports = ", ".join(str(p) for p in profile.ports)
        reasons.append(
            f"networkMode 'host': the sidecar's ports ({ports}) would bind on the instance, so two "
            f"tasks on one instance collide; profile {profile.name} does not allow host mode"
        )
    return reasons


def _neighbour_refusals(containers: list[dict[str, Any]], profile: Profile, mode: str) -> list[str]:
    """Conflicts with the other containers (the sidecar itself excluded): ports, FireLens."""
    reasons: list[str] = []
    if mode in ("awsvpc", "host"):
        wanted = set(profile.ports)
        for c in containers:
            clash = sorted(container_ports(c) & wanted)
            if clash:
                reasons.append(
                    f"container '{c.get('name')}' already uses port {', '.join(map(str, clash))}, "
                    f"which the {profile.name} sidecar needs (containers of an {mode} task share ports)"
                )
    if profile.container.get("firelensConfiguration"):
        for c in containers:
            if c.get("firelensConfiguration"):
                reasons.append(
                    f"container '{c.get('name')}' is already the task's FireLens log router and ECS allows "
                    f"one per task: add the {profile.name} OTLP inputs to its configuration instead"
                )
    return reasons


def _fit_size(request: dict[str, Any], policy: Policy) -> tuple[list[str], tuple[str, str] | None]:
    """Check (and on Fargate, when policy allows, grow) the task size so it holds every container:
    the sum of reservations (memoryReservation, else memory; cpu) and every hard memory limit.
    Changes ``request`` in place; returns the refusals and the (old, new) size when grown."""
    fargate = is_fargate(request)
    try:
        task_cpu = sizes.parse_cpu(request.get("cpu"))
        task_memory = sizes.parse_memory(request.get("memory"))
    except ValueError as exc:
        return [str(exc)], None
    containers = request["containerDefinitions"]
    reserved = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers)
    limit = max(int(c.get("memory") or 0) for c in containers)
    cpu = sum(int(c.get("cpu") or 0) for c in containers)
    if fargate:
        if task_cpu is None or task_memory is None:
            return ["a Fargate task definition needs task-level cpu and memory"], None
        need_cpu, need_memory = max(task_cpu, cpu), max(task_memory, reserved, limit)
        if (need_cpu, need_memory) == (task_cpu, task_memory):
            if sizes.is_fargate_size(task_cpu, task_memory):
                return [], None
            return [f"{sizes.describe(task_cpu, task_memory)} is not a valid Fargate task size"], None
        old = sizes.describe(task_cpu, task_memory)
        held = f"with the sidecar the containers need {sizes.describe(cpu, max(reserved, limit))}"
        target = sizes.smallest_fargate_size(need_cpu, need_memory)
        if target is None:
            return [f"{held}, more than any Fargate task size"], None
        new = sizes.describe(*target)
        if not policy.grow_task_size:
            return [
                f"{held}, more than the task's {old}; the policy does not allow growing it to {new}"
            ], None
        request["cpu"], request["memory"] = str(target[0]), str(target[1])
        return [], (old, new)
    reasons = []
    if task_memory is not None:
        if reserved > task_memory:
            reasons.append(
                f"with the sidecar the containers reserve {reserved} MiB, more than the task's "
                f"{task_memory} MiB; raise the task memory"
            )
        if limit > task_memory:
            reasons.append(f"a container's memory limit {limit} MiB exceeds the task's {task_memory} MiB")
    if task_cpu is not None and cpu > task_cpu:
        reasons.append(
            f"with the sidecar the containers reserve {cpu} CPU units, more than the task's {task_cpu}; "
            "raise the task cpu"
        )
    return reasons, None


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


def _wire(
    container: dict[str, Any], profile: Profile, sidecar: str, bridge: bool, waits: bool = True
) -> tuple[list[str], list[str]]:
    """Point one app container at the sidecar; return what changed and what a person should set
    themselves (names only). ``waits`` false: the sidecar itself waits for this container (an init
    container writing its configuration), so it does not wait for the sidecar in turn."""
    name = container.get("name")
    host = sidecar if bridge else "localhost"
    changes: list[str] = []
    warnings: list[str] = []
    if profile.otlp is not None:
        present = _env_names(container)
        secret = {s.get("name") for s in container.get("secrets") or [] if isinstance(s, dict)}
        hidden = sorted(n for n in (OTEL_PROTOCOL, OTEL_TRACES_PROTOCOL) if n in secret)
        configured = OTEL_ENDPOINT in present or OTEL_TRACES_ENDPOINT in present
        if not configured and (container.get("environmentFiles") or hidden):
            # The port depends on the protocol (gRPC or HTTP), which the enforcer cannot read here.
            where = f"a secret ({', '.join(hidden)})" if hidden else "environmentFiles"
            warnings.append(
                f"container '{name}' sets its OTLP settings in {where}, which the enforcer cannot read: "
                f"{OTEL_ENDPOINT} left unset so no value of yours is overridden; set it to reach the "
                f"sidecar ({host}:{profile.otlp.grpc_port} for grpc, {host}:{profile.otlp.http_port} "
                "for http/protobuf)"
            )
        elif not configured:
            env = container.setdefault("environment", [])
            # The SDK prefers the traces-specific protocol.
            user = {e.get("name"): e.get("value") for e in env if isinstance(e, dict)}
            protocol = user.get(OTEL_TRACES_PROTOCOL) or user.get(OTEL_PROTOCOL) or profile.otlp.protocol
            port = profile.otlp.grpc_port if protocol == "grpc" else profile.otlp.http_port
            env.append({"name": OTEL_ENDPOINT, "value": f"http://{host}:{port}"})
            added = [OTEL_ENDPOINT]
            if OTEL_PROTOCOL not in present:
                env.append({"name": OTEL_PROTOCOL, "value": protocol})
                added.append(OTEL_PROTOCOL)
            changes.append(f"{name}: set {', '.join(added)} (OTLP to {host}:{port})")
    if not waits:
        changes.append(f"{name}: no dependsOn {sidecar}, which itself waits for {name} to start")
    elif not any(
        d.get("containerName") == sidecar for d in container.get("dependsOn") or [] if isinstance(d, dict)
    ):
        container.setdefault("dependsOn", []).append({"containerName": sidecar, "condition": "START"})
        changes.append(f"{name}: dependsOn {sidecar} START")
    if bridge:
        links = container.setdefault("links", [])
        if not any(str(link).split(":", 1)[0] == sidecar for link in links):
            links.append(sidecar)
            changes.append(f"{name}: link {sidecar}")
    return changes, warnings


def plan(
    task_definition: dict[str, Any],
    tags: list[dict[str, str]],
    profile: Profile,
    policy: Policy = DEFAULT_POLICY,
    *,
    source_arn: str | None = None,
) -> Plan:
    """Decide for one task definition. Pure: the inputs are not modified."""
    request = to_register_request(task_definition)
    source_arn = source_arn or task_definition.get("taskDefinitionArn")
    containers = request.get("containerDefinitions")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        return Plan(Decision.REFUSED, profile, ["the task definition has no container definitions"])

    problems = schema.validate_register_request(request)
    if problems:  # a hand-written file; whatever ECS returns passes
        return Plan(
            Decision.REFUSED, profile, [f"RegisterTaskDefinition would reject it: {p}" for p in problems]
        )
    guarded = profile_rules.profile_refusals(profile, policy)
    if guarded:  # whatever the task runs: the profile itself is not allowed
        return Plan(Decision.REFUSED, profile, guarded)
    values, parameter_problems = profile.resolve(policy.parameters.get(profile.name, {}))
    role = request.get("taskRoleArn") if isinstance(request.get("taskRoleArn"), str) else None
    needs = [(p.action, profile.resources(p, values)) for p in profile.task_role_permissions] if role else []
    warnings = []
    if profile.task_role_permissions and not role:
        actions = ", ".join(sorted({p.action for p in profile.task_role_permissions}))
        warnings.append(
            f"the task has no taskRoleArn: the {profile.name} sidecar cannot call AWS; "
            f"give the task a role allowing {actions}"
        )

    def decided(decision: Decision, reasons: list[str]) -> Plan:
        return Plan(decision, profile, reasons, task_role_arn=role, permissions=needs, warnings=warnings)

    index = find_sidecar(containers, profile)
    upgrade: str | None = None  # the present sidecar's name, when it is to be replaced
    reasons: list[str] = []
    if index is not None:
        present = containers[index]
        differences = drift(present, profile, values)
        if not differences:
            why = f"container '{present.get('name')}' runs {profile.image} as {profile.label} says"
            return decided(Decision.COMPLIANT, [why, *parameter_problems])
        if not policy.upgrade_drifted:
            return decided(Decision.DRIFTED, [*differences, "the policy does not upgrade drifted sidecars"])
        name = str(present.get("name"))
        if not _owned_name(name, profile):
            return decided(
                Decision.DRIFTED,
                [
                    *differences,
                    f"container '{name}' was not added by the enforcer (it names its sidecar "
                    f"'{profile.container_name}'): not replaced; rename it or upgrade it by hand",
                ],
            )
        upgrade = name
        reasons = differences
    else:
        collectors = equivalents(containers, profile)
        if collectors and policy.accept_equivalents:
            why = f"an equivalent collector runs: {', '.join(collectors)}; the policy accepts it"
            return Plan(Decision.COMPLIANT, profile, [why])
        if collectors:
            reasons.append(
                f"an equivalent collector runs ({', '.join(collectors)}); the policy requires {profile.name}"
            )

    mode = network_mode(request)
    refusals = [*_platform_refusals(request, profile, mode), *parameter_problems]
    others = [c for i, c in enumerate(containers) if i != index]
    refusals.extend(_neighbour_refusals(others, profile, mode))
    present = containers[index] if upgrade is not None and index is not None else None
    refusals.extend(profile_rules.sidecar_refusals(request, profile, policy, present))
    sidecar_name = upgrade or profile.container_name
    if upgrade is None and any(c.get("name") == sidecar_name for c in containers):
        if policy.rename_on_conflict:
            sidecar_name = free_name(containers, profile)
        else:
            refusals.append(
                f"container '{profile.container_name}' already exists with another image and the policy "
                "does not rename the sidecar; rename yours or add the sidecar by hand"
            )
    carried = [t for t in tags if not t["key"].startswith("aws:") and t["key"] not in MARKER_KEYS]
    markers = [
        {"key": MARKER_MANAGED_BY, "value": ENFORCER_NAME},
        {"key": MARKER_PROFILE, "value": profile.label},
    ]
    if source_arn:
        markers.append({"key": MARKER_SOURCE, "value": source_marker(source_arn)})
    if len(carried) + len(markers) > MAX_TAGS:
        refusals.append(
            f"the task definition has {len(carried)} tags; the enforcer's markers would exceed {MAX_TAGS}"
        )

    result = copy.deepcopy(request)
    containers = result["containerDefinitions"]
    apps = app_containers(containers, result, sidecar_name)
    changes: list[str] = []
    if upgrade is not None:
        assert index is not None
        dropped = [m for m in IMAGE_BOUND if m in containers[index] and m not in profile.container]
        containers[index] = _upgraded(containers[index], profile, values)
        changes.append(f"upgrade container '{upgrade}' to {profile.image} ({profile.label})")
        if dropped:
            changes.append(f"{upgrade}: {', '.join(dropped)} of the old image removed")
    else:
        sidecar = copy.deepcopy(profile.container)
        sidecar["name"] = sidecar_name
        extra = {k: v for k, v in profile.sidecar_environment(values).items() if k not in profile.environment}
        if extra:
            sidecar.setdefault("environment", []).extend({"name": k, "value": v} for k, v in extra.items())
        log = _awslogs_of(containers, apps, profile.log_stream_prefix)
        if log is not None:
            sidecar["logConfiguration"] = log
        essential = str(profile.essential).lower()
        renamed = (
            f", renamed: '{profile.container_name}' is taken"
            if sidecar_name != profile.container_name
            else ""
        )
        changes.append(f"add container '{sidecar_name}' ({profile.image}, essential={essential}{renamed})")
        if extra:
            changes.append(f"{sidecar_name}: environment {', '.join(extra)} from the policy")
        if log is not None:
            changes.append(f"{sidecar_name}: awslogs like the app, stream prefix {profile.log_stream_prefix}")
        containers.append(sidecar)
    bridge = mode == "bridge"
    waited = ecs_rules.waited_for(result, sidecar_name)
    for i in apps:
        waits = containers[i].get("name") not in waited
        wired, unset = _wire(containers[i], profile, sidecar_name, bridge, waits)
        changes.extend(wired)
        warnings.extend(unset)
    size_refusals, resize = _fit_size(result, policy)
    refusals.extend(size_refusals)
    if refusals:
        return Plan(Decision.REFUSED, profile, [*refusals, *reasons])
    if resize is not None:
        changes.append(f"task size {resize[0]} -> {resize[1]}, the smallest valid Fargate size that holds it")
    result["tags"] = carried + markers
    changes.append("tags: carried over, plus markers " + ", ".join(m["key"] for m in markers))

    problems = schema.validate_register_request(result)
    if problems:  # a bug of ours, or a profile botocore's model does not accept: never send it
        return Plan(Decision.REFUSED, profile, [f"the planned request is invalid: {p}" for p in problems])
    # ECS would answer ClientException for every event of this service, or no task would start:
    # never send it.
    started = set(ecs_rules.start_problems(request))
    broken = ecs_rules.request_problems(result, mode)
    broken += [p for p in ecs_rules.start_problems(result) if p not in started]
    if broken:
        already = set(ecs_rules.request_problems({**request, "tags": carried}, mode))
        return Plan(
            Decision.REFUSED,
            profile,
            [
                f"the task definition already breaks an ECS rule: {p}"
                if p in already
                else f"with the sidecar, {p}"
                for p in broken
            ],
        )
    if upgrade is None:
        reasons.append(f"no container runs {' or '.join(profile.recognizes)}")
    decision = Decision.DRIFTED if upgrade else Decision.MISSING
    return Plan(
        decision,
        profile,
        reasons,
        changes,
        result,
        resize,
        task_role_arn=role,
        permissions=needs,
        warnings=warnings,
        upgraded=upgrade,
    )
