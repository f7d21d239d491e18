"""adapters.answers reads a JSON answer as botocore's own JSON parser does: the same dictionary, on
every output shape of the JSON services the enforcer calls (answers made from the shapes, with
members absent, null, nested and undeclared, and null list items) and on the corpus's real task
definitions."""

from __future__ import annotations

import json
import random
from typing import Any

import botocore.session
import pytest
from botocore.parsers import JSONParser
from sidecar_enforcer.adapters import aws
from sidecar_enforcer.adapters.answers import JsonAnswers, timestamp

from ._factories import SHARED_CORPUS

SERVICES = ("ecs", "dynamodb", "sqs", "ssm")  # the JSON-protocol services the enforcer calls
_SESSION = botocore.session.Session()


def _parse(parser: Any, answer: dict[str, Any], shape: Any) -> Any:
    body = json.dumps(answer).encode()
    return parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)


def _both(answer: dict[str, Any], shape: Any) -> tuple[Any, Any]:
    """What each parser makes of the answer: its dictionary, or the error it raised."""

    def read(parser: Any) -> Any:
        try:
            return _parse(parser, answer, shape)
        except Exception as exc:  # an answer botocore refuses is refused alike
            return (type(exc), str(exc))

    return read(JSONParser(timestamp_parser=timestamp)), read(JsonAnswers(timestamp_parser=timestamp))


def _value(shape: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value an answer could hold for ``shape``: every kind of member, some absent or null, some
    keys the model does not declare."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return {"free": [1, "two", {"three": None}]}
        members = list(shape.members.items())
        if shape.is_tagged_union:  # exactly one member set
            name, member = rng.choice(members)
            return {member.serialization.get("name", name): _value(member, rng, depth + 1)}
        out: dict[str, Any] = {}
        for name, member in members:
            roll = rng.random()
            if depth > 4 or roll < 0.2:
                continue  # absent
            wire = member.serialization.get("name", name)
            out[wire] = None if roll < 0.3 else _value(member, rng, depth + 1)
        out["notInTheModel"] = {"x": 1}
        return out
    if kind == "list":  # an item may be null: botocore reads every list as sparse
        items = [_value(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return [*items, None] if rng.random() < 0.3 else items
    if kind == "map":
        return {f"k{i}": _value(shape.value, rng, depth + 1) for i in range(rng.randint(0, 2))}
    if kind == "timestamp":
        return rng.choice([1733600000, 1733600000.25, "2024-12-07T19:33:20Z"])
    if kind == "blob":
        return "aGVsbG8="
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("integer", "long"):
        return rng.randint(-5, 10**6)
    if kind in ("float", "double"):
        return rng.random() * 100
    return rng.choice(["web", "arn:aws:ecs:us-east-1:111111111111:service/c/web", ""])


def _outputs() -> list[tuple[str, str]]:
    found = []
    for service in SERVICES:
        model = _SESSION.get_service_model(service)
        assert model.protocol == "json", service
        found += [
            (service, name) for name in model.operation_names if model.operation_model(name).output_shape
        ]
    return found


@pytest.mark.parametrize(("service", "operation"), _outputs())
def test_every_output_reads_as_botocore_reads_it(service: str, operation: str) -> None:
    shape = _SESSION.get_service_model(service).operation_model(operation).output_shape
    rng = random.Random(f"{service}.{operation}")  # noqa: S311 - answers to parse, not a secret
    for _ in range(5):
        answer = _value(shape, rng)
        stock, ours = _both(answer, shape)
        assert ours == stock


def _task_definitions() -> list[str]:
    folder = SHARED_CORPUS / "taskdefs"
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.parametrize("name", _task_definitions() or ["(corpus absent)"])
def test_a_real_task_definition_reads_as_botocore_reads_it(name: str) -> None:
    path = SHARED_CORPUS / "taskdefs" / name
    if not path.is_file():
        pytest.skip(
            f"shared corpus not found at {path.parent}: it ships beside the repo in CI, not in a user's clone"
        )
    found = json.loads(path.read_text(encoding="utf-8"))
    # a DescribeTaskDefinition answer as it is, or the task definition alone
    answer = found if "taskDefinition" in found else {"taskDefinition": found}
    answer.setdefault("tags", [{"key": "team", "value": "web"}])
    answer["taskDefinition"].setdefault("registeredAt", 1733600000.5)
    shape = _SESSION.get_service_model("ecs").operation_model("DescribeTaskDefinition").output_shape

    stock, ours = _both(answer, shape)

    assert ours == stock
    assert isinstance(ours, tuple) or ours["taskDefinition"]["containerDefinitions"]  # read, not dropped


def test_a_session_s_clients_read_json_with_it_and_other_protocols_with_botocore_s_own() -> None:
    session = aws.session("us-east-1")  # aws.session's own: what the enforcer's clients are built on
    factory = session.get_component("response_parser_factory")

    assert isinstance(factory.create_parser("json"), JsonAnswers)
    assert not isinstance(factory.create_parser("query"), JsonAnswers)  # SNS, STS: XML
    assert not isinstance(factory.create_parser("rest-json"), JsonAnswers)
