"""What a report's renderings read from its rows: the statuses worst first, each row's status, and
each wave's failed members as the report names them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..status import Status
from .waves import counts_as_failed

# What a person should look at, worst first (the order of the "attention" list and of the chart).
ATTENTION = (
    Status.FAILED,
    Status.DEPLOYMENT_FAILED,
    Status.FLAPPING,
    Status.QUARANTINED,
    Status.REFUSED,
    Status.NONCOMPLIANT,
    Status.DRIFTED,
    Status.SKIPPED,
)
ORDER = (
    *ATTENTION,
    Status.REMEDIATED,
    Status.VERIFIED,
    Status.RELEASED,
    Status.COMPLIANT,
    Status.NOT_OPTED_IN,
    Status.IGNORED,
)


def row_status(row: Mapping[str, Any]) -> Status:
    return Status(row["status"])


def failed_members(report: Mapping[str, Any]) -> dict[int, list[dict[str, str]]]:
    """Each wave's failed members by wave number (each: ``where`` (account/region), ``cluster``,
    ``service``, ``name`` (cluster/service), ``status``, ``why``): as the wave's outcome lists them
    (``failedMembers``), else the services whose row names the wave and whose status the breaker
    counts as failed."""
    found: dict[int, list[dict[str, str]]] = {}
    for wave in report.get("waves") or []:
        listed = wave.get("failedMembers")
        if listed:
            found[int(wave["number"])] = [_member(m) for m in listed]
    listed_by_outcome = set(found)
    for row in report["results"]:
        if row.get("wave") is None or int(row["wave"]) in listed_by_outcome:
            continue
        if counts_as_failed(row_status(row)):
            found.setdefault(int(row["wave"]), []).append(_member(row))
    return found


def _member(member: Mapping[str, Any]) -> dict[str, str]:
    """A failed member as the report names it: where, its status, and why (its last reason)."""
    reasons = member.get("reasons") or ([member["reason"]] if member.get("reason") else [])
    cluster, service = (
        str(member.get("cluster") or ""),
        str(member.get("service") or member.get("family") or ""),
    )
    return {
        "where": f"{member.get('account')}/{member.get('region')}",
        "cluster": cluster,
        "service": service,
        "name": "/".join(part for part in (cluster, service) if part) or "?",
        "status": str(member.get("status") or ""),
        "why": str(reasons[-1]) if reasons else "",
    }
