"""``sidecar-enforcer plan`` and ``report`` run as a user runs them (a subprocess of the console
script) on the refusal fixtures' task definitions: offline, no AWS endpoint needed."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.config import ENV_VARS
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import cli

from ..conftest import ROOT

SCRIPT = Path(sys.executable).with_name("sidecar-enforcer")
FIXTURES = ROOT / "tests" / "fixtures" / "refusals"
CANARY = "CANARY-fixture-value"
ENDPOINT = (
    "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-9f8e7d6c-5b4a-3210-fedc-ba9876543210"
    "/api/v1/remote_write"
)


def clean_env() -> dict[str, str]:
    """The user's environment without any enforcer setting or AWS endpoint: only the flags count."""
    drop = {*ENV_VARS, "AWS_ENDPOINT_URL", "AWS_PROFILE"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=clean_env() | (env or {}),
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def fixture(slug: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{slug}.json").read_text(encoding="utf-8"))
    return data


def task_file(folder: Path, data: dict[str, Any], name: str = "td.json") -> Path:
    """The fixture's task definition as DescribeTaskDefinition prints it (tags beside it)."""
    path = folder / name
    path.write_text(json.dumps({"taskDefinition": data["taskDefinition"], "tags": data.get("tags", [])}))
    return path


def profile_args(folder: Path, data: dict[str, Any]) -> list[str]:
    if "customProfile" in data:
        path = folder / f"{data['profile']}.json"
        path.write_text(json.dumps(data["customProfile"]))
        return ["--profile", str(path)]
    return ["--profile", data["profile"]]


def policy_args(folder: Path, data: dict[str, Any]) -> list[str]:
    if "policy" not in data:
        return []
    path = folder / "policy.json"
    path.write_text(json.dumps(data["policy"]))
    return ["--policy", str(path)]


def plan_out(*args: str) -> dict[str, Any]:
    result = run("plan", *args)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    # The request carries the app's environment as it is; nothing else may show a value of it.
    told = {k: v for k, v in out.items() if k != "registerTaskDefinitionInput"}
    assert CANARY not in json.dumps(told) + result.stderr
    return out


@pytest.mark.parametrize(
    "slug",
    [
        "awsvpc-port-clash",
        "fargate-too-small-no-growth",
        "arm64-x86-only-custom-profile",
        "unknown-member-port-bindings",
        "too-many-tags",
        "adot-parameter-pattern-mismatch",
    ],
)
def test_plan_of_a_refusal_fixture_prints_refused_with_its_reason(tmp_path: Path, slug: str) -> None:
    data = fixture(slug)

    out = plan_out(
        str(task_file(tmp_path, data)), *profile_args(tmp_path, data), *policy_args(tmp_path, data)
    )

    assert out["decision"] == "REFUSED"
    assert data["reason"] in out["reasons"]
    assert out["registerTaskDefinitionInput"] is None
    assert "taskSize" not in out


def test_plan_of_a_missing_sidecar_prints_the_request_and_the_grown_size(tmp_path: Path) -> None:
    data = fixture("fargate-too-small-no-growth")  # its policy forbids growth; the default allows it

    out = plan_out(str(task_file(tmp_path, data)), "--profile", "jaeger")

    assert out["decision"] == "MISSING"
    assert out["taskSize"] == {"from": "256 CPU units / 512 MiB", "to": "512 CPU units / 1024 MiB"}
    request = out["registerTaskDefinitionInput"]
    assert (request["cpu"], request["memory"]) == ("512", "1024")
    assert [c["name"] for c in request["containerDefinitions"]] == ["web", "jaeger"]
    assert "revision" not in request
    assert "taskDefinitionArn" not in request
    assert any(
        c.startswith("task size 256 CPU units / 512 MiB -> 512 CPU units / 1024 MiB") for c in out["changes"]
    )


def test_no_grow_task_size_flips_the_too_small_task_to_refused(tmp_path: Path) -> None:
    data = fixture("fargate-too-small-no-growth")

    out = plan_out(str(task_file(tmp_path, data)), "--profile", "jaeger", "--no-grow-task-size")

    assert out["decision"] == "REFUSED"
    assert out["reasons"] == [data["reason"]]
    assert out["registerTaskDefinitionInput"] is None
    assert "taskSize" not in out


def test_grow_task_size_on_the_command_line_beats_the_policy_file(tmp_path: Path) -> None:
    data = fixture("fargate-too-small-no-growth")

    out = plan_out(
        str(task_file(tmp_path, data)),
        "--profile",
        "jaeger",
        *policy_args(tmp_path, data),
        "--grow-task-size",
    )

    assert out["decision"] == "MISSING"
    assert out["taskSize"]["to"] == "512 CPU units / 1024 MiB"


def test_a_param_makes_adot_plan_and_its_value_appears_only_in_the_request(tmp_path: Path) -> None:
    data = fixture("adot-missing-required-parameter")
    file = task_file(tmp_path, data)
    assert plan_out(str(file), "--profile", "adot")["decision"] == "REFUSED"

    out = plan_out(str(file), "--profile", "adot", "--param", f"adot.AWS_PROMETHEUS_ENDPOINT={ENDPOINT}")

    assert out["decision"] == "MISSING", out["reasons"]
    collector = next(
        c
        for c in out["registerTaskDefinitionInput"]["containerDefinitions"]
        if c["name"] == "aws-otel-collector"
    )
    assert {"name": "AWS_PROMETHEUS_ENDPOINT", "value": ENDPOINT} in collector["environment"]
    shown = json.dumps([out["reasons"], out["changes"], out.get("warnings", []), out["taskRole"]])
    assert ENDPOINT not in shown
    assert any("AWS_PROMETHEUS_ENDPOINT" in change for change in out["changes"])


def test_a_malformed_param_exits_2_with_one_line(tmp_path: Path) -> None:
    file = task_file(tmp_path, fixture("adot-missing-required-parameter"))

    result = run("plan", str(file), "--profile", "adot", "--param", "AWS_PROMETHEUS_ENDPOINT=x")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "sidecar-enforcer plan: --param AWS_PROMETHEUS_ENDPOINT: expected PROFILE.NAME=VALUE"
    ]


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (
            "zipkin.ENDPOINT=x",
            "--param zipkin.ENDPOINT: unknown profile 'zipkin' (known: adot, fluent-bit, jaeger)",
        ),
        (
            "adot.AWS_PROMETHEUS_ENDPIONT=x",
            "--param adot.AWS_PROMETHEUS_ENDPIONT: adot has no parameter 'AWS_PROMETHEUS_ENDPIONT'"
            " (known: AWS_PROMETHEUS_ENDPOINT, AMP_WORKSPACE_ARN)",
        ),
        ("jaeger.ENDPOINT=x", "--param jaeger.ENDPOINT: jaeger has no parameter 'ENDPOINT' (it has none)"),
    ],
)
def test_a_param_of_an_unknown_profile_or_parameter_exits_2_naming_the_known_ones(
    tmp_path: Path, param: str, expected: str
) -> None:
    file = task_file(tmp_path, fixture("adot-missing-required-parameter"))

    result = run("plan", str(file), "--profile", "adot", "--param", param)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"sidecar-enforcer plan: {expected}"]
    assert "=x" not in result.stderr  # the value is never echoed


