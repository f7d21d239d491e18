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

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..ecs import ecs_rules, schema
from ..ecs.arns import parse_arn
from ..ecs.taskdef import to_register_request
from . import exposure, profile_rules
from .app_wiring import (
    OTEL_ENDPOINT,
    OTEL_PROTOCOL,
    OTEL_TRACES_ENDPOINT,
    OTEL_TRACES_PROTOCOL,
    app_containers,
    wire_apps,
)
from .markers import (
    MARKER_KEYS,
    MARKER_MANAGED_BY,
    MARKER_PROFILE,
    MARKER_SOURCE,
    carried_tags,
    is_managed,
    marker_tags,
    older_revision,
    source_marker,
    source_of,
    tag_refusals,
)
from .policy import Policy
from .profile import Profile
from .refusals import neighbour_refusals, network_mode, platform_refusals
from .request import resize_change, tag, with_sidecar
from .sidecar import EQUIVALENTS, IMAGE_BOUND, drift, equivalents, find_sidecar, free_name, name_sidecar
from .sidecar import owned_name as _owned_name
from .task_role import TaskRole, task_role
from .task_size import fit_size

# What the service, the adapters, the tools and the tests import from here; the helpers live in
# markers, sidecar, refusals, request, task_size and app_wiring.
__all__ = [
    "DEFAULT_POLICY",
    "EQUIVALENTS",
    "IMAGE_BOUND",
    "MARKER_KEYS",
    "MARKER_MANAGED_BY",
    "MARKER_PROFILE",
    "MARKER_SOURCE",
    "MAX_TAGS",
    "OTEL_ENDPOINT",
    "OTEL_PROTOCOL",
    "OTEL_TRACES_ENDPOINT",
    "OTEL_TRACES_PROTOCOL",
    "Decision",
    "Plan",
    "app_containers",
    "drift",
    "equivalents",
    "find_sidecar",
    "free_name",
    "is_managed",
    "network_mode",
    "older_revision",
    "plan",
    "source_marker",
    "source_of",
]

MAX_TAGS = ecs_rules.MAX_TAGS

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
    # A plan remembered without its request (domain.planning.plan_memo keeps no task definition, whose
    # containers hold environment values): whether that request was there.
    kept_change: bool = False

    @property
    def changes_something(self) -> bool:
        """A new revision is planned (MISSING, or DRIFTED with upgrades on)."""
        return self.register_input is not None or self.kept_change

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
    unplannable = _unplannable(request, profile, policy)
    if unplannable is not None:
        return unplannable
    mode = network_mode(request)
    # the sidecar as it runs in this task: its listen host and the ports the policy publishes
    profile, exposure_problems = exposure.placed(profile, policy, mode)
    values, parameter_problems = profile.resolve(policy.parameters.get(profile.name, {}))
    parameter_problems += exposure_problems
    role = task_role(request, profile, values, parse_arn(source_arn))
    containers = request["containerDefinitions"]
    state = _sidecar_state(containers, profile, policy, values, parameter_problems, role)
    if isinstance(state, Plan):
        return state

    sidecar_name, name_refusals = name_sidecar(containers, profile, policy, state.upgrade)
    carried, markers = carried_tags(tags), marker_tags(profile, source_arn)
    refusals = [
        *_refusals(request, profile, policy, mode, state, parameter_problems),
        *name_refusals,
        *tag_refusals(carried, markers),
    ]
    apps = app_containers(containers, request, sidecar_name)
    result, changes = with_sidecar(request, profile, values, sidecar_name, apps, state.index)
    wired, unset = wire_apps(result, apps, profile, sidecar_name, mode)
    size_refusals, resize = fit_size(result, policy)
    if refusals or size_refusals:
        return Plan(Decision.REFUSED, profile, [*refusals, *size_refusals, *state.reasons])
    changes += [*wired, *resize_change(resize), *tag(result, carried, markers)]
    broken = _refuse_unsendable(request, result, mode, carried, profile)
    if broken is not None:
        return broken
    return _planned(profile, role, state, result, changes, resize, unset)


@dataclass(frozen=True)
class _SidecarState:
    """What the request is to do with the profile's sidecar, and the reasons found so far."""

    index: int | None  # the present sidecar's, when it is replaced in place
    upgrade: str | None  # its name then; None: the request adds the sidecar
    reasons: list[str]


def _decided(role: TaskRole, decision: Decision, profile: Profile, reasons: list[str]) -> Plan:
    """A plan that sends nothing, reporting the task role."""
    return Plan(
        decision, profile, reasons, task_role_arn=role.arn, permissions=role.needs, warnings=role.warnings
    )


