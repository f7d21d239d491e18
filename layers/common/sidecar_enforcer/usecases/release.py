"""Lift a service's quarantine (``sidecar-enforcer release``, run by a person whose identity the
status names): the enforcer acts on it again at its next event, with its revert count started
afresh. (The release tag does the same from the service's own events: see enforce_service.)"""

from __future__ import annotations

from typing import Any

from ..domain.safety import records
from ..errors import ConfigurationError
from ..ledger import Ledger
from ..models.findings import Finding, Status
from .ports import Ecs
from .scope import Scope


class Release:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __call__(self, ecs: Ecs, cluster: str, service: str, scope: Scope) -> Finding:
        if not self._ledger.durable:
            raise ConfigurationError("release needs the state table (STATE_TABLE_NAME)")
        where: dict[str, Any] = {"cluster": cluster, "service": service}
        snapshot = ecs.describe_service(cluster, service)
        if snapshot is None:
            return scope.finding(Status.SKIPPED, **where, reasons=["the service does not exist"])
        with self._ledger.service_lease(snapshot.arn) as record:
            quarantine = record.quarantine
            if quarantine is None:
                reason = "the service is not quarantined: nothing to release"
                return scope.finding(Status.SKIPPED, **where, reasons=[reason])
            self._ledger.update_service(snapshot.arn, records.released)
            reason = f"released by {scope.caller} from {quarantine.status} ({quarantine.reason})"
            return scope.finding(
                Status.RELEASED, cluster=snapshot.cluster, service=snapshot.name, reasons=[reason]
            )
