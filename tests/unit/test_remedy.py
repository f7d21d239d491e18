"""The remedy a status carries: the sidecar's container definition as the ECS API takes it, what
the app containers need, and the same as a Terraform object and a CloudFormation entry that parse
(python-hcl2; cfn-lint on a template holding it) and mean the same container. Values come from the
profile and the policy only: none of the service's own."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.planning.plan import Decision, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.domain.planning.remedy import Remedy, harmless, remedy
from sidecar_enforcer.domain.planning.remedy_snippets import (
    cloudformation_name,
    hcl_string,
    map_members,
    member_kinds,
    yaml_string,
)
from sidecar_enforcer.profiles import builtin_profiles

from ._factories import OTEL_ENDPOINT, OTEL_PROTOCOL, ROOT, app, awslogs, ec2, env, fargate, named

EXAMPLE_POLICY = json.loads((ROOT / "examples" / "policy.json").read_text(encoding="utf-8"))
POLICY = Policy(
    parameters=EXAMPLE_POLICY["parameters"], allow_profile_members=EXAMPLE_POLICY["allowProfileMembers"]
)
SENTINEL = "sentinel-app-value-7f3a"  # in the app's environment, secrets and logs: never in a remedy
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sentinel-app-secret-7f3a"

# What the test expects as CloudFormation's map members (keys kept), written out here rather than
# taken from the code under test: the CloudFormation reference names these three.
MAPS = {"dockerLabels", "logConfiguration.options", "firelensConfiguration.options"}

AWKWARD = 'a "quoted" ${var} %{ if x } $${kept} back\\slash C:\\temp ünïcødé ✓ 😀\nsecond line\ttab'

CUSTOM: dict[str, Any] = {
    "name": "awkward",
    "version": "1",
    "recognizes": ["example/awkward-collector"],
    "logStreamPrefix": "awkward",
    "otlp": {"grpcPort": 4317, "httpPort": 4318, "protocol": "grpc"},
    "parameters": [{"name": "COLLECTOR_ENDPOINT"}, {"name": "UPSTREAM_TOKEN", "required": False}],
    "container": {
        "name": "awkward-collector",
        "image": "registry.example.com/example/awkward-collector:1.2.3",
        "essential": False,
        "cpu": 32,
        "memoryReservation": 64,
        "user": "10001",
        "entryPoint": ["/bin/sh", "-c"],
        "command": [
            "printf '%s\\n' \"$HOME\" ${PATH} && echo 'ok'\nexec /collector --config=/etc/c.yaml",
            AWKWARD,
        ],
        "environment": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "GREETING", "value": AWKWARD},
            {"name": "API_KEY", "value": "not-shown-api-key"},
            {"name": "EXPORT_URL", "value": "https://user:pa55@collector.example.com/v1?token=abc"},
        ],
        "secrets": [
            {"name": "VENDOR_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/vendor"}
        ],
        "portMappings": [
            {"containerPort": 4317, "protocol": "tcp", "name": "otlp-grpc", "appProtocol": "grpc"},
            {"containerPort": 4318, "protocol": "tcp", "name": "otlp-http", "appProtocol": "http"},
        ],
        "dockerLabels": {"com.example/team": AWKWARD, "Name": "keeps its case", "${x}": "y"},
        "healthCheck": {
            "command": ["CMD-SHELL", "wget -qO- http://localhost:13133/ || exit 1"],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 10,
        },
        "logConfiguration": {
            "logDriver": "awsfirelens",
            "options": {"Name": "cloudwatch_logs", "region": "eu-west-1", "log_group_name": "/awkward"},
            "secretOptions": [
                {"name": "apikey", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/k"}
            ],
        },
        "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
        "restartPolicy": {"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
        "readonlyRootFilesystem": True,
        "stopTimeout": 20,
    },
}
CUSTOM_VALUES = {
    "COLLECTOR_ENDPOINT": "collector.example.com:4317",
    "UPSTREAM_TOKEN": "tok-3f9a8b7c6d5e4f3a2b1c",
}


def custom_profile() -> Profile:
    return Profile.model_validate(CUSTOM)


def service_task(*, bridge: bool = False) -> dict[str, Any]:
    """The service's own task definition, with values that must never reach a remedy."""
    web = app(
        environment=[{"name": "DATABASE_URL", "value": SENTINEL}, {"name": "MODE", "value": SENTINEL}],
        secrets=[{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}],
        logConfiguration=awslogs(group=f"/ecs/{SENTINEL}"),
        dockerLabels={"owner": SENTINEL},
        command=["serve", f"--token={SENTINEL}"],
    )
    if bridge:
        return ec2(dict(web, memoryReservation=256))
    return fargate(web, app("worker", portMappings=[], environment=[{"name": "X", "value": SENTINEL}]))


