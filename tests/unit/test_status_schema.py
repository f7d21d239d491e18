"""The status message's contract: schemas/status-v1.json, versioned, and what it admits."""

from __future__ import annotations

import json

import jsonschema
import pytest
from sidecar_enforcer.models.findings import SCHEMA_VERSION, Finding, Status, status_schema

from ._factories import ROOT

SCHEMA = json.loads((ROOT / "schemas" / "status-v1.json").read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_one_the_code_publishes_by() -> None:
    # A change to Finding changes the contract: regenerate with
    # `sidecar-enforcer schema > schemas/status-v1.json`, and bump SCHEMA_VERSION (1.x adds fields).
    assert status_schema() == SCHEMA


def test_every_message_carries_its_schema_version_and_validates() -> None:
    message = Finding(
        status=Status.FLAPPING, account="123456789012", cluster="c", service="s", reverted_by=["arn:x"]
    ).to_message()

    assert message["schemaVersion"] == SCHEMA_VERSION
    jsonschema.validate(message, SCHEMA)


def test_every_status_is_in_the_schema() -> None:
    assert SCHEMA["$defs"]["Status"]["enum"] == [s.value for s in Status]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "MAYBE"}, "is not one of"),
        ({"schemaVersion": "2.0"}, "does not match"),
        ({"reasons": "one string"}, "is not of type 'array'"),
        ({"status": None}, "is not one of"),
    ],
)
def test_a_message_outside_the_contract_is_refused(change: dict[str, object], problem: str) -> None:
    message = {**Finding(status=Status.REMEDIATED, reasons=["r"]).to_message(), **change}

    with pytest.raises(jsonschema.ValidationError, match=problem):
        jsonschema.validate(message, SCHEMA)


def test_a_message_without_its_version_or_status_is_refused() -> None:
    message = Finding(status=Status.REMEDIATED).to_message()
    for key in ("schemaVersion", "status"):
        with pytest.raises(jsonschema.ValidationError, match="is a required property"):
            jsonschema.validate({k: v for k, v in message.items() if k != key}, SCHEMA)


def test_the_message_attributes_serve_filter_policies() -> None:
    finding = Finding(
        status=Status.REMEDIATED,
        account="123456789012",
        region="eu-west-1",
        cluster="shop",
        profile="jaeger",
        mode="enforce",
    )

    assert finding.message_attributes() == {
        "status": "REMEDIATED",
        "account": "123456789012",
        "region": "eu-west-1",
        "cluster": "shop",
        "profile": "jaeger",
        "mode": "enforce",
    }


def test_the_committed_digest_schema_is_the_one_the_code_publishes_by() -> None:
    # `sidecar-enforcer schema --digest > schemas/digest-v1.json`
    from sidecar_enforcer.models.digest import digest_schema

    assert digest_schema() == json.loads((ROOT / "schemas" / "digest-v1.json").read_text(encoding="utf-8"))
