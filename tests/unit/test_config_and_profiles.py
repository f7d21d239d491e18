"""Settings from the environment, and the profiles the enforcer ships."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sidecar_enforcer.config import Mode, Settings
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.errors import ConfigurationError, InputError
from sidecar_enforcer.profiles import builtin_profiles, dump, parse_profile

TOPIC = "arn:aws:sns:eu-west-1:123456789012:sidecar-status"


class TestSettings:
    def test_defaults(self) -> None:
        settings = Settings.from_env({})

        assert settings.opt_in_tag_key == "tracing-sidecar"
        assert settings.default_profile == "jaeger"
        assert settings.enforcement_mode is Mode.ENFORCE
        assert settings.status_topic_arn is None

    def test_every_variable_is_read(self) -> None:
        settings = Settings.from_env(
            {
                "STATUS_TOPIC_ARN": TOPIC,
                "OPT_IN_TAG_KEY": "trace-me",
                "DEFAULT_PROFILE": "otel",
                "ENFORCEMENT_MODE": "audit",
            }
        )

        assert settings.status_topic_arn == TOPIC
        assert settings.opt_in_tag_key == "trace-me"
        assert settings.default_profile == "otel"
        assert settings.enforcement_mode is Mode.AUDIT

    def test_empty_variables_mean_the_default(self) -> None:
        settings = Settings.from_env({"STATUS_TOPIC_ARN": "", "ENFORCEMENT_MODE": "", "OPT_IN_TAG_KEY": ""})

        assert settings == Settings.from_env({})

    def test_the_process_environment_is_read_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENFORCEMENT_MODE", "audit")
        monkeypatch.setenv("OPT_IN_TAG_KEY", "from-env")

        settings = Settings.from_env()

        assert settings.enforcement_mode is Mode.AUDIT
        assert settings.opt_in_tag_key == "from-env"

    @pytest.mark.parametrize(
        ("environ", "variable"),
        [
            pytest.param({"ENFORCEMENT_MODE": "sometimes"}, "ENFORCEMENT_MODE", id="mode"),
            pytest.param(
                {"STATUS_TOPIC_ARN": "arn:aws:sqs:eu-west-1:123456789012:q"}, "STATUS_TOPIC_ARN", id="sqs"
            ),
            pytest.param({"STATUS_TOPIC_ARN": "sidecar-status"}, "STATUS_TOPIC_ARN", id="topic-name"),
            pytest.param({"OPT_IN_TAG_KEY": "k" * 129}, "OPT_IN_TAG_KEY", id="key-too-long"),
        ],
    )
    def test_invalid_values_name_the_variable(self, environ: dict[str, str], variable: str) -> None:
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({"DEFAULT_PROFILE": "jaeger", **environ})

        message = str(caught.value)
        assert message.startswith(f"{variable}:")
        assert "\n" not in message


JAEGER = builtin_profiles()["jaeger"]


class TestBuiltinJaeger:
    def test_the_image_is_pinned(self) -> None:
        repository, _, tag = JAEGER.image.rpartition(":")
        assert repository
        assert "/" not in tag
        assert tag
        assert tag != "latest"
        assert schema.image_repository(JAEGER.image) == JAEGER.recognizes[0] == "jaegertracing/jaeger"

    def test_it_is_versioned_and_labelled(self) -> None:
        assert JAEGER.version
        assert JAEGER.label == f"jaeger@{JAEGER.version}"

    def test_it_listens_for_otlp_and_the_ui_and_maps_no_port(self) -> None:
        # the UI and query gRPC are mapped only when the policy publishes them (exposure)
        assert JAEGER.ports == [4317, 4318, 16685, 16686]
        assert "portMappings" not in JAEGER.container
        assert JAEGER.otlp is not None
        assert (JAEGER.otlp.grpc_port, JAEGER.otlp.http_port, JAEGER.otlp.protocol) == (4317, 4318, "grpc")

    def test_it_never_stops_the_app(self) -> None:
        assert JAEGER.container["essential"] is False
        assert JAEGER.container_name == "jaeger"

    def test_it_recognises_jaeger_v1_as_an_older_line(self) -> None:
        assert "jaegertracing/all-in-one" in JAEGER.recognizes[1:]

    def test_it_runs_on_both_architectures(self) -> None:
        assert set(JAEGER.architectures) == {"X86_64", "ARM64"}

    def test_its_container_is_one_register_task_definition_accepts(self) -> None:
        assert schema.validate_container(JAEGER.container) == []

    def test_dump_and_parse_round_trip(self) -> None:
        assert parse_profile(dump(JAEGER), "dumped.json") == JAEGER


def profile_doc(**changes: Any) -> str:
    doc: dict[str, Any] = json.loads(dump(JAEGER))
    for key, value in changes.items():
        if key == "image":
            doc["container"]["image"] = value
        else:
            doc[key] = value
    return json.dumps(doc)


class TestParseProfile:
    @pytest.mark.parametrize(
        ("text", "names"),
        [
            pytest.param(profile_doc(image="jaegertracing/jaeger:latest"), "container", id="latest"),
            pytest.param(profile_doc(image="jaegertracing/jaeger"), "container", id="untagged"),
            pytest.param(profile_doc(image="nginx:1.27"), "recognizes", id="not-recognised"),
            pytest.param(profile_doc(sidecarColour="blue"), "sidecarColour", id="unknown-key"),
            pytest.param(profile_doc(version=""), "version", id="empty-version"),
            pytest.param(profile_doc(name="Jaeger Tracing"), "name", id="bad-name"),
            pytest.param(profile_doc(otlp={"grpcPort": 0, "httpPort": 4318}), "otlp.grpcPort", id="port"),
            pytest.param(
                profile_doc(otlp={"grpcPort": 1, "httpPort": 2, "protocol": "udp"}), "protocol", id="proto"
            ),
            pytest.param(
                profile_doc(container={"name": "j", "image": "jaegertracing/jaeger:2", "portBindings": []}),
                "portBindings",
                id="container-member",
            ),
            pytest.param("{not json", "(document)", id="not-json"),
        ],
    )
    def test_errors_name_the_file_and_the_field(self, text: str, names: str) -> None:
        with pytest.raises(InputError) as caught:
            parse_profile(text, "custom.json")

        message = str(caught.value)
        assert message.startswith("profile custom.json:")
        assert names in message
        assert "\n" not in message

    def test_a_latest_image_is_refused_with_the_reason(self) -> None:
        with pytest.raises(InputError, match="latest"):
            parse_profile(profile_doc(image="cr.jaegertracing.io/jaegertracing/jaeger:latest"), "custom.json")


@pytest.mark.parametrize(
    ("name", "value"),
    [("CHAT_TOPIC_ARN", "not-an-arn"), ("NOTIFIER_DEAD_LETTER_QUEUE_URL", "ftp://queue")],
)
def test_a_notifier_setting_it_refuses_is_one_line_naming_the_variable(name: str, value: str) -> None:
    from sidecar_enforcer.config import NotifierSettings
    from sidecar_enforcer.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        NotifierSettings.from_env({name: value})

    assert str(raised.value).startswith(f"{name}: ")
    assert "\n" not in str(raised.value)
    assert NotifierSettings.from_env({name: ""}) == NotifierSettings()  # empty: not set
