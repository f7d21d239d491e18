"""Statuses are bounded: whatever the inputs, one SNS message (body plus attributes) takes them, and
what was cut is said where it was cut."""

from __future__ import annotations

import json
import re
import typing
from typing import Any

import boto3
from moto import mock_aws
from sidecar_enforcer.adapters.sns import StatusPublisher
from sidecar_enforcer.models.findings import REMEDY_BUDGET, AppContainerRemedy, Finding, Remedy, Status

SNS_LIMIT = 256 * 1024  # bytes: the message body plus its attributes
CUT = re.compile(r"(?s)(.*)…\(([\d,]+) characters cut\)")
FACE = "\U0001f600"  # six bytes twice in JSON ("\ud83d\ude00")


def huge() -> Finding:
    """Every string field and every list of a finding far past any limit."""
    fields: dict[str, Any] = {}
    for name, info in Finding.model_fields.items():
        if name in ("status", "remedy"):
            continue
        if info.annotation == bool | None:  # a flag: no length to bound
            fields[name] = True
            continue
        if info.annotation == list[str] or list[str] in typing.get_args(info.annotation):
            fields[name] = [f"{name} {n} " + FACE * 50 for n in range(20_000)]
        else:  # str | None
            fields[name] = FACE * 300_000
    fields |= {
        "service": "s" * 301_234,
        "cluster": "c" * 5_000,
        "changes": [f"change {n}" for n in range(20_000)],
        "reasons": ["r" * 100_000],
        "remedy": Remedy(
            container_definitions=[{"name": "jaeger", "command": [FACE * 30_000]}],
            app_containers=[AppContainerRemedy(name=f"app-{n}", links=["jaeger"]) for n in range(10)],
            terraform="t" * 30_000,
            cloudformation="c" * 30_000,
            steps=[f"step {n}" for n in range(5_000)],
        ),
    }
    return Finding(status=Status.REFUSED, **fields)


def published(finding: Finding) -> dict[str, Any]:
    """What StatusPublisher sends to SNS (moto refuses a Message over 256 KiB, as SNS does)."""
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="status")["TopicArn"]
        sent: dict[str, Any] = {}
        sns.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: sent.update(params))
        StatusPublisher(sns, topic).publish(finding)
        return sent


def size(request: dict[str, Any]) -> int:
    attributes = request["MessageAttributes"]
    return len(request["Message"].encode()) + sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


def test_a_status_built_from_huge_inputs_fits_one_sns_message_and_says_what_was_cut() -> None:
    request = published(huge())

    assert size(request) < SNS_LIMIT
    body = json.loads(request["Message"])
    service = CUT.fullmatch(body["service"])
    assert service is not None
    kept, cut = service.group(1), int(service.group(2).replace(",", ""))
    assert set(kept) == {"s"}
    assert len(kept) + cut == 301_234
    reason = CUT.fullmatch(body["reasons"][0])
    assert reason is not None
    assert len(reason.group(1)) + int(reason.group(2).replace(",", "")) == 100_000
    *changes, more = body["changes"]
    assert changes[:2] == ["change 0", "change 1"]  # in order, from the first
    counted = re.fullmatch(r"…\(([\d,]+) more items cut\)", more)
    assert counted is not None
    assert len(changes) + int(counted.group(1).replace(",", "")) == 20_000
    cluster = CUT.fullmatch(request["MessageAttributes"]["cluster"]["StringValue"])
    assert cluster is not None
    assert body["status"] == request["MessageAttributes"]["status"]["StringValue"] == "REFUSED"
    # The remedy loses whole parts, never half of one, and says which
    remedy = body["remedy"]
    assert len(json.dumps(remedy)) <= REMEDY_BUDGET
    assert [note.split(":")[0] for note in remedy["leftOut"]] == [
        "cloudformation",
        "terraform",
        "containerDefinitions",
    ]
    assert "terraform" not in remedy
    assert "cloudformation" not in remedy
    assert "containerDefinitions" not in remedy
    assert [a["name"] for a in remedy["appContainers"]] == [f"app-{n}" for n in range(10)]
    assert remedy["steps"][:2] == ["step 0", "step 1"]
    assert re.fullmatch(r"…\(([\d,]+) more items cut\)", remedy["steps"][-1])


def test_a_remedy_that_fits_keeps_every_part() -> None:
    remedy = Remedy(
        container_definitions=[{"name": "jaeger", "image": "j:2"}],
        terraform="t" * 12_000,
        cloudformation="c" * 12_000,
        steps=["add it"],
    )

    body = json.loads(published(Finding(status=Status.FLAPPING, remedy=remedy))["Message"])

    assert body["remedy"] == remedy.model_dump(mode="json", by_alias=True, exclude_none=True)
    # one snippet more and the CloudFormation one is left out, the Terraform one kept whole
    bigger = remedy.model_copy(update={"terraform": "t" * 30_000})
    body = json.loads(published(Finding(status=Status.FLAPPING, remedy=bigger))["Message"])
    assert body["remedy"]["terraform"] == "t" * 30_000
    assert "cloudformation" not in body["remedy"]
    assert body["remedy"]["leftOut"][0].startswith("cloudformation: the remedy took ")


def test_a_status_that_fits_is_published_whole() -> None:
    finding = Finding(
        status=Status.REMEDIATED,
        cluster="shop",
        service="api",
        reasons=["opted in by the service's tag", "x" * 3_000],
        changes=[f"change {n}" for n in range(100)],
    )

    request = published(finding)

    dumped = finding.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert json.loads(request["Message"]) == {"schemaVersion": "1.2", **dumped}
    assert request["MessageAttributes"]["cluster"]["StringValue"] == "shop"


def test_a_bounded_status_read_back_is_bounded_the_same() -> None:
    # The outbox keeps the published message and publishes Finding.model_validate(message) later
    message = huge().to_message()

    assert Finding.model_validate(message).to_message() == message


def test_a_field_is_kept_whole_exactly_while_its_json_fits_whatever_its_characters() -> None:
    from sidecar_enforcer.models.findings import FIELD_BUDGET, _bounded, _json_size

    for character in ("a", "é", "\x01", "😀"):  # 1, 6, 6 and 12 characters of JSON each
        cost = _json_size(character)
        fits, over = character * (FIELD_BUDGET // cost), character * (FIELD_BUDGET // cost + 1)
        assert _bounded(fits) == fits
        assert _bounded(over) != over
        assert _json_size(_bounded(over)) <= FIELD_BUDGET
        assert _bounded([fits]) == [fits]
