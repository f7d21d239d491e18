"""What the safety tests share: the demo fleet's nexus service, an update of it by a pipeline and
its revert, and faults injected into the enforcer's clients (an answer in place of AWS's)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto.core.models import botocore_stubber as moto_stub
from sidecar_enforcer.adapters.aws import Clients
from sidecar_enforcer_dev import fleet

from .conftest import Aws, event

NEXUS = "nexus-ai-api-prod"
FAMILY = "nexus-ai-api"
PIPELINE = "arn:aws:sts::123456789012:assumed-role/deploy-pipeline/gha-run-4711"
TERRAFORM = "arn:aws:sts::123456789012:assumed-role/terraform-apply/run-99"


def service(aws: Aws) -> dict[str, Any]:
    found: dict[str, Any] = aws.ecs.describe_services(
        cluster=fleet.CLUSTER, services=[NEXUS], include=["TAGS"]
    )["services"][0]
    return found


def update_by(caller: str) -> dict[str, Any]:
    data = event("cloudtrail-updateservice.json")
    data["detail"]["userIdentity"]["arn"] = caller
    data["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = (
        "arn:aws:iam::123456789012:role/" + caller.split("/")[1]
    )
    return data


def revert(aws: Aws, source: str) -> None:
    """What an infrastructure-as-code pipeline does: put the service back on its own revision."""
    aws.ecs.update_service(cluster=fleet.CLUSTER, service=NEXUS, taskDefinition=source)


def one(result: dict[str, Any]) -> dict[str, Any]:
    (finding,) = result["findings"]
    assert isinstance(finding, dict)
    return finding


class RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def inject(monkeypatch: pytest.MonkeyPatch, event_name: str, answer: Any) -> list[str]:
    """Answer botocore's ``event_name`` (a before-send event: the response instead of the HTTP
    call) with ``answer(n)`` on every client the enforcer creates; None lets the call through.
    Returns the calls seen.

    botocore emits before-send to every handler and takes the first response, so moto's in-process
    stub (a before-send handler too) would still carry the call out: it is switched off while an
    injected response stands in for the call, and on again after."""
    seen: list[str] = []
    real = Clients.client

    def client(self: Clients, service_name: str, region: str | None = None) -> Any:
        made = real(self, service_name, region)
        if not getattr(made, "_faults", False):
            made._faults = True

            def hook(request: Any, **kwargs: Any) -> Any:
                if kwargs["event_name"] != event_name:
                    return None
                seen.append(kwargs["event_name"])
                response = answer(len(seen))
                moto_stub.enabled = response is None
                return response

            def after(**kwargs: Any) -> None:
                moto_stub.enabled = True

            # On before-send itself, where moto's stub is: first and last around it.
            made.meta.events.register_first("before-send", hook)
            made.meta.events.register_last("before-send", after)
        return made

    monkeypatch.setattr(Clients, "client", client)
    return seen


def error(code: str, message: str, status: int = 400) -> AWSResponse:
    body = json.dumps({"__type": code, "message": message}).encode()
    return AWSResponse(
        "https://ecs.us-east-1.amazonaws.com/",
        status,
        HTTPHeaders.from_dict({"x-amzn-requestid": "r"}),
        RawBody(body),
    )
