"""Every task definition of the shared corpus: handled whole, or refused with a clear reason.

The corpus (57 published task definitions, some deliberately odd) ships beside the repository in CI
(``../shared/corpus``), not in a user's clone: without it these tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.ecs.taskdef import TaskDefinitionDocument, load_document
from sidecar_enforcer.domain.planning.plan import Decision, Plan, is_managed, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.profiles import builtin_profiles

from ._factories import JAEGER, OTEL_ENDPOINT, ROOT, SHARED_CORPUS, named, strip_nulls

TASKDEFS = SHARED_CORPUS / "taskdefs"
if not TASKDEFS.is_dir():
    pytest.skip(
        f"shared corpus not found at {TASKDEFS}: it ships beside the repo in CI, not in a user's clone",
        allow_module_level=True,
    )

FILES = sorted(p.name for p in TASKDEFS.glob("*.json"))
PROFILES = builtin_profiles()
# The example policy: every parameter set, upgrades on. The default policy: upgrades off.
EXAMPLE_POLICY = Policy.model_validate(json.loads((ROOT / "examples" / "policy.json").read_text()))
POLICIES = {"example": EXAMPLE_POLICY, "default": Policy(parameters=EXAMPLE_POLICY.parameters)}
WIRED = ("environment", "dependsOn", "links")
UPGRADED = (
    "image",
    "essential",
    "portMappings",
    "command",
    "entryPoint",
    "healthCheck",
    "user",  # the user the profile's image runs as (IMAGE_BOUND)
    "firelensConfiguration",
    "environment",
)
CASES = [(f, p, k) for f in FILES for p in sorted(PROFILES) for k in sorted(POLICIES)]


def load(name: str) -> TaskDefinitionDocument:
    return load_document((TASKDEFS / name).read_bytes())


def plan_of(
    name: str, profile: str = "jaeger", policy: str = "default"
) -> tuple[TaskDefinitionDocument, Plan]:
    doc = load(name)
    return doc, plan(doc.task_definition, doc.tags, PROFILES[profile], POLICIES[policy])


def test_the_corpus_is_there_in_full() -> None:
    assert len(FILES) >= 50


@pytest.mark.parametrize(("name", "profile", "policy"), CASES)
def test_each_document_is_handled_whole_or_refused_clearly(name: str, profile: str, policy: str) -> None:
    doc, result = plan_of(name, profile, policy)
    sidecar_profile = PROFILES[profile]

    if result.register_input is None:
        assert result.decision is not Decision.MISSING
        assert result.reasons
        for reason in result.reasons:
            assert reason.strip()
            assert "\n" not in reason
        return

    request = result.register_input
    assert schema.validate_register_request(request) == []
    source = doc.task_definition
    kept = {k: v for k, v in source.items() if k not in schema.read_only_members() and v is not None}
    fargate = "FARGATE" in (kept.get("requiresCompatibilities") or [])
    # top level: every kept member is there, equal (a grown Fargate size aside); nothing else but tags
    assert set(request) - {"tags"} == set(kept)
    for member, value in kept.items():
        if member == "containerDefinitions" or (fargate and result.resize and member in ("cpu", "memory")):
            continue
        assert request[member] == strip_nulls(value), member
    if result.resize:
        assert fargate
        assert (int(request["cpu"]), int(request["memory"])) in VALID_FARGATE
    # containers: the originals in place, each keeping its members; the wiring only adds
    originals = strip_nulls(source["containerDefinitions"])
    planned = request["containerDefinitions"]
    upgraded = result.decision is Decision.DRIFTED
    assert len(planned) == len(originals) + (0 if upgraded else 1)
    names = [c["name"] for c in planned]
    assert len(names) == len(set(names))
    for original, now in zip(originals, planned, strict=False):
        replaced = upgraded and now["image"] == sidecar_profile.image  # the sidecar, upgraded in place
        ignored = UPGRADED + WIRED if replaced else WIRED
        assert {k: v for k, v in now.items() if k not in ignored} == {
            k: v for k, v in original.items() if k not in ignored
        }
        for member in WIRED if not replaced else ():
            before = original.get(member) or []
            assert now.get(member, [])[: len(before)] == before, (original.get("name"), member)
    assert sum(1 for c in planned if c["image"] == sidecar_profile.image) == 1
    if (request.get("networkMode") or ("awsvpc" if fargate else "bridge")) == "awsvpc":
        ports = [
            m["containerPort"] for c in planned for m in c.get("portMappings", []) if "containerPort" in m
        ]
        assert len(ports) == len(set(ports)), ports
    # tags: the document's own (minus aws: ones) and the markers
    carried = [t for t in doc.tags if not t["key"].startswith("aws:")]
    assert all(t in request["tags"] for t in carried)
    assert is_managed(request["tags"])


@pytest.mark.parametrize(("name", "profile", "policy"), CASES)
def test_applying_twice_equals_applying_once(name: str, profile: str, policy: str) -> None:
    doc, first = plan_of(name, profile, policy)
    once = first.register_input if first.register_input is not None else doc.task_definition

    second = plan(once, [], PROFILES[profile], POLICIES[policy])

    twice = second.register_input if second.register_input is not None else once
    assert twice == once
    if first.register_input is not None:
        assert second.decision is Decision.COMPLIANT
    else:
        assert second.decision is first.decision


VALID_FARGATE = {
    (cpu, memory)
    for cpu, memories in {
        256: [512, 1024, 2048],
        512: range(1024, 4097, 1024),
        1024: range(2048, 8193, 1024),
        2048: range(4096, 16385, 1024),
        4096: range(8192, 30721, 1024),
        8192: range(16384, 61441, 4096),
        16384: range(32768, 122881, 8192),
    }.items()
    for memory in memories
}


@pytest.mark.parametrize(
    ("name", "decision", "mentions"),
    [
        ("fargate-windows-2019-core.json", Decision.REFUSED, "Windows"),
        ("windows-ec2-fsx-volume.json", Decision.REFUSED, "Windows"),
        ("agent-ftest-nginx-portbindings-invalid-key.json", Decision.REFUSED, "portBindings"),
        ("boto3-describe-host-network-tags-placebo.json", Decision.REFUSED, "networkMode 'host'"),
        ("agent-ftest-cpu-placeholder-string.json", Decision.REFUSED, "$$$$CPUSHARE$$$$"),
        ("wordpress-mysql-links-awslogs.json", Decision.MISSING, "no container runs"),
        ("nginx-fargate-minimal.json", Decision.MISSING, "no container runs"),
        ("adot-xray-sidecar-fargate-docs.json", Decision.COMPLIANT, "equivalent collector"),
        ("kibana-ec2-awsvpc.json", Decision.REFUSED, "raise the task memory"),
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


def test_the_minimal_fargate_task_grows_to_the_next_valid_size() -> None:
    # nginx at 256 CPU units in a 256/512 task: with Jaeger's 64 units it needs 512/1024
    _, result = plan_of("nginx-fargate-minimal.json")

    assert result.resize == ("256 CPU units / 512 MiB", "512 CPU units / 1024 MiB")
    assert result.register_input is not None
    assert (result.register_input["cpu"], result.register_input["memory"]) == ("512", "1024")


@pytest.mark.parametrize(
    ("name", "profile", "mentions"),
    [
        ("adot-xray-sidecar-fargate-docs.json", "adot", "v0.26.1"),
        ("firelens-datadog-logs.json", "fluent-bit", "not added by the enforcer"),
        ("appmesh-envoy-firelens-fargate.json", "fluent-bit", "FireLens log router"),
    ],
)
def test_sidecars_that_differ_from_their_profile(name: str, profile: str, mentions: str) -> None:
    _, result = plan_of(name, profile, "example")

    assert any(mentions in r for r in result.reasons), result.reasons


def test_a_drifted_adot_collector_is_upgraded_in_place_with_upgrades_on() -> None:
    doc, result = plan_of("adot-xray-sidecar-fargate-docs.json", "adot", "example")

    assert result.decision is Decision.DRIFTED
    assert result.register_input is not None
    before = named(doc.task_definition, "aws-otel-collector")
    after = named(result.register_input, "aws-otel-collector")
    assert after["image"] == PROFILES["adot"].image
    assert after["command"] == ["--config=/etc/ecs/ecs-amp-xray.yaml"]
    assert after["logConfiguration"] == before["logConfiguration"]
    assert "AWS_PROMETHEUS_ENDPOINT" in {e["name"] for e in after["environment"]}
