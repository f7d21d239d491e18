"""Triage: the events that ask for nothing, answered from the event and the enforcer's own identity
(cached per container) alone, before anything is recorded or queued: no AWS call on a warm
container, and one read of the service's record for a deployment the enforcer may have started."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..domain.safety import records
from ..ledger import Ledger
from ..models.events import SCHEDULED, DeploymentOutcome, Trigger
from ..models.findings import Finding, Status
from .ports import Identity
from .scope import Scope


class Triage:
    def __init__(self, settings: Settings, identity: Callable[[], Identity], ledger: Ledger) -> None:
        self._settings = settings
        self._identity = identity
        self._ledger = ledger

    def __call__(self, trigger: Trigger) -> Finding | None:
        """The IGNORED finding of an event that asks for nothing (logged, never published), or None."""
        reason = trigger.ignored or self._untouched_tags(trigger)
        own = (trigger.caller_arn or trigger.caller_role_arn) is not None and trigger.name != SCHEDULED
        if reason is None and own and self._identity().made(trigger.caller_arn, trigger.caller_role_arn):
            reason = "the enforcer's own call (CloudTrail hands it back): nothing to do"
        where: dict[str, Any] = {}
        if reason is None and len(trigger.targets) == 1 and isinstance(trigger.targets[0], DeploymentOutcome):
            # One read of the service's record (its key is in the event) tells whether the
            # deployment is the enforcer's to verify: no lease, no DescribeServices otherwise.
            target = trigger.targets[0]
            if target.service_arn is not None:
                reason = records.not_ours(self._ledger.service(target.service_arn), target.deployment_id)
                where = {
                    "cluster": target.cluster,
                    "service": target.service,
                    "deployment_id": target.deployment_id,
                }
        if reason is None:
            return None
        return Scope.of(trigger, self._settings.enforcement_mode).finding(
            Status.IGNORED, **where, reasons=[reason]
        )

    def _untouched_tags(self, trigger: Trigger) -> str | None:
        """Why a TagResource needs nothing: it set neither the opt-in key nor the release key (a
        cost centre or an owner tag changes no decision, so it publishes nothing either)."""
        watched = {self._settings.opt_in_tag_key, self._settings.release_tag_key}
        if trigger.tag_keys is None or trigger.tag_keys & watched:
            return None
        keys = ", ".join(sorted(trigger.tag_keys)[:5]) or "none"
        return f"TagResource set tags ({keys}) other than {' and '.join(sorted(watched))}: nothing to do"
