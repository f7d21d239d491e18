"""The planner per profile: drift and in-place upgrades, equivalent collectors, adot, fluent-bit,
host mode for a custom profile, and free names. Pure: plain dicts, no AWS."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sidecar_enforcer.domain.planning.plan import (
    EQUIVALENTS,
    Decision,
    Plan,
    drift,
    equivalents,
    free_name,
    plan,
)
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.domain.planning.sidecar import owned_name
from sidecar_enforcer.errors import InputError
from sidecar_enforcer.profiles import builtin_profiles, parse_profile

from ._factories import (
    JAEGER,
    OTEL_ENDPOINT,
    OTEL_PROTOCOL,
    ROOT,
    app,
    awslogs,
    ec2,
    env,
    env_count,
    fargate,
    named,
)

ADOT = builtin_profiles()["adot"]
FLUENT_BIT = builtin_profiles()["fluent-bit"]

EXAMPLE_PARAMETERS: dict[str, dict[str, str]] = json.loads(
    (ROOT / "examples" / "policy.json").read_text(encoding="utf-8")
)["parameters"]
ADOT_VALUES = EXAMPLE_PARAMETERS["adot"]
FLUENT_BIT_VALUES = EXAMPLE_PARAMETERS["fluent-bit"]
AMP_ENDPOINT = ADOT_VALUES["AWS_PROMETHEUS_ENDPOINT"]
AMP_ARN = ADOT_VALUES["AMP_WORKSPACE_ARN"]

UPGRADE = Policy(upgrade_drifted=True)
STRICT = Policy(accept_equivalents=False)
# fluent-bit runs as its image's default user, root: the example policy allows it on purpose
FLUENT_ALLOWED = {"fluent-bit": ["container.user"]}
WITH_PARAMETERS = Policy(parameters=EXAMPLE_PARAMETERS, allow_profile_members=FLUENT_ALLOWED)
TASK_ROLE = "arn:aws:iam::123456789012:role/shop-api-task"
CANARY = "CANARY-71e4-never-print-me"

JAEGER_V1 = "jaegertracing/all-in-one:1.57"
OTEL_CONTRIB = "otel/opentelemetry-collector-contrib:0.110.0"
XRAY_DAEMON = "public.ecr.aws/xray/aws-xray-daemon:3.3.13"
ADOT_OLD = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"


def jaeger_v1(name: str = "jaeger", **extra: Any) -> dict[str, Any]:
    """Jaeger v1 all-in-one as a team added it by hand (like the fleet's catalog-search)."""
    container: dict[str, Any] = {
        "name": name,
        "image": JAEGER_V1,
        "essential": False,
        "memoryReservation": 128,
        "environment": [{"name": "COLLECTOR_OTLP_ENABLED", "value": "true"}],
        "portMappings": [{"containerPort": 4317, "protocol": "tcp"}],
        "logConfiguration": awslogs(prefix="jaeger"),
    }
    container.update(extra)
    return container


def the_jaeger(**changes: Any) -> dict[str, Any]:
    """The jaeger profile's own container, with some members changed."""
    container = copy.deepcopy(JAEGER.container)
    container.update(changes)
    return container


def the_adot(**changes: Any) -> dict[str, Any]:
    """The adot profile's container as the enforcer adds it with the example policy."""
    container = copy.deepcopy(ADOT.container)
    container["environment"] = [{"name": "AWS_PROMETHEUS_ENDPOINT", "value": AMP_ENDPOINT}]
    container.update(changes)
    return container


def sound(result: Plan) -> Plan:
    """Every reason and change is one non-empty line."""
    for line in [*result.reasons, *result.changes, *result.warnings]:
        assert line.strip()
        assert "\n" not in line
    return result


def requested(result: Plan, decision: Decision) -> dict[str, Any]:
    sound(result)
    assert result.decision is decision, result.reasons
    assert result.register_input is not None
    return result.register_input


def refused_reasons(result: Plan) -> str:
    sound(result)
    assert result.decision is Decision.REFUSED, result
    assert result.register_input is None
    assert result.changes == []
    return " | ".join(result.reasons)


def text_of(result: Plan) -> str:
    """Everything the plan prints (reasons, changes, warnings), not the request it carries."""
    return json.dumps({"r": result.reasons, "c": result.changes, "w": result.warnings})


# -- drift: a present sidecar that differs from its profile ---------------------------------------------


class TestDrift:
    def test_jaeger_v1_is_drifted_and_left_alone_by_default(self) -> None:
        task = fargate(app(), jaeger_v1())

        result = sound(plan(task, [], JAEGER))

        assert result.decision is Decision.DRIFTED
        assert result.register_input is None
        assert result.changes == []
        image_reason = result.reasons[0]
        assert "'jaeger'" in image_reason
        assert JAEGER_V1 in image_reason
        assert JAEGER.image in image_reason
        assert any("does not upgrade" in r for r in result.reasons)

    def test_with_upgrades_on_the_sidecar_is_replaced_in_place(self) -> None:
        # Given an app and Jaeger v1 under the profile's name, with its own logging and an extra env entry
        task = fargate(app(logConfiguration=awslogs()), jaeger_v1())
        before = copy.deepcopy(task)

        # When the plan is made with upgrades on
        result = plan(task, [], JAEGER, UPGRADE)

        # Then a request replaces that container, at the same place, under the same name
        request = requested(result, Decision.DRIFTED)
        assert task == before
        assert [c["name"] for c in request["containerDefinitions"]] == ["app", "jaeger"]
        upgraded = request["containerDefinitions"][1]
        assert upgraded["image"] == JAEGER.image
        assert upgraded["essential"] is False
        assert "portMappings" not in upgraded  # the profile maps none
        assert upgraded["user"] == JAEGER.container["user"]
        # the team's members are kept, the profile's environment is added
        assert upgraded["logConfiguration"] == awslogs(prefix="jaeger")
        assert upgraded["memoryReservation"] == 128
        assert env(upgraded) == {"COLLECTOR_OTLP_ENABLED": "true", **JAEGER.environment}
        assert env_count(upgraded, "JAEGER_LISTEN_HOST") == 1
        # no second sidecar
        assert sum(1 for c in request["containerDefinitions"] if "jaeger" in c["image"]) == 1
        # the app is wired to it
        wired = named(request, "app")
        assert env(wired)[OTEL_ENDPOINT] == "http://localhost:4317"
        assert env(wired)[OTEL_PROTOCOL] == "grpc"
        assert {"containerName": "jaeger", "condition": "START"} in wired["dependsOn"]
        assert any("upgrade container 'jaeger'" in c for c in result.changes)
        assert JAEGER_V1 in result.reasons[0]
        # and planning the result again finds nothing more to do
        again = plan(request, [], JAEGER, UPGRADE)
        assert again.decision is Decision.COMPLIANT, again.reasons
        assert again.register_input is None

    def test_an_upgrade_keeps_an_env_entry_the_profile_also_sets_only_once(self) -> None:
        old = jaeger_v1(environment=[{"name": "JAEGER_LISTEN_HOST", "value": "127.0.0.1"}])

        request = requested(plan(fargate(app(), old), [], JAEGER, UPGRADE), Decision.DRIFTED)

        upgraded = named(request, "jaeger")
        assert env_count(upgraded, "JAEGER_LISTEN_HOST") == 1
        assert env(upgraded)["JAEGER_LISTEN_HOST"] == JAEGER.environment["JAEGER_LISTEN_HOST"]

    @pytest.mark.parametrize(
        ("container", "expected"),
        [
            pytest.param(the_jaeger(essential=True), "essential=true", id="essential"),
            pytest.param(
                the_jaeger(portMappings=[{"containerPort": 4317, "protocol": "tcp"}]),
                "maps ports 4317; the profile maps none",
                id="ports",
            ),
            pytest.param(
                the_jaeger(portMappings=[{"containerPort": 16686, "protocol": "tcp"}]),
                "maps ports 16686; the profile maps none",
                id="ui-port",
            ),
            pytest.param(the_jaeger(user="0"), "has another user than the profile", id="user"),
            pytest.param(
                the_jaeger(environment=[{"name": "JAEGER_LISTEN_HOST", "value": CANARY}]),
                "has another value for environment JAEGER_LISTEN_HOST",
                id="env-value",
            ),
            pytest.param(
                the_jaeger(environment=[{"name": "OTHER", "value": CANARY}]),
                "lacks environment JAEGER_LISTEN_HOST",
                id="env-missing",
            ),
        ],
    )
    def test_each_difference_is_reported_by_name(self, container: dict[str, Any], expected: str) -> None:
        result = sound(plan(fargate(app(), container), [], JAEGER))

        assert result.decision is Decision.DRIFTED
        assert any(expected in r for r in result.reasons), result.reasons
        assert CANARY not in text_of(result)

    def test_an_essential_sidecar_is_made_non_essential_by_the_upgrade(self) -> None:
        request = requested(
            plan(fargate(app(), the_jaeger(essential=True)), [], JAEGER, UPGRADE), Decision.DRIFTED
        )

        assert named(request, "jaeger")["essential"] is False

    def test_a_command_difference_is_reported_and_upgraded(self) -> None:
        task = fargate(app(), the_adot(command=["--config=/etc/my-own.yaml"]), taskRoleArn=TASK_ROLE)

        drifted = sound(plan(task, [], ADOT, WITH_PARAMETERS))
        request = requested(
            plan(task, [], ADOT, Policy(upgrade_drifted=True, parameters=EXAMPLE_PARAMETERS)),
            Decision.DRIFTED,
        )

        assert drifted.decision is Decision.DRIFTED
        assert drifted.reasons[0] == "container 'aws-otel-collector' has another command than the profile"
        assert "/etc/my-own.yaml" not in text_of(drifted)
        assert named(request, "aws-otel-collector")["command"] == ADOT.container["command"]

    def test_a_changed_parameter_value_is_drift_and_never_printed(self) -> None:
        other = AMP_ENDPOINT.replace("ws-0a1b", "ws-ffff")
        task = fargate(app(), the_adot(environment=[{"name": "AWS_PROMETHEUS_ENDPOINT", "value": other}]))

        result = sound(plan(task, [], ADOT, WITH_PARAMETERS))

        assert result.decision is Decision.DRIFTED
        assert result.reasons[0].endswith("has another value for environment AWS_PROMETHEUS_ENDPOINT")
        assert other not in text_of(result)
        assert AMP_ENDPOINT not in text_of(result)

    def test_a_drifted_sidecar_under_a_foreign_name_is_never_replaced(self) -> None:
        task = fargate(app(), jaeger_v1("tracing"))

        result = sound(plan(task, [], JAEGER, UPGRADE))

        assert result.decision is Decision.DRIFTED
        assert result.register_input is None
        assert result.changes == []
        assert JAEGER_V1 in result.reasons[0]
        assert "'tracing' was not added by the enforcer" in result.reasons[-1]

    def test_a_sidecar_the_enforcer_renamed_is_upgraded(self) -> None:
        # Given a foreign 'jaeger' holds the name, and the enforcer's renamed sidecar is now old
        foreign = app("jaeger", image="my-registry.example.com/tracer:3", portMappings=[])
        task = fargate(app(), foreign, jaeger_v1("jaeger-sidecar"))

        request = requested(plan(task, [], JAEGER, UPGRADE), Decision.DRIFTED)

        assert [c["name"] for c in request["containerDefinitions"]] == ["app", "jaeger", "jaeger-sidecar"]
        assert named(request, "jaeger-sidecar")["image"] == JAEGER.image
        assert named(request, "jaeger")["image"] == "my-registry.example.com/tracer:3"
        assert {"containerName": "jaeger-sidecar", "condition": "START"} in named(request, "app")["dependsOn"]
        assert plan(request, [], JAEGER, UPGRADE).decision is Decision.COMPLIANT

    def test_drift_itself_names_no_values(self) -> None:
        found = drift(the_jaeger(environment=[{"name": "JAEGER_LISTEN_HOST", "value": CANARY}]), JAEGER, {})

        assert found == ["container 'jaeger' has another value for environment JAEGER_LISTEN_HOST"]

    def test_the_profile_s_own_container_has_no_drift(self) -> None:
        assert drift(the_jaeger(), JAEGER, {}) == []
        assert drift(the_adot(), ADOT, {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}) == []


# -- equivalent collectors ------------------------------------------------------------------------------

OTEL_COLLECTOR = {
    "name": "otel-collector",
    "image": OTEL_CONTRIB,
    "essential": False,
    "portMappings": [{"containerPort": 4317, "protocol": "tcp"}],
}
XRAY = {
    "name": "xray-daemon",
    "image": XRAY_DAEMON,
    "essential": False,
    "portMappings": [{"containerPort": 2000, "protocol": "udp"}],
}
ADOT_COLLECTOR = {"name": "adot-collector", "image": ADOT_OLD, "essential": False}


class TestEquivalents:
    @pytest.mark.parametrize(
        ("collector", "product"),
        [
            pytest.param(OTEL_COLLECTOR, "OpenTelemetry Collector", id="otel"),
            pytest.param(XRAY, "AWS X-Ray daemon", id="xray"),
            pytest.param(ADOT_COLLECTOR, "ADOT collector", id="adot"),
        ],
    )
    def test_an_accepted_equivalent_is_compliant_naming_the_product(
        self, collector: dict[str, Any], product: str
    ) -> None:
        result = sound(plan(fargate(app(), collector), [], JAEGER))

        assert result.decision is Decision.COMPLIANT
        assert result.register_input is None
        assert result.changes == []
        (reason,) = result.reasons
        assert product in reason
        assert f"'{collector['name']}'" in reason
        assert collector["image"] in reason

    def test_without_acceptance_a_clashing_collector_is_refused_and_mentioned(self) -> None:
        reasons = refused_reasons(plan(fargate(app(), OTEL_COLLECTOR), [], JAEGER, STRICT))

        assert "'otel-collector' already uses port 4317" in reasons
        assert "equivalent collector" in reasons
        assert "OpenTelemetry Collector" in reasons

    @pytest.mark.parametrize(
        ("collector", "product"),
        [
            pytest.param(XRAY, "AWS X-Ray daemon", id="xray"),
            pytest.param(ADOT_COLLECTOR, "ADOT collector", id="adot"),
        ],
    )
    def test_without_acceptance_the_sidecar_is_added_and_the_equivalent_mentioned(
        self, collector: dict[str, Any], product: str
    ) -> None:
        result = plan(fargate(app(), collector), [], JAEGER, STRICT)

        request = requested(result, Decision.MISSING)
        assert [c["name"] for c in request["containerDefinitions"]] == ["app", collector["name"], "jaeger"]
        assert any("equivalent collector" in r and product in r for r in result.reasons)
        assert any("policy requires jaeger" in r for r in result.reasons)

    def test_jaeger_is_not_an_equivalent_of_the_jaeger_profile(self) -> None:
        for image in (JAEGER_V1, JAEGER.image):
            assert equivalents([app("jaeger", image=image)], JAEGER) == []
        result = plan(fargate(app(), jaeger_v1()), [], JAEGER)
        assert result.decision is Decision.DRIFTED  # the sidecar itself, just old

    def test_jaeger_is_an_equivalent_of_another_profile(self) -> None:
        result = sound(plan(fargate(app(), the_jaeger()), [], ADOT, WITH_PARAMETERS))

        assert result.decision is Decision.COMPLIANT
        assert "Jaeger" in result.reasons[0]

    def test_every_equivalent_image_is_recognised_with_a_registry_host(self) -> None:
        for repository, product in EQUIVALENTS.items():
            if repository in JAEGER.recognizes:
                continue
            found = equivalents([app("c", image=f"registry.example.com/{repository}:1.0")], JAEGER)
            assert found == [f"'c' ({product}, registry.example.com/{repository}:1.0)"]


# -- adot -----------------------------------------------------------------------------------------------


class TestAdot:
    def test_the_sidecar_maps_no_ports_runs_the_ecs_config_and_gets_the_endpoint(self) -> None:
        task = fargate(app(logConfiguration=awslogs()), taskRoleArn=TASK_ROLE)

        result = plan(task, [], ADOT, WITH_PARAMETERS)

        request = requested(result, Decision.MISSING)
        sidecar = named(request, "aws-otel-collector")
        assert request["containerDefinitions"][-1] is sidecar
        assert not sidecar.get("portMappings")
        assert sidecar["command"] == ["--config=/etc/ecs/ecs-amp-xray.yaml"]
        assert sidecar["image"] == ADOT.image
        assert sidecar["essential"] is False
        assert env(sidecar) == {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}
        assert "AMP_WORKSPACE_ARN" not in json.dumps(sidecar)
        assert AMP_ARN not in json.dumps(request["containerDefinitions"])
        assert sidecar["logConfiguration"]["options"]["awslogs-stream-prefix"] == "adot"
        wired = named(request, "app")
        assert env(wired)[OTEL_ENDPOINT] == "http://localhost:4317"
        assert {"containerName": "aws-otel-collector", "condition": "START"} in wired["dependsOn"]
        assert "aws-otel-collector: environment AWS_PROMETHEUS_ENDPOINT from the policy" in result.changes
        assert AMP_ENDPOINT not in text_of(result)
        assert plan(request, [], ADOT, WITH_PARAMETERS).decision is Decision.COMPLIANT

    def test_a_missing_required_parameter_is_refused_by_name(self) -> None:
        reasons = refused_reasons(plan(fargate(app(), taskRoleArn=TASK_ROLE), [], ADOT))

        assert "adot parameter AWS_PROMETHEUS_ENDPOINT" in reasons
        assert "AMP_WORKSPACE_ARN" not in reasons  # optional

    def test_a_bad_parameter_value_is_refused_without_printing_it(self) -> None:
        bad = f"https://{CANARY}.example.com/api/v1/remote_write"
        policy = Policy(parameters={"adot": {"AWS_PROMETHEUS_ENDPOINT": bad}})

        result = plan(fargate(app(), taskRoleArn=TASK_ROLE), [], ADOT, policy)

        reasons = refused_reasons(result)
        assert "AWS_PROMETHEUS_ENDPOINT does not match" in reasons
        assert CANARY not in text_of(result)
        assert CANARY not in json.dumps(result.to_json())

    def test_without_a_task_role_the_sidecar_is_added_with_a_warning(self) -> None:
        result = plan(fargate(app()), [], ADOT, WITH_PARAMETERS)

        requested(result, Decision.MISSING)
        (warning,) = result.warnings
        assert "no taskRoleArn" in warning
        assert "aps:RemoteWrite" in warning
        assert "xray:PutTraceSegments" in warning
        assert result.permissions == []
        assert result.task_role_arn is None
        assert result.to_json()["warnings"] == [warning]

    def test_with_a_task_role_the_permissions_to_check_are_listed(self) -> None:
        result = plan(fargate(app(), taskRoleArn=TASK_ROLE), [], ADOT, WITH_PARAMETERS)

        requested(result, Decision.MISSING)
        assert result.warnings == []
        assert result.task_role_arn == TASK_ROLE
        assert result.permissions == [
            ("xray:PutTraceSegments", "*"),
            ("xray:PutTelemetryRecords", "*"),
            ("xray:GetSamplingRules", "*"),
            ("xray:GetSamplingTargets", "*"),
            ("aps:RemoteWrite", AMP_ARN),
        ]
        assert result.to_json()["taskRole"]["arn"] == TASK_ROLE

    def test_an_unset_workspace_arn_means_every_workspace(self) -> None:
        policy = Policy(parameters={"adot": {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}})

        result = plan(fargate(app(), taskRoleArn=TASK_ROLE), [], ADOT, policy)

        assert result.decision is Decision.MISSING
        assert ("aps:RemoteWrite", "*") in result.permissions
        assert all(resource == "*" for _, resource in result.permissions)

    @pytest.mark.parametrize("port", [4317, 4318])
    def test_an_awsvpc_app_on_an_otlp_port_clashes_though_adot_maps_none(self, port: int) -> None:
        task = fargate(app(portMappings=[{"containerPort": port}]), taskRoleArn=TASK_ROLE)

        reasons = refused_reasons(plan(task, [], ADOT, WITH_PARAMETERS))

        assert f"'app' already uses port {port}" in reasons
        assert "adot sidecar" in reasons


# -- fluent-bit -----------------------------------------------------------------------------------------


def log_router(name: str = "log_router", image: str = "fluent/fluentd:v1.17") -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "essential": True,
        "firelensConfiguration": {"type": "fluentd"},
    }


