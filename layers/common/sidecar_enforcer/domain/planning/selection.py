"""Which services opt in, and to which profile, from their tags and their cluster's tags.

The tag's value names a profile; ``required``/``true`` (and a bare key) mean the default profile;
``off``/``false``/``exempt`` opt out. ``audit`` (the default profile) or ``<profile>:audit`` opt in
in audit mode: what would change is reported, nothing is changed — a team can try the enforcer
on one service before enforcing. A service's own tag wins over its cluster's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_VALUES = frozenset({"", "required", "true", "yes", "on", "enabled"})
OPT_OUT_VALUES = frozenset({"off", "false", "exempt", "no", "disabled"})
AUDIT = "audit"


@dataclass(frozen=True)
class Selection:
    profile: str | None  # None: not opted in
    reason: str
    audit: bool = False  # report only, whatever the global mode

    @property
    def opted_in(self) -> bool:
        return self.profile is not None


def _decide(value: str, key: str, where: str, default_profile: str) -> Selection:
    word = value.strip().lower()
    if word in OPT_OUT_VALUES:
        return Selection(None, f"{where} tag {key}={value} opts out")
    audit = word == AUDIT or word.endswith(f":{AUDIT}")
    word = "" if word == AUDIT else word.removesuffix(f":{AUDIT}")
    how = " in audit mode" if audit else ""
    if word in DEFAULT_VALUES:
        return Selection(
            default_profile, f"{where} tag {key}={value} requires the default profile{how}", audit
        )
    return Selection(word, f"{where} tag {key}={value} requires profile '{word}'{how}", audit)


def select_profile(
    *,
    key: str,
    default_profile: str,
    own_tags: Mapping[str, str],
    cluster_tags: Mapping[str, str] | None = None,
    own_kind: str = "service",
) -> Selection:
    if key in own_tags:
        return _decide(own_tags[key], key, own_kind, default_profile)
    if cluster_tags is not None and key in cluster_tags:
        return _decide(cluster_tags[key], key, "cluster", default_profile)
    if cluster_tags is None:
        return Selection(None, f"the {own_kind} does not carry the tag {key}")
    return Selection(None, f"neither the {own_kind} nor its cluster carries the tag {key}")


def tag_dict(tags: object) -> dict[str, str]:
    """ECS tags ``[{"key": k, "value": v}]`` (CloudTrail and some exports spell them Key/Value)."""
    result: dict[str, str] = {}
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping):
                key = tag.get("key", tag.get("Key"))
                if isinstance(key, str):
                    result[key] = str(tag.get("value", tag.get("Value", "")) or "")
    return result
