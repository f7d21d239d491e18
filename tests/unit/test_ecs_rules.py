"""ECS's server-side rules (domain/ecs/ecs_rules.py): the planner never produces a request ECS refuses
at RegisterTaskDefinition (botocore's validator checks no lengths, counts or references), and never
one whose tasks could not start. Without the rules, the planner would return a request ECS answers
with ClientException, so every event of that service would fail and be retried until it was
dead-lettered. Pure: plain dicts, no AWS."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sidecar_enforcer.domain.ecs import ecs_rules
from sidecar_enforcer.domain.planning.invariants import violations
from sidecar_enforcer.domain.planning.plan import MARKER_SOURCE, Decision, plan, source_marker
from sidecar_enforcer.domain.planning.policy import Policy

from ._factories import ACCOUNT, JAEGER, REGION, app, ec2, fargate, named

UPGRADE = Policy(upgrade_drifted=True)
SIDECAR = JAEGER.container_name
JAEGER_V1 = "jaegertracing/all-in-one:1.57"


def refused(task: dict[str, Any], policy: Policy = UPGRADE, **kw: Any) -> list[str]:
    result = plan(task, kw.pop("tags", []), JAEGER, policy, **kw)
    assert result.decision is Decision.REFUSED, result.changes
    assert result.register_input is None
    assert all("\n" not in r for r in result.reasons)
    return result.reasons


def planned(task: dict[str, Any], policy: Policy = UPGRADE, **kw: Any) -> dict[str, Any]:
    result = plan(task, kw.pop("tags", []), JAEGER, policy, **kw)
    assert result.register_input is not None, result.reasons
    assert violations(task, result.register_input, result.upgraded) == []
    return result.register_input


def apps(n: int) -> list[dict[str, Any]]:
    return [
        app(f"app-{i}", portMappings=[{"containerPort": 8000 + i}], memoryReservation=64) for i in range(n)
    ]


class TestContainerQuota:
    def test_ten_containers_leave_no_room_for_the_sidecar(self) -> None:
        (reason,) = refused(fargate(*apps(10), cpu="4096", memory="8192"))

        assert "11 containers" in reason
        assert "at most 10 containers per task definition" in reason

    def test_nine_containers_take_the_sidecar_as_the_tenth(self) -> None:
        request = planned(fargate(*apps(9), cpu="4096", memory="8192"))

        assert len(request["containerDefinitions"]) == ecs_rules.MAX_CONTAINERS


class TestNames:
    def test_a_family_name_at_its_limit_gets_a_hashed_source_marker(self) -> None:
        family = "f" * 255  # ECS allows 255 characters: the source ARN is then longer than a tag value
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:3"
        task = fargate(family=family, taskDefinitionArn=arn)

        request = planned(task, source_arn=arn)

        marker = {t["key"]: t["value"] for t in request["tags"]}[MARKER_SOURCE]
        assert len(arn) > ecs_rules.MAX_TAG_VALUE
        assert marker == "sha256:" + hashlib.sha256(arn.encode()).hexdigest()
        assert marker == source_marker(arn)
        assert source_marker("arn:aws:ecs:eu-west-1:1:task-definition/a:1") == (
            "arn:aws:ecs:eu-west-1:1:task-definition/a:1"
        )

    @pytest.mark.parametrize("family", ["shop.api", "shop api", "x" * 256])
    def test_a_family_outside_ecs_s_pattern_is_refused_naming_the_rule(self, family: str) -> None:
        (reason,) = refused(fargate(family=family))

        assert "255 letters, numbers, underscores and hyphens" in reason
        assert reason.startswith("the task definition already breaks an ECS rule")

    def test_a_sidecar_name_made_too_long_by_renaming_is_refused(self) -> None:
        # A custom profile whose container name is at ECS's limit, and a foreign container holding
        # it: the free name '<name>-sidecar' would be 263 characters.
        long_name = "c" * 255
        profile = JAEGER.model_copy(update={"container": {**JAEGER.container, "name": long_name}})
        task = fargate(app(), app(long_name, image="x/y:1", portMappings=[]))

        result = plan(task, [], profile, Policy())

        assert result.decision is Decision.REFUSED
        assert any("255 letters" in r and r.startswith("with the sidecar") for r in result.reasons)


class TestTags:
    def test_a_tag_longer_than_ecs_allows_is_refused_naming_the_limit(self) -> None:
        tags = [{"key": "k" * 129, "value": "v"}, {"key": "team", "value": "x" * 257}]

        reasons = refused(fargate(), tags=tags)

        assert any("1 to 128 characters" in r for r in reasons)
        assert any("257 characters: ECS allows 256" in r for r in reasons)

    @pytest.mark.parametrize("tag", [{"key": "cost#centre", "value": "42"}, {"key": "a\tb", "value": "x\ny"}])
    def test_a_tag_with_a_character_ecs_refuses_is_refused_as_the_task_s_own(
        self, tag: dict[str, str]
    ) -> None:
        (reason,) = refused(fargate(), tags=[tag])

        assert "+ - = . _ : / @" in reason
        assert reason.startswith("the task definition already breaks an ECS rule")

    def test_unicode_letters_and_spaces_are_fine_in_tags(self) -> None:
        planned(fargate(), tags=[{"key": "Kostenstelle Zürich", "value": "Ünïcode 42"}])


class TestReferencesAndCycles:
    def test_an_upgraded_sidecar_that_depends_on_the_app_gets_no_dependency_back(self) -> None:
        # Making the app wait for a sidecar that waits for the app would be a start-order cycle
        # ECS refuses: the app is pointed at the sidecar, but does not wait for it.
        v1 = {"name": SIDECAR, "image": JAEGER_V1, "essential": False}
        v1["dependsOn"] = [{"containerName": "app", "condition": "START"}]

        request = planned(fargate(app(), v1))

        wired = named(request, "app")
        assert "dependsOn" not in wired
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in {e["name"] for e in wired["environment"]}
        assert named(request, SIDECAR)["dependsOn"] == v1["dependsOn"]

    def test_an_init_container_the_sidecar_waits_for_does_not_wait_for_the_sidecar(self) -> None:
        # A valid task ECS runs: the sidecar starts once config-init wrote its configuration.
        v1 = {"name": SIDECAR, "image": JAEGER_V1, "essential": False}
        v1["dependsOn"] = [{"containerName": "config-init", "condition": "SUCCESS"}]
        init = app("config-init", image="x/init:1", portMappings=[], essential=False)

        result = plan(fargate(app(), init, v1), [], JAEGER, UPGRADE)

        assert result.register_input is not None, result.reasons
        assert "dependsOn" not in named(result.register_input, "config-init")
        assert {"containerName": SIDECAR, "condition": "START"} in named(result.register_input, "app")[
            "dependsOn"
        ]
        assert any("config-init: no dependsOn" in c for c in result.changes)

    def test_an_upgraded_sidecar_that_links_to_the_app_is_a_cycle_in_bridge_mode(self) -> None:
        v1 = {"name": SIDECAR, "image": JAEGER_V1, "essential": False, "memoryReservation": 64}
        v1["links"] = ["app"]
        # links are guarded (profile_rules): allowed here, so ECS's start-order rule speaks
        allowed = Policy(upgrade_drifted=True, allow_profile_members={"jaeger": ["container.links"]})

        (reason,) = refused(ec2(app(memoryReservation=128), v1), allowed)

        assert "cycle" in reason
        assert "-links->" in reason
        # without the allowance, the upgrade is refused for the link itself, naming the allowance
        (guarded,) = [r for r in refused(ec2(app(memoryReservation=128), v1)) if "allowProfileMembers" in r]
        assert guarded.startswith("container 'jaeger' sets links, which links the sidecar")
        assert '{"jaeger": ["container.links"]}' in guarded

    def test_an_upgrade_that_drops_the_health_check_a_healthy_dependency_needs_is_refused(self) -> None:
        # The old image's healthCheck belongs to the old image and is dropped by the upgrade; the
        # app waits for the sidecar to be HEALTHY, which no task could ever be then.
        v1 = {
            "name": SIDECAR,
            "image": JAEGER_V1,
            "essential": False,
            "healthCheck": {"command": ["CMD", "wget", "-q", "localhost:14269"]},
        }
        task = fargate(app(dependsOn=[{"containerName": SIDECAR, "condition": "HEALTHY"}]), v1)

        (reason,) = refused(task)

        assert "HEALTHY" in reason
        assert "healthCheck" in reason

    def test_a_healthy_dependency_the_team_already_had_is_theirs_not_a_refusal(self) -> None:
        # ECS checks HEALTHY at task start, not at registration: only what the plan introduces
        # counts against it.
        task = fargate(
            app(dependsOn=[{"containerName": "init", "condition": "HEALTHY"}]),
            app("init", image="x/init:1", portMappings=[], essential=False),
        )

        planned(task, policy=Policy())

    @pytest.mark.parametrize(
        ("member", "value"),
        [
            ("dependsOn", [{"containerName": "ghost", "condition": "START"}]),
            ("volumesFrom", [{"sourceContainer": "ghost"}]),
            ("mountPoints", [{"sourceVolume": "ghost", "containerPath": "/data"}]),
        ],
    )
    def test_a_reference_to_nothing_is_refused(self, member: str, value: list[dict[str, Any]]) -> None:
        (reason,) = refused(fargate(app() | {member: value}))

        assert "'ghost'" in reason
        assert "does not" in reason

    def test_a_hostname_in_awsvpc_mode_is_refused_on_ec2_too(self) -> None:
        profile = JAEGER.model_copy(update={"container": {**JAEGER.container, "hostname": "collector"}})

        # allowed as a guarded member, so that ECS's awsvpc rule is what refuses it
        allowed = Policy(allow_profile_members={"jaeger": ["container.hostname"]})

        result = plan(ec2(app(memoryReservation=128), network_mode="awsvpc"), [], profile, allowed)

        assert result.decision is Decision.REFUSED
        assert result.reasons == [
            "with the sidecar, container 'jaeger' sets hostname: ECS does not support hostname in awsvpc mode"
        ]

    def test_a_dangling_link_in_bridge_mode_is_refused(self) -> None:
        (reason,) = refused(ec2(app(memoryReservation=128, links=["ghost:db"])))

        assert "links 'ghost', which does not exist" in reason

    def test_complete_on_an_essential_container_is_refused(self) -> None:
        task = fargate(
            app(dependsOn=[{"containerName": "init", "condition": "COMPLETE"}]), app("init", portMappings=[])
        )

        (reason,) = refused(task)

        assert "COMPLETE or SUCCESS on an essential container" in reason

    def test_existing_acyclic_references_are_kept(self) -> None:
        task = ec2(
            app(
                memoryReservation=128, links=["db"], dependsOn=[{"containerName": "db", "condition": "START"}]
            ),
            app("db", memoryReservation=128, portMappings=[], volumesFrom=[{"sourceContainer": "data"}]),
            app("data", memoryReservation=16, portMappings=[], essential=False),
        )

        request = planned(task, policy=Policy())

        assert named(request, "app")["links"] == ["db", SIDECAR]


class TestTheCycleFinder:
    def test_it_names_the_loop_in_order(self) -> None:
        request = {
            "family": "f",
            "containerDefinitions": [
                {"name": "a", "image": "x", "dependsOn": [{"containerName": "b", "condition": "START"}]},
                {"name": "b", "image": "x", "links": ["c"]},
                {"name": "c", "image": "x", "volumesFrom": [{"sourceContainer": "a"}]},
            ],
        }

        (problem,) = ecs_rules.request_problems(request, "bridge")

        assert "a -dependsOn-> b -links-> c -volumesFrom-> a" in problem

    def test_a_diamond_is_not_a_cycle(self) -> None:
        request = {
            "family": "f",
            "containerDefinitions": [
                {"name": "a", "image": "x", "links": ["b", "c"]},
                {"name": "b", "image": "x", "links": ["d"]},
                {"name": "c", "image": "x", "links": ["d"]},
                {"name": "d", "image": "x"},
            ],
        }

        assert ecs_rules.request_problems(request, "bridge") == []