class TestFluentBit:
    def test_the_sidecar_is_the_firelens_router_with_otlp_ports_and_the_parameters(self) -> None:
        result = plan(fargate(app()), [], FLUENT_BIT, WITH_PARAMETERS)

        request = requested(result, Decision.MISSING)
        sidecar = named(request, "fluent-bit")
        assert sidecar["firelensConfiguration"] == {"type": "fluentbit"}
        assert "portMappings" not in sidecar
        assert env(sidecar) == {"OTLP_LISTEN_HOST": "127.0.0.1", **FLUENT_BIT_VALUES}
        wired = named(request, "app")
        assert {"containerName": "fluent-bit", "condition": "START"} in wired["dependsOn"]
        assert env(wired)[OTEL_ENDPOINT] == "http://localhost:4317"
        assert "links" not in wired
        for value in FLUENT_BIT_VALUES.values():
            if len(value) > 5:  # ports are too short to search for
                assert value not in text_of(result)
        assert plan(request, [], FLUENT_BIT, WITH_PARAMETERS).decision is Decision.COMPLIANT

    @pytest.mark.parametrize(
        "router",
        [
            pytest.param(log_router(), id="fluentd"),
            pytest.param(log_router("router", image="my-registry.example.com/vector:0.40"), id="any-image"),
        ],
    )
    def test_a_task_with_a_firelens_router_is_refused(self, router: dict[str, Any]) -> None:
        reasons = refused_reasons(plan(fargate(app(), router), [], FLUENT_BIT, WITH_PARAMETERS))

        assert f"'{router['name']}' is already the task's FireLens log router" in reasons

    def test_a_firelens_router_is_no_obstacle_for_jaeger(self) -> None:
        result = plan(fargate(app(), log_router()), [], JAEGER)

        assert result.decision is Decision.MISSING

    def test_in_bridge_mode_apps_get_a_link_to_it(self) -> None:
        task = ec2(app(memoryReservation=128), app("worker", memoryReservation=128, portMappings=[]))

        request = requested(plan(task, [], FLUENT_BIT, WITH_PARAMETERS), Decision.MISSING)

        for name in ("app", "worker"):
            wired = named(request, name)
            assert wired["links"] == ["fluent-bit"]
            assert env(wired)[OTEL_ENDPOINT] == "http://fluent-bit:4317"
            assert {"containerName": "fluent-bit", "condition": "START"} in wired["dependsOn"]

    def test_missing_parameters_are_each_named(self) -> None:
        values = dict(FLUENT_BIT_VALUES)
        del values["LOKI_HOST"], values["TEMPO_PORT"]

        reasons = refused_reasons(
            plan(
                fargate(app()),
                [],
                FLUENT_BIT,
                Policy(parameters={"fluent-bit": values}, allow_profile_members=FLUENT_ALLOWED),
            )
        )

        assert "fluent-bit parameter LOKI_HOST" in reasons
        assert "fluent-bit parameter TEMPO_PORT" in reasons
        assert "LOKI_PORT" not in reasons

    def test_an_app_on_the_firelens_forward_port_clashes(self) -> None:
        task = fargate(app(portMappings=[{"containerPort": 24224}]))

        reasons = refused_reasons(plan(task, [], FLUENT_BIT, WITH_PARAMETERS))

        assert "24224" in reasons


