"""What a person must add to a task definition to carry the profile's sidecar themselves: the
sidecar's container definition (ECS API JSON), what the app containers need (OTLP endpoint,
``dependsOn``, links), and the same as a Terraform ``container_definitions`` object and a
CloudFormation ``ContainerDefinitions`` entry, so a pipeline that keeps reverting the sidecar can
carry it (a team whose Terraform cannot merge a dynamic container array adds it by hand).

Values come from the profile and the policy only — never from the service's task definition: its
containers give names (the sidecar's free name, the app containers to wire) and nothing else, so no
environment value, secret, log group or other member of the service's own containers appears.

Environment values of the sidecar (the profile's entries and the policy's parameters): shown when
the profile is a shipped one (its documents are public, its parameters constrained by its patterns
to endpoints, hosts, ports and ARNs); for a custom profile only when the name does not look like a
credential and the value has a plainly harmless shape (a number, a word, a host, a URL without
credentials or query, a path, an ARN); otherwise a placeholder names where the value is. An
allow-list of shapes fails closed where a list of secret shapes would let an unforeseen one through.

Pure: no AWS, no environment. ``domain.planning.remedy_snippets`` writes the Terraform and CloudFormation.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from ..ecs.taskdef import to_register_request
from .app_wiring import OTEL_ENDPOINT, OTEL_PROTOCOL, app_containers
from .plan import Decision, Plan, find_sidecar, plan
from .policy import Policy
from .profile import Profile
from .remedy_snippets import cloudformation_snippet, terraform_snippet


@dataclass(frozen=True)
class AppChange:
    """What one app container needs beside the sidecar: members to add (append to its lists)."""

    name: str
    environment: tuple[dict[str, str], ...] = ()
    depends_on: tuple[dict[str, str], ...] = ()
    links: tuple[str, ...] = ()

    def members(self) -> dict[str, Any]:
        """The members to add, as ECS API JSON (camelCase); empty ones left out."""
        found: dict[str, Any] = {}
        if self.environment:
            found["environment"] = [dict(e) for e in self.environment]
        if self.depends_on:
            found["dependsOn"] = [dict(d) for d in self.depends_on]
        if self.links:
            found["links"] = list(self.links)
        return found


@dataclass(frozen=True)
class Remedy:
    container: dict[str, Any]  # the sidecar's container definition, as RegisterTaskDefinition takes it
    apps: tuple[AppChange, ...]
    steps: tuple[str, ...]
    terraform: str
    cloudformation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "containerDefinitions": [copy.deepcopy(self.container)],
            "appContainers": [{"name": a.name, **a.members()} for a in self.apps],
            "terraform": self.terraform,
            "cloudformation": self.cloudformation,
            "steps": list(self.steps),
        }


# -- which remedy ---------------------------------------------------------------------------------


def remedy(
    task_definition: dict[str, Any],
    decided: Plan,
    policy: Policy,
    *,
    shipped: bool,
) -> Remedy | None:
    """What a person adds to ``task_definition`` (the revision a pipeline deploys) so it carries
    the profile's sidecar, or None when adding it by hand would not cure the plan's decision.

    ``decided`` is the enforcer's plan for it. A plan with a request (the sidecar missing, or a
    drifted one the enforcer would upgrade) says where the sidecar goes and how the apps are wired.
    A plan without one is planned again without what only the enforcer's own policy and markers
    forbid (growing a Fargate task, a free name, upgrading in place, room for its marker tags): a
    person may do those. A refusal that stays (the platform, the network mode, a port or FireLens
    router already taken, a profile parameter missing, a guarded profile member, an ECS rule) gets
    no remedy: the snippet would not cure it. ``shipped``: the profile is a shipped one, not
    replaced by a custom document (its values may be shown)."""
    if decided.decision is Decision.COMPLIANT:
        return None
    profile = decided.profile
    source = to_register_request(task_definition)
    containers = source.get("containerDefinitions")
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        return None
    candidate = decided
    if decided.register_input is None:
        relaxed = policy.model_copy(
            update={"grow_task_size": True, "rename_on_conflict": True, "upgrade_drifted": True}
        )
        candidate = plan(task_definition, [], profile, relaxed)
    values, _ = profile.resolve(policy.parameters.get(profile.name, {}))
    request = candidate.register_input
    if request is not None:
        planned = request["containerDefinitions"]
        index = find_sidecar(planned, profile)
        assert index is not None  # the request adds or upgrades it
        name = str(planned[index]["name"])
        apps = _app_changes(containers, request, name)
        replaces = candidate.upgraded
        resize = candidate.resize
    elif decided.decision is Decision.DRIFTED:  # a sidecar under a foreign name: upgrade it by hand
        index = find_sidecar(containers, profile)
        if index is None:
            return None
        name = replaces = str(containers[index]["name"])
        apps, resize = (), None
    else:
        return None
    container, hidden = sidecar_container(profile, values, name, shipped=shipped)
    steps = _steps(profile, name, apps, replaces, resize, hidden)
    members = {a.name: a.members() for a in apps}
    return Remedy(
        container=container,
        apps=apps,
        steps=tuple(steps),
        terraform=terraform_snippet(container, members),
        cloudformation=cloudformation_snippet(container, members),
    )


def _env_names(container: dict[str, Any]) -> set[str]:
    return {str(e.get("name")) for e in container.get("environment") or [] if isinstance(e, dict)}


_WIRED = (OTEL_ENDPOINT, OTEL_PROTOCOL)  # what app_wiring sets in an app container's environment


def _app_changes(
    source: list[dict[str, Any]], request: dict[str, Any], sidecar: str
) -> tuple[AppChange, ...]:
    """What the plan adds to each app container: names from the source, values the enforcer's own
    (the endpoint it builds from the sidecar's name or localhost and the profile's port; the
    protocol, one of the two the OpenTelemetry SDK reads). Nothing of the source's values."""
    before = {str(c.get("name")): c for c in source}
    planned = request["containerDefinitions"]
    changes = []
    for i in app_containers(planned, request, sidecar):
        after = planned[i]
        old = before.get(str(after.get("name")), {})
        had = _env_names(old)
        added = [
            e
            for e in after.get("environment") or []
            if isinstance(e, dict) and e.get("name") in _WIRED and e["name"] not in had
        ]
        environment = tuple(
            {"name": str(e["name"]), "value": _wired_value(str(e["name"]), str(e.get("value", "")))}
            for e in added
        )
        old_waits = [d for d in old.get("dependsOn") or [] if isinstance(d, dict)]
        depends_on = tuple(
            {"containerName": str(d["containerName"]), "condition": str(d["condition"])}
            for d in after.get("dependsOn") or []
            if isinstance(d, dict) and d.get("containerName") == sidecar and d not in old_waits
        )
        old_links = set(old.get("links") or [])
        links = tuple(
            str(link) for link in after.get("links") or [] if link == sidecar and link not in old_links
        )
        if environment or depends_on or links:
            changes.append(AppChange(str(after.get("name")), environment, depends_on, links))
    return tuple(changes)


