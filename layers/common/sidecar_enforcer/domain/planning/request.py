"""The register request a plan sends: a copy of the task definition's with the profile's sidecar
upgraded in place or added (its awslogs configuration mirroring the app's), the task size it grew
to, and the tags. Each step says what it changed: container, member and parameter names, never
values of environment variables or secrets."""

from __future__ import annotations

import copy
from typing import Any

from .profile import Profile
from .sidecar import IMAGE_BOUND, upgraded


def with_sidecar(
    request: dict[str, Any],
    profile: Profile,
    values: dict[str, str],
    sidecar_name: str,
    apps: list[int],
    replaced: int | None,
) -> tuple[dict[str, Any], list[str]]:
    """A copy of the request with the sidecar upgraded in place (``replaced``: the present one's
    index, named ``sidecar_name``) or added; and the changes made."""
    result = copy.deepcopy(request)
    containers = result["containerDefinitions"]
    if replaced is not None:
        return result, _upgrade_sidecar(containers, replaced, sidecar_name, profile, values)
    return result, _add_sidecar(containers, apps, profile, values, sidecar_name)


def _upgrade_sidecar(
    containers: list[dict[str, Any]], index: int, name: str, profile: Profile, values: dict[str, str]
) -> list[str]:
    """Replace the present sidecar by the profile's container, keeping what the team set."""
    dropped = [m for m in IMAGE_BOUND if m in containers[index] and m not in profile.container]
    containers[index] = upgraded(containers[index], profile, values)
    changes = [f"upgrade container '{name}' to {profile.image} ({profile.label})"]
    if dropped:
        changes.append(f"{name}: {', '.join(dropped)} of the old image removed")
    return changes


def _add_sidecar(
    containers: list[dict[str, Any]],
    apps: list[int],
    profile: Profile,
    values: dict[str, str],
    sidecar_name: str,
) -> list[str]:
    """Append the profile's container: its parameters from policy in its environment, its awslogs
    configuration mirroring the app's."""
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
        f", renamed: '{profile.container_name}' is taken" if sidecar_name != profile.container_name else ""
    )
    changes = [f"add container '{sidecar_name}' ({profile.image}, essential={essential}{renamed})"]
    if extra:
        changes.append(f"{sidecar_name}: environment {', '.join(extra)} from the policy")
    if log is not None:
        changes.append(f"{sidecar_name}: awslogs like the app, stream prefix {profile.log_stream_prefix}")
    containers.append(sidecar)
    return changes


def _awslogs_of(containers: list[dict[str, Any]], apps: list[int], prefix: str) -> dict[str, Any] | None:
    """An added sidecar's log configuration: the first awslogs app's group, region and
    create-group option, under the profile's stream prefix; None when no app logs with awslogs."""
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


def resize_change(resize: tuple[str, str] | None) -> list[str]:
    """The change a grown Fargate task size makes."""
    if resize is None:
        return []
    return [f"task size {resize[0]} -> {resize[1]}, the smallest valid Fargate size that holds it"]


def tag(result: dict[str, Any], carried: list[dict[str, str]], markers: list[dict[str, str]]) -> list[str]:
    """Put the carried tags and the markers on the request."""
    result["tags"] = carried + markers
    return ["tags: carried over, plus markers " + ", ".join(m["key"] for m in markers)]