# -- host mode ------------------------------------------------------------------------------------------


def host_profile() -> Profile:
    document = {
        "name": "jaeger-host",
        "version": "1.0.0",
        "recognizes": ["jaegertracing/jaeger"],
        "logStreamPrefix": "jaeger",
        "otlp": {"grpcPort": 4317, "httpPort": 4318},
        "allowHostMode": True,
        "container": {
            "name": "jaeger",
            "image": "cr.jaegertracing.io/jaegertracing/jaeger:2.21.0",
            "essential": False,
            "memoryReservation": 128,
            "user": "10001",
        },
    }
    return parse_profile(json.dumps(document), "custom jaeger-host.json")


class TestHostMode:
    def test_a_profile_allowing_host_mode_is_planned_there(self) -> None:
        profile = host_profile()
        task = ec2(app(memoryReservation=128), network_mode="host")

        request = requested(plan(task, [], profile), Decision.MISSING)

        wired = named(request, "app")
        assert env(wired)[OTEL_ENDPOINT] == "http://localhost:4317"
        assert "links" not in wired
        assert named(request, "jaeger")["image"] == profile.image
        assert plan(task, [], JAEGER).decision is Decision.REFUSED  # the shipped one does not allow it

    @pytest.mark.parametrize(
        "mapping",
        [
            pytest.param({"containerPort": 4318, "hostPort": 4318}, id="otlp-http"),
            pytest.param({"containerPortRange": "4300-4400"}, id="range"),
        ],
    )
    def test_a_port_clash_in_host_mode_is_still_refused(self, mapping: dict[str, Any]) -> None:
        task = ec2(app(memoryReservation=128, portMappings=[mapping]), network_mode="host")

        reasons = refused_reasons(plan(task, [], host_profile()))

        assert "'app' already uses port" in reasons
        assert "host task share ports" in reasons


