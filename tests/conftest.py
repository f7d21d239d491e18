"""Shared test set-up: fake credentials, never a real AWS endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


_STATUS_SCHEMA = ROOT / "schemas" / "status-v1.json"


def assert_status_message(message: dict[str, object]) -> None:
    """Every status a test produces is checked against the published contract."""
    import json

    import jsonschema

    jsonschema.validate(message, json.loads(_STATUS_SCHEMA.read_text(encoding="utf-8")))
