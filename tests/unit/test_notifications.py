"""The chat renderings of a status (domain.messages.slack_message, domain.messages.chat_message,
domain.messages.console) and
the notifier's reading of a queue record (usecases.delivery.parse_delivery), on plain data."""

from __future__ import annotations

import json
import logging
import re
import shlex
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sidecar_enforcer.domain.messages import chat_message, notice, slack_message
from sidecar_enforcer.domain.messages.console import console_base
from sidecar_enforcer.errors import MalformedEventError
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.usecases.delivery import parse_delivery

from ..conftest import assert_status_message

TASK_DEFINITION = "arn:aws:ecs:{region}:111122223333:task-definition/nexus-ai-api:{revision}"


def status(kind: Status = Status.FLAPPING, region: str = "eu-west-1", **changes: Any) -> dict[str, Any]:
    """A status message as the enforcer publishes it (checked against the schema)."""
    fields: dict[str, Any] = {
        "status": kind,
        "account": "111122223333",
        "region": region,
        "cluster": "prod",
        "service": "nexus-ai-api-prod",
        "family": "nexus-ai-api",
        "profile": "jaeger",
        "profile_version": "2.21.0",
        "source_task_definition_arn": TASK_DEFINITION.format(region=region, revision=7),
        "new_task_definition_arn": TASK_DEFINITION.format(region=region, revision=8),
        "old_task_size": "256 CPU units / 512 MiB",
        "new_task_size": "512 CPU units / 1024 MiB",
        "reasons": ["the sidecar was taken away 2 times within 3600 s"],
        "changes": ["added container jaeger"],
        "warnings": ["task role lacks xray:PutTraceSegments"],
        "reverted_by": ["arn:aws:sts::111122223333:assumed-role/deployer/pipeline"],
        "release": "sidecar-enforcer release --cluster prod --service nexus-ai-api-prod",
        "mode": "enforce",
        "trigger": "UpdateService",
        "event_id": "6f0a4f4e-5d0e-4d51-9a0b-000000000001",
        **changes,
    }
    message = Finding(**fields).to_message()
    assert_status_message(message)
    return message


def slack(message: dict[str, Any]) -> dict[str, Any]:
    return slack_message.render(notice.read(message))


def chat(message: dict[str, Any]) -> dict[str, Any]:
    return chat_message.render(notice.read(message), "sns-message-id")


def texts(payload: dict[str, Any]) -> list[str]:
    """Every text of a Slack payload's blocks."""
    found = []
    for block in payload["blocks"]:
        for text in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(text, dict):
                found.append(text["text"])
    return found


def assert_within_slack_limits(payload: dict[str, Any]) -> None:
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    assert blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section":
            assert ("text" in block) != ("fields" in block)
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            else:
                assert len(block["fields"]) <= 10
                assert all(len(field["text"]) <= 2000 for field in block["fields"])
    assert slack_message.block_text(payload) <= slack_message.TOTAL_BUDGET
    assert len(payload["text"]) <= slack_message.FALLBACK_CHARS


@pytest.mark.parametrize("kind", list(Status))
def test_every_status_renders_for_slack_and_for_amazon_q_developer(kind: Status) -> None:
    message = status(kind)

    payload = slack(message)
    assert_within_slack_limits(payload)
    assert (
        payload["blocks"][0]["text"]["text"]
        == f"{notice.EMOJI[notice.SEVERITY[kind]]} {kind} · prod/nexus-ai-api-prod"
    )
    assert any(notice.NEXT_STEP[kind] in text for text in texts(payload))
    notification = chat(message)
    assert (notification["version"], notification["source"], notification["id"]) == (
        "1.0",
        "custom",
        "sns-message-id",
    )
    assert notification["content"]["textType"] == "client-markdown"
    assert notification["content"]["nextSteps"][0] == notice.NEXT_STEP[kind]
    assert notification["metadata"]["eventType"] == kind.value
    assert set(notification) == {"version", "source", "id", "content", "metadata"}
    assert set(notification["content"]) == {"textType", "title", "description", "nextSteps", "keywords"}
    assert set(notification["metadata"]) == {
        "threadId",
        "summary",
        "eventType",
        "relatedResources",
        "additionalContext",
    }