# -- names ----------------------------------------------------------------------------------------------


class TestNames:
    def test_free_names_count_up(self) -> None:
        assert free_name([{"name": "jaeger"}], JAEGER) == "jaeger-sidecar"
        assert free_name([{"name": "jaeger"}, {"name": "jaeger-sidecar"}], JAEGER) == "jaeger-sidecar-2"
        taken = [{"name": n} for n in ("jaeger", "jaeger-sidecar", "jaeger-sidecar-2")]
        assert free_name(taken, JAEGER) == "jaeger-sidecar-3"

    @pytest.mark.parametrize(
        ("name", "owned"),
        [
            ("jaeger", True),
            ("jaeger-sidecar", True),
            ("jaeger-sidecar-2", True),
            ("jaeger-sidecar-17", True),
            ("tracing", False),
            ("jaeger-2", False),
            ("my-jaeger", False),
            ("jaeger-sidecar-x", False),
            ("jaeger-sidecar-", False),
        ],
    )
    def test_the_names_the_enforcer_gives_are_its_own(self, name: str, owned: bool) -> None:
        assert owned_name(name, JAEGER) is owned

    def test_a_foreign_container_with_the_name_makes_the_sidecar_take_the_next_free_one(self) -> None:
        foreign = app("jaeger", image="my-registry.example.com/tracer:3", portMappings=[])

        first = requested(plan(fargate(app(), foreign), [], JAEGER), Decision.MISSING)
        second = requested(
            plan(fargate(app(), foreign, app("jaeger-sidecar", image="x/y:1", portMappings=[])), [], JAEGER),
            Decision.MISSING,
        )

        assert first["containerDefinitions"][-1]["name"] == "jaeger-sidecar"
        assert second["containerDefinitions"][-1]["name"] == "jaeger-sidecar-2"
        assert second["containerDefinitions"][-1]["image"] == JAEGER.image


