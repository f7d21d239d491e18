"""Whatever a client raises ends as one FAILED status, published, never an unreported failure: an
answer that is no API response (an HTML page answered 200 parses as an empty answer) is an AwsError
naming what was missing, and anything else the enforcer raises while working on a target is FAILED
too (its type told, its traceback logged), so the worker still fails the item and the queue retries
it, then dead-letters it."""

from __future__ import annotations

from typing import Any

import pytest
from sidecar_enforcer.adapters.ecs import EcsGateway
from sidecar_enforcer.errors import AwsError, ConfigurationError
from sidecar_enforcer.models.events import ServiceTarget, Trigger
from sidecar_enforcer.models.findings import Status

from ._factories import ACCOUNT, REGION
from ._world import PIPELINE, World, snapshot


class EmptyAnswers:
    """A client whose every call answers what botocore makes of an HTML page answered 200: only the
    response metadata."""

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: {"ResponseMetadata": {"HTTPStatusCode": 200}}


@pytest.mark.parametrize(
    ("call", "member"),
    [
        (lambda ecs: ecs.describe_service("shop", "api"), "DescribeServices: the answer has no services"),
        (lambda ecs: ecs.cluster_tags("shop"), "DescribeClusters: the answer has no clusters"),
        (
            lambda ecs: ecs.describe_task_definition("shop-api:7"),
            "DescribeTaskDefinition: the answer has no taskDefinition",
        ),
        (lambda ecs: ecs.deploy("shop", "api", "shop-api:8"), "UpdateService: the answer has no service"),
        (
            lambda ecs: ecs.register({"family": "shop-api"}),
            "RegisterTaskDefinition: the answer has no taskDefinition",
        ),
        (
            lambda ecs: ecs.task_definition_status("shop-api:8"),
            "DescribeTaskDefinition: the answer has no taskDefinition",
        ),
    ],
    ids=[
        "describe-services",
        "describe-clusters",
        "describe-task-definition",
        "deploy",
        "register",
        "status",
    ],
)
def test_an_answer_without_what_the_api_always_answers_is_an_aws_error_not_an_empty_result(
    call: Any, member: str
) -> None:
    ecs = EcsGateway(EmptyAnswers())

    with pytest.raises(AwsError) as raised:
        call(ecs)

    assert str(raised.value) == f"{member} (an answer that is not an AWS API response)"


def service_event() -> Trigger:
    return Trigger(
        "event-1",
        ACCOUNT,
        REGION,
        "UpdateService",
        targets=(ServiceTarget("shop", "api"),),
        caller_arn=PIPELINE,
    )


@pytest.mark.parametrize(
    "method", ["describe_service", "describe_task_definition", "register", "deploy", "find_registered"]
)
def test_an_unexpected_exception_anywhere_is_a_published_failed_status_of_one_line(method: str) -> None:
    world = World(snapshot())
    real = getattr(world.ecs, method)

    def broken(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyError("CANARY-value")

    setattr(world.ecs, method, broken)

    (finding,) = world.enforcer.handle(service_event())

    assert finding.status is Status.FAILED
    assert finding.reasons == ["unexpected KeyError in the enforcer (its log has the traceback)"]
    assert (finding.cluster, finding.service) == ("shop", "api")
    assert world.publisher.published == [finding]
    assert world.record().lease is None  # given back on the way out


def test_a_configuration_fault_is_still_the_handlers_to_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(snapshot())

    def misconfigured(*args: Any, **kwargs: Any) -> Any:
        raise ConfigurationError("PROFILES_DIR: not a folder")

    monkeypatch.setattr(world.ecs, "describe_service", misconfigured)

    with pytest.raises(ConfigurationError):
        world.enforcer.handle(service_event())