def test_the_slack_message_carries_the_facts_the_revision_change_and_the_release() -> None:
    payload = slack(status())
    everything = "\n".join(texts(payload))

    for fact in (
        "nexus-ai-api-prod",
        "prod",
        "111122223333",
        "eu-west-1",
        "jaeger 2.21.0",
        "enforce",
        "UpdateService",
    ):
        assert fact in everything
    assert "*Revision*  `nexus-ai-api:7` → `nexus-ai-api:8`" in everything
    assert "*Task size*  256 CPU units / 512 MiB → 512 CPU units / 1024 MiB" in everything
    assert (
        "*Release*  `sidecar-enforcer release --cluster prod --service nexus-ai-api-prod "
        "--region eu-west-1 --account 111122223333`"
    ) in everything
    assert "• arn:aws:sts::111122223333:assumed-role/deployer/pipeline" in everything


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "https://eu-west-1.console.aws.amazon.com"),
        ("us-east-1", "https://us-east-1.console.aws.amazon.com"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com"),
        ("cn-north-1", "https://console.amazonaws.cn"),
    ],
)
def test_console_links_are_the_region_s_and_the_partition_s(region: str, host: str) -> None:
    payload = slack(status(region=region))
    [links] = [b["text"]["text"] for b in payload["blocks"] if b.get("block_id") == slack_message.LINKS]

    assert (
        f"<{host}/ecs/v2/clusters/prod/services/nexus-ai-api-prod/health?region={region}|ECS service>"
        in links
    )
    assert f"<{host}/ecs/v2/clusters/prod/services/nexus-ai-api-prod/logs?region={region}|Logs>" in links
    assert (
        f"<{host}/cloudtrail/home?region={region}#/events?ResourceName=nexus-ai-api-prod|CloudTrail" in links
    )
    assert links.count("https://") == 3
    if not host.endswith(".console.aws.amazon.com"):  # no commercial link for another partition
        assert "console.aws.amazon.com" not in json.dumps(payload)


@pytest.mark.parametrize("region", ["us-iso-east-1", "us-isob-east-1", "not-a-region"])
def test_no_console_link_where_no_console_is_known(region: str) -> None:
    message = {**status(), "region": region}

    assert console_base(region) is None
    assert "https://" not in json.dumps(slack(message))
    assert "https://" not in json.dumps(chat(message))


def test_a_known_log_group_and_cloudtrail_event_id_are_linked_directly() -> None:
    message = {
        **status(),
        "remedy": {
            "containerDefinitions": [
                {
                    "name": "jaeger",
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {"awslogs-group": "/ecs/nexus-ai-api"},
                    },
                }
            ]
        },
        "cloudTrailEventId": "e0e0e0e0-0000-4000-8000-000000000001",
    }
    [links] = [
        b["text"]["text"] for b in slack(message)["blocks"] if b.get("block_id") == slack_message.LINKS
    ]

    base = "https://eu-west-1.console.aws.amazon.com"
    assert (
        f"{base}/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fnexus-ai-api|Logs"
        in links
    )
    assert f"{base}/cloudtrail/home?region=eu-west-1#/events/e0e0e0e0-0000-4000-8000-000000000001|" in links


def test_a_status_not_from_an_api_call_has_no_cloudtrail_link() -> None:
    message = status(Status.VERIFIED, trigger="SERVICE_DEPLOYMENT_COMPLETED")

    assert "cloudtrail" not in json.dumps(slack(message))