def test_a_param_may_name_a_custom_profile_of_profiles_dir_or_of_a_document(tmp_path: Path) -> None:
    data = fixture("adot-missing-required-parameter")
    file = task_file(tmp_path, data)
    folder = tmp_path / "profiles"
    folder.mkdir()
    custom = builtin_profiles()["adot"].model_dump(mode="json", by_alias=True) | {"name": "adot-team"}
    (folder / "adot-team.json").write_text(json.dumps(custom))
    document = tmp_path / "adot-doc.json"
    document.write_text(json.dumps(custom | {"name": "adot-doc"}))
    value = f"AWS_PROMETHEUS_ENDPOINT={ENDPOINT}"

    team = run(
        "plan",
        str(file),
        "--profile",
        "adot-team",
        "--param",
        f"adot-team.{value}",
        env={"PROFILES_DIR": str(folder)},
    )
    doc = run("plan", str(file), "--profile", str(document), "--param", f"adot-doc.{value}")
    other = run(
        "plan",
        str(file),
        "--profile",
        "adot-team",
        "--param",
        f"adot-doc.{value}",
        env={"PROFILES_DIR": str(folder)},
    )

    assert team.returncode == doc.returncode == 0, team.stderr + doc.stderr
    assert json.loads(team.stdout)["decision"] == json.loads(doc.stdout)["decision"] == "MISSING"
    assert other.returncode == 2
    assert "unknown profile 'adot-doc' (known: adot, adot-team, fluent-bit, jaeger)" in other.stderr


