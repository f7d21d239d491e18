"""Enforce a task definition (RegisterTaskDefinition, or its opt-in tag set by TagResource):
register the compliant revision once, for the next deployment to pick up. No service is deployed
here: the services that run the family are enforced by their own events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..domain.ecs.arns import task_definition_revision
from ..domain.planning.plan import is_managed, older_revision, plan
from ..domain.planning.selection import tag_dict
from ..domain.safety.service_rules import audit_status
from ..models.events import TaskDefinitionTarget
from ..models.findings import Finding, Status
from ..profiles import Catalog
from .choose_profile import choose_profile
from .ports import Ecs
from .revisions import Revisions, remedy_fields
from .scope import Scope


class EnforceTaskDefinition:
    def __init__(self, settings: Settings, catalog: Callable[[], Catalog], revisions: Revisions) -> None:
        self._settings = settings
        self._catalog = catalog
        self._revisions = revisions

    def __call__(self, ecs: Ecs, target: TaskDefinitionTarget, scope: Scope) -> Finding:
        document = ecs.describe_task_definition(target.task_definition, fresh=True)  # its tags decide
        where: dict[str, Any] = {"family": document.family, "source_task_definition_arn": document.arn}
        if document.task_definition.get("status", "ACTIVE") != "ACTIVE":
            return scope.finding(Status.SKIPPED, **where, reasons=["the task definition is not ACTIVE"])
        if task_definition_revision(target.task_definition) is not None:
            # A revision named by its ARN (TagResource): only the family's newest ACTIVE revision
            # is enforced, or the compliant copy of an older one would become the family's newest
            # and anything run by family name would silently go back to an old release.
            newest = ecs.describe_task_definition(str(document.family))
            if newest.arn != document.arn:
                copied, reason = older_revision(document.arn, newest.arn, newest.tags)
                status = Status.COMPLIANT if copied else Status.SKIPPED
                return scope.finding(status, **where, reasons=[reason])
        if is_managed(document.tags):
            return scope.finding(Status.COMPLIANT, **where, reasons=["registered by the enforcer"])
        own_tags = tag_dict(document.tags) or target.request_tags
        chosen = choose_profile(
            self._settings, self._catalog, scope, where, own_tags, None, "task definition"
        )
        if isinstance(chosen, Finding):
            return chosen
        scope = chosen.scope
        decided = plan(
            document.task_definition,
            document.tags,
            chosen.profile,
            self._settings.policy,
            source_arn=document.arn,
        )
        fields = where | self._revisions.fields(decided, scope)

        def remedy(status: Status) -> dict[str, Any]:
            return remedy_fields(
                status, document.task_definition, decided, self._settings.policy, shipped=chosen.shipped
            )

        if decided.register_input is None:
            status = Status(decided.decision.value)
            return scope.finding(status, **fields, reasons=decided.reasons, **remedy(status))
        reasons = [chosen.why, *decided.reasons]
        if scope.audit:
            status = audit_status(decided)
            return scope.finding(status, **fields, reasons=reasons, changes=decided.changes, **remedy(status))
        arn, changes = self._revisions.compliant(ecs, decided, document.arn)
        return scope.finding(
            Status.REMEDIATED, **fields, new_task_definition_arn=arn, reasons=reasons, changes=changes
        )