def test_the_renderings_add_nothing_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A status never holds environment values; the renderers must not add any either: the same
    status renders the same under any environment, and a sentinel set there appears nowhere."""
    message = status()
    before = (slack(message), chat(message))
    sentinel = "CANARY-7d1f-env-value"
    for name in (
        "SLACK_WEBHOOK_SECRET_ARN",
        "AWS_REGION",
        "STATUS_TOPIC_ARN",
        "HOME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        monkeypatch.setenv(name, sentinel)

    after = (slack(message), chat(message))
    assert after == before
    assert sentinel not in json.dumps(after)


def test_values_cannot_become_links_or_mentions() -> None:
    message = status(reasons=["<!channel> see <https://evil.example|here> & <@U123>"])
    everything = json.dumps(slack(message)) + json.dumps(chat(message))

    for markup in ("<!channel>", "<https://evil.example", "<@U123>"):
        assert markup not in everything
    assert "&lt;!channel&gt; see &lt;https://evil.example|here&gt; &amp; &lt;@U123&gt;" in json.dumps(
        slack(message)
    )


names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=300)
ecs_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=255)


@settings(max_examples=40, deadline=None)
@given(
    cluster=ecs_names,
    service=ecs_names,
    reasons=st.lists(names, max_size=60),
    changes=st.lists(st.text(min_size=0, max_size=5000), max_size=20),
    release=st.text(max_size=5000),
    kind=st.sampled_from(list(Status)),
)
def test_slack_s_limits_hold_whatever_the_status_holds(
    cluster: str, service: str, reasons: list[str], changes: list[str], release: str, kind: Status
) -> None:
    message = status(
        kind, cluster=cluster, service=service, reasons=reasons, changes=changes, release=release or None
    )
    message["remedy"] = {
        "containerDefinitions": [{"name": "jaeger", "command": ["x" * 20000]}],
        "steps": reasons,
    }

    payload = slack(message)
    assert_within_slack_limits(payload)
    [links] = [b["text"]["text"] for b in payload["blocks"] if b.get("block_id") == slack_message.LINKS]
    assert f"/clusters/{cluster}/services/{service}/health" in links  # links are never cut
    notification = chat(message)
    assert len(notification["content"]["description"]) <= chat_message.DESCRIPTION_CHARS
    assert len(json.dumps(notification)) < 64 * 1024  # far under SNS's 256 KB


def test_a_remedy_is_rendered_as_a_pointer_and_a_code_block() -> None:
    container = {
        "name": "jaeger",
        "image": "cr.jaegertracing.io/jaegertracing/jaeger:2.21.0",
        "essential": False,
    }
    message = {
        **status(),
        "remedy": {"containerDefinitions": [container], "terraform": "x", "steps": ["Add it."]},
    }

    [remedy] = [t for t in texts(slack(message)) if t.startswith("*Remedy*")]
    assert "• Add it." in remedy
    assert slack_message.REMEDY_POINTER in remedy
    assert remedy.endswith("```")
    assert json.loads(remedy.split("```")[1]) == [container]
    assert chat_message.REMEDY_POINTER in chat(message)["content"]["nextSteps"]


def test_threads_are_per_service() -> None:
    first, second = chat(status(Status.REMEDIATED)), chat(status(Status.VERIFIED))
    other = chat(status(Status.REMEDIATED, service="billing-worker"))

    assert (
        first["metadata"]["threadId"]
        == second["metadata"]["threadId"]
        == "111122223333/eu-west-1/prod/nexus-ai-api-prod"
    )
    assert other["metadata"]["threadId"] != first["metadata"]["threadId"]
    assert (
        first["metadata"]["relatedResources"][0]
        == "arn:aws:ecs:eu-west-1:111122223333:service/prod/nexus-ai-api-prod"
    )


def test_an_unknown_status_or_field_of_a_newer_minor_version_still_renders() -> None:
    message = {"schemaVersion": "1.7", "status": "SOMETHING_NEW", "service": "web", "futureField": {"a": 1}}

    payload = slack(message)
    assert_within_slack_limits(payload)
    assert payload["blocks"][0]["text"]["text"] == f"{notice.UNKNOWN_EMOJI} SOMETHING_NEW · web"


def envelope(message: Any, **attributes: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "sns-1",
            "TopicArn": "arn:aws:sns:eu-west-1:111122223333:status",
            "Message": message if isinstance(message, str) else json.dumps(message),
            "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
        }
    )


def test_a_record_is_read_from_sns_s_envelope_or_as_the_raw_status() -> None:
    message = status()

    wrapped = parse_delivery(envelope(message, status="FLAPPING"), "arn:aws:sqs:eu-west-1:111122223333:q")
    assert (wrapped.status, wrapped.message_id, wrapped.attributes) == (
        message,
        "sns-1",
        {"status": "FLAPPING"},
    )
    assert wrapped.queue_arn == "arn:aws:sqs:eu-west-1:111122223333:q"
    assert parse_delivery(json.dumps(message)).status == message


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "the body is not JSON"),
        ("[1]", "the body is not a JSON object"),
        (envelope("{oops"), "the SNS message is not JSON"),
        (envelope({"schemaVersion": "1.0"}), "no status in the message"),
        (envelope({"schemaVersion": "2.0", "status": "FAILED"}), "schemaVersion '2.0' is not 1.x"),
        (json.dumps({"status": "FAILED"}), "schemaVersion 'None' is not 1.x"),
    ],
)
def test_a_record_that_holds_no_status_is_malformed(body: str, why: str) -> None:
    with pytest.raises(MalformedEventError, match=why.replace("(", r"\(")):
        parse_delivery(body)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/services/T0/B0/secret-token",  # http, and not to this machine
        "ftp://hooks.example/secret-token",
        "https://hooks.example:port-secret-token/x",
        "secret-token",
    ],
)
def test_a_webhook_url_that_is_no_https_url_is_refused_without_quoting_it(url: str) -> None:
    from sidecar_enforcer.adapters.slack import checked_url
    from sidecar_enforcer.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        checked_url(url)
    assert "secret-token" not in str(raised.value)


def test_a_webhook_url_is_taken_as_https_or_http_to_this_machine() -> None:
    from sidecar_enforcer.adapters.slack import checked_url

    assert (
        checked_url(" https://hooks.example/services/T0/B0/x \n") == "https://hooks.example/services/T0/B0/x"
    )
    assert checked_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"


def test_a_connection_that_fails_raises_one_line_at_once_and_logs_nothing_of_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One attempt: the SDK's retry handlers (which wait inside the call) are not used, so the
    notifier decides on every wait."""
    import socket

    from sidecar_enforcer.adapters.slack import SlackWebhook
    from sidecar_enforcer.errors import NotDeliveredError, RefusedDeliveryError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhook = SlackWebhook(f"http://127.0.0.1:{port}/services/T0/B0/secret-path")

    with caplog.at_level(logging.DEBUG), pytest.raises(NotDeliveredError) as raised:
        webhook.post({"text": "x"})
    assert str(raised.value) == "Slack webhook: URLError"
    assert not isinstance(raised.value, RefusedDeliveryError)  # no answer: retried
    assert "secret-path" not in caplog.text


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "message"),
    [
        (200, "ok", {}, None, None),
        (200, "", {}, None, None),
        (200, '{"ok": true}', {}, None, None),
        # a proxy's or captive portal's page, not Slack's answer: nothing was posted
        (
            200,
            "<!DOCTYPE html><html>Sign in</html>",
            {},
            "temporary",
            "Slack webhook: HTTP 200 (not Slack's answer)",
        ),
        (
            200,
            '{"ok": false, "error": "invalid_token"}',
            {},
            "refused",
            "Slack webhook: HTTP 200 invalid_token",
        ),
        (429, "rate_limited", {"retry-after": "30"}, "throttled", "Slack webhook: HTTP 429 rate_limited"),
        (500, "rollup_error", {}, "temporary", "Slack webhook: HTTP 500 rollup_error"),
        (503, "<html>Service Unavailable</html>", {}, "temporary", "Slack webhook: HTTP 503"),
        (404, "no_service", {}, "refused", "Slack webhook: HTTP 404 no_service"),
        (408, "", {}, "temporary", "Slack webhook: HTTP 408"),  # the request timed out on the way
        (410, "channel_is_archived", {}, "refused", "Slack webhook: HTTP 410 channel_is_archived"),
        (400, "invalid_payload", {}, "refused", "Slack webhook: HTTP 400 invalid_payload"),
        (400, "something https://hooks.example/T0/B0/x", {}, "refused", "Slack webhook: HTTP 400"),
    ],
)
def test_a_webhook_answer_is_delivered_refused_for_good_throttled_or_temporary(
    status: int, body: str, headers: dict[str, str], kind: str | None, message: str | None
) -> None:
    from sidecar_enforcer.adapters.slack import translate
    from sidecar_enforcer.errors import RefusedDeliveryError, ThrottledError

    error = translate(status, body, headers)
    if kind is None:
        assert error is None
        return
    assert error is not None
    assert str(error) == message  # only a code of Slack's is quoted from a body
    found = (
        "refused"
        if isinstance(error, RefusedDeliveryError)
        else "throttled"
        if isinstance(error, ThrottledError)
        else "temporary"
    )
    assert found == kind
    if isinstance(error, ThrottledError):
        assert error.retry_after == 30


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"Retry-After": "7"}, 7), ({"retry-after": ["2.5"]}, 2.5), ({}, 1.0), ({"Retry-After": "soon"}, 1.0)],
)
def test_retry_after_is_read_in_seconds_whatever_the_header_s_case(
    headers: dict[str, Any], seconds: float
) -> None:
    from sidecar_enforcer.adapters.slack import retry_after

    assert retry_after(headers) == seconds


