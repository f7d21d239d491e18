"""The bench's event-kind runner (``make bench``) against moto's server: every kind is measured,
each event did what its kind says, and the counts hold the calls that kind cannot do without.

Only what holds before and after the engine is restructured is asserted: the floors are lower
bounds, so a count under its floor means the proxy missed calls."""

from __future__ import annotations

import pytest

from bench.calls import KINDS, PUBLISH, QUEUE, Measured, measure_calls
from bench.proxy import Call

pytestmark = pytest.mark.server

ECS_CHANGES = {Call("ecs", "RegisterTaskDefinition"), Call("ecs", "UpdateService")}


@pytest.fixture(scope="module")
def measured() -> dict[str, Measured]:
    with pytest.MonkeyPatch.context() as patch:  # the module's runs share one set-up
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_PROFILE",
            "STATUS_TOPIC_ARN",
            "STATE_TABLE_NAME",
            "WORK_QUEUE_URL",
        ):
            patch.delenv(name, raising=False)
        run = measure_calls()
        return {m.kind.key: m for m in [run.prime, *run.kinds]}


def test_every_kind_is_measured_without_an_error_and_at_or_above_its_floor(
    measured: dict[str, Measured],
) -> None:
    assert list(measured) == ["prime", *(k.key for k in KINDS)]
    for key, m in measured.items():
        assert m.error is None, (key, m.error)
        assert m.statuses, key
        assert m.calls >= (m.kind.floor or 0), (key, m.breakdown)


def test_the_container_is_warm_before_the_first_measured_kind(measured: dict[str, Measured]) -> None:
    # the priming event filled the per-container caches: no measured event asks STS who it is
    assert measured["prime"].calls > 0
    assert all(c.service != "sts" for m in measured.values() if m.kind.key != "prime" for c in m.breakdown)


def test_the_compliant_service_is_described_and_left_alone(measured: dict[str, Measured]) -> None:
    m = measured["compliant"]

    assert m.statuses == ["COMPLIANT"]
    assert m.breakdown[Call("ecs", "DescribeServices")] >= 1
    assert m.breakdown[Call("ecs", "DescribeTaskDefinition")] >= 1
    assert not ECS_CHANGES & set(m.breakdown)


def test_the_untagged_service_is_not_opted_in_and_left_alone(measured: dict[str, Measured]) -> None:
    m = measured["untagged"]

    assert m.statuses == ["NOT_OPTED_IN"]
    assert m.breakdown[Call("ecs", "DescribeServices")] >= 1
    assert not ECS_CHANGES & set(m.breakdown)


def test_the_enforcers_own_call_reads_no_ecs_state_and_queues_nothing(measured: dict[str, Measured]) -> None:
    # the router was primed: the caller identity is cached, so no STS call either
    m = measured["own-call"]

    assert m.statuses == ["IGNORED"]
    assert {c.service for c in m.breakdown} <= {"dynamodb"}, m.breakdown
    assert m.sends == 0


def test_the_pipeline_s_own_queue_calls_are_not_the_functions(measured: dict[str, Measured]) -> None:
    # ReceiveMessage and DeleteMessage are the Lambda service's: they bypass the counting proxy
    for m in measured.values():
        assert {c.action for c in m.breakdown if c.service == "sqs"} <= {"SendMessageBatch"}, m.breakdown


def test_a_deployment_the_enforcer_did_not_start_is_not_verified(measured: dict[str, Measured]) -> None:
    m = measured["not-our-deployment"]

    assert m.statuses == ["IGNORED"]
    verify = {Call("ecs", "ListTasks"), Call("ecs", "DescribeTasks")}
    assert not (verify | ECS_CHANGES) & set(m.breakdown), m.breakdown


def test_the_remediated_service_is_registered_and_deployed_once_and_its_publish_is_not_counted(
    measured: dict[str, Measured],
) -> None:
    m = measured["remediated"]

    assert m.statuses == ["REMEDIATED"]
    assert m.breakdown[Call("ecs", "RegisterTaskDefinition")] == 1
    assert m.breakdown[Call("ecs", "UpdateService")] == 1
    assert m.publishes == m.breakdown[PUBLISH] >= 1
    assert m.sends == m.breakdown[QUEUE] == 1  # the router's one item
    assert m.calls == sum(m.breakdown.values()) - m.publishes - m.sends


def test_the_cluster_tag_looks_at_every_service_of_the_cluster(measured: dict[str, Measured]) -> None:
    m = measured["cluster-tag"]

    assert m.services == len(m.statuses) > 1
    assert m.per_service == m.calls / m.services
    assert m.breakdown[Call("ecs", "DescribeServices")] >= 1
    assert m.breakdown[Call("ecs", "ListServices")] >= 1
    assert m.sends == 2  # the router's cluster item, then the worker's service items (at most 10)
