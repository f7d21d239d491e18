"""The shipped profiles, custom documents (folder, SSM) and how a profile resolves its parameters."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sidecar_enforcer.adapters.aws import Clients
from sidecar_enforcer.adapters.profiles import SsmProfiles, folder_documents
from sidecar_enforcer.config import Settings
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.planning.profile import Permission
from sidecar_enforcer.errors import AccessDeniedError, ConfigurationError, InputError
from sidecar_enforcer.profiles import Catalog, builtin_catalog, builtin_profiles, dump, parse_profile
from sidecar_enforcer.wiring import profile_source

REGION = "us-east-1"
SSM_PATH = "/sidecar/profiles"
AMP_ENDPOINT = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd/api/v1/remote_write"
AMP_ARN = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd"

SHIPPED_FILES = sorted(
    entry.name
    for entry in resources.files("sidecar_enforcer.profiles").iterdir()
    if entry.name.endswith(".json")
)


def shipped_text(file_name: str) -> str:
    return resources.files("sidecar_enforcer.profiles").joinpath(file_name).read_text(encoding="utf-8")


def shipped_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(shipped_text(f"{name}.json"))
    return doc


def edited(name: str, edit: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(shipped_doc(name))
    edit(doc)
    return json.dumps(doc)


def pinned_jaeger(tag: str = "2.99.0", **changes: Any) -> dict[str, Any]:
    """A small custom jaeger document (SSM standard parameters hold at most 4 KB)."""
    doc = shipped_doc("jaeger")
    doc.pop("description", None)
    doc["container"]["image"] = f"cr.jaegertracing.io/jaegertracing/jaeger:{tag}"
    doc.update(changes)
    return doc


def refused(text: str, origin: str = "custom.json") -> str:
    with pytest.raises(InputError) as caught:
        parse_profile(text, origin)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"profile {origin}:")
    return message


# -- the shipped documents --------------------------------------------------------------------------


class TestShippedProfiles:
    def test_the_three_documents_ship(self) -> None:
        assert {"adot.json", "fluent-bit.json", "jaeger.json"} <= set(SHIPPED_FILES)

    @pytest.mark.parametrize("file_name", SHIPPED_FILES)
    def test_each_document_validates_under_its_file_name(self, file_name: str) -> None:
        profile = parse_profile(shipped_text(file_name), file_name)

        assert profile.name == file_name.removesuffix(".json")
        assert schema.validate_container(profile.container) == []

    @pytest.mark.parametrize("file_name", SHIPPED_FILES)
    def test_each_image_pins_a_version(self, file_name: str) -> None:
        image = json.loads(shipped_text(file_name))["container"]["image"]
        last = image.split("@", 1)[0].rsplit("/", 1)[-1]
        repository, colon, tag = last.partition(":")

        assert repository
        assert colon == ":"
        assert tag
        assert tag != "latest"
        assert any(ch.isdigit() for ch in tag)

    def test_the_catalog_holds_every_document_and_no_error(self) -> None:
        catalog = builtin_catalog()

        assert set(catalog.profiles) == {f.removesuffix(".json") for f in SHIPPED_FILES}
        assert catalog.errors == {}
        assert catalog.origins["adot"] == "shipped adot.json"

    @pytest.mark.parametrize(
        ("name", "ports"),
        [
            pytest.param("adot", [4317, 4318], id="adot"),
            pytest.param("fluent-bit", [4317, 4318, 24224], id="fluent-bit"),
            pytest.param("jaeger", [4317, 4318, 16685, 16686], id="jaeger"),
        ],
    )
    def test_ports(self, name: str, ports: list[int]) -> None:
        assert builtin_profiles()[name].ports == ports

    def test_adot_is_reached_on_localhost_only(self) -> None:
        adot = builtin_profiles()["adot"]

        assert "portMappings" not in adot.container
        assert adot.otlp is not None
        assert (adot.otlp.grpc_port, adot.otlp.http_port) == (4317, 4318)

    @pytest.mark.parametrize("name", ["adot", "fluent-bit", "jaeger"])
    def test_no_shipped_profile_maps_a_port(self, name: str) -> None:
        # apps reach the sidecar on localhost (awsvpc, host) or by their link (bridge): a mapping
        # would only let in what the security groups admit; the policy's publishPorts asks for one
        assert "portMappings" not in builtin_profiles()[name].container

    def test_fluent_bit_listens_for_firelens_without_a_mapping(self) -> None:
        fluent_bit = builtin_profiles()["fluent-bit"]

        assert fluent_bit.listens == [24224]
        assert fluent_bit.listen_host_variable == "OTLP_LISTEN_HOST"

    def test_the_catalog_is_built_once(self) -> None:
        assert builtin_catalog() is builtin_catalog()


# -- invalid documents ------------------------------------------------------------------------------


class TestInvalidDocuments:
    def test_a_port_mapping_of_the_wrong_type_names_the_member(self) -> None:
        text = edited("jaeger", lambda d: d["container"].update(portMappings=[{"containerPort": "4317"}]))

        message = refused(text)

        assert "portMappings" in message
        assert "containerPort" in message

    def test_a_port_mapping_error_uses_the_documented_dotted_path(self) -> None:
        text = edited("jaeger", lambda d: d["container"].update(portMappings=[{"containerPort": "4317"}]))

        assert "container.portMappings.0.containerPort" in refused(text)

    def test_a_bad_parameter_name_names_its_path(self) -> None:
        text = edited("adot", lambda d: d["parameters"][0].update(name="1-endpoint"))

        assert "parameters.0.name" in refused(text)

    def test_a_parameter_pattern_must_compile(self) -> None:
        text = edited("adot", lambda d: d["parameters"][1].update(pattern="(unclosed"))

        assert "parameters.1.pattern" in refused(text)

    def test_a_permission_naming_an_unknown_parameter_is_refused(self) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["taskRolePermissions"].append({"action": "s3:GetObject", "resource": "${NO_SUCH_THING}"})

        message = refused(edited("adot", edit))

        assert "taskRolePermissions" in message
        assert "${NO_SUCH_THING}" in message

    def test_a_parameter_also_set_in_the_environment_is_refused(self) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["container"]["environment"] = [{"name": "AWS_PROMETHEUS_ENDPOINT", "value": "https://x"}]

        message = refused(edited("adot", edit))

        assert "AWS_PROMETHEUS_ENDPOINT" in message
        assert "container.environment" in message
        assert "https://x" not in message

    def test_a_parameter_declared_twice_is_refused(self) -> None:
        text = edited("adot", lambda d: d["parameters"].append(dict(d["parameters"][0])))

        assert "parameters" in refused(text)

    def test_a_latest_image_is_refused(self) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["container"]["image"] = "public.ecr.aws/aws-observability/aws-otel-collector:latest"

        message = refused(edited("adot", edit), origin="ssm:/sidecar/profiles/adot")

        assert "container" in message
        assert "latest" in message

    def test_a_bad_permission_action_names_its_path(self) -> None:
        text = edited("adot", lambda d: d["taskRolePermissions"][0].update(action="PutTraceSegments"))

        assert "taskRolePermissions.0.action" in refused(text)

    def test_an_empty_tag_does_not_count_as_pinned(self) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["container"]["image"] = "cr.jaegertracing.io/jaegertracing/jaeger:"

        refused(edited("jaeger", edit))

    def test_a_port_range_mapping_does_not_crash_ports(self) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["container"]["portMappings"] = [{"containerPortRange": "4317-4318", "protocol": "tcp"}]

        try:
            profile = parse_profile(edited("jaeger", edit), "custom.json")
        except InputError:
            return  # refusing the document with a message would be fine too
        assert {4317, 4318} <= set(profile.ports)


# -- Catalog.with_documents -------------------------------------------------------------------------


class TestCatalog:
    def test_a_custom_document_replaces_the_shipped_one(self) -> None:
        custom = json.dumps(pinned_jaeger("2.99.0", version="team-1"))

        catalog = builtin_catalog().with_documents([("jaeger", "/opt/profiles/jaeger.json", custom)])

        jaeger = catalog.get("jaeger")
        assert jaeger is not None
        assert jaeger.image.endswith(":2.99.0")
        assert jaeger.version == "team-1"
        assert catalog.origins["jaeger"] == "/opt/profiles/jaeger.json"
        assert catalog.get("adot") == builtin_profiles()["adot"]
        assert catalog.origins["adot"] == "shipped adot.json"

    def test_adding_documents_leaves_the_original_catalog_alone(self) -> None:
        before = builtin_catalog()
        custom = json.dumps(pinned_jaeger("2.99.0"))

        before.with_documents([("jaeger", "custom.json", custom)])

        assert before.get("jaeger") == builtin_profiles()["jaeger"]
        assert before.origins["jaeger"] == "shipped jaeger.json"

    def test_an_invalid_document_is_recorded_and_the_others_stay(self) -> None:
        broken = edited("adot", lambda d: d["container"].update(image="nginx:1.27"))
        team = json.dumps(pinned_jaeger(name="team-jaeger"))

        catalog = builtin_catalog().with_documents(
            [("team-adot", "ssm:/p/team-adot", broken), ("team-jaeger", "ssm:/p/team-jaeger", team)]
        )

        assert catalog.get("team-adot") is None
        assert catalog.errors["team-adot"].startswith("profile ssm:/p/team-adot:")
        assert "recognizes" in catalog.errors["team-adot"]
        assert catalog.get("team-jaeger") is not None
        assert set(builtin_profiles()) <= set(catalog.profiles)
        assert "team-jaeger" not in catalog.errors

    def test_a_document_that_is_not_json_is_recorded(self) -> None:
        catalog = Catalog().with_documents([("half", "half.json", '{"name": "half"')])

        assert catalog.profiles == {}
        assert catalog.errors["half"].startswith("profile half.json:")

    def test_a_document_named_differently_from_its_file_is_refused(self) -> None:
        text = json.dumps(pinned_jaeger())  # its name is "jaeger"

        catalog = builtin_catalog().with_documents([("tracing", "/opt/profiles/tracing.json", text)])

        assert catalog.get("tracing") is None
        message = catalog.errors["tracing"]
        assert "/opt/profiles/tracing.json" in message
        assert "'jaeger'" in message
        assert "\n" not in message
        assert catalog.get("jaeger") == builtin_profiles()["jaeger"]

    def test_a_valid_document_added_later_clears_an_earlier_error(self) -> None:
        # one batch holding both would be a clash (both refused); a catalog built on one with an
        # error takes the new document
        broken = edited("jaeger", lambda d: d["container"].update(image="jaegertracing/jaeger:latest"))
        good = json.dumps(pinned_jaeger("2.50.0"))

        first = builtin_catalog().with_documents([("jaeger", "/opt/profiles/jaeger.json", broken)])
        assert "jaeger" in first.errors
        catalog = first.with_documents([("jaeger", "ssm:/p/jaeger", good)])

        assert "jaeger" not in catalog.errors
        jaeger = catalog.get("jaeger")
        assert jaeger is not None
        assert jaeger.image.endswith(":2.50.0")
        assert catalog.origins["jaeger"] == "ssm:/p/jaeger"

    def test_errors_carry_over_to_a_catalog_built_from_it(self) -> None:
        first = Catalog().with_documents([("x", "x.json", "{}")])

        second = first.with_documents([("jaeger", "j.json", json.dumps(pinned_jaeger()))])

        assert "x" in second.errors
        assert second.get("jaeger") is not None

    def test_a_replaced_shipped_profile_is_told_with_the_document_s_origin(self) -> None:
        custom = json.dumps(pinned_jaeger("2.99.0"))

        catalog = builtin_catalog().with_documents([("jaeger", "ssm:/p/jaeger", custom)])

        assert (
            catalog.replacement("jaeger")
            == "profile jaeger comes from ssm:/p/jaeger, replacing the shipped one"
        )
        assert catalog.replacement("adot") is None

    def test_the_last_replacement_is_the_one_told(self) -> None:
        folder = ("jaeger", "/opt/profiles/jaeger.json", json.dumps(pinned_jaeger("2.98.0")))
        ssm = ("jaeger", "ssm:/p/jaeger", json.dumps(pinned_jaeger("2.99.0")))

        catalog = builtin_catalog().with_documents([folder]).with_documents([ssm])

        assert (
            catalog.replacement("jaeger")
            == "profile jaeger comes from ssm:/p/jaeger, replacing the shipped one"
        )

    def test_shipped_profiles_and_new_names_replace_nothing(self) -> None:
        team = json.dumps(pinned_jaeger(name="team-jaeger"))

        catalog = builtin_catalog().with_documents([("team-jaeger", "ssm:/p/team-jaeger", team)])

        assert [catalog.replacement(name) for name in sorted(catalog.profiles)] == [None] * len(
            catalog.profiles
        )
        assert catalog.replacement("no-such-profile") is None
        assert (
            Catalog()
            .with_documents([("jaeger", "j.json", json.dumps(pinned_jaeger()))])
            .replacement("jaeger")
            is None
        )  # a catalog without the shipped profiles has nothing to replace

    def test_only_the_shipped_document_itself_counts_as_shipped(self) -> None:
        # a remedy shows a profile's environment values as they are only for a shipped document
        custom = json.dumps(pinned_jaeger("2.99.0"))
        team = json.dumps(pinned_jaeger(name="team-jaeger"))

        catalog = builtin_catalog().with_documents(
            [("jaeger", "ssm:/p/jaeger", custom), ("team-jaeger", "ssm:/p/team-jaeger", team)]
        )

        assert builtin_catalog().is_shipped("jaeger")
        assert catalog.is_shipped("adot")
        assert not catalog.is_shipped("jaeger")  # replaced
        assert not catalog.is_shipped("team-jaeger")
        assert not catalog.is_shipped("no-such-profile")

    def test_a_broken_replacement_is_no_replacement_to_tell(self) -> None:
        broken = edited("jaeger", lambda d: d["container"].update(image="jaegertracing/jaeger:latest"))

        catalog = builtin_catalog().with_documents([("jaeger", "ssm:/p/jaeger", broken)])

        assert catalog.replacement("jaeger") is None  # the service is refused with the error instead
        assert "ssm:/p/jaeger" in catalog.errors["jaeger"]

    def test_a_broken_replacement_is_not_silently_ignored(self) -> None:
        broken = edited("jaeger", lambda d: d["container"].update(image="jaegertracing/jaeger:latest"))

        catalog = builtin_catalog().with_documents([("jaeger", "/opt/profiles/jaeger.json", broken)])

        assert "jaeger" in catalog.errors
        assert catalog.get("jaeger") is None


# -- Profile.resolve, sidecar_environment, resources ------------------------------------------------


ADOT = builtin_profiles()["adot"]


class TestResolve:
    def test_valid_values_are_chosen(self) -> None:
        chosen, problems = ADOT.resolve(
            {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT, "AMP_WORKSPACE_ARN": AMP_ARN}
        )

        assert problems == []
        assert chosen == {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT, "AMP_WORKSPACE_ARN": AMP_ARN}

    def test_an_optional_parameter_may_be_absent(self) -> None:
        chosen, problems = ADOT.resolve({"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT})

        assert problems == []
        assert chosen == {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}

    @pytest.mark.parametrize("values", [{}, {"AWS_PROMETHEUS_ENDPOINT": ""}], ids=["absent", "empty"])
    def test_a_missing_required_parameter_is_a_problem(self, values: dict[str, str]) -> None:
        chosen, problems = ADOT.resolve(values)

        assert chosen == {}
        assert len(problems) == 1
        assert "adot" in problems[0]
        assert "AWS_PROMETHEUS_ENDPOINT" in problems[0]

    def test_a_value_not_matching_the_pattern_is_a_problem_without_the_value(self) -> None:
        secretish = "https://attacker.example.com/remote_write?token=s3cr3t"

        chosen, problems = ADOT.resolve({"AWS_PROMETHEUS_ENDPOINT": secretish})

        assert "AWS_PROMETHEUS_ENDPOINT" not in chosen
        assert len(problems) == 1
        assert "adot" in problems[0]
        assert "AWS_PROMETHEUS_ENDPOINT" in problems[0]
        assert secretish not in problems[0]
        assert "s3cr3t" not in problems[0]

    def test_an_optional_parameter_is_still_checked_when_set(self) -> None:
        chosen, problems = ADOT.resolve(
            {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT, "AMP_WORKSPACE_ARN": "arn:aws:s3:::bucket"}
        )

        assert "AMP_WORKSPACE_ARN" not in chosen
        assert len(problems) == 1
        assert "AMP_WORKSPACE_ARN" in problems[0]
        assert "bucket" not in problems[0]

    def test_an_unknown_parameter_is_a_problem(self) -> None:
        chosen, problems = ADOT.resolve(
            {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT, "AWS_PROMETHEUS_EDNPOINT": "x"}
        )

        assert chosen == {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}
        assert len(problems) == 1
        assert "AWS_PROMETHEUS_EDNPOINT" in problems[0]
        assert "adot" in problems[0]

    def test_a_profile_without_parameters_takes_none(self) -> None:
        jaeger = builtin_profiles()["jaeger"]

        assert jaeger.resolve({}) == ({}, [])
        _, problems = jaeger.resolve({"ANYTHING": "1"})
        assert len(problems) == 1
        assert "ANYTHING" in problems[0]

    def test_every_fluent_bit_parameter_is_required(self) -> None:
        fluent_bit = builtin_profiles()["fluent-bit"]

        _, problems = fluent_bit.resolve({})

        assert len(problems) == len(fluent_bit.parameters)
        for parameter in fluent_bit.parameters:
            assert any(parameter.name in p for p in problems)


class TestSidecarEnvironment:
    def test_env_parameters_are_added_and_env_false_ones_are_not(self) -> None:
        env = ADOT.sidecar_environment(
            {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT, "AMP_WORKSPACE_ARN": AMP_ARN}
        )

        assert env["AWS_PROMETHEUS_ENDPOINT"] == AMP_ENDPOINT
        assert "AMP_WORKSPACE_ARN" not in env

    def test_the_profiles_own_entries_are_kept(self) -> None:
        jaeger = builtin_profiles()["jaeger"]
        own = {e["name"]: e["value"] for e in jaeger.container["environment"]}

        env = jaeger.sidecar_environment({"NOT_A_PARAMETER": "x"})

        assert env == own
        assert "NOT_A_PARAMETER" not in env


class TestResources:
    def test_a_placeholder_is_replaced_by_the_value(self) -> None:
        remote_write = next(p for p in ADOT.task_role_permissions if p.action == "aps:RemoteWrite")

        assert ADOT.resources(remote_write, {"AMP_WORKSPACE_ARN": AMP_ARN}) == AMP_ARN

    @pytest.mark.parametrize("values", [{}, {"AMP_WORKSPACE_ARN": ""}], ids=["unset", "empty"])
    def test_an_unset_placeholder_means_every_resource(self, values: dict[str, str]) -> None:
        remote_write = next(p for p in ADOT.task_role_permissions if p.action == "aps:RemoteWrite")

        assert ADOT.resources(remote_write, values) == "*"

    def test_placeholders_inside_a_longer_resource(self) -> None:
        permission = Permission(action="s3:GetObject", resource="arn:aws:s3:::${BUCKET}/${PREFIX}/conf")

        assert ADOT.resources(permission, {"BUCKET": "cfg"}) == "arn:aws:s3:::cfg/*/conf"

    def test_a_resource_without_placeholders_is_unchanged(self) -> None:
        permission = Permission(action="xray:PutTraceSegments")

        assert ADOT.resources(permission, {"AMP_WORKSPACE_ARN": AMP_ARN}) == "*"


# -- folder_documents -------------------------------------------------------------------------------


class TestFolderDocuments:
    def test_json_files_are_read_and_others_ignored(self, tmp_path: Path) -> None:
        (tmp_path / "team-jaeger.json").write_text(json.dumps(pinned_jaeger(name="team-jaeger")), "utf-8")
        (tmp_path / "README.md").write_text("# profiles", "utf-8")
        (tmp_path / "jaeger.yaml").write_text("name: jaeger", "utf-8")
        (tmp_path / "old.json.bak").write_text("{}", "utf-8")

        documents = folder_documents(str(tmp_path))

        assert [(name, origin) for name, origin, _ in documents] == [
            ("team-jaeger", str(tmp_path / "team-jaeger.json"))
        ]
        assert json.loads(documents[0][2])["name"] == "team-jaeger"

    def test_a_byte_order_mark_is_tolerated(self, tmp_path: Path) -> None:
        text = json.dumps(pinned_jaeger("2.77.0"))
        (tmp_path / "jaeger.json").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))

        catalog = builtin_catalog().with_documents(folder_documents(str(tmp_path)))

        assert catalog.errors == {}
        jaeger = catalog.get("jaeger")
        assert jaeger is not None
        assert jaeger.image.endswith(":2.77.0")

    def test_documents_come_sorted_by_file_name(self, tmp_path: Path) -> None:
        for name in ("b", "c", "a"):
            (tmp_path / f"{name}.json").write_text("{}", "utf-8")

        assert [name for name, _, _ in folder_documents(str(tmp_path))] == ["a", "b", "c"]

    def test_documents_in_sub_folders_are_named_by_their_whole_path(self, tmp_path: Path) -> None:
        (tmp_path / "team-a").mkdir()
        (tmp_path / "team-a" / "jaeger.json").write_text("{}", "utf-8")
        (tmp_path / "jaeger.json").write_text("{}", "utf-8")

        documents = folder_documents(str(tmp_path))

        assert [(name, origin) for name, origin, _ in documents] == [
            ("jaeger", str(tmp_path / "jaeger.json")),
            ("team-a/jaeger", str(tmp_path / "team-a" / "jaeger.json")),
        ]

    def test_an_empty_folder_has_no_documents(self, tmp_path: Path) -> None:
        assert folder_documents(str(tmp_path)) == []

    @pytest.mark.parametrize("kind", ["missing", "file"])
    def test_a_path_that_is_not_a_folder_names_profiles_dir(self, tmp_path: Path, kind: str) -> None:
        target = tmp_path / "profiles"
        if kind == "file":
            target.write_text("{}", "utf-8")

        with pytest.raises(ConfigurationError) as caught:
            folder_documents(str(target))

        message = str(caught.value)
        assert message.startswith("PROFILES_DIR:")
        assert str(target) in message
        assert "\n" not in message


# -- SSM Parameter Store ----------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def put(name: str, value: str) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name=name, Value=value, Type="String")


@pytest.mark.usefixtures("aws")
class TestSsmProfiles:
    def test_documents_are_read_recursively(self) -> None:
        put(f"{SSM_PATH}/jaeger", "jaeger text")
        put(f"{SSM_PATH}/team/a/adot", "adot text")
        put("/elsewhere/fluent-bit", "not ours")

        documents = SsmProfiles(boto3.client("ssm", region_name=REGION), SSM_PATH).documents()

        # a deeper document is named by its whole path, never by its last segment
        assert sorted(documents) == [
            ("jaeger", f"ssm:{SSM_PATH}/jaeger", "jaeger text"),
            ("team/a/adot", f"ssm:{SSM_PATH}/team/a/adot", "adot text"),
        ]

    def test_a_trailing_slash_gives_the_same_origins(self) -> None:
        put(f"{SSM_PATH}/jaeger", "jaeger text")

        documents = SsmProfiles(boto3.client("ssm", region_name=REGION), f"{SSM_PATH}/").documents()

        assert documents == [("jaeger", f"ssm:{SSM_PATH}/jaeger", "jaeger text")]

    def test_an_empty_path_has_no_documents(self) -> None:
        put("/elsewhere/jaeger", "x")

        assert SsmProfiles(boto3.client("ssm", region_name=REGION), SSM_PATH).documents() == []

    def test_access_denied_is_translated(self) -> None:
        client = boto3.client("ssm", region_name=REGION)
        stubber = Stubber(client)
        stubber.add_client_error(
            "get_parameters_by_path",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform ssm:GetParametersByPath",
            http_status_code=400,
        )

        with stubber, pytest.raises(AccessDeniedError) as caught:
            SsmProfiles(client, SSM_PATH).documents()

        message = str(caught.value)
        assert SSM_PATH in message
        assert "AccessDeniedException" in message
        assert "\n" not in message


def count_ssm_reads(clients: Clients) -> list[str]:
    calls: list[str] = []
    clients.client("ssm").meta.events.register(
        "before-call.ssm.GetParametersByPath", lambda model, **_: calls.append(model.name)
    )
    return calls


@pytest.mark.usefixtures("aws")
class TestProfileSource:
    def test_shipped_and_ssm_documents_are_merged(self) -> None:
        put(f"{SSM_PATH}/jaeger", json.dumps(pinned_jaeger("2.88.0")))
        put(f"{SSM_PATH}/team-jaeger", json.dumps(pinned_jaeger(name="team-jaeger")))
        put(f"{SSM_PATH}/broken", "{}")

        catalog = profile_source(Settings(profiles_ssm_path=SSM_PATH), Clients())()

        jaeger = catalog.get("jaeger")
        assert jaeger is not None
        assert jaeger.image.endswith(":2.88.0")
        assert catalog.origins["jaeger"] == f"ssm:{SSM_PATH}/jaeger"
        assert catalog.get("team-jaeger") is not None
        assert catalog.get("adot") == builtin_profiles()["adot"]
        assert catalog.get("fluent-bit") == builtin_profiles()["fluent-bit"]
        assert catalog.errors["broken"].startswith(f"profile ssm:{SSM_PATH}/broken:")

    def test_a_second_read_within_max_age_does_not_call_ssm(self) -> None:
        put(f"{SSM_PATH}/team-jaeger", json.dumps(pinned_jaeger(name="team-jaeger")))
        clients = Clients()
        calls = count_ssm_reads(clients)
        source = profile_source(Settings(profiles_ssm_path=SSM_PATH), clients)

        first = source()
        second = source()

        assert calls == ["GetParametersByPath"]
        assert first.get("team-jaeger") is not None
        assert second.get("team-jaeger") == first.get("team-jaeger")

    def test_unchanged_documents_are_validated_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        put(f"{SSM_PATH}/team-jaeger", json.dumps(pinned_jaeger(name="team-jaeger")))
        source = profile_source(Settings(profiles_ssm_path=SSM_PATH), Clients())
        parsed: list[str] = []
        real = Catalog.with_documents

        def with_documents(self: Catalog, docs: Any) -> Catalog:
            parsed.append("x")
            return real(self, docs)

        monkeypatch.setattr(Catalog, "with_documents", with_documents)

        first, second = source(), source()

        assert parsed == ["x"]
        assert second is first

    def test_without_an_ssm_path_ssm_is_never_called(self) -> None:
        clients = Clients()
        calls = count_ssm_reads(clients)

        catalog = profile_source(Settings(), clients)()

        assert calls == []
        assert catalog == builtin_catalog()

    def test_a_folder_and_an_ssm_document_of_one_name_are_both_refused(self, tmp_path: Path) -> None:
        # which one wins would be the order the sources are read in: neither does
        (tmp_path / "jaeger.json").write_text(json.dumps(pinned_jaeger("2.10.0")), "utf-8")
        (tmp_path / "team-jaeger.json").write_text(json.dumps(pinned_jaeger(name="team-jaeger")), "utf-8")
        put(f"{SSM_PATH}/jaeger", json.dumps(pinned_jaeger("2.20.0")))

        settings = Settings(profiles_dir=str(tmp_path), profiles_ssm_path=SSM_PATH)
        catalog = profile_source(settings, Clients())()

        assert catalog.get("jaeger") is None  # nor the shipped one
        error = catalog.errors["jaeger"]
        assert str(tmp_path / "jaeger.json") in error
        assert f"ssm:{SSM_PATH}/jaeger" in error
        assert "both refused" in error
        assert "\n" not in error
        assert catalog.origins["team-jaeger"] == str(tmp_path / "team-jaeger.json")

    def test_a_deeper_ssm_document_is_the_profile_of_its_whole_path(self) -> None:
        put(f"{SSM_PATH}/team-a/jaeger", json.dumps(pinned_jaeger("2.66.0", name="team-a/jaeger")))

        catalog = profile_source(Settings(profiles_ssm_path=SSM_PATH), Clients())()

        assert catalog.get("jaeger") == builtin_profiles()["jaeger"]
        team = catalog.get("team-a/jaeger")
        assert team is not None
        assert team.image.endswith(":2.66.0")


# -- a profile's name is its whole path ------------------------------------------------------------


class TestNamesAreWholePaths:
    def test_a_deeper_document_naming_a_shipped_profile_does_not_replace_it(self) -> None:
        doc = json.dumps(pinned_jaeger("6.6.6"))  # says "jaeger"

        catalog = builtin_catalog().with_documents([("team/a/jaeger", f"ssm:{SSM_PATH}/team/a/jaeger", doc)])

        assert catalog.get("jaeger") == builtin_profiles()["jaeger"]
        assert catalog.replacement("jaeger") is None
        error = catalog.errors["team/a/jaeger"]
        assert "'jaeger' differs from the document's name 'team/a/jaeger'" in error
        assert "whole path" in error

    def test_two_deeper_documents_of_one_last_segment_stand_in_for_nothing(self) -> None:
        first = json.dumps(pinned_jaeger("1.1.1", name="team/a/jaeger"))
        second = json.dumps(pinned_jaeger("2.2.2", name="team/b/jaeger"))

        for order in ([0, 1], [1, 0]):
            docs = [
                ("team/a/jaeger", f"ssm:{SSM_PATH}/team/a/jaeger", first),
                ("team/b/jaeger", f"ssm:{SSM_PATH}/team/b/jaeger", second),
            ]
            catalog = builtin_catalog().with_documents([docs[i] for i in order])

            assert catalog.get("jaeger") == builtin_profiles()["jaeger"]
            a, b = catalog.get("team/a/jaeger"), catalog.get("team/b/jaeger")
            assert a is not None
            assert a.image.endswith(":1.1.1")
            assert b is not None
            assert b.image.endswith(":2.2.2")

    @pytest.mark.parametrize("order", [[0, 1], [1, 0]], ids=["lower-first", "upper-first"])
    def test_names_a_tag_cannot_tell_apart_are_both_refused_in_any_order(self, order: list[int]) -> None:
        # a tag's value is read case-insensitively: "Jaeger-Lite" and "jaeger-lite" are one name
        docs = [
            ("jaeger-lite", f"ssm:{SSM_PATH}/jaeger-lite", json.dumps(pinned_jaeger(name="jaeger-lite"))),
            ("Jaeger-Lite", f"ssm:{SSM_PATH}/Jaeger-Lite", json.dumps(pinned_jaeger(name="jaeger-lite"))),
        ]

        catalog = builtin_catalog().with_documents([docs[i] for i in order])

        assert catalog.get("jaeger-lite") is None
        error = catalog.errors["jaeger-lite"]
        assert (
            f"ssm:{SSM_PATH}/Jaeger-Lite and ssm:{SSM_PATH}/jaeger-lite resolve to one profile name" in error
        )
        assert "both refused" in error

    def test_two_documents_of_a_shipped_name_refuse_it_and_never_fall_back(self) -> None:
        docs = [
            ("jaeger", "/opt/profiles/jaeger.json", json.dumps(pinned_jaeger("2.1.0"))),
            ("jaeger", f"ssm:{SSM_PATH}/jaeger", json.dumps(pinned_jaeger("2.2.0"))),
        ]

        catalog = builtin_catalog().with_documents(docs)

        assert catalog.get("jaeger") is None
        assert "/opt/profiles/jaeger.json and ssm:" in catalog.errors["jaeger"]
        assert catalog.get("adot") == builtin_profiles()["adot"]

    @pytest.mark.parametrize("name", ["team-a/jaeger", "a/b/c"])
    def test_a_profile_name_may_be_a_path(self, name: str) -> None:
        assert parse_profile(json.dumps(pinned_jaeger(name=name)), "custom.json").name == name

    @pytest.mark.parametrize(
        "name", ["/jaeger", "team-a/", "team//jaeger", "Team/jaeger", "../jaeger", "a" * 129]
    )
    def test_a_profile_name_is_not_any_path(self, name: str) -> None:
        refused(json.dumps(pinned_jaeger(name=name)))


def test_dump_of_every_shipped_profile_parses_back() -> None:
    for profile in builtin_profiles().values():
        assert parse_profile(dump(profile), "dumped.json") == profile