RELEASE_TEXT = (
    "left alone until a person releases it: `sidecar-enforcer release --cluster prod "
    "--service nexus-ai-api-prod`, or tag the service sidecar-enforcer-release=7f3a9c"
)


def _release_commands(text: str) -> list[str]:
    return re.findall(r"`(sidecar-enforcer release [^`]*)`", text)


@pytest.mark.parametrize("kind", [Status.FLAPPING, Status.DEPLOYMENT_FAILED, Status.QUARANTINED])
def test_the_release_command_in_slack_and_amazon_q_pastes_as_is_with_its_region_and_account(
    kind: Status,
) -> None:
    """As the worker words it (domain.safety.records.release_instructions): the command, on one line in a
    code span, parses with the CLI's own parser to this service in its region and account, and
    the release tag is offered beside it."""
    from sidecar_enforcer_dev.cli import parser

    message = status(kind, region="ap-southeast-2", release=RELEASE_TEXT)
    slack_text = next(t for t in texts(slack(message)) if t.startswith("*Release*"))
    chat_text = next(step for step in chat(message)["content"]["nextSteps"] if step.startswith("Release:"))

    for text in (slack_text, chat_text):
        [command] = _release_commands(text)
        assert "\n" not in command
        argv = shlex.split(command)
        assert argv[0] == "sidecar-enforcer"
        args = parser().parse_args(argv[1:])
        assert (args.cluster, args.service, args.region, args.account) == (
            "prod",
            "nexus-ai-api-prod",
            "ap-southeast-2",
            "111122223333",
        )
        assert "`sidecar-enforcer-release=7f3a9c`" in text
    assert "```" not in slack_text


