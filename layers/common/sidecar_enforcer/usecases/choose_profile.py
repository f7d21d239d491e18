"""Which profile a service or task definition asks for, read from its tags (and its cluster's),
checked against the catalog of profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..config import Mode, Settings
from ..domain.planning.profile import Profile
from ..domain.planning.selection import select_profile
from ..models.findings import Finding, Status
from ..profiles import Catalog
from .scope import Scope


@dataclass(frozen=True)
class Chosen:
    profile: Profile
    why: str  # the tag that opts it in
    scope: Scope  # in audit mode when the tag says so; warned when a custom document replaced the profile
    shipped: bool = False  # the shipped document itself: its values may be shown in a remedy


def choose_profile(
    settings: Settings,
    catalog: Callable[[], Catalog],
    scope: Scope,
    where: dict[str, Any],
    own_tags: dict[str, str],
    cluster_tags: dict[str, str] | None,
    own_kind: str,
) -> Chosen | Finding:
    """The profile the tags ask for, or the NOT_OPTED_IN / REFUSED finding."""
    selection = select_profile(
        key=settings.opt_in_tag_key,
        default_profile=settings.default_profile,
        own_tags=own_tags,
        cluster_tags=cluster_tags,
        own_kind=own_kind,
    )
    if selection.profile is None:
        return scope.finding(Status.NOT_OPTED_IN, **where, reasons=[selection.reason])
    profiles = catalog()
    profile = profiles.get(selection.profile)
    if profile is None:
        known = ", ".join(sorted(profiles.profiles)) or "none"
        problem = profiles.errors.get(selection.profile) or (
            f"no such profile exists (known: {known}): fix the tag to name one of them, "
            f"or add a profile named '{selection.profile}'"
        )
        reason = f"{selection.reason}, but {problem}"
        return scope.finding(Status.REFUSED, **where, profile=selection.profile, reasons=[reason])
    if selection.audit:
        scope = replace(scope, mode=Mode.AUDIT, audit_tag=True)
    replaced = profiles.replacement(selection.profile)
    if replaced:
        scope = scope.warned(replaced)
    return Chosen(profile, selection.reason, scope, profiles.is_shipped(selection.profile))
