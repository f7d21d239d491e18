"""Release (usecases/release.py) on fakes: a quarantine lifted by hand."""

from __future__ import annotations

import pytest
from sidecar_enforcer.adapters.memory import MemoryTable
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.errors import (
    ConfigurationError,
)
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.usecases.release import Release

from ._world import (
    World,
    snapshot,
)


def test_release_lifts_the_quarantine_and_forgets_the_reverts_and_deployment() -> None:
    world = World(snapshot())
    world.quarantine()

    finding = world.release(
        world.ecs, "shop", "api", world.scope(caller="arn:aws:iam::123456789012:user/alice")
    )

    assert finding.status is Status.RELEASED
    assert finding.reasons == [
        "released by arn:aws:iam::123456789012:user/alice from FLAPPING (taken away 4 times)"
    ]
    assert world.record() == records.ServiceRecord()


def test_release_of_a_service_not_quarantined_is_skipped_and_changes_nothing() -> None:
    world = World(snapshot())
    world.enforce()
    before = world.record()

    finding = world.release(world.ecs, "shop", "api", world.scope())

    assert finding.status is Status.SKIPPED
    assert finding.reasons == ["the service is not quarantined: nothing to release"]
    assert world.record() == before


def test_release_of_a_service_that_does_not_exist_is_skipped() -> None:
    world = World()

    finding = world.release(world.ecs, "shop", "gone", world.scope())

    assert finding.status is Status.SKIPPED


def test_release_without_a_durable_state_table_is_a_configuration_error() -> None:
    world = World(snapshot())
    ledger = Ledger(MemoryTable(), clock=world.clock)

    with pytest.raises(ConfigurationError, match="STATE_TABLE_NAME"):
        Release(ledger)(world.ecs, "shop", "api", world.scope())
    assert world.ecs.calls == []
