"""The profile's sidecar in a task: finding it (or an equivalent collector), how it drifted from
its profile, the name the enforcer may give it, and its container as upgraded in place.

Names only in what is reported: never values of environment variables.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..ecs import schema
from .policy import Policy
from .profile import Profile

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

# How an image is started, probed and whom it runs as: an upgrade takes the profile's, or drops the
# old image's (a user the old image defined means nothing, or root, in the new one).
IMAGE_BOUND = ("command", "entryPoint", "healthCheck", "user")


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


def owned_name(name: str, profile: Profile) -> bool:
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
    for member in ("command", "firelensConfiguration", "user"):
        if member in profile.container and container.get(member) != profile.container[member]:
            found.append(f"container '{name}' has another {member} than the profile")
    return found


def upgraded(container: dict[str, Any], profile: Profile, values: dict[str, str]) -> dict[str, Any]:
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


def name_sidecar(
    containers: list[dict[str, Any]], profile: Profile, policy: Policy, upgrade: str | None
) -> tuple[str, list[str]]:
    """The sidecar's name: the replaced one's, the profile's, or (policy allowing) a free one when a
    foreign container holds the profile's; and the refusal when none may be taken."""
    sidecar_name = upgrade or profile.container_name
    if upgrade is None and any(c.get("name") == sidecar_name for c in containers):
        if policy.rename_on_conflict:
            return free_name(containers, profile), []
        return sidecar_name, [
            f"container '{profile.container_name}' already exists with another image and the policy "
            "does not rename the sidecar; rename yours or add the sidecar by hand"
        ]
    return sidecar_name, []