def remedy_for(
    profile: Profile, task: dict[str, Any], policy: Policy = POLICY, *, shipped: bool = True
) -> Remedy:
    decided = plan(task, [], profile, policy)
    found = remedy(task, decided, policy, shipped=shipped)
    assert found is not None, decided.reasons
    return found


def cases() -> Iterator[tuple[str, Profile, Policy, bool]]:
    for name, profile in sorted(builtin_profiles().items()):
        yield name, profile, POLICY, True
    # the awkward profile's secrets, log-driver secrets, ulimits and port mappings, allowed on purpose
    allowed = [
        "container.secrets",
        "container.logConfiguration.secretOptions",
        "container.ulimits",
        "container.portMappings",
    ]
    custom = Policy(parameters={"awkward": CUSTOM_VALUES}, allow_profile_members={"awkward": allowed})
    yield "awkward-custom", custom_profile(), custom, False
    yield "awkward-shown", custom_profile(), custom, True


CASES = {name: (profile, policy, shipped) for name, profile, policy, shipped in cases()}


def built(case: str) -> Remedy:
    profile, policy, shipped = CASES[case]
    return remedy_for(profile, service_task(), policy, shipped=shipped)


# -- what the container is ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_a_shipped_profiles_remedy_is_the_sidecar_the_enforcer_registers(name: str) -> None:
    profile = builtin_profiles()[name]
    task = service_task()
    decided = plan(task, [], profile, POLICY)
    assert decided.decision is Decision.MISSING
    assert decided.register_input is not None

    found = remedy(task, decided, POLICY, shipped=True)

    assert found is not None
    registered = named(decided.register_input, profile.container_name)
    # the same container, but for the log group, which is the app's (the steps say how to set it)
    assert found.container == {k: v for k, v in registered.items() if k != "logConfiguration"}
    assert schema.validate_container(found.container) == []
    assert found.to_json()["containerDefinitions"] == [found.container]
    web = named(decided.register_input, "app")
    wanted = {
        e["name"]: e["value"] for e in web["environment"] if e["name"] in (OTEL_ENDPOINT, OTEL_PROTOCOL)
    }
    assert found.to_json()["appContainers"][0] == {
        "name": "app",
        "environment": [{"name": k, "value": v} for k, v in wanted.items()],
        "dependsOn": [{"containerName": profile.container_name, "condition": "START"}],
    }
    assert any("awslogs-stream-prefix " + profile.log_stream_prefix in step for step in found.steps)


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_value_of_the_services_task_definition_is_in_a_remedy(case: str) -> None:
    text = json.dumps(built(case).to_json(), ensure_ascii=False)

    assert SENTINEL not in text
    assert "sentinel-app-secret" not in text
    assert "DATABASE_URL" not in text  # not even the names of the app's own variables


def test_a_custom_profiles_values_are_shown_only_when_plainly_harmless() -> None:
    found = built("awkward-custom")

    shown = env(found.container)
    assert shown["LOG_LEVEL"] == "info"
    assert shown["COLLECTOR_ENDPOINT"] == "collector.example.com:4317"
    for hidden in ("API_KEY", "GREETING", "EXPORT_URL", "UPSTREAM_TOKEN"):
        assert shown[hidden].startswith("<the value of ")
        assert shown[hidden].endswith(": not shown>")
    text = json.dumps(found.to_json())
    for secret in ("not-shown-api-key", "pa55", "tok-3f9a8b7c6d5e4f3a2b1c"):
        assert secret not in text
    assert any("set GREETING, API_KEY, EXPORT_URL, UPSTREAM_TOKEN" in step for step in found.steps)
    # a secret is referenced by its ARN, which is no secret: kept
    assert found.container["secrets"] == CUSTOM["container"]["secrets"]


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("LOG_LEVEL", "debug", True),
        ("PORT", "4317", True),
        ("ENABLED", "true", True),
        ("HOST", "tempo.observability.internal", True),
        ("HOST", "10.0.0.12:4317", True),
        ("ENDPOINT", "https://otlp.example.com/v1/traces", True),
        ("CONFIG", "/etc/otel/config.yaml", True),
        ("ROLE", "arn:aws:iam::123456789012:role/collector", True),
        ("API_KEY", "debug", False),  # the name says credential
        ("DB_PASSWORD", "4317", False),
        ("HONEYCOMB_WRITEKEY", "x", False),  # any KEY in a name
        ("ENDPOINT", "https://user:secret@otlp.example.com/", False),  # credentials in the URL
        ("ENDPOINT", "https://otlp.example.com/v1?key=abc", False),  # a query
        ("HOST", "a1b2c3d4e5f6a7b8c9d0.example.com", False),  # a token-like run
        ("MESSAGE", "Hello World", False),  # free text
        ("VALUE", "", False),
    ],
)
def test_what_counts_as_plainly_harmless(name: str, value: str, shown: bool) -> None:
    assert harmless(name, value) is shown


