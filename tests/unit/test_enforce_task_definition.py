"""EnforceTaskDefinition (usecases/enforce_task_definition.py) on fakes."""

from __future__ import annotations

from sidecar_enforcer.config import Settings
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.models.events import (
    TaskDefinitionTarget,
)
from sidecar_enforcer.models.findings import Status

from ._factories import JAEGER, app
from ._fakes import task_definition_arn
from ._world import (
    COMPLIANT,
    OPT_IN,
    SOURCE,
    World,
    compliant_document,
    source_document,
)


def test_a_task_definition_is_registered_once() -> None:
    world = World(documents=(source_document(OPT_IN),))
    target = TaskDefinitionTarget(SOURCE)

    first = world.enforce_task_definition(world.ecs, target, world.scope())
    again = world.enforce_task_definition(world.ecs, target, world.scope())

    assert first.status is Status.REMEDIATED
    assert first.new_task_definition_arn == COMPLIANT
    assert first.changes[0] == "RegisterTaskDefinition"
    # the event again (a retry): the family's newest revision is now the enforcer's copy of it
    assert again.status is Status.COMPLIANT
    assert "the enforcer's compliant copy of it" in again.reasons[0]
    assert len(world.ecs.args("register")) == 1
    assert "deploy" not in world.ecs.names  # services are enforced by their own events


def test_a_task_definition_named_by_family_reads_the_opt_in_from_the_request() -> None:
    world = World(documents=(source_document(),))

    finding = world.enforce_task_definition(
        world.ecs, TaskDefinitionTarget("shop-api", OPT_IN), world.scope()
    )

    assert finding.status is Status.REMEDIATED
    assert len(world.ecs.args("register")) == 1


def test_a_task_definition_in_audit_reports_noncompliant_and_registers_nothing() -> None:
    world = World(documents=(source_document({"tracing-sidecar": "audit"}),))

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget("shop-api"), world.scope())

    assert finding.status is Status.NONCOMPLIANT
    assert finding.changes
    assert finding.changes[0].startswith("add container 'jaeger'")
    assert "register" not in world.ecs.names
    assert world.table.ops == []


def test_a_task_definition_in_audit_or_refused_by_the_policy_is_told_what_to_add() -> None:
    audited = World(documents=(source_document({"tracing-sidecar": "audit"}),))
    small = source_document(OPT_IN, cpu="256", memory="512", containerDefinitions=[app(cpu=256, memory=512)])
    refused = World(documents=(small,), settings=Settings(policy=Policy(grow_task_size=False)))

    noncompliant = audited.enforce_task_definition(
        audited.ecs, TaskDefinitionTarget("shop-api"), audited.scope()
    )
    curable = refused.enforce_task_definition(refused.ecs, TaskDefinitionTarget("shop-api"), refused.scope())

    assert noncompliant.status is Status.NONCOMPLIANT
    assert noncompliant.remedy is not None
    assert noncompliant.remedy.container_definitions == [dict(JAEGER.container)]
    assert curable.status is Status.REFUSED
    assert curable.remedy is not None
    assert curable.remedy.terraform is not None
    assert 'name              = "jaeger"' in curable.remedy.terraform


def test_the_enforcers_own_revision_is_compliant() -> None:
    world = World(documents=(source_document(OPT_IN), compliant_document()))

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget("shop-api"), world.scope())

    assert finding.status is Status.COMPLIANT
    assert finding.reasons == ["registered by the enforcer"]
    assert "register" not in world.ecs.names


def test_an_older_revision_is_not_enforced() -> None:
    world = World(documents=(source_document(OPT_IN, revision=6), source_document(OPT_IN, revision=7)))
    older = task_definition_arn("shop-api", 6)

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget(older), world.scope())

    assert finding.status is Status.SKIPPED
    assert "not the family's newest ACTIVE revision" in finding.reasons[0]
    assert "register" not in world.ecs.names


def test_an_older_revision_whose_newest_is_the_enforcers_copy_is_compliant() -> None:
    world = World(documents=(source_document(OPT_IN), compliant_document()))

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget(SOURCE), world.scope())

    assert finding.status is Status.COMPLIANT
    assert "the enforcer's compliant copy of it" in finding.reasons[0]
    assert "register" not in world.ecs.names