# -- exposure: no port beyond what the task's apps need, localhost where the mode allows ---------------


class TestExposure:
    """Apps reach the sidecar on localhost in awsvpc and host mode, by their link in bridge mode: no
    port mapping serves them, so none is added unless the policy publishes a port."""

    def test_on_awsvpc_nothing_is_mapped_and_the_sidecar_listens_on_localhost(self) -> None:
        request = requested(plan(fargate(app()), [], JAEGER), Decision.MISSING)

        sidecar = named(request, "jaeger")
        assert "portMappings" not in sidecar
        assert env(sidecar)["JAEGER_LISTEN_HOST"] == "127.0.0.1"
        # the query endpoints ignore JAEGER_LISTEN_HOST: the command moves them with it
        assert all("${env:JAEGER_LISTEN_HOST}" in arg for arg in sidecar["command"])

    def test_in_bridge_mode_it_listens_on_every_interface_and_apps_come_by_their_link(self) -> None:
        request = requested(plan(ec2(app(memoryReservation=128)), [], JAEGER), Decision.MISSING)

        sidecar = named(request, "jaeger")
        assert "portMappings" not in sidecar
        assert env(sidecar)["JAEGER_LISTEN_HOST"] == "0.0.0.0"  # noqa: S104 - what the planner must set
        assert named(request, "app")["links"] == ["jaeger"]
        # and the bridge sidecar is compliant as planned
        assert plan(request, [], JAEGER).decision is Decision.COMPLIANT

    def test_in_host_mode_it_listens_on_the_instance_s_localhost(self) -> None:
        document = json.loads(json.dumps(JAEGER.model_dump(mode="json", by_alias=True)))
        document.update(name="jaeger-host", allowHostMode=True)
        profile = parse_profile(json.dumps(document), "custom jaeger-host.json")

        request = requested(
            plan(ec2(app(memoryReservation=128), network_mode="host"), [], profile), Decision.MISSING
        )

        assert env(named(request, "jaeger"))["JAEGER_LISTEN_HOST"] == "127.0.0.1"
        assert "portMappings" not in named(request, "jaeger")

    def test_a_port_the_policy_publishes_is_mapped_and_reachable(self) -> None:
        policy = Policy(publish_ports={"jaeger": [16686]})

        request = requested(plan(fargate(app()), [], JAEGER, policy), Decision.MISSING)

        sidecar = named(request, "jaeger")
        assert sidecar["portMappings"] == [{"containerPort": 16686, "protocol": "tcp"}]
        # a mapping to a loopback listener would reach nothing
        assert env(sidecar)["JAEGER_LISTEN_HOST"] == "0.0.0.0"  # noqa: S104 - what the planner must set
        assert plan(request, [], JAEGER, policy).decision is Decision.COMPLIANT
        # a policy that stops publishing it finds the sidecar drifted, naming the port
        unpublished = plan(request, [], JAEGER)
        assert unpublished.decision is Decision.DRIFTED
        assert any("maps ports 16686; the profile maps none" in r for r in unpublished.reasons)

    def test_publishing_a_port_of_another_profile_changes_nothing(self) -> None:
        request = requested(
            plan(fargate(app()), [], JAEGER, Policy(publish_ports={"adot": [4317]})), Decision.MISSING
        )

        assert "portMappings" not in named(request, "jaeger")

    def test_a_published_port_the_sidecar_does_not_listen_on_is_refused_naming_it(self) -> None:
        reasons = refused_reasons(plan(fargate(app()), [], JAEGER, Policy(publish_ports={"jaeger": [9999]})))

        assert (
            "the policy publishes port 9999 of profile jaeger, which its sidecar does not listen on"
            in reasons
        )

    def test_the_listen_host_variable_must_be_set_by_the_document(self) -> None:
        document = JAEGER.model_dump(mode="json", by_alias=True)
        document["container"]["environment"] = []

        with pytest.raises(InputError) as caught:
            parse_profile(json.dumps(document), "custom.json")

        assert "listenHostVariable: JAEGER_LISTEN_HOST is not set in container.environment" in str(
            caught.value
        )


