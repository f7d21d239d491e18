"""Task definitions in the forms people have them, reduced to one register request."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.ecs.taskdef import load_document, to_register_request, unwrap
from sidecar_enforcer.errors import InputError

from ._factories import SOURCE_ARN, app, fargate

BARE = {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]}
TAGS = [{"key": "team", "value": "payments"}, {"key": "cost-center", "value": "42"}]

# Expected from botocore's ECS model: what DescribeTaskDefinition returns and RegisterTaskDefinition
# rejects. The list the official deploy action copies around misses deleteRequestedAt.
READ_ONLY = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)


class TestForms:
    def test_a_bare_task_definition_has_no_tags(self) -> None:
        # Given a console/CLI export  When it is loaded  Then it is the definition itself
        doc = load_document(json.dumps(BARE))

        assert doc.task_definition == BARE
        assert doc.tags == []
        assert doc.family == "web"
        assert doc.arn is None

    def test_the_describe_wrapper_puts_tags_beside_the_definition(self) -> None:
        # Given DescribeTaskDefinition output (include=["TAGS"]), as boto3 returns it
        wrapper = {
            "taskDefinition": {**BARE, "taskDefinitionArn": SOURCE_ARN, "revision": 7},
            "tags": TAGS,
            "ResponseMetadata": {"RequestId": "x", "HTTPStatusCode": 200},
        }

        doc = load_document(json.dumps(wrapper))

        # Then the definition is unwrapped, tags are read from beside it, the envelope is gone
        assert doc.task_definition["family"] == "web"
        assert doc.arn == SOURCE_ARN
        assert doc.tags == TAGS
        assert "ResponseMetadata" not in doc.task_definition
        assert "tags" not in doc.task_definition

    def test_a_register_request_carries_its_tags_inside(self) -> None:
        request = {**BARE, "tags": TAGS}

        doc = unwrap(request)

        assert doc.tags == TAGS
        assert "tags" not in doc.task_definition
        assert doc.task_definition["containerDefinitions"] == BARE["containerDefinitions"]

    def test_unwrapping_leaves_the_caller_s_dict_alone(self) -> None:
        request = {**BARE, "tags": copy.deepcopy(TAGS)}
        before = copy.deepcopy(request)

        unwrap(request)

        assert request == before

    def test_key_value_spelling_of_tags_is_normalised(self) -> None:
        doc = unwrap({**BARE, "tags": [{"Key": "team", "Value": "payments"}]})

        assert doc.tags == [{"key": "team", "value": "payments"}]

    def test_a_wrapper_with_null_tags_has_no_tags(self) -> None:
        doc = unwrap({"taskDefinition": BARE, "tags": None})

        assert doc.tags == []

    @pytest.mark.parametrize("bom", ["str", "bytes"])
    def test_a_utf8_byte_order_mark_is_tolerated(self, bom: str) -> None:
        text = "\ufeff" + json.dumps(BARE)
        doc = load_document(text if bom == "str" else text.encode("utf-8"))

        assert doc.task_definition == BARE


class TestRejectedInput:
    @pytest.mark.parametrize(
        ("text", "mentions"),
        [
            pytest.param("{not json", "not JSON", id="not-json"),
            pytest.param("", "not JSON", id="empty"),
            pytest.param("[1, 2]", "list", id="json-list"),
            pytest.param('"a string"', "str", id="json-string"),
            pytest.param("null", "not a task definition", id="json-null"),
            pytest.param('{"family": "web"}', "containerDefinitions", id="no-containerDefinitions"),
            pytest.param('{"containerDefinitions": {}}', "containerDefinitions", id="containers-not-a-list"),
            pytest.param('{"taskDefinition": {"family": "web"}}', "containerDefinitions", id="empty-wrapper"),
            pytest.param(
                json.dumps({**BARE, "tags": {"team": "a"}}), "tags must be a list", id="tags-not-a-list"
            ),
        ],
    )
    def test_unusable_documents_raise_a_one_line_input_error(self, text: str, mentions: str) -> None:
        with pytest.raises(InputError) as caught:
            load_document(text)

        message = str(caught.value)
        assert mentions in message
        assert message.strip()
        assert "\n" not in message

    def test_bytes_that_are_not_utf8_raise_an_input_error(self) -> None:
        with pytest.raises(InputError, match="UTF-8"):
            load_document(b'{"family": "\xff\xfe"}')

    def test_a_multi_line_document_error_still_gives_one_line(self) -> None:
        with pytest.raises(InputError) as caught:
            load_document('{\n  "family": "web",\n  "containerDefinitions": [\n')

        assert "\n" not in str(caught.value)
        assert "line" in str(caught.value)


class TestRegisterRequest:
    def test_the_read_only_members_are_the_nine_botocore_names(self) -> None:
        assert schema.read_only_members() == READ_ONLY
        assert not schema.read_only_members() & schema.register_members()

    def test_read_only_members_and_nulls_go_everything_else_stays(self) -> None:
        # Given a described task definition with every read-only member, newer members and a null
        described = fargate(
            app(memoryReservation=None, environment=[{"name": "MODE", "value": "live"}]),
            revision=7,
            status="ACTIVE",
            deregisteredAt="2026-11-02T10:00:00+00:00",
            deleteRequestedAt="2026-11-03T10:00:00+00:00",
            taskRoleArn=None,
            enableFaultInjection=True,
            ephemeralStorage={"sizeInGiB": 30},
            runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
            proxyConfiguration={
                "type": "APPMESH",
                "containerName": "envoy",
                "properties": [{"name": "AppPorts", "value": "8080"}],
            },
            pidMode="task",
            ipcMode="task",
            volumes=[{"name": "scratch", "host": None}],
            placementConstraints=[],
        )
        assert set(described) >= READ_ONLY
        before = copy.deepcopy(described)

        request = to_register_request(described)

        # Then exactly the read-only members and the explicit nulls are gone
        assert set(request) == set(described) - READ_ONLY - {"taskRoleArn"}
        for member in ("enableFaultInjection", "ephemeralStorage", "runtimePlatform", "proxyConfiguration"):
            assert request[member] == described[member]
        assert request["pidMode"] == "task"
        assert request["ipcMode"] == "task"
        assert request["placementConstraints"] == []
        assert request["volumes"] == [{"name": "scratch"}]  # the nested null is dropped, the volume kept
        assert "memoryReservation" not in request["containerDefinitions"][0]
        assert request["containerDefinitions"][0]["environment"] == [{"name": "MODE", "value": "live"}]
        assert schema.validate_register_request(request) == []
        assert described == before

    def test_every_register_member_survives(self) -> None:
        # Whatever botocore's model lists for RegisterTaskDefinition is never dropped.
        everything = {member: f"value-of-{member}" for member in schema.register_members()}

        request = to_register_request(everything)

        assert request == everything

    def test_falsy_values_that_are_not_null_are_kept(self) -> None:
        request = to_register_request(
            {**BARE, "enableFaultInjection": False, "volumes": [], "cpu": "0", "placementConstraints": []}
        )

        assert request["enableFaultInjection"] is False
        assert request["volumes"] == []
        assert request["cpu"] == "0"
        assert request["placementConstraints"] == []


def test_a_document_is_a_copy_unless_its_answer_is_handed_over() -> None:
    environment = [{"name": "A", "value": "1"}]
    container: dict[str, Any] = {"name": "app", "image": "nginx", "environment": environment}
    answer = {"taskDefinition": {"family": "f", "containerDefinitions": [container], "tags": []}}

    copied = unwrap(answer)
    environment.append({"name": "B", "value": "2"})
    assert copied.task_definition["containerDefinitions"][0]["environment"] == [{"name": "A", "value": "1"}]

    handed = unwrap(answer, owned=True)  # an answer just parsed: no deep copy of it
    assert handed.task_definition["containerDefinitions"][0] is container
    assert "tags" in answer["taskDefinition"]  # the caller's own dictionary is left as it was
    assert "tags" not in handed.task_definition
