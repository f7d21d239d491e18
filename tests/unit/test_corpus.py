"""Every task definition of the shared corpus: handled whole, or refused with a clear reason.

The corpus (57 published task definitions, some deliberately odd) ships beside the repository in CI
(``../shared/corpus``), not in a user's clone: without it these tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.domain import schema
from sidecar_enforcer.domain.plan import Decision, Plan, is_managed, plan
from sidecar_enforcer.domain.taskdef import TaskDefinitionDocument, load_document

from ._factories import JAEGER, OTEL_ENDPOINT, SHARED_CORPUS, named, strip_nulls

TASKDEFS = SHARED_CORPUS / "taskdefs"
if not TASKDEFS.is_dir():
    pytest.skip(
        f"shared corpus not found at {TASKDEFS}: it ships beside the repo in CI, not in a user's clone",
        allow_module_level=True,
    )

FILES = sorted(p.name for p in TASKDEFS.glob("*.json"))
WIRED = ("environment", "dependsOn", "links")


def load(name: str) -> TaskDefinitionDocument:
    return load_document((TASKDEFS / name).read_bytes())


def plan_of(name: str) -> tuple[TaskDefinitionDocument, Plan]:
    doc = load(name)
    return doc, plan(doc.task_definition, doc.tags, JAEGER)


def test_the_corpus_is_there_in_full() -> None:
    assert len(FILES) >= 50


@pytest.mark.parametrize("name", FILES)
def test_each_document_is_handled_whole_or_refused_clearly(name: str) -> None:
    doc, result = plan_of(name)

    if result.decision is not Decision.MISSING:
        assert result.register_input is None
        assert result.reasons
        for reason in result.reasons:
            assert reason.strip()
            assert "\n" not in reason
        return

    request = result.register_input
    assert request is not None
    assert schema.validate_register_request(request) == []
    source = doc.task_definition
    kept = {k: v for k, v in source.items() if k not in schema.read_only_members() and v is not None}
    # top level: every kept member is there, equal; nothing else but tags
    assert set(request) - {"tags"} == set(kept)
    for member, value in kept.items():
        if member != "containerDefinitions":
            assert request[member] == strip_nulls(value), member
    # containers: the originals first, each keeping its members; the wiring only adds
    originals = strip_nulls(source["containerDefinitions"])
    planned = request["containerDefinitions"]
    assert len(planned) == len(originals) + 1
    assert planned[-1]["image"] == JAEGER.image
    for original, now in zip(originals, planned, strict=False):
        assert {k: v for k, v in now.items() if k not in WIRED} == {
            k: v for k, v in original.items() if k not in WIRED
        }
        for member in WIRED:
            before = original.get(member) or []
            assert now.get(member, [])[: len(before)] == before, (original.get("name"), member)
    # tags: the document's own (minus aws: ones) and the markers
    carried = [t for t in doc.tags if not t["key"].startswith("aws:")]
    assert all(t in request["tags"] for t in carried)
    assert is_managed(request["tags"])


@pytest.mark.parametrize("name", FILES)
def test_applying_twice_equals_applying_once(name: str) -> None:
    doc, first = plan_of(name)
    once = first.register_input if first.register_input is not None else doc.task_definition

    second = plan(once, [], JAEGER)

    twice = second.register_input if second.register_input is not None else once
    assert twice == once
    if first.decision is Decision.MISSING:
        assert second.decision is Decision.COMPLIANT
    else:
        assert second.decision is first.decision


@pytest.mark.parametrize(
    ("name", "decision", "mentions"),
    [
        ("fargate-windows-2019-core.json", Decision.REFUSED, "Windows"),
        ("windows-ec2-fsx-volume.json", Decision.REFUSED, "Windows"),
        ("agent-ftest-nginx-portbindings-invalid-key.json", Decision.REFUSED, "portBindings"),
        ("boto3-describe-host-network-tags-placebo.json", Decision.REFUSED, "networkMode 'host'"),
        ("agent-ftest-cpu-placeholder-string.json", Decision.REFUSED, "$$$$CPUSHARE$$$$"),
        ("wordpress-mysql-links-awslogs.json", Decision.MISSING, "no container runs"),
        ("fargate-arm64-runtime-platform.json", Decision.MISSING, "no container runs"),
    ],
)
def test_known_documents_end_as_expected(name: str, decision: Decision, mentions: str) -> None:
    if name not in FILES:
        pytest.skip(f"{name} is not in this copy of the corpus")
    _, result = plan_of(name)

    assert result.decision is decision
    assert any(mentions in r for r in result.reasons), result.reasons


def test_wordpress_links_both_containers_to_the_sidecar_and_mirrors_awslogs() -> None:
    # Given the ECS guide's WordPress + MySQL example: no networkMode (bridge), links, awslogs
    _, result = plan_of("wordpress-mysql-links-awslogs.json")
    request = result.register_input
    assert request is not None

    # Then each app keeps its links and gains one to the sidecar, which it reaches by name
    assert named(request, "wordpress")["links"] == ["mysql", JAEGER.container_name]
    assert named(request, "mysql")["links"] == [JAEGER.container_name]
    for name in ("wordpress", "mysql"):
        endpoints = [e["value"] for e in named(request, name)["environment"] if e["name"] == OTEL_ENDPOINT]
        assert endpoints == [f"http://{JAEGER.container_name}:4317"]
    options = named(request, JAEGER.container_name)["logConfiguration"]["options"]
    assert options["awslogs-group"] == "awslogs-wordpress"
    assert options["awslogs-region"] == "us-west-2"
    assert options["awslogs-stream-prefix"] == JAEGER.log_stream_prefix


def test_the_host_mode_describe_output_is_refused_without_a_request() -> None:
    doc, result = plan_of("boto3-describe-host-network-tags-placebo.json")

    assert doc.tags == [{"key": "Role", "value": "dev"}]
    assert result.decision is Decision.REFUSED
    assert result.register_input is None
    assert any("host" in r for r in result.reasons)


def test_corpus_documents_are_valid_json_objects() -> None:
    # the loader's verdict agrees with a plain parser's (a byte-order mark aside)
    for name in FILES:
        data: Any = json.loads((TASKDEFS / name).read_text(encoding="utf-8-sig"))
        assert isinstance(data, dict), name


def test_the_corpus_path_is_beside_the_repository() -> None:
    repo_root = Path(__file__).resolve().parents[2]
    assert (repo_root / "pyproject.toml").is_file()
    assert repo_root.parent / "shared" / "corpus" / "taskdefs" == TASKDEFS