# The protocols the OpenTelemetry SDK takes for OTEL_EXPORTER_OTLP_PROTOCOL (the enforcer copies
# an app's traces protocol when it set one: any other value of the app's is not repeated here).
_PROTOCOLS = frozenset({"grpc", "http/protobuf", "http/json"})
_ENDPOINT = re.compile(r"http://[A-Za-z0-9_-]{1,255}:[0-9]{1,5}")


def _wired_value(name: str, value: str) -> str:
    if name == OTEL_PROTOCOL and value not in _PROTOCOLS:
        return f"<your app's OTLP protocol: {' or '.join(sorted(_PROTOCOLS))}>"
    if name == OTEL_ENDPOINT and not _ENDPOINT.fullmatch(value):  # built by app_wiring: never here
        return "<the sidecar's OTLP endpoint>"
    return value


# -- the sidecar's container ----------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(?i)(secret|token|passw|pwd|key|private|credential|auth|"
    r"session|signature|cookie|licen[cs]e|dsn|cert|salt|bearer)"
)
# Shapes a custom profile's environment value may have to be shown: a number, a boolean, a lower
# case word (a log level, a mode), a host or IP (with a port), a URL without credentials, query or
# fragment, an absolute path, an ARN. Each at most 256 characters and without a run of 16 or more
# letters and digits mixing both (a key, a token, a hash).
_HARMLESS = (
    re.compile(r"-?[0-9]+(\.[0-9]+)?"),
    re.compile(r"(?i)true|false|yes|no|on|off"),
    re.compile(r"[a-z][a-z_-]{0,31}"),
    re.compile(r"(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)(:[0-9]{1,5})?"),
    re.compile(r"(https?|grpcs?|tcp|udp)://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?"),
    re.compile(r"/[A-Za-z0-9._/-]*"),
    re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:[A-Za-z0-9_./:-]+"),
)
_TOKEN = re.compile(r"(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{16,}")


