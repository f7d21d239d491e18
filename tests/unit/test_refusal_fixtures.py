"""Every refusal the enforcer owes its users, one realistic task definition each
(``tests/fixtures/refusals/<slug>.json``): the plan is REFUSED, nothing is registered, and the user
sees the fixture's one-line reason, which never repeats a value of the task's environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.domain.planning.plan import Decision, Plan, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.profiles import builtin_profiles, parse_profile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "refusals"
CANARY = "CANARY-fixture-value"

# The refusals the enforcer must make (slug -> fixture file), kept here so a deleted fixture fails.
REQUIRED = {
    "windows-runtime-platform",
    "windows-image-no-runtime-platform",
    "arm64-x86-only-custom-profile",
    "host-network-mode",
    "none-network-mode",
    "awsvpc-port-clash",
    "fluent-bit-existing-firelens-router",
    "name-conflict-no-rename",
    "fargate-too-small-no-growth",
    "no-fargate-size-large-enough",
    "invalid-fargate-pair",
    "ec2-task-memory-exceeded",
    "unparseable-task-cpu",
    "unknown-member-port-bindings",
    "too-many-tags",
    "adot-missing-required-parameter",
    "adot-parameter-pattern-mismatch",
    "privileged-custom-profile",
    "root-user-custom-profile",
    "fargate-unsupported-member-extra-hosts",
}


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def profile_of(fixture: dict[str, Any], origin: str) -> Profile:
    if "customProfile" in fixture:
        return parse_profile(json.dumps(fixture["customProfile"]), origin)
    return builtin_profiles()[fixture["profile"]]


def plan_fixture(fixture: dict[str, Any], origin: str = "fixture") -> Plan:
    policy = Policy.model_validate(fixture.get("policy", {}))
    return plan(fixture["taskDefinition"], fixture.get("tags", []), profile_of(fixture, origin), policy)


def environment_values(task_definition: dict[str, Any]) -> set[str]:
    values = set()
    for container in task_definition["containerDefinitions"]:
        values |= {str(e["value"]) for e in container.get("environment") or [] if e.get("value")}
        values |= {str(s["valueFrom"]) for s in container.get("secrets") or [] if s.get("valueFrom")}
    return values


FILES = fixture_files()
IDS = [p.stem for p in FILES]


def test_every_required_refusal_has_a_fixture() -> None:
    assert not REQUIRED - set(IDS), sorted(REQUIRED - set(IDS))


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_the_fixture_is_well_formed(path: Path) -> None:
    fixture = load(path)

    assert set(fixture) <= {"profile", "customProfile", "policy", "reason", "taskDefinition", "tags"}
    assert fixture["profile"] in {"jaeger", "adot", "fluent-bit"} or "customProfile" in fixture
    assert profile_of(fixture, path.name).name == fixture["profile"]
    assert isinstance(fixture["reason"], str)
    assert fixture["reason"]
    apps = [
        c for c in fixture["taskDefinition"]["containerDefinitions"] if not c.get("firelensConfiguration")
    ]
    assert any(CANARY in environment_values({"containerDefinitions": [c]}) for c in apps), (
        "every fixture's app container carries the canary environment value"
    )


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_the_plan_is_refused_with_the_fixture_s_reason(path: Path) -> None:
    fixture = load(path)

    result = plan_fixture(fixture, path.name)

    assert result.decision is Decision.REFUSED, result.reasons
    assert result.register_input is None
    assert result.resize is None
    assert result.reasons
    for reason in result.reasons:
        assert reason.strip() == reason
        assert reason
        assert "\n" not in reason
        assert "\r" not in reason
    assert result.reasons.count(fixture["reason"]) == 1, result.reasons
    assert result.to_json()["registerTaskDefinitionInput"] is None


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_reasons_never_repeat_an_environment_or_policy_value(path: Path) -> None:
    fixture = load(path)
    secrets = environment_values(fixture["taskDefinition"])
    # Parameter values from the policy are configuration, but still never printed; short ones (a
    # port like "4318") may equal a number a reason names for another cause, so only long ones count.
    for values in (fixture.get("policy") or {}).get("parameters", {}).values():
        secrets |= {v for v in values.values() if len(v) >= 8}
    assert CANARY in secrets

    result = plan_fixture(fixture, path.name)

    shown = json.dumps(result.to_json())
    for value in secrets:
        assert value not in shown, f"{value!r} appears in the plan's output"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_planning_does_not_modify_the_fixture(path: Path) -> None:
    fixture = load(path)
    before = json.dumps(fixture, sort_keys=True)

    plan_fixture(fixture, path.name)

    assert json.dumps(fixture, sort_keys=True) == before


def test_the_custom_x86_only_profile_plans_the_same_task_on_x86_64() -> None:
    """The ARM64 refusal is about the architecture alone: the same task on X86_64 gets the sidecar."""
    fixture = load(FIXTURES / "arm64-x86-only-custom-profile.json")
    fixture["taskDefinition"]["runtimePlatform"]["cpuArchitecture"] = "X86_64"

    result = plan_fixture(fixture)

    assert result.decision is Decision.MISSING, result.reasons
    assert result.register_input is not None


def test_the_privileged_custom_profile_is_planned_once_the_policy_allows_it_for_its_name() -> None:
    fixture = load(FIXTURES / "privileged-custom-profile.json")
    fixture["policy"] = {"allowProfileMembers": {"node-agent": ["container.privileged"]}}

    result = plan_fixture(fixture)

    assert result.decision is Decision.MISSING, result.reasons
    assert result.register_input is not None


def test_the_fargate_refusal_is_about_fargate_alone() -> None:
    """Refused on Fargate; the same custom profile and task on EC2 get the sidecar."""
    fixture = load(FIXTURES / "fargate-unsupported-member-extra-hosts.json")
    assert plan_fixture(fixture).decision is Decision.REFUSED
    task = fixture["taskDefinition"]
    task["requiresCompatibilities"] = ["EC2"]
    task.pop("cpu")
    task.pop("memory")

    result = plan_fixture(fixture)

    assert result.decision is Decision.MISSING, result.reasons
    assert result.register_input is not None


# -- refusals the planner owes but does not make (product bugs) ----------------------------------


def test_a_dotnet_framework_windows_image_without_runtime_platform_is_refused() -> None:
    fixture = load(FIXTURES / "windows-image-no-runtime-platform.json")
    app = fixture["taskDefinition"]["containerDefinitions"][0]
    app["image"] = "mcr.microsoft.com/dotnet/framework/aspnet:4.8-windowsservercore-ltsc2019"
    app.pop("entryPoint")
    app.pop("command")

    result = plan_fixture(fixture)

    assert result.decision is Decision.REFUSED
    assert "Windows" in result.reasons[0]


def test_a_present_sidecar_with_a_bare_number_port_mapping_is_refused_not_a_crash() -> None:
    fixture = load(FIXTURES / "ec2-task-memory-exceeded.json")
    fixture["taskDefinition"]["containerDefinitions"].append(
        {"name": "jaeger", "image": "jaegertracing/all-in-one:1.60", "memory": 64, "portMappings": [16686]}
    )

    result = plan_fixture(fixture)

    assert result.decision is Decision.REFUSED
    assert any("portMappings" in r for r in result.reasons)
