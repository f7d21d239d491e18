"""What the task runs on and beside that stops the enforcer from adding its sidecar safely: a
Windows or foreign-architecture platform, a network mode the app cannot reach the sidecar in,
ports or a FireLens router the other containers already hold."""

from __future__ import annotations

from typing import Any

from ..ecs import schema
from ..ecs.taskdef import container_ports, is_fargate
from .profile import Profile


def network_mode(request: dict[str, Any]) -> str:
    """The effective mode: absent means ``bridge`` on EC2/EXTERNAL Linux (Fargate demands awsvpc)."""
    mode = request.get("networkMode")
    if isinstance(mode, str) and mode:
        return mode
    return "awsvpc" if is_fargate(request) else "bridge"


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


def platform_refusals(request: dict[str, Any], profile: Profile, mode: str) -> list[str]:
    """The operating system, architecture and network mode the profile's sidecar cannot serve in."""
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


def neighbour_refusals(containers: list[dict[str, Any]], profile: Profile, mode: str) -> list[str]:
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