# -- a task's roles are checked in the task's own account only -------------------------------------


class TestRolesOfAnotherAccount:
    FOREIGN = "arn:aws:iam::999999999999:role/shop-api-task"

    def test_a_task_role_of_another_account_is_reported_and_not_asked_of_the_simulator(self) -> None:
        result = plan(fargate(app(), taskRoleArn=self.FOREIGN), [], ADOT, WITH_PARAMETERS)

        assert result.decision is Decision.MISSING
        assert result.permissions == []  # nothing for IAM's policy simulator, in any account
        assert result.warnings == [
            f"task role {self.FOREIGN} is in account 999999999999, not the task's account 123456789012: "
            "the enforcer checks and assumes a task's roles only in the task's own account; "
            "what the adot sidecar needs of it is not checked"
        ]

    @pytest.mark.parametrize(
        ("role", "why"),
        [
            (
                "arn:aws-us-gov:iam::123456789012:role/r",
                "is in partition aws-us-gov, not the task's partition aws",
            ),
            ("arn:aws:sts::123456789012:assumed-role/r/s", "is no IAM role ARN"),
            ("arn:aws:iam::123456789012:user/r", "is no IAM role ARN"),
            ("arn:aws:iam:", "is no IAM role ARN"),
        ],
    )
    def test_any_role_arn_not_of_the_task_s_account_is_reported(self, role: str, why: str) -> None:
        result = plan(fargate(app(), executionRoleArn=role), [], JAEGER)

        assert result.warnings == [
            f"execution role {role} {why}: the enforcer checks and assumes a task's roles only in the "
            "task's own account"
        ]

    @pytest.mark.parametrize("role", [TASK_ROLE, "shop-api-task"])
    def test_a_role_of_the_task_s_own_account_is_checked(self, role: str) -> None:
        result = plan(fargate(app(), taskRoleArn=role), [], ADOT, WITH_PARAMETERS)

        assert result.warnings == []
        assert result.permissions
        assert result.task_role_arn == role