def _unplannable(request: dict[str, Any], profile: Profile, policy: Policy) -> Plan | None:
    """REFUSED whatever the task runs: no containers, a request ECS would reject as it is, or a
    profile the policy does not allow."""
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
    return None


def _sidecar_state(
    containers: list[dict[str, Any]],
    profile: Profile,
    policy: Policy,
    values: dict[str, str],
    parameter_problems: list[str],
    role: TaskRole,
) -> Plan | _SidecarState:
    """The decision when the present sidecar settles it: it runs as its profile says (COMPLIANT), or
    it drifted and is not the enforcer's to replace (DRIFTED); else the sidecar to replace in place."""
    index = find_sidecar(containers, profile)
    if index is None:
        return _no_sidecar_state(containers, profile, policy)
    present = containers[index]
    differences = drift(present, profile, values)
    if not differences:
        why = f"container '{present.get('name')}' runs {profile.image} as {profile.label} says"
        return _decided(role, Decision.COMPLIANT, profile, [why, *parameter_problems])
    if not policy.upgrade_drifted:
        return _decided(
            role, Decision.DRIFTED, profile, [*differences, "the policy does not upgrade drifted sidecars"]
        )
    name = str(present.get("name"))
    if not _owned_name(name, profile):
        return _decided(
            role,
            Decision.DRIFTED,
            profile,
            [
                *differences,
                f"container '{name}' was not added by the enforcer (it names its sidecar "
                f"'{profile.container_name}'): not replaced; rename it or upgrade it by hand",
            ],
        )
    return _SidecarState(index, name, differences)


def _no_sidecar_state(
    containers: list[dict[str, Any]], profile: Profile, policy: Policy
) -> Plan | _SidecarState:
    """No sidecar of the profile: COMPLIANT when an equivalent collector runs and the policy accepts
    it; else the sidecar to add."""
    reasons: list[str] = []
    collectors = equivalents(containers, profile)
    if collectors and policy.accept_equivalents:
        why = f"an equivalent collector runs: {', '.join(collectors)}; the policy accepts it"
        return Plan(Decision.COMPLIANT, profile, [why])
    if collectors:
        reasons.append(
            f"an equivalent collector runs ({', '.join(collectors)}); the policy requires {profile.name}"
        )
    return _SidecarState(None, None, reasons)


def _refusals(
    request: dict[str, Any],
    profile: Profile,
    policy: Policy,
    mode: str,
    state: _SidecarState,
    parameter_problems: list[str],
) -> list[str]:
    """What stops the change on this task: its platform, the profile's unresolved parameters, the
    other containers, and the profile's rules for this request and the sidecar it replaces."""
    containers = request["containerDefinitions"]
    others = [c for i, c in enumerate(containers) if i != state.index]
    present = containers[state.index] if state.upgrade is not None and state.index is not None else None
    return [
        *platform_refusals(request, profile, mode),
        *parameter_problems,
        *neighbour_refusals(others, profile, mode),
        *profile_rules.sidecar_refusals(request, profile, policy, present),
    ]


def _refuse_unsendable(
    request: dict[str, Any],
    result: dict[str, Any],
    mode: str,
    carried: list[dict[str, str]],
    profile: Profile,
) -> Plan | None:
    """REFUSED when the planned request is one never to send: invalid, or one ECS would answer with
    ClientException for every event of this service, or with which no task would start."""
    problems = schema.validate_register_request(result)
    if problems:  # a bug of ours, or a profile botocore's model does not accept: never send it
        return Plan(Decision.REFUSED, profile, [f"the planned request is invalid: {p}" for p in problems])
    started = set(ecs_rules.start_problems(request))
    broken = ecs_rules.request_problems(result, mode)
    broken += [p for p in ecs_rules.start_problems(result) if p not in started]
    if not broken:
        return None
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


def _planned(
    profile: Profile,
    role: TaskRole,
    state: _SidecarState,
    result: dict[str, Any],
    changes: list[str],
    resize: tuple[str, str] | None,
    unset: list[str],
) -> Plan:
    """The request to send: DRIFTED when it replaces the present sidecar, MISSING when it adds one."""
    reasons = state.reasons
    if state.upgrade is None:
        reasons = [*reasons, f"no container runs {' or '.join(profile.recognizes)}"]
    return Plan(
        Decision.DRIFTED if state.upgrade else Decision.MISSING,
        profile,
        reasons,
        changes,
        result,
        resize,
        task_role_arn=role.arn,
        permissions=role.needs,
        warnings=[*role.warnings, *unset],
        upgraded=state.upgrade,
    )
