"""Pointing the app containers at the sidecar: OTLP endpoint and protocol when the user has not set
them, a ``dependsOn`` START on the sidecar, and in ``bridge`` mode a link. Names only in what is
reported: never values of environment variables or secrets."""

from __future__ import annotations

from typing import Any

from ..ecs import ecs_rules
from .profile import Profile

OTEL_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"


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


def wire_apps(
    request: dict[str, Any], apps: list[int], profile: Profile, sidecar: str, mode: str
) -> tuple[list[str], list[str]]:
    """Wire every app container of ``request`` (changed in place) to the sidecar; return what
    changed and what a person should set themselves."""
    containers = request["containerDefinitions"]
    bridge = mode == "bridge"
    waited = ecs_rules.waited_for(request, sidecar)
    changes: list[str] = []
    warnings: list[str] = []
    for i in apps:
        waits = containers[i].get("name") not in waited
        wired, unset = _wire(containers[i], profile, sidecar, bridge, waits)
        changes.extend(wired)
        warnings.extend(unset)
    return changes, warnings
