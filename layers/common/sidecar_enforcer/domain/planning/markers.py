"""The enforcer's marker tags: which revisions it registered, with which profile, copied from which
source revision; and the tags a copy carries over from its source.

The service reads them to tell its own revisions from a team's; the ECS adapter writes and finds
them; the planner puts them on every request.
"""

from __future__ import annotations

import hashlib

from ... import ENFORCER_NAME
from ..ecs import ecs_rules
from .profile import Profile

MARKER_MANAGED_BY = f"{ENFORCER_NAME}:managed-by"
MARKER_PROFILE = f"{ENFORCER_NAME}:profile"
MARKER_SOURCE = f"{ENFORCER_NAME}:source"
MARKER_KEYS = frozenset({MARKER_MANAGED_BY, MARKER_PROFILE, MARKER_SOURCE})


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


def registered_for(tags: list[dict[str, str]], source_arn: str, profile_label: str) -> bool:
    """Whether a revision with these tags is the one the enforcer registered for this source
    revision and profile version (its marker tags say so)."""
    found = {t.get("key"): t.get("value") for t in tags}
    return (
        found.get(MARKER_SOURCE) == source_marker(source_arn) and found.get(MARKER_PROFILE) == profile_label
    )


def source_marker(source_arn: str) -> str:
    """The source marker's value: the source revision's ARN, or when that is longer than a tag
    value may be (256 characters: a family name near its 255-character limit), its SHA-256."""
    if len(source_arn) <= ecs_rules.MAX_TAG_VALUE:
        return source_arn
    return "sha256:" + hashlib.sha256(source_arn.encode()).hexdigest()


def carried_tags(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    """The source's tags a copy keeps: all but ``aws:`` system tags (callers cannot set them) and
    the markers of an earlier copy."""
    return [t for t in tags if not t["key"].startswith("aws:") and t["key"] not in MARKER_KEYS]


def marker_tags(profile: Profile, source_arn: str | None) -> list[dict[str, str]]:
    """The markers naming the enforcer, the profile and (when known) the source revision."""
    markers = [
        {"key": MARKER_MANAGED_BY, "value": ENFORCER_NAME},
        {"key": MARKER_PROFILE, "value": profile.label},
    ]
    if source_arn:
        markers.append({"key": MARKER_SOURCE, "value": source_marker(source_arn)})
    return markers


def tag_refusals(carried: list[dict[str, str]], markers: list[dict[str, str]]) -> list[str]:
    """ECS allows at most ``MAX_TAGS`` tags: the refusal when the markers do not fit beside the
    carried ones."""
    if len(carried) + len(markers) > ecs_rules.MAX_TAGS:
        return [
            f"the task definition has {len(carried)} tags; the enforcer's markers would exceed "
            f"{ecs_rules.MAX_TAGS}"
        ]
    return []
