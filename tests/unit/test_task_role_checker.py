"""TaskRoleChecker: IAM's policy simulator, grouped by resource, paginated, cached for a while.

moto does not implement SimulatePrincipalPolicy, so a real client is stubbed with botocore's Stubber:
it checks each request's parameters and raises on any request nobody expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sidecar_enforcer.adapters.iam import TTL_SECONDS, TaskRoleChecker
from sidecar_enforcer.errors import AccessDeniedError, AwsError

ROLE = "arn:aws:iam::123456789012:role/app-task"
OTHER_ROLE = "arn:aws:iam::123456789012:role/other-task"
BUCKET_OBJECT = "arn:aws:s3:::configs/fluent-bit-otlp.conf"
WORKSPACE = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def iam() -> Any:
    return boto3.client("iam", region_name="us-east-1")


@pytest.fixture
def stubber(iam: Any) -> Iterator[Stubber]:
    with Stubber(iam) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def checker(iam: Any, clock: Clock) -> TaskRoleChecker:
    return TaskRoleChecker(iam, clock=clock)


def result(action: str, decision: str, resource: str = "*") -> dict[str, Any]:
    return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision}


def expect(
    stubber: Stubber,
    actions: list[str],
    resource: str,
    results: list[dict[str, Any]],
    role: str = ROLE,
    marker: str | None = None,
    next_marker: str | None = None,
) -> None:
    response: dict[str, Any] = {"EvaluationResults": results, "IsTruncated": next_marker is not None}
    if next_marker is not None:
        response["Marker"] = next_marker
    params: dict[str, Any] = {"PolicySourceArn": role, "ActionNames": actions, "ResourceArns": [resource]}
    if marker is not None:
        params["Marker"] = marker
    stubber.add_response("simulate_principal_policy", response, expected_params=params)


XRAY = [("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")]


class TestMissing:
    def test_one_call_per_resource_with_its_actions(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        permissions = [*XRAY[:1], ("s3:GetObject", BUCKET_OBJECT), XRAY[1], ("aps:RemoteWrite", WORKSPACE)]
        expect(
            stubber,
            ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "*",
            [result("xray:PutTraceSegments", "allowed"), result("xray:PutTelemetryRecords", "allowed")],
        )
        expect(stubber, ["s3:GetObject"], BUCKET_OBJECT, [result("s3:GetObject", "allowed", BUCKET_OBJECT)])
        expect(stubber, ["aps:RemoteWrite"], WORKSPACE, [result("aps:RemoteWrite", "allowed", WORKSPACE)])

        assert checker.missing(ROLE, permissions) == []

    def test_denied_actions_are_named_with_resource_and_decision(
        self, checker: TaskRoleChecker, stubber: Stubber
    ) -> None:
        expect(
            stubber,
            ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "*",
            [result("xray:PutTraceSegments", "allowed"), result("xray:PutTelemetryRecords", "implicitDeny")],
        )
        expect(
            stubber, ["s3:GetObject"], BUCKET_OBJECT, [result("s3:GetObject", "explicitDeny", BUCKET_OBJECT)]
        )

        missing = checker.missing(ROLE, [*XRAY, ("s3:GetObject", BUCKET_OBJECT)])

        assert missing == [
            "xray:PutTelemetryRecords on * (implicitDeny)",
            f"s3:GetObject on {BUCKET_OBJECT} (explicitDeny)",
        ]

    def test_every_page_is_read(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        actions = [a for a, _ in XRAY]
        expect(stubber, actions, "*", [result(actions[0], "implicitDeny")], next_marker="page-2")
        expect(stubber, actions, "*", [result(actions[1], "explicitDeny")], marker="page-2")

        missing = checker.missing(ROLE, XRAY)

        assert missing == [f"{actions[0]} on * (implicitDeny)", f"{actions[1]} on * (explicitDeny)"]

    def test_no_permissions_make_no_call(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        assert checker.missing(ROLE, []) == []

    def test_access_denied_becomes_a_domain_error(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        stubber.add_client_error(
            "simulate_principal_policy",
            service_error_code="AccessDenied",
            service_message="not authorized to perform iam:SimulatePrincipalPolicy",
            http_status_code=403,
        )

        with pytest.raises(AccessDeniedError) as caught:
            checker.missing(ROLE, XRAY)

        message = str(caught.value)
        assert "SimulatePrincipalPolicy" in message
        assert "AccessDenied" in message
        assert "\n" not in message
        assert caught.value.retryable is False

    def test_an_unknown_role_is_an_aws_error(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        stubber.add_client_error(
            "simulate_principal_policy", service_error_code="NoSuchEntity", http_status_code=404
        )

        with pytest.raises(AwsError, match="NoSuchEntity"):
            checker.missing(ROLE, XRAY)


class TestCache:
    def test_a_second_call_within_the_ttl_makes_no_request(
        self, checker: TaskRoleChecker, stubber: Stubber, clock: Clock
    ) -> None:
        actions = [a for a, _ in XRAY]
        expect(stubber, actions, "*", [result(actions[0], "implicitDeny"), result(actions[1], "allowed")])

        first = checker.missing(ROLE, XRAY)
        clock.now += TTL_SECONDS - 1
        second = checker.missing(ROLE, XRAY)  # the Stubber would raise on an unexpected request

        assert first == second == [f"{actions[0]} on * (implicitDeny)"]

    def test_after_the_ttl_the_role_is_checked_again(
        self, checker: TaskRoleChecker, stubber: Stubber, clock: Clock
    ) -> None:
        actions = [a for a, _ in XRAY]
        expect(stubber, actions, "*", [result(actions[0], "implicitDeny"), result(actions[1], "allowed")])
        expect(stubber, actions, "*", [result(actions[0], "allowed"), result(actions[1], "allowed")])

        first = checker.missing(ROLE, XRAY)
        clock.now += TTL_SECONDS
        second = checker.missing(ROLE, XRAY)

        assert first == [f"{actions[0]} on * (implicitDeny)"]
        assert second == []

    def test_the_cache_is_per_role_and_permissions(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        actions = [a for a, _ in XRAY]
        expect(stubber, actions, "*", [result(a, "allowed") for a in actions])
        expect(stubber, actions, "*", [result(a, "implicitDeny") for a in actions], role=OTHER_ROLE)
        expect(stubber, actions[:1], "*", [result(actions[0], "allowed")])

        assert checker.missing(ROLE, XRAY) == []
        assert len(checker.missing(OTHER_ROLE, XRAY)) == 2
        assert checker.missing(ROLE, XRAY[:1]) == []
        assert checker.missing(ROLE, XRAY) == []  # cached

    def test_a_failed_check_is_not_cached(self, checker: TaskRoleChecker, stubber: Stubber) -> None:
        actions = [a for a, _ in XRAY]
        stubber.add_client_error("simulate_principal_policy", service_error_code="AccessDenied")
        expect(stubber, actions, "*", [result(a, "allowed") for a in actions])

        with pytest.raises(AccessDeniedError):
            checker.missing(ROLE, XRAY)
        assert checker.missing(ROLE, XRAY) == []