def test_a_release_without_the_service_s_names_is_shown_as_it_is() -> None:
    message = status(Status.QUARANTINED, release="tag the service to release it")
    del message["cluster"], message["service"]
    assert any("tag the service to release it" in t for t in texts(slack(message)))


def test_a_failed_status_from_the_command_line_names_no_queue_and_one_from_the_worker_does() -> None:
    """``sidecar-enforcer enforce`` and ``release`` run in a terminal (enforcer.Enforcer: trigger
    "manual", "release"); only a work item is retried and dead-lettered."""
    import inspect

    from sidecar_enforcer.enforcer import Enforcer

    assert (
        inspect.signature(Enforcer.enforce_service).parameters["trigger"].default in notice.COMMAND_TRIGGERS
    )
    assert "release" in notice.COMMAND_TRIGGERS
    for trigger in sorted(notice.COMMAND_TRIGGERS):
        read = notice.read(status(Status.FAILED, trigger=trigger))
        assert "queue" not in read.next_step
        assert "run" in read.next_step
        for rendered in (json.dumps(slack(status(Status.FAILED, trigger=trigger))),):
            assert "queue" not in rendered
    assert "dead-letter queue" in notice.read(status(Status.FAILED, trigger="UpdateService")).next_step


def test_a_refused_status_does_not_always_send_the_reader_to_the_task_definition() -> None:
    """REFUSED comes from the task definition, the opt-in tag, the policy or the profile: the next
    step sends the reader to the reasons, which name the one to fix."""
    step = notice.read(status(Status.REFUSED)).next_step
    assert "reason" in step
    assert "tag" in step
