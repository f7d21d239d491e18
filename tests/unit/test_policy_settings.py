"""The policy's settings from the environment, and the policy as a JSON document."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sidecar_enforcer.config import ENV_VARS, Settings
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.errors import ConfigurationError

AMP_ENDPOINT = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd/api/v1/remote_write"

SWITCHES = {
    "GROW_TASK_SIZE": "grow_task_size",
    "UPGRADE_DRIFTED": "upgrade_drifted",
    "ACCEPT_EQUIVALENTS": "accept_equivalents",
    "RENAME_ON_CONFLICT": "rename_on_conflict",
}


def configuration_error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


class TestDefaults:
    def test_the_policy_defaults(self) -> None:
        policy = Settings.from_env({}).policy

        assert policy.grow_task_size is True
        assert policy.upgrade_drifted is False
        assert policy.accept_equivalents is True
        assert policy.rename_on_conflict is True
        assert policy.parameters == {}
        assert policy.allow_profile_members == {}

    def test_no_custom_profile_sources_by_default(self) -> None:
        settings = Settings.from_env({})

        assert settings.profiles_dir is None
        assert settings.profiles_ssm_path is None

    def test_empty_variables_keep_the_defaults(self) -> None:
        environ = {name: "" for name in ENV_VARS}

        assert Settings.from_env(environ) == Settings()


class TestSwitches:
    @pytest.mark.parametrize("variable", list(SWITCHES))
    @pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
    def test_each_switch_is_read(self, variable: str, raw: str, expected: bool) -> None:
        policy = Settings.from_env({variable: raw}).policy

        assert getattr(policy, SWITCHES[variable]) is expected
        defaults = Policy()
        for other, field in SWITCHES.items():
            if other != variable:
                assert getattr(policy, field) == getattr(defaults, field)

    def test_the_switches_are_independent(self) -> None:
        policy = Settings.from_env(
            {
                "GROW_TASK_SIZE": "false",
                "UPGRADE_DRIFTED": "true",
                "ACCEPT_EQUIVALENTS": "false",
                "RENAME_ON_CONFLICT": "false",
            }
        ).policy

        assert (policy.grow_task_size, policy.upgrade_drifted) == (False, True)
        assert (policy.accept_equivalents, policy.rename_on_conflict) == (False, False)

    @pytest.mark.parametrize("variable", list(SWITCHES))
    def test_a_bad_boolean_names_the_variable(self, variable: str) -> None:
        message = configuration_error({variable: "sometimes"})

        assert message.startswith(f"{variable}:")
        assert "sometimes" not in message


class TestProfileParameters:
    def test_a_json_object_becomes_the_policy_parameters(self) -> None:
        parameters = {
            "adot": {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT},
            "fluent-bit": {"LOKI_HOST": "loki.internal", "LOKI_PORT": "3100"},
        }

        policy = Settings.from_env({"PROFILE_PARAMETERS": json.dumps(parameters)}).policy

        assert policy.parameters == parameters

    def test_the_parameters_sit_beside_the_switches(self) -> None:
        settings = Settings.from_env(
            {
                "PROFILE_PARAMETERS": '{"adot": {"A": "1"}}',
                "UPGRADE_DRIFTED": "true",
                "DEFAULT_PROFILE": "adot",
            }
        )

        assert settings.policy.parameters == {"adot": {"A": "1"}}
        assert settings.policy.upgrade_drifted is True
        assert settings.default_profile == "adot"

    @pytest.mark.parametrize("raw", ['{"adot": ', "adot=1", "{'adot': {}}"])
    def test_text_that_is_not_json_names_the_variable(self, raw: str) -> None:
        message = configuration_error({"PROFILE_PARAMETERS": raw})

        assert message.startswith("PROFILE_PARAMETERS:")
        assert "JSON" in message

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param('["adot"]', id="list"),
            pytest.param('"adot"', id="string"),
            pytest.param('{"adot": "https://x"}', id="flat"),
            pytest.param('{"adot": {"LOKI_PORT": 3100}}', id="number-value"),
            pytest.param('{"adot": {"A": null}}', id="null-value"),
        ],
    )
    def test_json_of_the_wrong_shape_names_the_variable(self, raw: str) -> None:
        message = configuration_error({"PROFILE_PARAMETERS": raw})

        assert message.startswith("PROFILE_PARAMETERS:")

    def test_a_wrong_value_is_not_echoed(self) -> None:
        message = configuration_error({"PROFILE_PARAMETERS": '{"adot": {"TOKEN": 918273645}}'})

        assert "918273645" not in message


class TestAllowedProfileMembers:
    def test_a_json_object_becomes_the_policy_s_allowance(self) -> None:
        allowed = {"node-agent": ["container.privileged", "container.mountPoints"], "jaeger": []}

        policy = Settings.from_env({"ALLOWED_PROFILE_MEMBERS": json.dumps(allowed)}).policy

        assert policy.allow_profile_members == allowed
        assert policy.parameters == {}

    @pytest.mark.parametrize("raw", ['{"node-agent": ', "node-agent=container.user"])
    def test_text_that_is_not_json_names_the_variable(self, raw: str) -> None:
        message = configuration_error({"ALLOWED_PROFILE_MEMBERS": raw})

        assert message.startswith("ALLOWED_PROFILE_MEMBERS:")
        assert "JSON" in message

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param('["container.user"]', id="list"),
            pytest.param('{"node-agent": "container.user"}', id="flat"),
            pytest.param('{"node-agent": [true]}', id="not-a-string"),
        ],
    )
    def test_json_of_the_wrong_shape_names_the_variable(self, raw: str) -> None:
        message = configuration_error({"ALLOWED_PROFILE_MEMBERS": raw})

        assert message.startswith("ALLOWED_PROFILE_MEMBERS:")

    def test_a_member_that_is_not_guarded_names_the_variable_not_the_value(self) -> None:
        raw = json.dumps({"node-agent": ["container.secrets-7f3a9c"]})

        message = configuration_error({"ALLOWED_PROFILE_MEMBERS": raw})

        assert message.startswith("ALLOWED_PROFILE_MEMBERS:")
        assert "container.privileged" in message
        assert "7f3a9c" not in message


class TestProfileSources:
    @pytest.mark.parametrize("path", ["/sidecar/profiles", "/", "/team_a/profiles-v2/"])
    def test_an_ssm_path_is_absolute(self, path: str) -> None:
        assert Settings.from_env({"PROFILES_SSM_PATH": path}).profiles_ssm_path == path

    @pytest.mark.parametrize("path", ["sidecar/profiles", "ssm:/sidecar", "/side car"])
    def test_a_bad_ssm_path_names_the_variable(self, path: str) -> None:
        message = configuration_error({"PROFILES_SSM_PATH": path})

        assert message.startswith("PROFILES_SSM_PATH:")

    def test_profiles_dir_is_read(self) -> None:
        assert Settings.from_env({"PROFILES_DIR": "/opt/profiles"}).profiles_dir == "/opt/profiles"


class TestPolicyDocument:
    def test_camel_case_keys_are_read(self) -> None:
        document = {
            "growTaskSize": False,
            "upgradeDrifted": True,
            "acceptEquivalents": False,
            "renameOnConflict": False,
            "parameters": {"adot": {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}},
            "allowProfileMembers": {"node-agent": ["container.user"]},
        }

        policy = Policy.model_validate_json(json.dumps(document))

        assert policy.grow_task_size is False
        assert policy.upgrade_drifted is True
        assert policy.accept_equivalents is False
        assert policy.rename_on_conflict is False
        assert policy.parameters == {"adot": {"AWS_PROMETHEUS_ENDPOINT": AMP_ENDPOINT}}
        assert policy.allow_profile_members == {"node-agent": ["container.user"]}

    def test_it_round_trips_in_camel_case(self) -> None:
        policy = Policy(
            upgrade_drifted=True,
            grow_task_size=False,
            parameters={"fluent-bit": {"LOKI_PORT": "3100"}},
            allow_profile_members={"node-agent": ["container.volumesFrom"]},
        )

        text = policy.model_dump_json(by_alias=True)

        assert set(json.loads(text)) == {
            "growTaskSize",
            "upgradeDrifted",
            "acceptEquivalents",
            "renameOnConflict",
            "parameters",
            "allowProfileMembers",
            "publishPorts",
        }
        assert Policy.model_validate_json(text) == policy

    def test_an_empty_document_is_the_default_policy(self) -> None:
        assert Policy.model_validate_json("{}") == Policy()

    @pytest.mark.parametrize("key", ["growTaskSizes", "dryRun"])
    def test_unknown_keys_are_refused(self, key: str) -> None:
        with pytest.raises(ValidationError) as caught:
            Policy.model_validate_json(json.dumps({"upgradeDrifted": True, key: True}))

        assert [error["loc"] for error in caught.value.errors()] == [(key,)]

    def test_it_is_frozen(self) -> None:
        policy = Policy()

        with pytest.raises(ValidationError):
            policy.grow_task_size = False  # type: ignore[misc]


class TestDeadLetterQueue:
    def test_the_queue_url_is_read(self) -> None:
        url = "https://sqs.us-east-1.amazonaws.com/123456789012/sidecar-enforcer-DeadLetterQueue-1A2B"

        assert Settings.from_env({"DEAD_LETTER_QUEUE_URL": url}).dead_letter_queue_url == url
        assert Settings.from_env({}).dead_letter_queue_url is None

    def test_a_queue_arn_instead_of_its_url_names_the_variable(self) -> None:
        arn = "arn:aws:sqs:us-east-1:123456789012:sidecar-enforcer-DeadLetterQueue-1A2B"

        assert configuration_error({"DEAD_LETTER_QUEUE_URL": arn}).startswith("DEAD_LETTER_QUEUE_URL:")
