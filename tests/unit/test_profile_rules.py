"""Custom profiles are data, not a back door: the members of a profile's container that would give
the sidecar the host's privileges are refused unless the policy allows them for that profile name,
and on Fargate the members Fargate does not take are refused at plan time. Pure: plain dicts."""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.planning import profile_rules
from sidecar_enforcer.domain.planning.plan import Decision, Plan, plan
from sidecar_enforcer.domain.planning.policy import GUARDED_MEMBERS, Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.profiles import builtin_profiles, parse_profile

from ._factories import ROOT, app, ec2, fargate, named

AGENT_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/observability/node-agent:4.2.0"
EXAMPLE_POLICY = Policy.model_validate_json((ROOT / "examples" / "policy.json").read_text(encoding="utf-8"))


def agent(name: str = "node-agent", **container: Any) -> Profile:
    """A custom collector profile whose container has ``container`` members on top."""
    document: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "recognizes": ["observability/node-agent"],
        "logStreamPrefix": "node-agent",
        "otlp": {"grpcPort": 4317, "httpPort": 4318},
        "container": {
            "name": "node-agent",
            "image": AGENT_IMAGE,
            "essential": False,
            "cpu": 64,
            "memoryReservation": 64,
            "user": "10001",  # vouches: the image's default user may be root
            **container,
        },
    }
    return parse_profile(json.dumps(document), f"custom {name}.json")


def allowing(*members: str, name: str = "node-agent") -> Policy:
    return Policy(allow_profile_members={name: list(members)})


def ec2_task() -> dict[str, Any]:
    # The volume the mountPoints case names: ECS refuses a mount of a volume the task lacks.
    volumes = [{"name": "docker-socket", "host": {"sourcePath": "/var/run"}}]
    return ec2(app(memoryReservation=256), network_mode="bridge", volumes=volumes)


def fargate_task() -> dict[str, Any]:
    return fargate(app())


def refused(result: Plan) -> list[str]:
    assert result.decision is Decision.REFUSED, result.reasons
    assert result.register_input is None
    for reason in result.reasons:
        assert "\n" not in reason
    return result.reasons


def planned(result: Plan) -> dict[str, Any]:
    assert result.decision is Decision.MISSING, result.reasons
    assert result.register_input is not None
    return result.register_input