def harmless(name: str, value: str) -> bool:
    """Whether a custom profile's environment value may be shown (see the module's docstring)."""
    if _SECRET_NAME.search(name) or len(value) > 256 or _TOKEN.search(value):
        return False
    return any(shape.fullmatch(value) for shape in _HARMLESS)


def placeholder(profile: Profile, name: str) -> str:
    if name in profile.environment:
        return f"<the value of {name} in profile {profile.label}: not shown>"
    return f"<the value of the policy's {profile.name} parameter {name}: not shown>"


def sidecar_container(
    profile: Profile, values: dict[str, str], name: str, *, shipped: bool
) -> tuple[dict[str, Any], list[str]]:
    """The profile's container under ``name``, its environment the profile's entries plus the
    policy's parameters (as the planner adds it); and the names whose values are not shown."""
    container = {"name": name, **{k: copy.deepcopy(v) for k, v in profile.container.items() if k != "name"}}
    environment = profile.sidecar_environment(values)
    hidden = [] if shipped else [k for k, v in environment.items() if not harmless(k, v)]
    if environment:
        container["environment"] = [
            {"name": k, "value": placeholder(profile, k) if k in hidden else v}
            for k, v in environment.items()
        ]
    return container, hidden


def _steps(
    profile: Profile,
    name: str,
    apps: tuple[AppChange, ...],
    replaces: str | None,
    resize: tuple[str, str] | None,
    hidden: list[str],
) -> list[str]:
    if replaces is not None:
        steps = [
            f"replace container '{replaces}' by the one in containerDefinitions ({profile.image}, "
            f"{profile.label}); keep its logConfiguration and what else your team set"
        ]
    else:
        steps = [
            f"add container '{name}' ({profile.image}, {profile.label}) to the task definition your pipeline "
            "registers: containerDefinitions holds it as the ECS API takes it, terraform as an object for "
            "container_definitions = jsonencode([...]), cloudformation as a ContainerDefinitions entry"
        ]
    for app in apps:
        added = [
            *(f"environment {e['name']}" for e in app.environment),
            *(f"dependsOn {d['containerName']} {d['condition']}" for d in app.depends_on),
            *(f"links {link}" for link in app.links),
        ]
        steps.append(f"in app container '{app.name}': add {', '.join(added)} (appContainers)")
    if resize is not None:
        steps.append(f"grow the task size from {resize[0]} to {resize[1]}: the containers need it")
    if replaces is None and "logConfiguration" not in profile.container:
        steps.append(
            f"give '{name}' a logConfiguration like your app's (awslogs: the same group and region, "
            f"awslogs-stream-prefix {profile.log_stream_prefix}), as the enforcer would"
        )
    if hidden:
        steps.append(
            f"set {', '.join(hidden)}: the values are not shown here (profile {profile.label} and the "
            "enforcer's policy hold them)"
        )
    return steps