def test_a_shipped_profiles_parameters_are_shown_as_the_planner_sets_them() -> None:
    found = built("fluent-bit")

    # with the listen host the planner sets on Fargate (awsvpc: localhost)
    assert env(found.container) == {
        "OTLP_LISTEN_HOST": "127.0.0.1",
        **EXAMPLE_POLICY["parameters"]["fluent-bit"],
    }


# -- which statuses get one -----------------------------------------------------------------------


def test_a_sidecar_added_by_the_enforcer_under_a_free_name_is_named_so_in_the_remedy() -> None:
    task = fargate(app(), app("jaeger", image="example/jaeger-ui-proxy:1"))

    found = remedy_for(builtin_profiles()["jaeger"], task)

    assert found.container["name"] == "jaeger-sidecar"
    assert [a.name for a in found.apps] == ["app", "jaeger"]
    assert found.apps[0].depends_on == ({"containerName": "jaeger-sidecar", "condition": "START"},)


def test_in_bridge_mode_the_app_links_to_the_sidecar_and_reaches_it_by_name() -> None:
    found = remedy_for(builtin_profiles()["jaeger"], service_task(bridge=True))

    (web,) = found.apps
    assert web.links == ("jaeger",)
    assert {"name": OTEL_ENDPOINT, "value": "http://jaeger:4317"} in web.environment
    assert re.search(r'(?m)^#   links += \["jaeger"\]$', found.terraform)


def test_an_app_that_chose_its_protocol_gets_the_matching_port_and_no_other_value_of_its_own() -> None:
    jaeger = builtin_profiles()["jaeger"]
    chosen = fargate(
        app(environment=[{"name": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "value": "http/protobuf"}])
    )
    odd = fargate(app(environment=[{"name": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "value": SENTINEL}]))

    (web,) = remedy_for(jaeger, chosen).apps
    assert web.environment == (
        {"name": OTEL_ENDPOINT, "value": "http://localhost:4318"},
        {"name": OTEL_PROTOCOL, "value": "http/protobuf"},
    )
    (web,) = remedy_for(jaeger, odd).apps
    assert web.environment[1]["name"] == OTEL_PROTOCOL
    assert web.environment[1]["value"].startswith("<your app's OTLP protocol")
    assert SENTINEL not in json.dumps(remedy_for(jaeger, odd).to_json())


def test_an_app_already_wired_needs_nothing_more() -> None:
    wired = app(
        environment=[{"name": OTEL_ENDPOINT, "value": SENTINEL}, {"name": OTEL_PROTOCOL, "value": "grpc"}],
        dependsOn=[{"containerName": "jaeger", "condition": "START"}],
    )

    found = remedy_for(builtin_profiles()["jaeger"], fargate(wired))

    assert found.apps == ()
    assert "app container" not in found.terraform
    assert SENTINEL not in json.dumps(found.to_json())


def test_a_drifted_sidecar_is_replaced_by_the_profiles_without_its_own_values() -> None:
    jaeger = builtin_profiles()["jaeger"]
    old = {
        "name": "jaeger",
        "image": "jaegertracing/all-in-one:1.57",
        "essential": False,
        "environment": [{"name": "COLLECTOR_OTLP_ENABLED", "value": SENTINEL}],
        "logConfiguration": awslogs(group=f"/ecs/{SENTINEL}"),
    }
    task = fargate(app(dependsOn=[{"containerName": "jaeger", "condition": "START"}]), old)
    decided = plan(task, [], jaeger, POLICY.model_copy(update={"upgrade_drifted": False}))
    assert decided.decision is Decision.DRIFTED
    assert decided.register_input is None

    found = remedy(task, decided, POLICY, shipped=True)

    assert found is not None
    assert found.container == dict(jaeger.container)
    assert found.steps[0].startswith("replace container 'jaeger' by the one in containerDefinitions")
    assert SENTINEL not in json.dumps(found.to_json())