# Each guarded member, set as a team would to reach beyond the sidecar's container.
GUARDED_CASES: dict[str, dict[str, Any]] = {
    "container.secrets": {
        "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}]
    },
    "container.environmentFiles": {
        "environmentFiles": [{"value": "arn:aws:s3:::team-bucket/agent.env", "type": "s3"}]
    },
    "container.repositoryCredentials": {
        "repositoryCredentials": {
            "credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry"
        }
    },
    "container.logConfiguration.secretOptions": {
        "logConfiguration": {
            "logDriver": "splunk",
            "options": {"splunk-url": "https://splunk.example.com"},
            "secretOptions": [
                {"name": "splunk-token", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/t"}
            ],
        }
    },
    "container.firelensConfiguration.options": {
        "firelensConfiguration": {
            "type": "fluentbit",
            "options": {"config-file-type": "s3", "config-file-value": "arn:aws:s3:::team-bucket/extra.conf"},
        }
    },
    "container.credentialSpecs": {
        "credentialSpecs": ["credentialspecdomainless:arn:aws:s3:::team-bucket/gmsa.json"]
    },
    "container.privileged": {"privileged": True},
    "container.user": {"user": "0"},
    "container.linuxParameters.capabilities.add": {
        "linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}
    },
    "container.linuxParameters.devices": {
        "linuxParameters": {"devices": [{"hostPath": "/dev/mem", "containerPath": "/dev/mem"}]}
    },
    "container.resourceRequirements": {"resourceRequirements": [{"type": "GPU", "value": "1"}]},
    "container.mountPoints": {
        "mountPoints": [{"sourceVolume": "docker-socket", "containerPath": "/var/run"}]
    },
    "container.volumesFrom": {"volumesFrom": [{"sourceContainer": "app", "readOnly": True}]},
    "container.dockerSecurityOptions": {"dockerSecurityOptions": ["apparmor:unconfined"]},
    "container.systemControls": {"systemControls": [{"namespace": "net.ipv4.ip_forward", "value": "1"}]},
    "container.ulimits": {"ulimits": [{"name": "memlock", "softLimit": -1, "hardLimit": -1}]},
    "container.portMappings": {"portMappings": [{"containerPort": 16686, "hostPort": 16686}]},
    "container.links": {"links": ["app"]},
    "container.hostname": {"hostname": "collector"},
    "container.extraHosts": {"extraHosts": [{"hostname": "sts.amazonaws.com", "ipAddress": "10.0.0.9"}]},
    "container.dnsServers": {"dnsServers": ["10.0.0.53"]},
    "container.dnsSearchDomains": {"dnsSearchDomains": ["corp.internal"]},
}
# Cases ECS or this EC2 bridge task refuses on their own once allowed (a start-order cycle, a
# duplicate host port is fine but GPUs need a GPU instance, links to the app it serves): the
# allowance is shown by guarded_members, not by a planned request.
NOT_PLANNABLE_ALLOWED = {"container.volumesFrom", "container.links"}


def test_every_guarded_member_has_a_case() -> None:
    assert set(GUARDED_CASES) == GUARDED_MEMBERS


def test_every_member_of_botocore_s_container_shape_is_classified() -> None:
    """A member botocore's model adds (AWS adds one to ContainerDefinition) fails here until it is
    put in OPEN or GUARDED; so do the members of the structures classified member by member."""
    shape = schema.container_member_paths(profile_rules.EXPANDED)

    assert not profile_rules.OPEN & GUARDED_MEMBERS
    assert sorted(shape - profile_rules.OPEN - GUARDED_MEMBERS) == []
    # and nothing classified that the shape does not have (a typo would allow nothing)
    assert sorted((profile_rules.OPEN | GUARDED_MEMBERS) - shape) == []
    # the structures that hold secrets, capabilities and FireLens files are classified inside
    assert {
        "container.linuxParameters.capabilities.add",
        "container.linuxParameters.capabilities.drop",
        "container.logConfiguration.secretOptions",
        "container.firelensConfiguration.options",
    } <= shape


def test_a_member_no_list_classifies_is_refused_and_no_allowance_permits_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if botocore's model had grown a member the rules have not classified yet.
    profile = agent()
    monkeypatch.setattr(profile_rules, "OPEN", profile_rules.OPEN - {"container.stopTimeout"})
    grown = profile.model_copy(update={"container": {**profile.container, "stopTimeout": 30}})

    reasons = refused(plan(ec2_task(), [], grown, ALL_ALLOWED))

    assert reasons == [
        "profile node-agent@1.0.0 sets container.stopTimeout, which the enforcer has not classified "
        "(a member newer than its rules): refused until it is; no allowance permits it"
    ]


class TestGuardedMembers:
    @pytest.mark.parametrize("member", sorted(GUARDED_CASES))
    def test_each_member_is_refused_naming_the_member_and_the_allowance(self, member: str) -> None:
        profile = agent(**GUARDED_CASES[member])

        (reason,) = refused(plan(ec2_task(), [], profile))

        assert reason.startswith(f"profile node-agent@1.0.0: {member} ")
        assert "allowProfileMembers" in reason
        assert "ALLOWED_PROFILE_MEMBERS" in reason
        assert json.dumps({"node-agent": [member]}) in reason

    @pytest.mark.parametrize("member", sorted(GUARDED_CASES))
    def test_each_member_allowed_for_the_profile_s_name_is_no_longer_refused_for_it(
        self, member: str
    ) -> None:
        profile = agent(**GUARDED_CASES[member])

        result = plan(ec2_task(), [], profile, allowing(member))

        assert not any("allowProfileMembers" in r for r in result.reasons), result.reasons
        if member in NOT_PLANNABLE_ALLOWED:
            return
        request = planned(result)
        sidecar = named(request, "node-agent")
        for key, value in GUARDED_CASES[member].items():
            assert sidecar[key] == value

    def test_an_allowed_volumes_from_the_app_is_still_a_start_order_cycle(self) -> None:
        # Allowed by the policy, but in bridge mode the app links to the sidecar (its only way to
        # reach it by name), which waits for the app's volumes: ECS could never start the task.
        member = "container.volumesFrom"
        profile = agent(**GUARDED_CASES[member])

        (reason,) = refused(plan(ec2_task(), [], profile, allowing(member)))

        assert "app -links-> node-agent -volumesFrom-> app" in reason

    @pytest.mark.parametrize("member", sorted(GUARDED_CASES))
    def test_an_allowance_for_another_profile_name_does_not_count(self, member: str) -> None:
        profile = agent(**GUARDED_CASES[member])

        (reason,) = refused(plan(ec2_task(), [], profile, allowing(member, name="other-agent")))

        assert member in reason

    def test_an_allowance_for_another_member_does_not_count(self) -> None:
        profile = agent(privileged=True)

        (reason,) = refused(plan(ec2_task(), [], profile, allowing("container.user")))

        assert "container.privileged" in reason

    def test_every_member_used_is_named_in_one_line_with_the_allowance_for_all(self) -> None:
        profile = agent(
            privileged=True,
            user="root",
            volumesFrom=[{"sourceContainer": "app"}],
            secrets=[{"name": "T", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/t"}],
        )

        (reason,) = refused(plan(ec2_task(), [], profile, allowing("container.user")))

        named_members = [m for m in GUARDED_MEMBERS if f"{m} " in reason.split("; to allow")[0]]
        assert sorted(named_members) == ["container.privileged", "container.secrets", "container.volumesFrom"]
        # the allowance to paste keeps what the policy allows already, in GUARDED's order
        assert reason.endswith(
            json.dumps(
                {
                    "node-agent": [
                        "container.secrets",
                        "container.privileged",
                        "container.user",
                        "container.volumesFrom",
                    ]
                }
            )
        )
        assert "must list them" in reason

    def test_a_profile_already_running_is_refused_all_the_same(self) -> None:
        profile = agent(privileged=True)
        task = ec2(app(memoryReservation=256), copy.deepcopy(profile.container))

        reasons = refused(plan(task, [], profile))

        assert "container.privileged" in reasons[0]

    @pytest.mark.parametrize(
        "user",
        [
            "0",
            "root",
            "0:0",
            "0:1000",
            "root:root",
            "root:staff",
            "000",
            "00:00",
            "+0",
            "-0",
            "0:10001",
            "0:",
            ":0",
            ":10001",
            "",
            " 10001",
            "10001 ",
            "0 ",
            "toor",
            "otel:root",
            "nobody",
            "\uff12",  # a fullwidth digit: Python's int() reads it, Go's Atoi does not
            "1_000",
            "0x2711",
            "4294967296",
            "2147483648",
            "-10001",
        ],
    )
    def test_root_or_users_only_the_image_resolves_are_guarded(self, user: str) -> None:
        # uid 0 in any spelling runc's strconv.Atoi reads, an empty user part (the image's default),
        # a name (the image's /etc/passwd decides, and the profile's author chose the image), and
        # what is no uid at all (runc would fail, or read it as a name)
        assert profile_rules.guarded_members({"user": user}) == ["container.user"]
        refused(plan(ec2_task(), [], agent(user=user)))

    def test_no_user_is_guarded_the_image_s_default_may_be_root(self) -> None:
        profile = agent()
        container = {k: v for k, v in profile.container.items() if k != "user"}
        unvouched = profile.model_copy(update={"container": container})

        assert profile_rules.guarded_members(container) == ["container.user"]
        (reason,) = refused(plan(ec2_task(), [], unvouched))
        assert "no user" in reason
        planned(plan(ec2_task(), [], unvouched, allowing("container.user")))

    @pytest.mark.parametrize(
        "user", ["1000", "10001:10001", "1000:0", "10", "+10001", "10001:staff", "2147483647"]
    )
    def test_a_numeric_uid_other_than_0_vouches(self, user: str) -> None:
        assert profile_rules.guarded_members({"user": user}) == []
        assert named(planned(plan(ec2_task(), [], agent(user=user))), "node-agent")["user"] == user

    @pytest.mark.parametrize(
        "members",
        [
            pytest.param({"privileged": False}, id="privileged-false"),
            pytest.param({"mountPoints": [], "volumesFrom": []}, id="empty-mounts"),
            pytest.param({"linuxParameters": {"capabilities": {"drop": ["ALL"]}}}, id="drop-only"),
            pytest.param({"linuxParameters": {"initProcessEnabled": True, "devices": []}}, id="no-devices"),
            pytest.param({"dockerSecurityOptions": ["no-new-privileges"]}, id="no-new-privileges"),
            pytest.param({"readonlyRootFilesystem": True}, id="read-only-root"),
            pytest.param({"secrets": [], "environmentFiles": [], "portMappings": []}, id="empty-lists"),
            pytest.param(
                {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/agent"}}},
                id="awslogs-without-secrets",
            ),
            pytest.param(
                {
                    "firelensConfiguration": {
                        "type": "fluentbit",
                        "options": {
                            "config-file-type": "file",
                            "config-file-value": "/fluent-bit/etc/extra.conf",
                        },
                    }
                },
                id="firelens-file-in-the-image",
            ),
            pytest.param(
                {
                    "firelensConfiguration": {
                        "type": "fluentbit",
                        "options": {"enable-ecs-log-metadata": "true"},
                    }
                },
                id="firelens-metadata",
            ),
            pytest.param({"healthCheck": {"command": ["CMD", "/healthcheck"]}}, id="health-check"),
        ],
    )
    def test_members_that_ask_for_nothing_more_are_planned(self, members: dict[str, Any]) -> None:
        profile = agent(**members)

        assert profile_rules.guarded_members(profile.container) == []
        planned(plan(ec2_task(), [], profile))

    @pytest.mark.parametrize(
        "options",
        [
            {"config-file-type": "s3", "config-file-value": "arn:aws:s3:::b/k"},
            {"config-file-type": "S3", "config-file-value": "arn:aws:s3:::b/k"},
            {"config-file-value": "arn:aws:s3:::b/k", "config-file-type": "s3 "},
            {"some-new-option": "x"},
        ],
    )
    def test_firelens_options_fetching_a_file_or_unknown_are_guarded(self, options: dict[str, str]) -> None:
        container = {"firelensConfiguration": {"type": "fluentbit", "options": options}, "user": "10001"}

        assert profile_rules.guarded_members(container) == ["container.firelensConfiguration.options"]

    @pytest.mark.parametrize("option", ["label:disable", "apparmor:unconfined", "label:type:spc_t"])
    def test_security_options_beside_no_new_privileges_are_refused(self, option: str) -> None:
        profile = agent(dockerSecurityOptions=["no-new-privileges", option])

        (reason,) = refused(plan(ec2_task(), [], profile))

        assert "container.dockerSecurityOptions" in reason


class TestShippedProfiles:
    # FireLens ran its container as root until ECS agent 1.96.0 (October 2025), and the Fluent Bit
    # init image writes its configuration into the image: the shipped profile runs the image's
    # default user, root, which a platform team allows on purpose (the example policy does).
    NEEDS: ClassVar[dict[str, list[str]]] = {"adot": [], "jaeger": [], "fluent-bit": ["container.user"]}

    @pytest.mark.parametrize("name", sorted(builtin_profiles()))
    def test_a_shipped_profile_uses_only_the_guarded_members_it_documents(self, name: str) -> None:
        assert profile_rules.guarded_members(builtin_profiles()[name].container) == self.NEEDS[name]
        assert profile_rules.unclassified_members(builtin_profiles()[name].container) == []

    @pytest.mark.parametrize("name", sorted(builtin_profiles()))
    @pytest.mark.parametrize("task", [fargate_task, ec2_task], ids=["fargate", "ec2"])
    def test_each_shipped_profile_is_planned_with_the_example_policy(self, name: str, task: Any) -> None:
        request = planned(plan(task(), [], builtin_profiles()[name], EXAMPLE_POLICY))

        assert EXAMPLE_POLICY.allow_profile_members == {k: v for k, v in self.NEEDS.items() if v}
        assert len(request["containerDefinitions"]) == 2

    def test_fluent_bit_without_the_allowance_is_refused_naming_it(self) -> None:
        (reason,) = refused(
            plan(
                fargate_task(),
                [],
                builtin_profiles()["fluent-bit"],
                Policy(parameters=EXAMPLE_POLICY.parameters),
            )
        )

        assert reason.startswith("profile fluent-bit@")
        assert '{"fluent-bit": ["container.user"]}' in reason


class TestUpgrades:
    """An upgrade in place runs the profile's image in the present container, with its members."""

    def present(self, **members: Any) -> dict[str, Any]:
        return {
            "name": "node-agent",
            "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/observability/node-agent:3.9.0",
            "essential": False,
            "memoryReservation": 64,
            **members,
        }

    def test_a_present_privileged_sidecar_is_not_upgraded_to_the_profile_s_image(self) -> None:
        task = ec2(app(memoryReservation=256), self.present(privileged=True))

        reasons = refused(plan(task, [], agent(), Policy(upgrade_drifted=True)))

        (reason,) = [r for r in reasons if "privileged" in r]
        assert reason.startswith("container 'node-agent' sets privileged, which ")
        assert "profile node-agent@1.0.0's image" in reason
        assert json.dumps({"node-agent": ["container.privileged"]}) in reason
        # the same sidecar, not privileged, is upgraded
        plain = ec2(app(memoryReservation=256), self.present())
        assert plan(plain, [], agent(), Policy(upgrade_drifted=True)).decision is Decision.DRIFTED

    def test_it_is_upgraded_when_the_policy_allows_the_member(self) -> None:
        task = ec2(app(memoryReservation=256), self.present(privileged=True))
        policy = Policy(upgrade_drifted=True, allow_profile_members={"node-agent": ["container.privileged"]})

        result = plan(task, [], agent(), policy)

        assert result.decision is Decision.DRIFTED
        assert result.register_input is not None
        upgraded = named(result.register_input, "node-agent")
        assert (upgraded["image"], upgraded["privileged"]) == (AGENT_IMAGE, True)


# -- Fargate --------------------------------------------------------------------------------------------

# Each member of a container Fargate does not take, with a value botocore's model accepts.
FARGATE_CASES: dict[str, dict[str, Any]] = {
    "disableNetworking": {"disableNetworking": True},
    "dnsSearchDomains": {"dnsSearchDomains": ["corp.internal"]},
    "dnsServers": {"dnsServers": ["10.0.0.2"]},
    "dockerSecurityOptions": {"dockerSecurityOptions": ["no-new-privileges"]},
    "extraHosts": {"extraHosts": [{"hostname": "otel-gateway", "ipAddress": "10.0.0.9"}]},
    "privileged": {"privileged": True},
    "linuxParameters.devices": {"linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}},
    "linuxParameters.maxSwap": {"linuxParameters": {"maxSwap": 512}},
    "linuxParameters.sharedMemorySize": {"linuxParameters": {"sharedMemorySize": 64}},
    "linuxParameters.swappiness": {"linuxParameters": {"swappiness": 0}},
    "linuxParameters.tmpfs": {"linuxParameters": {"tmpfs": [{"containerPath": "/tmp", "size": 64}]}},
}
# Only Fargate's rule speaks: the guarded members are allowed for the agent.
ALL_ALLOWED = Policy(allow_profile_members={"node-agent": sorted(GUARDED_MEMBERS)})


def test_every_fargate_member_has_a_case() -> None:
    assert set(FARGATE_CASES) == set(profile_rules.FARGATE_INVALID)


class TestFargate:
    @pytest.mark.parametrize("path", list(FARGATE_CASES))
    def test_each_member_fargate_does_not_take_is_refused_naming_it(self, path: str) -> None:
        profile = agent(**FARGATE_CASES[path])

        (reason,) = refused(plan(fargate_task(), [], profile, ALL_ALLOWED))

        assert reason == (
            f"profile node-agent@1.0.0 sets container.{path}, which Fargate does not take: "
            "the sidecar cannot be added to a Fargate task"
        )

    @pytest.mark.parametrize("path", list(FARGATE_CASES))
    def test_the_same_profile_is_not_refused_for_fargate_on_ec2(self, path: str) -> None:
        profile = agent(**FARGATE_CASES[path])

        assert profile_rules.fargate_refusals(ec2_task(), profile) == []
        result = plan(ec2_task(), [], profile, ALL_ALLOWED)
        assert not any("Fargate" in r for r in result.reasons), result.reasons

    @pytest.mark.parametrize(("member", "value"), [("links", ["app"]), ("hostname", "collector")])
    def test_awsvpc_only_members_are_refused_once_by_ecs_s_awsvpc_rule(self, member: str, value: Any) -> None:
        (reason,) = refused(plan(fargate_task(), [], agent(**{member: value}), ALL_ALLOWED))

        assert reason == (
            f"with the sidecar, container 'node-agent' sets {member}: "
            f"ECS does not support {member} in awsvpc mode"
        )

    def test_a_profile_without_such_members_is_planned_on_fargate(self) -> None:
        profile = agent(linuxParameters={"initProcessEnabled": True}, readonlyRootFilesystem=True)

        assert profile_rules.fargate_refusals(fargate_task(), profile) == []
        planned(plan(fargate_task(), [], profile))

    def test_sys_ptrace_is_the_one_capability_fargate_takes(self) -> None:
        policy = allowing("container.linuxParameters.capabilities.add")
        ptrace = agent(linuxParameters={"capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}})
        more = agent(linuxParameters={"capabilities": {"add": ["SYS_PTRACE", "NET_ADMIN", "BPF"]}})

        request = planned(plan(fargate_task(), [], ptrace, policy))
        (reason,) = refused(plan(fargate_task(), [], more, policy))

        assert named(request, "node-agent")["linuxParameters"]["capabilities"]["add"] == ["SYS_PTRACE"]
        assert "container.linuxParameters.capabilities.add (BPF, NET_ADMIN; only SYS_PTRACE)" in reason
        assert "Fargate does not take" in reason
        planned(plan(ec2_task(), [], more, policy))  # the policy allows them; EC2 takes them

    def test_a_gpu_is_refused_on_fargate(self) -> None:
        profile = agent(resourceRequirements=[{"type": "GPU", "value": "1"}])

        (reason,) = refused(plan(fargate_task(), [], profile, ALL_ALLOWED))

        assert "container.resourceRequirements (a GPU)" in reason

    def test_every_member_is_named_once(self) -> None:
        profile = agent(
            links=["app"],
            hostname="collector",
            linuxParameters={"tmpfs": [{"containerPath": "/tmp", "size": 8}]},
        )

        reasons = refused(plan(fargate_task(), [], profile, ALL_ALLOWED))

        # links and hostname are ECS's awsvpc rule, checked on the planned request once nothing
        # else refuses it: never a second reason for the same member
        assert [r.split(" sets ", 1)[1].split(",", 1)[0] for r in reasons] == [
            "container.linuxParameters.tmpfs"
        ]

    def test_an_upgrade_in_place_keeps_the_present_container_s_members(self) -> None:
        """The profile's Fargate-only problems concern the container it adds; an upgrade keeps the
        present one's members, which Fargate took already."""
        profile = agent(hostname="collector")
        present = {"name": "node-agent", "image": AGENT_IMAGE.replace("4.2.0", "3.9.0"), "essential": False}
        task = fargate(app(), present)
        policy = Policy(upgrade_drifted=True, allow_profile_members={"node-agent": ["container.hostname"]})

        result = plan(task, [], profile, policy)

        assert result.decision is Decision.DRIFTED, result.reasons
        assert result.register_input is not None
        assert "hostname" not in named(result.register_input, "node-agent")
        # adding it is refused
        refused(plan(fargate_task(), [], profile, policy))


class TestPolicy:
    def test_an_unknown_member_is_refused_naming_the_known_ones(self) -> None:
        with pytest.raises(ValidationError) as caught:
            Policy.model_validate({"allowProfileMembers": {"node-agent": ["container.image"]}})

        (error,) = caught.value.errors()
        assert error["loc"] == ("allowProfileMembers",)
        assert "container.privileged" in error["msg"]
        assert "container.image" not in error["msg"]

    def test_the_allowance_is_read_in_camel_case(self) -> None:
        policy = Policy.model_validate_json('{"allowProfileMembers": {"node-agent": ["container.user"]}}')

        assert policy.allow_profile_members == {"node-agent": ["container.user"]}

    def test_none_is_allowed_by_default(self) -> None:
        assert Policy().allow_profile_members == {}
