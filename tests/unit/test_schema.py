"""Offline checks against botocore's ECS model, reported by path and never by value."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.validate import ParamValidator
from sidecar_enforcer.domain.ecs import schema

CANARY = "CANARY-s3cr3t-7f1e"


def request(**container: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", **container}]}


class TestValidateRegisterRequest:
    def test_a_valid_request_has_no_problems(self) -> None:
        assert schema.validate_register_request(request(memory=512, essential=True)) == []

    def test_an_unknown_top_level_member_is_named(self) -> None:
        problems = schema.validate_register_request({**request(), "bogusMember": 1})

        assert problems == ["unknown member bogusMember"]

    def test_an_unknown_container_member_is_named_by_its_path(self) -> None:
        problems = schema.validate_register_request(request(portBindings=[{"containerPort": 80}]))

        assert problems == ["unknown member containerDefinitions[0].portBindings"]

    def test_a_wrong_type_is_reported_by_path_and_expected_type(self) -> None:
        problems = schema.validate_register_request(request(memory="512"))

        assert len(problems) == 1
        assert problems[0].startswith("containerDefinitions[0].memory has the wrong type")
        assert "int" in problems[0]

    def test_a_missing_required_member_is_named(self) -> None:
        problems = schema.validate_register_request({"containerDefinitions": []})

        assert problems == ["missing required member family"]

    def test_several_problems_are_all_reported(self) -> None:
        problems = schema.validate_register_request({**request(memory="512", links="db"), "extra": True})

        assert len(problems) == 3
        assert any("unknown member extra" in p for p in problems)
        assert any("containerDefinitions[0].memory" in p for p in problems)
        assert any("containerDefinitions[0].links" in p for p in problems)

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param(
                request(environment=[{"name": "DB_PASSWORD", "value": {"v": CANARY}}]), id="env-dict"
            ),
            pytest.param(request(environment=[{"name": "DB_PASSWORD", "value": [CANARY]}]), id="env-list"),
            pytest.param(request(environment=[{"name": "PIN", "value": 7417}]), id="env-int"),
            pytest.param(
                request(secrets=[{"name": "TOKEN", "valueFrom": {"arn": CANARY}}]), id="secret-dict"
            ),
            pytest.param(request(dockerLabels={"team": {"x": CANARY}}), id="label-dict"),
            pytest.param(request(command=f"run --token {CANARY}"), id="command-string"),
            pytest.param({**request(), "cpu": {"value": CANARY}}, id="task-cpu"),
        ],
    )
    def test_messages_never_contain_the_offending_value(self, bad: dict[str, Any]) -> None:
        # Given a request whose wrong-typed value is a secret; botocore's own report prints it
        canary = CANARY if CANARY in repr(bad) else "7417"
        report = ParamValidator().validate(bad, schema.register_input_shape()).generate_report()
        assert canary in report  # the test is only meaningful while botocore leaks it

        problems = schema.validate_register_request(bad)

        # Then the problem is reported, by path, without the value
        assert problems
        assert all(canary not in p for p in problems)
        assert all("\n" not in p for p in problems)


class TestValidateContainer:
    def test_a_valid_container_has_no_problems(self) -> None:
        assert schema.validate_container({"name": "x", "image": "nginx:1.27", "memory": 64}) == []

    def test_name_and_image_are_required(self) -> None:
        problems = schema.validate_container({"memory": 64})

        assert "missing required member container.name" in problems
        assert "missing required member container.image" in problems

    def test_problems_are_prefixed_with_container(self) -> None:
        problems = schema.validate_container({"name": "x", "image": "y:1", "portBindings": []})

        assert problems == ["unknown member container.portBindings"]


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("nginx", "nginx"),
        ("nginx:1.27", "nginx"),
        ("library/nginx:1.27", "nginx"),
        ("docker.io/library/nginx:1.27", "nginx"),
        ("docker.io/nginx", "nginx"),
        ("jaegertracing/all-in-one:1.57", "jaegertracing/all-in-one"),
        ("cr.jaegertracing.io/jaegertracing/jaeger:2.21.0", "jaegertracing/jaeger"),
        ("localhost/app", "app"),
        ("localhost:5000/team/app:1.0", "team/app"),
        ("registry:5000/app", "app"),
        ("registry.example.com:5000/team/app", "team/app"),
        ("127.0.0.1:51670/nginx:latest", "nginx"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.8.2", "api"),
        (
            "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
            "aws-observability/aws-otel-collector",
        ),
        ("nginx@sha256:" + "a" * 64, "nginx"),
        ("team/app:1.2@sha256:" + "b" * 64, "team/app"),
        ("ghcr.io/org/sub/app:3", "org/sub/app"),
    ],
)
def test_image_repository_names_the_product(image: str, repository: str) -> None:
    assert schema.image_repository(image) == repository
