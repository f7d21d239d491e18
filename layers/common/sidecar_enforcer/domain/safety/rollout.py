"""Which mode an account is in during a rollout, and how that mode combines with the others.

A platform team audits the whole organisation first, then switches one organisational unit (or one
account) at a time to enforce. The rollout policy (models.rollout) maps organisation ids to a mode:
an account id, an OU id (``ou-…``) or the root (``r-…``). For one account the most specific entry
decides: the account's own, else its nearest OU's (the deepest on its path from the root), else the
root's; an account no entry covers is audited.

The modes then combine by one rule, the most restrictive wins: the stack's ENFORCEMENT_MODE, a
backfill run's mode, the rollout policy, the stop switch and a service's ``<profile>:audit`` tag each
may say audit, and one audit anywhere makes the decision audit. Only when every one of them allows
enforce is anything changed.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

AUDIT = "audit"
ENFORCE = "enforce"

ACCOUNT = re.compile(r"[0-9]{12}")
# Organizations' id formats (API reference, OrganizationalUnit.Id and Root.Id).
OU = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
ROOT = re.compile(r"r-[0-9a-z]{4,32}")

STOPPED = "stopped"


def kind_of(target: str) -> str | None:
    """``account``, ``ou`` or ``root`` for an id the policy may name; None for anything else."""
    for kind, pattern in (("account", ACCOUNT), ("ou", OU), ("root", ROOT)):
        if pattern.fullmatch(target):
            return kind
    return None


@dataclass(frozen=True)
class Decision:
    mode: str  # audit or enforce
    why: str  # which entry decided, in words a person can act on


def mode_for(modes: Mapping[str, str], account: str, path: Sequence[str] | None) -> Decision:
    """The mode of ``account`` under the policy's ``modes`` (id -> mode). ``path``: the account's
    parents from the root down (``["r-ab12", "ou-ab12-11111111", ...]``), or None when it is unknown
    (then only an entry for the account itself can allow enforce)."""
    if account in modes:
        return Decision(modes[account], f"the rollout policy names account {account}: {modes[account]}")
    for parent in reversed(path or ()):
        if parent in modes:
            what = (
                "the organisation's root" if ROOT.fullmatch(parent) else f"its organisational unit {parent}"
            )
            return Decision(modes[parent], f"the rollout policy sets {what}: {modes[parent]}")
    if path is None and any(not ACCOUNT.fullmatch(target) for target in modes):
        return Decision(AUDIT, f"account {account}'s organisational units are unknown: audit")
    return Decision(AUDIT, f"the rollout policy names neither account {account} nor its OUs: audit")


def needs_path(modes: Mapping[str, str]) -> bool:
    """Whether an account's OU path can change its mode (the policy names an OU or the root)."""
    return any(not ACCOUNT.fullmatch(target) for target in modes)


def strictest(*modes: str) -> str:
    """The most restrictive of the modes: audit as soon as one is audit."""
    return AUDIT if AUDIT in modes else ENFORCE


def stop_switch(value: str | None) -> tuple[bool, str | None]:
    """Whether the stop switch's value stops every change, and why (None when it does not). Absent,
    empty, ``off`` or ``false``: running. ``on`` or ``true``: stopped. Anything else stops too: a
    mistyped switch errs on the side of changing nothing."""
    word = (value or "").strip().lower()
    if word in ("", "off", "false"):
        return False, None
    if word in ("on", "true"):
        return True, f"{STOPPED}: the stop switch is on: decided in audit mode, nothing changed"
    return True, (
        f"{STOPPED}: the stop switch holds {(value or '')[:20]!r}, neither on nor off: "
        "decided in audit mode, nothing changed"
    )