def test_a_drifted_sidecar_under_a_foreign_name_is_replaced_under_that_name() -> None:
    jaeger = builtin_profiles()["jaeger"]
    old = {"name": "tracing", "image": "jaegertracing/all-in-one:1.57", "essential": False}
    task = fargate(app(), old)
    decided = plan(task, [], jaeger, POLICY)
    assert decided.decision is Decision.DRIFTED
    assert decided.register_input is None

    found = remedy(task, decided, POLICY, shipped=True)

    assert found is not None
    assert found.container["name"] == "tracing"
    assert found.container["image"] == jaeger.image


def test_a_refusal_only_the_enforcers_policy_makes_gets_a_remedy_that_says_what_to_grow() -> None:
    jaeger = builtin_profiles()["jaeger"]
    full = fargate(app(cpu=256, memory=512), cpu="256", memory="512")
    no_growth = POLICY.model_copy(update={"grow_task_size": False})
    decided = plan(full, [], jaeger, no_growth)
    assert decided.decision is Decision.REFUSED

    found = remedy(full, decided, no_growth, shipped=True)

    assert found is not None
    assert (
        "grow the task size from 256 CPU units / 512 MiB to 512 CPU units / 1024 MiB: the containers need it"
        in (found.steps)
    )


def test_a_name_the_enforcer_may_not_change_or_markers_that_do_not_fit_are_cured_by_hand() -> None:
    jaeger = builtin_profiles()["jaeger"]
    taken = fargate(app(), app("jaeger", image="example/jaeger-ui-proxy:1", portMappings=[]))
    no_rename = POLICY.model_copy(update={"rename_on_conflict": False})
    tags = [{"key": f"k{n}", "value": "v"} for n in range(49)]
    for task, tagged, policy in ((taken, [], no_rename), (fargate(app()), tags, POLICY)):
        decided = plan(task, tagged, jaeger, policy)
        assert decided.decision is Decision.REFUSED

        found = remedy(task, decided, policy, shipped=True)

        assert found is not None
        assert found.container["image"] == jaeger.image


@pytest.mark.parametrize(
    "task",
    [
        ec2(app(memoryReservation=256), network_mode="host"),  # ports on the instance
        fargate(app(portMappings=[{"containerPort": 4317, "protocol": "tcp"}])),  # port taken
        fargate(app(), runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}),
    ],
    ids=["host-mode", "port-taken", "windows"],
)
def test_a_refusal_adding_the_sidecar_by_hand_would_not_cure_gets_no_remedy(task: dict[str, Any]) -> None:
    jaeger = builtin_profiles()["jaeger"]
    decided = plan(task, [], jaeger, POLICY)
    assert decided.decision is Decision.REFUSED

    assert remedy(task, decided, POLICY, shipped=True) is None


def test_a_missing_profile_parameter_gets_no_remedy() -> None:
    adot = builtin_profiles()["adot"]
    decided = plan(fargate(app()), [], adot, Policy())
    assert decided.decision is Decision.REFUSED

    assert remedy(fargate(app()), decided, Policy(), shipped=True) is None


# -- Terraform ------------------------------------------------------------------------------------


def _template_escapes(value: Any) -> Any:
    """python-hcl2 leaves template sequences as written: ``$${`` and ``%%{`` are HCL's escapes for a
    literal ``${`` and ``%{`` (HCL native syntax, Template Literals). An unescaped ``${`` would be an
    interpolation: none may be left."""
    if isinstance(value, str):
        assert re.search(r"(?<![$])[$][{]", value.replace("$${", "")) is None, value
        assert re.search(r"(?<![%])%[{]", value.replace("%%{", "")) is None, value
        return value.replace("$${", "${").replace("%%{", "%{")
    if isinstance(value, list):
        return [_template_escapes(v) for v in value]
    if isinstance(value, dict):
        return {_template_escapes(k): _template_escapes(v) for k, v in value.items()}
    return value


