"""Shared test set-up: fake credentials, never a real AWS endpoint."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _share_botocore_models() -> None:
    """Hundreds of tests each make a fresh boto3 session (moto's state is per test), and each session
    parses botocore's JSON service models again: EC2's, ECS's, endpoints.json... about half a second
    of every integration test. One process keeps one parsed copy, as one session does for all of its
    clients (``Loader``'s instance cache; botocore does not change a model once loaded)."""
    from botocore import loaders

    models: dict[tuple[Any, ...], Any] = {}
    data: dict[tuple[Any, ...], Any] = {}
    load_service_model, load_data = loaders.Loader.load_service_model, loaders.Loader.load_data

    def shared_service_model(self: Any, service_name: str, type_name: str, api_version: Any = None) -> Any:
        key = (tuple(self.search_paths), service_name, type_name, api_version)
        if key not in models:
            models[key] = load_service_model(self, service_name, type_name, api_version)
        return models[key]

    def shared_data(self: Any, name: str) -> Any:
        key = (tuple(self.search_paths), name)
        if key not in data:
            data[key] = load_data(self, name)
        return data[key]

    loaders.Loader.load_service_model = shared_service_model  # type: ignore[method-assign]
    loaders.Loader.load_data = shared_data  # type: ignore[method-assign]


_share_botocore_models()
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "STATUS_TOPIC_ARN",
        "ENFORCEMENT_MODE",
        "STATE_TABLE_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    # moto's EC2 backend loads ~1,000 default AMIs (a volume and a snapshot each) in every account and
    # Region it is first used in: about 0.7 s of each test that seeds a VPC. No test uses an AMI.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


_STATUS_SCHEMA = ROOT / "schemas" / "status-v1.json"


@functools.cache
def _status_validator() -> Any:
    """The contract's validator, its schema checked once (jsonschema.validate checks the schema
    again on every call: most of the time a use-case test takes)."""
    import json

    import jsonschema

    schema = json.loads(_STATUS_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def assert_status_message(message: dict[str, object]) -> None:
    """Every status a test produces is checked against the published contract."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_status_validator().iter_errors(message))
    if error is not None:
        raise error
