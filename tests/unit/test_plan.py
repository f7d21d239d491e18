"""The plan: task definition + profile -> decision, and for a missing sidecar the request to send."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sidecar_enforcer import ENFORCER_NAME
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.planning.plan import (
    DEFAULT_POLICY,
    MARKER_KEYS,
    MARKER_MANAGED_BY,
    MARKER_PROFILE,
    MARKER_SOURCE,
    Decision,
    is_managed,
    plan,
    source_of,
)
from sidecar_enforcer.domain.planning.policy import Policy

from ._factories import (
    JAEGER,
    OTEL_ENDPOINT,
    OTEL_PROTOCOL,
    REGION,
    SOURCE_ARN,
    app,
    awslogs,
    ec2,
    env,
    env_count,
    fargate,
    named,
)

SIDECAR = JAEGER.container_name
TAGS = [
    {"key": "team", "value": "payments"},
    {"key": "aws:cloudformation:stack-name", "value": "shop"},
    {"key": "cost-center", "value": "42"},
]
CANARY = "CANARY-9d2b-do-not-print"
SECRET_PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret"


def missing(task: dict[str, Any], tags: list[dict[str, str]] | None = None, **kw: Any) -> dict[str, Any]:
    """Plan, require MISSING, return the request."""
    result = plan(task, tags or [], JAEGER, **kw)
    assert result.decision is Decision.MISSING, result.reasons
    assert result.register_input is not None
    return result.register_input


def refused(
    task: dict[str, Any],
    tags: list[dict[str, str]] | None = None,
    profile: Any = JAEGER,
    policy: Policy = DEFAULT_POLICY,
) -> str:
    """Plan, require REFUSED with sound reasons, return the reasons as one text."""
    result = plan(task, tags or [], profile, policy)
    assert result.decision is Decision.REFUSED, result
    assert result.register_input is None
    assert result.changes == []
    assert result.reasons
    for reason in result.reasons:
        assert reason.strip()
        assert "\n" not in reason
    return " | ".join(result.reasons)


def apply(task: dict[str, Any], tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """What the enforcer leaves behind: the planned request, or the task as it was."""
    result = plan(task, tags or [], JAEGER)
    return result.register_input if result.register_input is not None else task


def tag_map(request: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in request["tags"]}


# -- the main story: a Fargate task without the sidecar ---------------------------------------------


class TestMissingOnFargate:
    def test_the_sidecar_is_added_and_the_app_is_pointed_at_it(self) -> None:
        # Given a described Fargate awsvpc task with an app, tags (one of them a system tag)
        task = fargate(
            app(environment=[{"name": "MODE", "value": "live"}]),
            taskRoleArn="arn:aws:iam::123456789012:role/shop-api",
            ephemeralStorage={"sizeInGiB": 30},
            enableFaultInjection=False,
        )
        before = copy.deepcopy(task)

        # When the plan is made
        result = plan(task, TAGS, JAEGER)

        # Then the sidecar is missing and the request adds it
        assert result.decision is Decision.MISSING
        request = result.register_input
        assert request is not None
        # every original member is kept, read-only ones are gone
        for member, value in task.items():
            if member in schema.read_only_members():
                assert member not in request
            elif member != "containerDefinitions":
                assert request[member] == value, member
        # the sidecar is appended, from the profile, not essential
        assert [c["name"] for c in request["containerDefinitions"]] == ["app", SIDECAR]
        sidecar = request["containerDefinitions"][-1]
        assert sidecar["image"] == JAEGER.image
        assert sidecar["essential"] is False
        # no port mapping, and listening on localhost only: the app reaches it there
        assert "portMappings" not in sidecar
        assert env(sidecar)["JAEGER_LISTEN_HOST"] == "127.0.0.1"
        # the app reaches it on localhost (awsvpc shares the network namespace)
        wired = named(request, "app")
        assert env(wired) == {
            "MODE": "live",
            OTEL_ENDPOINT: "http://localhost:4317",
            OTEL_PROTOCOL: "grpc",
        }
        assert wired["dependsOn"] == [{"containerName": SIDECAR, "condition": "START"}]
        assert "links" not in wired
        # the app's other members are untouched
        original = task["containerDefinitions"][0]
        assert {k: v for k, v in wired.items() if k not in ("environment", "dependsOn")} == {
            k: v for k, v in original.items() if k != "environment"
        }
        # and the whole request is one botocore would send
        assert schema.validate_register_request(request) == []
        # the input is not mutated
        assert task == before

    def test_tags_are_carried_over_without_system_tags_plus_three_markers(self) -> None:
        request = missing(fargate(), TAGS)

        tags = tag_map(request)
        assert tags["team"] == "payments"
        assert tags["cost-center"] == "42"
        assert not [k for k in tags if k.startswith("aws:")]
        assert {k for k in tags if k in MARKER_KEYS} == {MARKER_MANAGED_BY, MARKER_PROFILE, MARKER_SOURCE}
        assert "managed-by" in MARKER_MANAGED_BY
        assert tags[MARKER_MANAGED_BY] == ENFORCER_NAME
        assert tags[MARKER_PROFILE] == JAEGER.label
        assert JAEGER.name in tags[MARKER_PROFILE]
        assert JAEGER.version in tags[MARKER_PROFILE]
        assert tags[MARKER_SOURCE] == SOURCE_ARN
        assert len(request["tags"]) == 2 + 3
        assert is_managed(request["tags"])
        assert source_of(request["tags"]) == SOURCE_ARN

    def test_the_source_marker_names_the_given_arn_and_is_absent_without_one(self) -> None:
        bare = {k: v for k, v in fargate().items() if k != "taskDefinitionArn"}

        without = missing(bare)
        given_arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-api:9"
        with_arn = missing(bare, source_arn=given_arn)

        assert MARKER_SOURCE not in tag_map(without)
        assert is_managed(without["tags"])
        assert tag_map(with_arn)[MARKER_SOURCE] == given_arn

    def test_old_markers_are_replaced_not_duplicated(self) -> None:
        # Given tags of a revision the enforcer registered before, from another source
        old = [
            {"key": MARKER_MANAGED_BY, "value": ENFORCER_NAME},
            {"key": MARKER_PROFILE, "value": "jaeger@0.0.1"},
            {"key": MARKER_SOURCE, "value": "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-api:1"},
            {"key": "team", "value": "payments"},
        ]

        request = missing(fargate(), old)

        keys = [t["key"] for t in request["tags"]]
        assert sorted(keys) == sorted({*keys})
        assert tag_map(request)[MARKER_PROFILE] == JAEGER.label
        assert tag_map(request)[MARKER_SOURCE] == SOURCE_ARN

    def test_every_app_container_is_wired_and_changes_say_so(self) -> None:
        task = fargate(app("api"), app("worker", portMappings=[{"containerPort": 9090}]))

        result = plan(task, [], JAEGER)

        assert result.decision is Decision.MISSING
        assert result.register_input is not None
        for name in ("api", "worker"):
            wired = named(result.register_input, name)
            assert env(wired)[OTEL_ENDPOINT] == "http://localhost:4317"
            assert {"containerName": SIDECAR, "condition": "START"} in wired["dependsOn"]
            assert any(c.startswith(f"{name}:") and OTEL_ENDPOINT in c for c in result.changes)
            assert f"{name}: dependsOn {SIDECAR} START" in result.changes
        assert any(f"'{SIDECAR}'" in c and JAEGER.image in c for c in result.changes)
        assert result.reasons
        assert all(r.strip() for r in result.reasons)

    def test_existing_dependencies_are_kept(self) -> None:
        task = fargate(
            app("init", essential=False, portMappings=[]),
            app(dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
        )

        request = missing(task)

        assert named(request, "app")["dependsOn"] == [
            {"containerName": "init", "condition": "SUCCESS"},
            {"containerName": SIDECAR, "condition": "START"},
        ]

    def test_arm64_is_fine_for_jaeger(self) -> None:
        assert "ARM64" in JAEGER.architectures
        missing(fargate(runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}))

    def test_the_profile_is_not_changed_by_planning(self) -> None:
        before = copy.deepcopy(JAEGER.container)

        missing(fargate(app(logConfiguration=awslogs())))
        missing(ec2(app(memoryReservation=128, logConfiguration=awslogs())))

        assert before == JAEGER.container
        assert "logConfiguration" not in JAEGER.container

    def test_to_json_reports_the_decision(self) -> None:
        result = plan(fargate(), [], JAEGER)

        doc = result.to_json()

        assert doc["decision"] == "MISSING"
        assert doc["profile"] == JAEGER.label
        assert doc["registerTaskDefinitionInput"] == result.register_input
        assert doc["changes"] == result.changes
        json.dumps(doc)  # serialisable as is


# -- the user's own OpenTelemetry settings win --------------------------------------------------------


class TestUserSettings:
    def test_a_user_endpoint_in_environment_is_never_overwritten(self) -> None:
        mine = [{"name": OTEL_ENDPOINT, "value": "http://collector.internal:4317"}]

        request = missing(fargate(app(environment=mine)))

        wired = named(request, "app")
        assert wired["environment"] == mine
        assert wired["dependsOn"] == [{"containerName": SIDECAR, "condition": "START"}]

    def test_a_user_endpoint_held_in_a_secret_is_never_overridden(self) -> None:
        secrets = [{"name": OTEL_ENDPOINT, "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/otel"}]

        request = missing(fargate(app(secrets=secrets)))

        wired = named(request, "app")
        assert env_count(wired, OTEL_ENDPOINT) == 0
        assert env_count(wired, OTEL_PROTOCOL) == 0
        assert wired["secrets"] == secrets

    def test_a_traces_endpoint_counts_as_configured(self) -> None:
        mine = [{"name": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "value": "http://x:4318/v1/traces"}]

        request = missing(fargate(app(environment=mine)))

        assert named(request, "app")["environment"] == mine

    def test_environment_files_leave_the_endpoint_unset_and_a_warning_says_why(self) -> None:
        files = [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]

        result = plan(fargate(app(environmentFiles=files)), [], JAEGER)

        assert result.decision is Decision.MISSING
        assert result.register_input is not None
        wired = named(result.register_input, "app")
        assert "environment" not in wired
        assert wired["environmentFiles"] == files
        assert wired["dependsOn"] == [{"containerName": SIDECAR, "condition": "START"}]
        explained = [w for w in result.warnings if "'app'" in w and "environmentFiles" in w]
        assert len(explained) == 1
        assert OTEL_ENDPOINT in explained[0]

    @pytest.mark.parametrize("protocol", [OTEL_PROTOCOL, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"])
    def test_a_protocol_held_in_a_secret_leaves_the_endpoint_unset_and_a_warning_says_why(
        self, protocol: str
    ) -> None:
        # The port (4317 gRPC or 4318 HTTP) follows the protocol, which a secret hides: guessing
        # would point an HTTP exporter at the gRPC port.
        secrets = [{"name": protocol, "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/otel"}]

        result = plan(fargate(app(secrets=secrets)), [], JAEGER)

        assert result.decision is Decision.MISSING
        assert result.register_input is not None
        wired = named(result.register_input, "app")
        assert env_count(wired, OTEL_ENDPOINT) == 0
        assert env_count(wired, OTEL_PROTOCOL) == 0
        assert wired["secrets"] == secrets
        assert wired["dependsOn"] == [{"containerName": SIDECAR, "condition": "START"}]
        (warning,) = result.warnings
        assert f"a secret ({protocol})" in warning
        assert OTEL_ENDPOINT in warning
        assert "4317" in warning
        assert "4318" in warning
        assert "arn:aws:ssm" not in warning

    def test_a_user_http_protobuf_protocol_gets_the_http_port(self) -> None:
        mine = [{"name": OTEL_PROTOCOL, "value": "http/protobuf"}]

        request = missing(fargate(app(environment=mine)))

        wired = named(request, "app")
        assert env(wired)[OTEL_ENDPOINT] == "http://localhost:4318"
        assert env(wired)[OTEL_PROTOCOL] == "http/protobuf"
        assert env_count(wired, OTEL_PROTOCOL) == 1

    def test_a_user_http_protobuf_protocol_in_bridge_mode_targets_the_sidecar_by_name(self) -> None:
        mine = [{"name": OTEL_PROTOCOL, "value": "http/protobuf"}]

        request = missing(ec2(app(memoryReservation=128, environment=mine)))

        assert env(named(request, "app"))[OTEL_ENDPOINT] == f"http://{SIDECAR}:4318"

    def test_a_user_http_protobuf_traces_protocol_gets_the_http_port(self) -> None:
        mine = [{"name": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "value": "http/protobuf"}]

        request = missing(fargate(app(environment=mine)))

        assert env(named(request, "app"))[OTEL_ENDPOINT] == "http://localhost:4318"


# -- bridge mode and containers that are not apps ------------------------------------------------------


# The container the app links to: ECS refuses a link to a container the task does not define.
DB = app("db", image="public.ecr.aws/docker/library/postgres:16", memoryReservation=128, portMappings=[])


class TestBridgeAndInfrastructureContainers:
    @pytest.mark.parametrize(
        "task",
        [
            pytest.param(
                ec2(app(memoryReservation=128, links=["db"]), DB, network_mode="bridge"), id="bridge"
            ),
            pytest.param(
                ec2(app(memoryReservation=128, links=["db"]), DB, network_mode=None), id="absent-on-ec2"
            ),
            pytest.param(
                {
                    "family": "anywhere",
                    "requiresCompatibilities": ["EXTERNAL"],
                    "containerDefinitions": [app(memoryReservation=128, links=["db"]), DB],
                },
                id="absent-external",
            ),
        ],
    )
    def test_in_bridge_mode_the_sidecar_is_reached_by_name_through_a_link(self, task: dict[str, Any]) -> None:
        request = missing(task)

        wired = named(request, "app")
        assert env(wired)[OTEL_ENDPOINT] == f"http://{SIDECAR}:4317"
        assert wired["links"] == ["db", SIDECAR]
        assert wired["dependsOn"] == [{"containerName": SIDECAR, "condition": "START"}]
        assert request.get("networkMode") == task.get("networkMode")
        assert "links" not in named(request, SIDECAR)
        assert schema.validate_register_request(request) == []

    def test_firelens_log_routers_are_not_wired(self) -> None:
        router = {
            "name": "log_router",
            "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
            "essential": True,
            "firelensConfiguration": {"type": "fluentbit"},
            "memoryReservation": 50,
        }
        for task in (
            fargate(app(logConfiguration={"logDriver": "awsfirelens"}), copy.deepcopy(router)),
            ec2(app(memoryReservation=128), copy.deepcopy(router)),
        ):
            request = missing(task)

            assert named(request, "log_router") == router
            assert OTEL_ENDPOINT in env(named(request, "app"))

    def test_the_app_mesh_proxy_is_not_wired(self) -> None:
        envoy = {
            "name": "envoy",
            "image": "840364872350.dkr.ecr.eu-west-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod",
            "essential": True,
            "user": "1337",
        }
        task = fargate(
            app(dependsOn=[{"containerName": "envoy", "condition": "HEALTHY"}]),
            copy.deepcopy(envoy),
            proxyConfiguration={
                "type": "APPMESH",
                "containerName": "envoy",
                "properties": [{"name": "IgnoredUID", "value": "1337"}],
            },
        )

        request = missing(task)

        assert named(request, "envoy") == envoy
        assert named(request, "app")["dependsOn"] == [
            {"containerName": "envoy", "condition": "HEALTHY"},
            {"containerName": SIDECAR, "condition": "START"},
        ]

    def test_a_network_mode_outside_the_api_enum_is_not_wired_like_awsvpc(self) -> None:
        # Given an EC2 task with networkMode "default" (aws-otel-collector's EC2 example has it)
        task = ec2(app(memoryReservation=128), network_mode="default")

        result = plan(task, [], JAEGER)

        # Then it is refused, or wired as bridge, the mode Docker's default network is on Linux
        if result.decision is Decision.REFUSED:
            assert any("networkMode" in r for r in result.reasons)
        else:
            assert result.register_input is not None
            wired = named(result.register_input, "app")
            assert env(wired)[OTEL_ENDPOINT] == f"http://{SIDECAR}:4317"
            assert SIDECAR in wired.get("links", [])


class TestAwslogs:
    def test_the_sidecar_logs_to_the_app_s_group_with_its_own_prefix(self) -> None:
        task = fargate(app(logConfiguration=awslogs("/ecs/shop-api", REGION, "app")))

        result = plan(task, [], JAEGER)

        assert result.register_input is not None
        log = named(result.register_input, SIDECAR)["logConfiguration"]
        assert log["logDriver"] == "awslogs"
        assert log["options"]["awslogs-group"] == "/ecs/shop-api"
        assert log["options"]["awslogs-region"] == REGION
        assert log["options"]["awslogs-stream-prefix"] == JAEGER.log_stream_prefix == "jaeger"
        # the app's own logging is unchanged
        assert named(result.register_input, "app")["logConfiguration"] == awslogs(
            "/ecs/shop-api", REGION, "app"
        )
        assert any(c.startswith(f"{SIDECAR}:") and "awslogs" in c for c in result.changes)

    def test_the_first_app_with_awslogs_is_mirrored(self) -> None:
        task = fargate(app("quiet"), app("loud", logConfiguration=awslogs("/ecs/loud")))

        request = missing(task)

        assert named(request, SIDECAR)["logConfiguration"]["options"]["awslogs-group"] == "/ecs/loud"

    @pytest.mark.parametrize(
        "log",
        [
            pytest.param(None, id="none"),
            pytest.param({"logDriver": "awsfirelens", "options": {"Name": "cloudwatch"}}, id="firelens"),
            pytest.param({"logDriver": "json-file"}, id="json-file"),
        ],
    )
    def test_no_log_configuration_when_the_app_does_not_use_awslogs(self, log: dict[str, Any] | None) -> None:
        container = app() if log is None else app(logConfiguration=log)

        request = missing(fargate(container))

        assert "logConfiguration" not in named(request, SIDECAR)


# -- refusals -----------------------------------------------------------------------------------------


X86_ONLY = JAEGER.model_copy(update={"architectures": ["X86_64"]})
ARM_ONLY = JAEGER.model_copy(update={"architectures": ["ARM64"]})


class TestRefusals:
    @pytest.mark.parametrize(
        "task",
        [
            pytest.param(
                fargate(
                    runtimePlatform={
                        "operatingSystemFamily": "WINDOWS_SERVER_2022_CORE",
                        "cpuArchitecture": "X86_64",
                    }
                ),
                id="runtime-platform",
            ),
            pytest.param(
                ec2(
                    app(memoryReservation=512),
                    volumes=[
                        {
                            "name": "share",
                            "fsxWindowsFileServerVolumeConfiguration": {
                                "fileSystemId": "fs-0123456789abcdef0",
                                "rootDirectory": "share",
                                "authorizationConfig": {
                                    "credentialsParameter": f"{SECRET_PREFIX}:ad",
                                    "domain": "corp.example.com",
                                },
                            },
                        }
                    ],
                    network_mode=None,
                ),
                id="fsx-volume",
            ),
            pytest.param(
                ec2(
                    app(
                        image="mcr.microsoft.com/dotnet/framework/aspnet:4.8",
                        memoryReservation=512,
                        entryPoint=["powershell", "-Command"],
                        command=["C:\\ServiceMonitor.exe w3svc"],
                    ),
                    network_mode=None,
                ),
                id="powershell-entry-point",
            ),
        ],
    )
    def test_windows_tasks_are_refused(self, task: dict[str, Any]) -> None:
        assert "Windows" in refused(task)

    def test_an_architecture_the_profile_lacks_is_refused(self) -> None:
        arm_task = fargate(runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})

        reasons = refused(arm_task, profile=X86_ONLY)

        assert "ARM64" in reasons
        assert plan(arm_task, [], JAEGER).decision is Decision.MISSING

    def test_an_absent_architecture_means_x86_64(self) -> None:
        assert "X86_64" in refused(fargate(), profile=ARM_ONLY)

    @pytest.mark.parametrize("mode", ["host", "none"])
    def test_host_and_none_network_modes_are_refused(self, mode: str) -> None:
        reasons = refused(ec2(app(memoryReservation=128, portMappings=[]), network_mode=mode))

        assert f"networkMode '{mode}'" in reasons

    def test_a_foreign_container_with_the_sidecar_s_name_makes_the_sidecar_take_a_free_name(self) -> None:
        task = fargate(app(), app(SIDECAR, image="my-registry.example.com/tracer:3", portMappings=[]))
        task["containerDefinitions"].append(app(f"{SIDECAR}-sidecar", image="x/y:1", portMappings=[]))

        result = plan(task, [], JAEGER)

        assert result.decision is Decision.MISSING
        assert result.register_input is not None
        added = result.register_input["containerDefinitions"][-1]
        assert (added["name"], added["image"]) == (f"{SIDECAR}-sidecar-2", JAEGER.image)
        assert named(result.register_input, SIDECAR)["image"] == "my-registry.example.com/tracer:3"
        wired = named(result.register_input, "app")
        assert {"containerName": f"{SIDECAR}-sidecar-2", "condition": "START"} in wired["dependsOn"]
        assert any("renamed" in c for c in result.changes)
        # and the renamed sidecar is found again: applying twice equals once
        assert plan(result.register_input, [], JAEGER).decision is Decision.COMPLIANT

    def test_a_foreign_container_with_the_sidecar_s_name_is_refused_when_policy_forbids_renaming(
        self,
    ) -> None:
        task = fargate(app(), app(SIDECAR, image="my-registry.example.com/tracer:3", portMappings=[]))

        reasons = refused(task, policy=Policy(rename_on_conflict=False))

        assert f"'{SIDECAR}'" in reasons
        assert "already exists" in reasons

    @pytest.mark.parametrize(
        ("mapping", "ports"),
        [
            pytest.param({"containerPort": 4317}, "4317", id="otlp-grpc"),
            pytest.param({"containerPort": 16686, "hostPort": 16686}, "16686", id="ui"),
            pytest.param({"containerPortRange": "4300-4320"}, "4317, 4318", id="range"),
        ],
    )
    def test_an_awsvpc_app_on_a_sidecar_port_is_refused(self, mapping: dict[str, Any], ports: str) -> None:
        reasons = refused(fargate(app("otel-app", portMappings=[mapping])))

        assert "'otel-app'" in reasons
        assert ports in reasons

    def test_in_bridge_mode_an_app_on_4317_is_not_refused(self) -> None:
        # Given a bridge task whose app listens on 4317 itself (its own network namespace)
        task = ec2(app(memoryReservation=128, portMappings=[{"containerPort": 4317, "hostPort": 0}]))

        request = missing(task)

        assert env(named(request, "app"))[OTEL_ENDPOINT] == f"http://{SIDECAR}:4317"

    @pytest.mark.parametrize(
        ("app_size", "task_size", "grown"),
        [
            pytest.param({"memoryReservation": 512}, ("256", "512"), ("256", "1024"), id="memory"),
            pytest.param({"memoryReservation": 1990}, ("256", "2048"), ("512", "3072"), id="memory-past-256"),
            pytest.param({"cpu": 1024}, ("1024", "2048"), ("2048", "4096"), id="cpu"),
            pytest.param({"cpu": 256, "memory": 512}, ("256", "512"), ("512", "1024"), id="both"),
            pytest.param({"memoryReservation": 1500}, (".25 vcpu", "1.5GB"), ("256", "2048"), id="units"),
        ],
    )
    def test_a_fargate_task_too_small_grows_to_the_smallest_valid_size_that_holds_it(
        self, app_size: dict[str, Any], task_size: tuple[str, str], grown: tuple[str, str]
    ) -> None:
        result = plan(fargate(app(**app_size), cpu=task_size[0], memory=task_size[1]), [], JAEGER)

        assert result.decision is Decision.MISSING, result.reasons
        assert result.register_input is not None
        assert (result.register_input["cpu"], result.register_input["memory"]) == grown
        assert result.resize is not None
        assert result.resize[1] == f"{grown[0]} CPU units / {grown[1]} MiB"
        assert any("task size" in c and "->" in c for c in result.changes)
        assert result.to_json()["taskSize"]["to"] == result.resize[1]

    def test_growth_forbidden_by_policy_is_a_refusal_naming_both_sizes(self) -> None:
        reasons = refused(
            fargate(app(memoryReservation=512), cpu="256", memory="512"), policy=Policy(grow_task_size=False)
        )

        assert "256 CPU units / 512 MiB" in reasons
        assert "256 CPU units / 1024 MiB" in reasons
        assert "policy" in reasons

    def test_no_fargate_size_large_enough_is_a_refusal(self) -> None:
        reasons = refused(fargate(app(memoryReservation=122880), cpu="16384", memory="122880"))

        assert "more than any Fargate task size" in reasons

    def test_an_invalid_fargate_pair_is_refused_even_when_it_holds_the_sidecar(self) -> None:
        assert "not a valid Fargate task size" in refused(fargate(cpu="1024", memory="512"))

    def test_a_task_that_fits_the_sidecar_exactly_keeps_its_size(self) -> None:
        # 896 + the sidecar's 128 MiB reservation = 1024; 448 + its 64 CPU units = 512
        exact = plan(fargate(app(memoryReservation=896, cpu=448), cpu="512", memory="1024"), [], JAEGER)
        over = plan(fargate(app(memoryReservation=897), cpu="512", memory="1024"), [], JAEGER)

        assert exact.resize is None
        assert exact.register_input is not None
        assert (exact.register_input["cpu"], exact.register_input["memory"]) == ("512", "1024")
        assert over.resize is not None
        assert over.register_input is not None
        assert (over.register_input["cpu"], over.register_input["memory"]) == ("512", "2048")

    def test_task_sizes_with_units_are_understood_and_kept_when_they_fit(self) -> None:
        request = missing(fargate(app(memoryReservation=1500, cpu=900), cpu="1 vCPU", memory="2 GB"))

        assert (request["cpu"], request["memory"]) == ("1 vCPU", "2 GB")

    def test_an_ec2_task_level_limit_is_respected_not_grown(self) -> None:
        reasons = refused(ec2(app(memoryReservation=1000), memory="1024", network_mode="awsvpc"))

        assert "1128 MiB" in reasons
        assert "raise the task memory" in reasons

    def test_the_sidecar_hard_limit_must_fit_the_task_memory(self) -> None:
        # 50 + 128 reserved fits in 200 MiB, but the sidecar's own 256 MiB limit does not
        reasons = refused(ec2(app(memoryReservation=50), memory="200"))

        assert "memory limit 256 MiB exceeds the task's 200 MiB" in reasons

    def test_a_fargate_task_without_task_size_is_refused(self) -> None:
        assert "cpu" in refused(fargate(cpu=None))

    @pytest.mark.parametrize("cpu", ["$$$$CPUSHARE$$$$", "lots", "1 TB"])
    def test_an_unparseable_task_cpu_is_refused(self, cpu: str) -> None:
        reasons = refused(ec2(app(memoryReservation=128), cpu=cpu))

        assert "cpu" in reasons

    def test_more_than_fifty_tags_with_the_markers_are_refused(self) -> None:
        user = [{"key": f"k{i}", "value": "v"} for i in range(48)]

        reasons = refused(fargate(), user)

        assert "50" in reasons

    def test_fifty_tags_with_the_markers_are_fine_and_system_tags_do_not_count(self) -> None:
        user = [{"key": f"k{i}", "value": "v"} for i in range(47)]
        system = [{"key": f"aws:ecs:x{i}", "value": "v"} for i in range(10)]

        request = missing(fargate(), user + system)

        assert len(request["tags"]) == 50

    @pytest.mark.parametrize(
        ("task", "member"),
        [
            pytest.param(fargate(app(portBindings=[{"containerPort": 80}])), "portBindings", id="container"),
            pytest.param(fargate(taskRole="arn:aws:iam::123456789012:role/x"), "taskRole", id="top-level"),
        ],
    )
    def test_an_unknown_member_is_refused_by_name_and_never_dropped(
        self, task: dict[str, Any], member: str
    ) -> None:
        reasons = refused(task)

        assert member in reasons

    def test_a_task_without_containers_is_refused(self) -> None:
        assert "container" in refused(fargate(containerDefinitions=[]))

    def test_all_refusals_are_reported_at_once(self) -> None:
        task = ec2(app(memoryReservation=128, portMappings=[{"containerPort": 4317}]), network_mode="host")
        task["containerDefinitions"].append(app(SIDECAR, image="x/y:1", portMappings=[]))

        reasons = plan(task, [], JAEGER, Policy(rename_on_conflict=False)).reasons

        assert len(reasons) >= 3


# -- present sidecars ------------------------------------------------------------------------------------


class TestPresent:
    @pytest.mark.parametrize(
        "task",
        [
            pytest.param(fargate(app(), {**JAEGER.container, "name": "tracing"}), id="fargate"),
            pytest.param(
                ec2(app(), {**JAEGER.container, "name": "tracing", "cpu": 10}, network_mode="host"),
                id="host-mode-own-cpu",
            ),
        ],
    )
    def test_the_profile_image_is_compliant(self, task: dict[str, Any]) -> None:
        result = plan(task, [], JAEGER)

        assert result.decision is Decision.COMPLIANT
        assert result.register_input is None
        assert result.changes == []
        assert len(result.reasons) == 1
        assert "'tracing'" in result.reasons[0]

    @pytest.mark.parametrize(
        "image",
        [
            "jaegertracing/all-in-one:1.57",
            "docker.io/jaegertracing/all-in-one:1.76.0",
            "jaegertracing/jaeger:2.0.0",
            "cr.jaegertracing.io/jaegertracing/jaeger:2.20.0",
        ],
    )
    def test_another_jaeger_image_is_drifted_and_left_alone_by_default(self, image: str) -> None:
        result = plan(fargate(app(), {**JAEGER.container, "image": image}), [], JAEGER)

        assert result.decision is Decision.DRIFTED
        assert result.register_input is None
        assert result.changes == []
        assert image in result.reasons[0]
        assert JAEGER.image in result.reasons[0]


# -- idempotence ----------------------------------------------------------------------------------------

SHAPES = {
    "fargate": fargate(app(logConfiguration=awslogs())),
    "fargate-two-apps": fargate(app("api"), app("worker", portMappings=[])),
    "bridge": ec2(
        app(memoryReservation=128, links=["db"]), app("db", memoryReservation=128, portMappings=[])
    ),
    "no-network-mode": ec2(app(memoryReservation=128), network_mode=None),
    "environment-files": fargate(app(environmentFiles=[{"value": "arn:aws:s3:::b/a.env", "type": "s3"}])),
    "user-endpoint": fargate(app(environment=[{"name": OTEL_ENDPOINT, "value": "http://c:4317"}])),
    "app-mesh": fargate(
        app(),
        {"name": "envoy", "image": "aws-appmesh-envoy:v1.29", "essential": True},
        proxyConfiguration={"type": "APPMESH", "containerName": "envoy", "properties": []},
    ),
}


class TestIdempotence:
    @pytest.mark.parametrize("shape", sorted(SHAPES))
    def test_planning_the_planned_request_is_compliant(self, shape: str) -> None:
        request = missing(SHAPES[shape], TAGS)

        again = plan(request, [], JAEGER)

        assert again.decision is Decision.COMPLIANT
        assert again.register_input is None
        assert again.changes == []

    @pytest.mark.parametrize("shape", sorted(SHAPES))
    def test_applying_twice_equals_applying_once(self, shape: str) -> None:
        once = apply(SHAPES[shape], TAGS)

        assert apply(once) == once
        assert once != SHAPES[shape]

    def test_a_refused_task_stays_as_it_was(self) -> None:
        task = ec2(network_mode="host")

        assert apply(task) == task


# -- secrecy ----------------------------------------------------------------------------------------------


def secret_app(**extra: Any) -> dict[str, Any]:
    return app(
        environment=[{"name": "DB_PASSWORD", "value": CANARY}],
        secrets=[
            {
                "name": "API_TOKEN",
                "valueFrom": f"{SECRET_PREFIX}:{CANARY}",
            }
        ],
        **extra,
    )


class TestSecrecy:
    @pytest.mark.parametrize(
        ("task", "decision"),
        [
            pytest.param(fargate(secret_app()), Decision.MISSING, id="missing"),
            pytest.param(ec2(secret_app(memoryReservation=128)), Decision.MISSING, id="missing-bridge"),
            pytest.param(
                fargate(secret_app(environmentFiles=[{"value": "arn:aws:s3:::b/x.env", "type": "s3"}])),
                Decision.MISSING,
                id="missing-envfiles",
            ),
            pytest.param(
                ec2(secret_app(memoryReservation=128), network_mode="host"), Decision.REFUSED, id="host"
            ),
            pytest.param(
                fargate(secret_app(portMappings=[{"containerPort": 4317}])), Decision.REFUSED, id="port"
            ),
            pytest.param(fargate(secret_app(), cpu="$$$$CPUSHARE$$$$"), Decision.REFUSED, id="cpu"),
            pytest.param(fargate(secret_app(portBindings=[])), Decision.REFUSED, id="unknown-member"),
            pytest.param(
                fargate(app(environment=[{"name": "DB_PASSWORD", "value": {"nested": CANARY}}])),
                Decision.REFUSED,
                id="wrong-type",
            ),
        ],
    )
    def test_values_never_appear_in_reasons_or_changes(
        self, task: dict[str, Any], decision: Decision
    ) -> None:
        result = plan(task, [], JAEGER)

        assert result.decision is decision
        text = json.dumps({"reasons": result.reasons, "changes": result.changes})
        assert CANARY not in text
        if result.register_input is not None:
            # the value is kept in the request, only never printed
            assert CANARY in json.dumps(result.register_input)