def parse_hcl(text: str, *, literal: bool = True) -> Any:
    """``text`` read by python-hcl2; ``literal``: every string a literal (no interpolation left)."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)
    parsed = hcl2.loads(text, serialization_options=options)
    return _template_escapes(parsed) if literal else parsed


def _uncommented(snippet: str, marker: str) -> list[str]:
    """The commented blocks after each ``marker`` line, uncommented."""
    blocks: list[list[str]] = []
    for line in snippet.splitlines():
        if line.startswith(marker):
            blocks.append([])
        elif blocks and line.startswith("# "):
            blocks[-1].append(line[2:])
        elif blocks and line:
            blocks.append([])  # ended
    return ["\n".join(b) for b in blocks if b]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_terraform_snippet_parses_and_is_the_container_definition(case: str) -> None:
    found = built(case)

    # pasted where it goes: inside container_definitions = jsonencode([ ... ])
    text = 'resource "aws_ecs_task_definition" "this" {\n  container_definitions = jsonencode([\n'
    text += found.terraform + "  ])\n}\n"
    (resource,) = parse_hcl(text, literal=False)["resource"]
    assert "container_definitions" in resource["aws_ecs_task_definition"]["this"]
    # python-hcl2 keeps a function call as text: the list on its own gives its value
    (local,) = parse_hcl("locals {\n  c = [\n" + found.terraform + "]\n}\n")["locals"]
    assert local["c"] == [found.container]
    apps = [parse_hcl("a = " + block + "\n")["a"] for block in _uncommented(found.terraform, "# and to")]
    assert apps == [a.members() for a in found.apps]


@given(st.text())
def test_any_text_survives_hcl_quoting(text: str) -> None:
    # python-hcl2 8.1.4 reads "$${" and "%%{" only when a "}" closes them, and leaves escapes inside
    # them as written, where HCL unescapes them (spec: Template Literals): the template markers are
    # checked on the profiles' AWKWARD values (closed ones, as real commands and labels have them)
    assume("${" not in text and "%{" not in text)
    assert parse_hcl(f"a = {hcl_string(text)}\n")["a"] == text


_UNSEEN = ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn")  # never written as themselves


@given(st.text())
def test_no_control_or_separator_is_written_as_itself(text: str) -> None:
    import unicodedata

    for quoted in (hcl_string(text), yaml_string(text)):
        assert not [c for c in quoted if unicodedata.category(c) in _UNSEEN], quoted


@pytest.mark.parametrize("text", ["${var}", "%{ if x }", "$${kept}", "a ${b} %{c} $${d} %%{e}"])
def test_template_markers_are_escaped_by_doubling(text: str) -> None:
    quoted = hcl_string(text)

    assert "${" not in quoted.replace("$${", "")
    assert "%{" not in quoted.replace("%%{", "")
    assert parse_hcl(f"a = {quoted}\n")["a"] == text


# -- CloudFormation -------------------------------------------------------------------------------


def _camel(value: Any, path: str = "") -> Any:
    """CloudFormation's names back to the API's (first letter lower case); map keys kept."""
    if isinstance(value, list):
        return [_camel(v, path) for v in value]
    if not isinstance(value, dict):
        return value
    if path in MAPS:
        return dict(value)
    result = {}
    for key, item in value.items():
        name = key[:1].lower() + key[1:]
        result[name] = _camel(item, f"{path}.{name}" if path else name)
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_cloudformation_snippet_maps_back_to_the_container_definition(case: str) -> None:
    found = built(case)

    assert _camel(yaml.safe_load(found.cloudformation)) == [found.container]
    apps = [_camel(yaml.safe_load(b)) for b in _uncommented(found.cloudformation, "# and to")]
    assert apps == [a.members() for a in found.apps]


@given(st.text())
def test_any_text_survives_yaml_quoting(text: str) -> None:
    assert yaml.safe_load(f"a: {yaml_string(text)}\n") == {"a": text}


def _cfn_lint() -> str | None:
    for candidate in (os.environ.get("CFN_LINT"), str(ROOT / ".venv-sam" / "bin" / "cfn-lint")):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("cfn-lint")


def _indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" if line else "\n" for line in text.splitlines())


def template(found: Remedy) -> str:
    """A minimal stack whose task definition holds the app and the remedy's sidecar."""
    apps = "".join(
        f"        - Name: {app.name}\n"
        "          Image: public.ecr.aws/nginx/nginx:1.27\n"
        "          Essential: true\n" + _indented(block, 10)
        for app, block in zip(found.apps, _uncommented(found.cloudformation, "# and to"), strict=True)
    )
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Resources:\n"
        "  TaskDefinition:\n"
        "    Type: AWS::ECS::TaskDefinition\n"
        "    Properties:\n"
        "      Family: shop-api\n"
        "      RequiresCompatibilities: [FARGATE]\n"
        "      NetworkMode: awsvpc\n"
        '      Cpu: "1024"\n'
        '      Memory: "2048"\n'
        "      ExecutionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole\n"
        "      ContainerDefinitions:\n" + apps + _indented(found.cloudformation, 8)
    )