def test_a_custom_profile_document_path_is_used(tmp_path: Path) -> None:
    data = fixture("arm64-x86-only-custom-profile")
    data["taskDefinition"]["runtimePlatform"]["cpuArchitecture"] = "X86_64"

    out = plan_out(str(task_file(tmp_path, data)), *profile_args(tmp_path, data))

    assert out["decision"] == "MISSING", out["reasons"]
    assert out["profile"] == f"zipkin@{data['customProfile']['version']}"
    names = [c["name"] for c in out["registerTaskDefinitionInput"]["containerDefinitions"]]
    assert names == ["api", "zipkin"]


def test_an_unknown_profile_exits_2_with_one_line_on_stderr(tmp_path: Path) -> None:
    file = task_file(tmp_path, fixture("awsvpc-port-clash"))

    result = run("plan", str(file), "--profile", "zipkin")

    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("sidecar-enforcer plan: unknown profile 'zipkin' (known: ")
    assert "jaeger" in line


def test_report_on_the_fixtures_task_definitions_prints_the_summary(tmp_path: Path) -> None:
    slugs = sorted(p.stem for p in FIXTURES.glob("*.json"))
    for slug in slugs:
        task_file(tmp_path, fixture(slug), f"{slug}.json")

    result = run("report", str(tmp_path), "--policy", str(ROOT / "examples" / "policy.json"))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{len(slugs)} files x 3 profiles = {3 * len(slugs)} plans; 0 broke an invariant"
    assert len([line for line in lines if line.split(" ", 1)[0] in {f"{s}.json" for s in slugs}]) == 3 * len(
        slugs
    )
    assert CANARY not in result.stdout + result.stderr


def test_report_markdown_for_one_profile(tmp_path: Path) -> None:
    task_file(tmp_path, fixture("awsvpc-port-clash"), "a.json")
    task_file(tmp_path, fixture("fargate-too-small-no-growth"), "b.json")

    result = run("report", str(tmp_path), "--profile", "jaeger", "--markdown")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "| FILE | PROFILE | DECISION (CHECKS) | FIRST REASON / SIZE CHANGE |",
        "|---|---|---|---|",
    ]
    assert lines[2].startswith("| a.json | jaeger | REFUSED (-) | container 'gateway' already uses port 4317")
    assert lines[3] == (
        "| b.json | jaeger | MISSING (ok) | task size 256 CPU units / 512 MiB -> 512 CPU units / 1024 MiB |"
    )
    assert lines[-1] == "2 files x 1 profiles = 2 plans; 0 broke an invariant"


def test_report_of_an_empty_folder_exits_2(tmp_path: Path) -> None:
    result = run("report", str(tmp_path))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"sidecar-enforcer report: no .json files in {tmp_path}"]


def _read_one_line_then_close(*args: str) -> tuple[bytes, int, str]:
    """``sidecar-enforcer ARGS | head -1``: read the first line, close the pipe, let the writer end."""
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=ROOT
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    code = proc.wait(timeout=120)
    return first, code, proc.stderr.read().decode()


@pytest.mark.parametrize("command", ["plan", "report"])
def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path, command: str) -> None:
    data = fixture("fargate-too-small-no-growth")
    app = data["taskDefinition"]["containerDefinitions"][0]
    app["environment"] = [{"name": f"VAR_{i:04d}", "value": "x" * 40} for i in range(1500)]
    file = task_file(tmp_path, data)  # its plan is ~180 kB, more than a pipe holds
    for i in range(200):  # ~80 kB of report rows
        task_file(tmp_path, fixture("awsvpc-port-clash"), f"clash-{i:03d}.json")
    args = [str(file), "--profile", "jaeger"] if command == "plan" else [str(tmp_path)]

    first, code, stderr = _read_one_line_then_close(command, *args)

    assert first.split()[0] == (b"{" if command == "plan" else b"FILE")  # the JSON's / table's first line
    assert stderr == ""  # no BrokenPipeError traceback, no "Exception ignored" at shutdown
    assert code == 1  # as Python's own recipe for a closed stdout: not 0, the output was cut short


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


MARKUP = re.compile(r"``|:[a-z]+:`|`[^`\s]+`_")  # reStructuredText literals, roles, links


def test_every_option_of_every_command_has_a_help_line_without_markup() -> None:
    problems = []
    seen = 0
    for prog, parser in _parsers(cli.parser()):
        if not parser.description:
            problems.append(f"{prog}: no description")
        for action in parser._actions:
            seen += 1
            name = "/".join(action.option_strings) or action.dest
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"{prog} {name}: no help")
        for text in (parser.format_help(), parser.format_usage()):
            problems.extend(f"{prog}: markup {m!r} in --help" for m in MARKUP.findall(text))

    assert seen > 30  # every command's options were walked
    assert problems == []
