"""What a revision's plan was, remembered across runs.

A task definition revision never changes (RegisterTaskDefinition makes a new one), so its plan for
one profile document and one policy is known once it was made: a fleet audit run again describes
only revisions it has not seen. The memo keeps the decision and its words (names only, like every
status) and never the register request, whose containers hold environment values; a change it
remembers is made by planning afresh from the described revision.

Keyed by the revision's ARN within a *context*: a fingerprint of the profile document and the policy
(a profile edited under the same version, or a policy changed, plans afresh). What a memo does not
cover: a revision's tags, which can change (the enforcer's marker tags are set when it registers a
revision, not later).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from .plan import Decision, Plan
from .policy import Policy
from .profile import Profile

MEMO_VERSION = 1


def context(profile: Profile, policy: Policy) -> str:
    """The fingerprint a memo is valid for: the profile's label and a hash of the profile document
    and the policy."""
    document = json.dumps(
        {"profile": profile.model_dump(mode="json"), "policy": policy.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return f"{profile.label}#{hashlib.sha256(document.encode()).hexdigest()[:16]}"


def to_memo(plan: Plan, family: str) -> dict[str, Any]:
    memo: dict[str, Any] = {
        "v": MEMO_VERSION,
        "decision": plan.decision.value,
        "family": family,
        "reasons": list(plan.reasons),
        "changes": list(plan.changes),
        "warnings": list(plan.warnings),
        "change": plan.changes_something,
    }
    if plan.resize is not None:
        memo["resize"] = list(plan.resize)
    if plan.task_role_arn is not None:
        memo["taskRoleArn"] = plan.task_role_arn
        memo["permissions"] = [list(p) for p in plan.permissions]
    if plan.upgraded is not None:
        memo["upgraded"] = plan.upgraded
    return memo


def from_memo(memo: dict[str, Any], profile: Profile) -> tuple[Plan, str] | None:
    """The remembered plan (without its request) and the revision's family; None for a memo this
    version does not read."""
    if not isinstance(memo, dict) or memo.get("v") != MEMO_VERSION:
        return None
    try:
        resize = memo.get("resize")
        plan = Plan(
            decision=Decision(memo["decision"]),
            profile=profile,
            reasons=[str(r) for r in memo["reasons"]],
            changes=[str(c) for c in memo["changes"]],
            resize=(str(resize[0]), str(resize[1])) if resize else None,
            task_role_arn=memo.get("taskRoleArn"),
            permissions=[(str(a), str(r)) for a, r in memo.get("permissions", [])],
            warnings=[str(w) for w in memo.get("warnings", [])],
            upgraded=memo.get("upgraded"),
        )
        return replace(plan, kept_change=bool(memo["change"])), str(memo["family"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