def lint(cfn_lint: str, files: dict[str, Path]) -> dict[str, str]:
    """cfn-lint's findings per file, one run for them all (it takes seconds to start)."""
    result = subprocess.run(  # noqa: S603 - our own tool on our own files
        [cfn_lint, "--format", "parseable", *map(str, files.values())],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode in range(0, 16, 2), result.stderr  # 1: cfn-lint itself failed
    lines = result.stdout.splitlines()
    return {
        case: "\n".join(line for line in lines if line.startswith(f"{path}:")) for case, path in files.items()
    }


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cfn_lint = _cfn_lint()
    if cfn_lint is None:
        pytest.skip("cfn-lint is not installed: `make sam-venv` creates .venv-sam with it (or set CFN_LINT)")
    folder = tmp_path_factory.mktemp("remedy-templates")
    files = {}
    for case in CASES:
        files[case] = folder / f"{case}.yaml"
        files[case].write_text(template(built(case)), encoding="utf-8")
    wrong = dataclasses.replace(
        built("jaeger"), cloudformation=built("jaeger").cloudformation.replace("Memory:", "MemoryLimit:")
    )
    files["wrong"] = folder / "wrong.yaml"
    files["wrong"].write_text(template(wrong), encoding="utf-8")
    return lint(cfn_lint, files)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_cloudformation_snippet_in_a_task_definition_passes_cfn_lint(
    case: str, linted: dict[str, str]
) -> None:
    assert linted[case] == ""


def test_cfn_lint_reports_a_wrong_property_name(linted: dict[str, str]) -> None:
    # the check above could not pass for want of looking: a name CloudFormation lacks is caught
    assert "MemoryLimit" in linted["wrong"]


def _cfn_schema() -> dict[str, Any] | None:
    """cfn-lint's resource schema of AWS::ECS::TaskDefinition (CloudFormation's registry schema)."""
    cfn_lint = _cfn_lint()
    if cfn_lint is None:
        return None
    for data in Path(cfn_lint).resolve().parents[1].glob("lib/python3*/site-packages/cfnlint/data/schemas"):
        providers = json.loads((data / "providers" / "us-east-1.json").read_text(encoding="utf-8"))
        found: dict[str, Any] = json.loads(
            (data / "resources" / f"{providers['AWS::ECS::TaskDefinition']}.json").read_text(encoding="utf-8")
        )
        return found
    return None


def test_every_container_member_has_the_cloudformation_name_the_remedy_gives_it() -> None:
    cfn = _cfn_schema()
    if cfn is None:
        pytest.skip("cfn-lint's schemas are not installed: `make sam-venv` creates .venv-sam with them")
    definitions = cfn["definitions"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        if node.get("type") == "array":
            return resolve(node.get("items", {}))
        return node

    kinds = member_kinds()
    checked = 0
    for path, kind in kinds.items():
        node = resolve(definitions["ContainerDefinition"])
        for depth in range(len(path.split("."))):
            prefix = ".".join(path.split(".")[: depth + 1])
            props = node.get("properties", {})
            assert cloudformation_name(prefix) in props, f"{prefix}: CloudFormation has {sorted(props)}"
            node = resolve(props[cloudformation_name(prefix)])
        if kind == "map":
            assert node.get("type") == "object"
            assert "properties" not in node  # free keys
        checked += 1
    assert checked > 80  # every member, nested ones included
    assert map_members() == MAPS


def test_the_readmes_example_is_what_the_code_gives_the_demos_flapping_service() -> None:
    # nexus-ai-api-prod: one app container "api" on Fargate (tools/sidecar_enforcer_dev/fleet.py)
    found = remedy_for(builtin_profiles()["jaeger"], fargate(app("api")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert f"```hcl\n{found.terraform}```" in readme
    assert f"```yaml\n{found.cloudformation}```" in readme
