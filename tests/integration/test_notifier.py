"""functions/notifier against a real HTTP server on 127.0.0.1 standing in for Slack's incoming
webhook (sidecar_enforcer_dev.local.SlackStandIn), with the webhook's URL in moto's Secrets Manager,
the status topic delivering to the notifier's queue as SNS does (raw delivery off: the envelope),
and moto's SQS playing the event source mapping: a failed record stays, comes back, and after
maxReceiveCount receives is moved to the dead-letter queue."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sidecar_enforcer.adapters.sns import StatusPublisher
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.usecases import notify
from sidecar_enforcer_dev.local import SlackStandIn, lambda_context, load_function, queue_arn, subscribe_queue

from ..conftest import assert_status_message

REGION = "us-east-1"
FLAPPING = Finding(
    status=Status.FLAPPING,
    account="123456789012",
    region=REGION,
    cluster="prod",
    service="nexus-ai-api-prod",
    profile="jaeger",
    profile_version="2.21.0",
    source_task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/nexus-ai-api:7",
    new_task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/nexus-ai-api:8",
    reasons=["the sidecar was taken away 2 times within 3600 s: quarantined"],
    reverted_by=["arn:aws:sts::123456789012:assumed-role/deployer/pipeline"],
    release="sidecar-enforcer release --cluster prod --service nexus-ai-api-prod",
    trigger="UpdateService",
    event_id="6f0a4f4e-5d0e-4d51-9a0b-000000000001",
    mode="enforce",
)


@dataclass
class Setup:
    sns: Any
    sqs: Any
    secrets: Any
    topic: str
    queue_url: str
    queue_arn: str
    dead_letters: str

    def publish(self, finding: Finding = FLAPPING) -> None:
        assert_status_message(finding.to_message())
        StatusPublisher(self.sns, self.topic).publish(finding)

    def receive(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Lambda's SQS records, as the event source mapping builds them."""
        url = queue_url or self.queue_url
        arn = queue_arn(self.sqs, url)
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {
                    name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
                    for name, value in (m.get("MessageAttributes") or {}).items()
                },
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
            }
            for m in messages
        ]

    def settle(
        self, records: list[dict[str, Any]], result: dict[str, Any], queue_url: str | None = None
    ) -> None:
        """What the event source mapping does with the answer: deletes the records that did not
        fail; a failed one becomes visible again (here at once: its visibility timeout is the test's)."""
        url = queue_url or self.queue_url
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        for record in records:
            if record["messageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])

    def dead_lettered(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.dead_letters, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return messages


MAX_RECEIVES = 3


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        sns, sqs = session.client("sns"), session.client("sqs")
        topic = sns.create_topic(Name="sidecar-enforcer-status")["TopicArn"]
        dead_letters = sqs.create_queue(QueueName="notifier-dead-letters")["QueueUrl"]
        dlq_arn = queue_arn(sqs, dead_letters)
        queue = sqs.create_queue(
            QueueName="notifier",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
            },
        )["QueueUrl"]
        # template.yaml: raw message delivery off, so the body is SNS's envelope
        subscribe_queue(sns, sqs, topic, queue, raw=False)
        monkeypatch.setenv("NOTIFIER_DEAD_LETTER_QUEUE_URL", dead_letters)
        for name, value in {
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "sidecar-enforcer",
            "POWERTOOLS_LOG_LEVEL": "DEBUG",  # the URL must stay out of the logs even at DEBUG
        }.items():
            monkeypatch.setenv(name, value)
        yield Setup(
            sns, sqs, session.client("secretsmanager"), topic, queue, queue_arn(sqs, queue), dead_letters
        )


def webhook_secret(
    setup: Setup, url: str, monkeypatch: pytest.MonkeyPatch, name: str = "slack-webhook"
) -> str:
    arn: str = setup.secrets.create_secret(Name=name, SecretString=url)["ARN"]
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", arn)
    return arn


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backoff between server-error retries, shortened (Retry-After waits are not)."""
    monkeypatch.setattr(notify, "BACKOFF_SECONDS", (0.01, 0.01))


def notifier() -> ModuleType:
    return load_function("notifier")


@contextmanager
def logs(module: ModuleType) -> Iterator[io.StringIO]:
    """Everything logged, at any level, by the function's logger, the package's and every other
    logger (root): the SDK's included."""
    found = io.StringIO()
    handler = logging.StreamHandler(found)
    handler.setLevel(logging.DEBUG)
    names = [module.handler.logger.name, "sidecar_enforcer", ""]
    for name in names:
        logging.getLogger(name).addHandler(handler)
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        yield found
    finally:
        logging.getLogger().setLevel(root_level)
        for name in names:
            logging.getLogger(name).removeHandler(handler)


def run(module: ModuleType, records: list[dict[str, Any]], seconds_left: float = 60) -> dict[str, Any]:
    """The handler as Lambda calls it, with ``seconds_left`` of the invocation's time left
    (template.yaml: the notifier's timeout is 60 s)."""
    context = lambda_context("notifier")
    context.get_remaining_time_in_millis = lambda: int(seconds_left * 1000)
    result: dict[str, Any] = module.lambda_handler({"Records": records}, context)
    return result


def failed(result: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in result["batchItemFailures"]]


def recorded_waits(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the handler takes, recorded as it is taken: what a test asserts instead of a
    wall-clock bound, which a loaded machine can break."""
    waits: list[float] = []
    wait = module.InvocationDeadline.sleep

    def recording(self: Any, seconds: float) -> None:
        waits.append(seconds)
        wait(self, seconds)

    monkeypatch.setattr(module.InvocationDeadline, "sleep", recording)
    return waits


def services(payloads: list[dict[str, Any]]) -> list[str]:
    """The service each posted status is about (its header: emoji, status, cluster/service)."""
    return [p["blocks"][0]["text"]["text"].rsplit("/", 1)[-1] for p in payloads]


def test_a_status_is_posted_once_with_the_url_from_secrets_manager_and_the_url_is_never_logged(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackStandIn() as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        records = setup.receive()
        module = notifier()
        with logs(module) as logged:
            result = run(module, records)
        setup.settle(records, result)

    assert result == {"batchItemFailures": []}
    assert len(slack_server.posts) == 1
    payload = slack_server.posts[0].payload
    assert payload["blocks"][0]["type"] == "header"
    assert "FLAPPING" in payload["blocks"][0]["text"]["text"]
    assert "prod/nexus-ai-api-prod" in payload["text"]
    assert setup.receive() == []  # deleted: delivered
    assert "/services/T000/B000/" not in logged.getvalue()


def test_a_429_waits_what_retry_after_says_then_the_post_arrives_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real wait: Retry-After is 1 s, and it fits in the time left."""
    with SlackStandIn([(429, {"Retry-After": "1"}, "rate_limited")]) as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        module = notifier()
        waits = recorded_waits(module, monkeypatch)
        result = run(module, setup.receive())

    assert result == {"batchItemFailures": []}
    assert waits == [1.0]  # the recorder sees a wait that is taken
    assert [post.status for post in slack_server.posts] == [429, 200]
    assert slack_server.posts[1].at - slack_server.posts[0].at >= 1.0
    assert len(slack_server.delivered()) == 1


def test_a_500_is_retried_then_the_record_fails_and_after_max_receives_is_dead_lettered(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, quick_retries: None
) -> None:
    with SlackStandIn([(500, {}, "internal_error")] * 100) as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        module = notifier()
        receives = 0
        while records := setup.receive():
            receives += 1
            result = run(module, records)
            assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
            setup.settle(records, result)

    # Each receive: the post and its retries after a 500, then the record reported failed.
    assert receives == MAX_RECEIVES
    assert len(slack_server.posts) == MAX_RECEIVES * (1 + len(notify.BACKOFF_SECONDS))
    assert slack_server.delivered() == []
    [kept] = setup.dead_lettered()
    envelope = json.loads(kept["Body"])  # intact: SNS's envelope with the status inside
    assert envelope["Type"] == "Notification"
    assert json.loads(envelope["Message"])["status"] == "FLAPPING"


def test_a_record_that_holds_no_status_is_dead_lettered_at_once_not_retried(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackStandIn() as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.sqs.send_message(QueueUrl=setup.queue_url, MessageBody="not a status {")
        records = setup.receive()
        result = run(notifier(), records)
        setup.settle(records, result)

    assert result == {"batchItemFailures": []}
    assert slack_server.posts == []
    [kept] = setup.dead_lettered()
    assert kept["Body"] == "not a status {"
    assert kept["MessageAttributes"]["reason"]["StringValue"] == "notifier record: the body is not JSON"
    assert setup.receive() == []


def test_without_a_dead_letter_queue_a_malformed_record_fails_and_takes_the_queue_s_way(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_DEAD_LETTER_QUEUE_URL")
    with SlackStandIn() as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.sqs.send_message(QueueUrl=setup.queue_url, MessageBody=json.dumps({"schemaVersion": "2.0"}))
        records = setup.receive()
        result = run(notifier(), records)

    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}


def test_the_chat_topic_gets_amazon_q_developer_s_custom_notification_with_the_attributes(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_topic = setup.sns.create_topic(Name="sidecar-enforcer-chat")["TopicArn"]
    inbox = setup.sqs.create_queue(QueueName="chat-inbox")["QueueUrl"]
    subscribe_queue(setup.sns, setup.sqs, chat_topic, inbox, raw=True)
    monkeypatch.setenv("CHAT_TOPIC_ARN", chat_topic)  # no Slack: the chat topic alone
    setup.publish()
    result = run(notifier(), setup.receive())

    assert result == {"batchItemFailures": []}
    [message] = setup.sqs.receive_message(QueueUrl=inbox, MessageAttributeNames=["All"])["Messages"]
    notification = json.loads(message["Body"])
    assert (notification["version"], notification["source"]) == ("1.0", "custom")
    assert notification["content"]["textType"] == "client-markdown"
    assert notification["metadata"]["threadId"] == "123456789012/us-east-1/prod/nexus-ai-api-prod"
    assert notification["metadata"]["eventType"] == "FLAPPING"
    assert message["MessageAttributes"]["status"]["StringValue"] == "FLAPPING"


def test_the_second_channel_s_queue_goes_to_its_own_webhook_only(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    second_queue = setup.sqs.create_queue(QueueName="notifier-second")["QueueUrl"]
    subscribe_queue(
        setup.sns, setup.sqs, setup.topic, second_queue, raw=False, filter_policy={"status": ["FLAPPING"]}
    )
    with SlackStandIn() as first, SlackStandIn() as second:
        webhook_secret(setup, first.url, monkeypatch)
        second_secret = setup.secrets.create_secret(
            Name="slack-urgent", SecretString=json.dumps({"url": second.url})
        )
        monkeypatch.setenv("SLACK_SECOND_WEBHOOK_SECRET_ARN", second_secret["ARN"])
        monkeypatch.setenv("SLACK_SECOND_QUEUE_ARN", queue_arn(setup.sqs, second_queue))
        setup.publish()  # FLAPPING: both subscriptions
        setup.publish(FLAPPING.model_copy(update={"status": Status.REMEDIATED}))  # the first only
        module = notifier()
        result_first = run(module, setup.receive())
        result_second = run(module, setup.receive(second_queue))

    assert result_first == result_second == {"batchItemFailures": []}
    assert sorted(p["blocks"][0]["text"]["text"].split()[1] for p in first.delivered()) == [
        "FLAPPING",
        "REMEDIATED",
    ]
    assert [p["blocks"][0]["text"]["text"].split()[1] for p in second.delivered()] == ["FLAPPING"]


def test_a_secret_that_holds_no_https_url_fails_the_record_without_quoting_it(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook_secret(setup, "ftp://hooks.example/T0/B0/very-secret-token", monkeypatch)
    setup.publish()
    records = setup.receive()
    module = notifier()
    with logs(module) as logged:
        result = run(module, records)

    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert "very-secret-token" not in logged.getvalue()
    assert "the Slack webhook secret holds no https URL" in logged.getvalue()


def test_a_retry_after_longer_than_the_time_left_fails_the_record_at_once_and_it_returns_then(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 s left: a 2 s wait and a post (up to 10 s) would end inside the 5 s kept for settling
    the batch, so the notifier does not wait. The record's return is put off by Retry-After
    (ChangeMessageVisibility), not by the queue's 30 s visibility timeout."""
    with SlackStandIn([(429, {"Retry-After": "2"}, "rate_limited")]) as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        records = setup.receive()
        module = notifier()
        waits = recorded_waits(module, monkeypatch)
        result = run(module, records, seconds_left=16)

        assert failed(result) == [records[0]["messageId"]]
        assert waits == []
        assert [post.status for post in slack_server.posts] == [429]
        assert setup.receive() == []  # not before Retry-After
        time.sleep(2.2)
        again = setup.receive()
        assert [r["messageId"] for r in again] == [records[0]["messageId"]]
        assert run(module, again) == {"batchItemFailures": []}

    assert services(slack_server.delivered()) == ["nexus-ai-api-prod"]


def test_when_slack_throttles_the_second_record_the_first_is_not_posted_again_and_the_third_is_not_tried(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["first-api", "second-api", "third-api"]
    with SlackStandIn([(200, {}, "ok"), (429, {"Retry-After": "120"}, "rate_limited")]) as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        for name in names:
            setup.publish(FLAPPING.model_copy(update={"service": name}))
        records = setup.receive()
        assert len(records) == 3
        by_service = {json.loads(json.loads(r["body"])["Message"])["service"]: r for r in records}
        batch = [by_service[name] for name in names]
        module = notifier()
        waits = recorded_waits(module, monkeypatch)
        result = run(module, batch)
        assert waits == []  # 120 s does not fit in 60 s: no wait

        assert failed(result) == [batch[1]["messageId"], batch[2]["messageId"]]
        assert [post.status for post in slack_server.posts] == [200, 429]  # the third not tried
        setup.settle(batch, result)
        retried = setup.receive()
        assert sorted(r["messageId"] for r in retried) == sorted(
            [batch[1]["messageId"], batch[2]["messageId"]]
        )
        assert run(module, retried) == {"batchItemFailures": []}

    assert sorted(services(slack_server.delivered())) == names  # each once


PERMANENT = [
    (400, "invalid_payload"),
    (400, "user_not_found"),
    (403, "action_prohibited"),
    (403, "invalid_token"),
    (403, "team_disabled"),
    (400, "posting_to_general_channel_denied"),
    (400, "too_many_attachments"),
    (404, "channel_not_found"),
    (404, "no_service"),
    (404, "no_service_id"),
    (404, "no_team"),
    (410, "channel_is_archived"),
    (500, "no_service"),  # a permanent code is permanent whatever the status
    (401, ""),  # any 4xx but 429, whatever its body says
]


@pytest.mark.parametrize(("status", "code"), PERMANENT, ids=[f"{s}-{c or 'empty'}" for s, c in PERMANENT])
def test_a_permanent_refusal_goes_to_the_dead_letter_queue_at_once_with_its_reason(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, status: int, code: str
) -> None:
    with SlackStandIn([(status, {}, code)] * 10) as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        records = setup.receive()
        result = run(notifier(), records)
        setup.settle(records, result)

    assert result == {"batchItemFailures": []}  # done: not retried
    assert len(slack_server.posts) == 1
    assert setup.receive() == []
    [kept] = setup.dead_lettered()
    assert json.loads(json.loads(kept["Body"])["Message"])["status"] == "FLAPPING"  # intact
    attributes = {k: v["StringValue"] for k, v in kept["MessageAttributes"].items()}
    assert attributes["reason"] == f"Slack webhook: HTTP {status} {code}".rstrip()
    assert attributes["kind"] == "sidecar-enforcer notifier refusal"


def test_an_ok_false_answer_with_http_200_is_a_refusal(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    with SlackStandIn([(200, {}, json.dumps({"ok": False, "error": "invalid_token"}))]) as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        records = setup.receive()
        result = run(notifier(), records)

    assert result == {"batchItemFailures": []}
    [kept] = setup.dead_lettered()
    assert kept["MessageAttributes"]["reason"]["StringValue"] == "Slack webhook: HTTP 200 invalid_token"


def test_a_chat_topic_that_does_not_exist_dead_letters_the_record_at_once_saying_slack_has_it(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SNS answers NotFound (through the real adapter, on moto): no retry cures it, so the record is
    not put back for the chat topic again and again; it is dead-lettered at once, its reason and the
    sinks that have it as attributes, and Slack is not posted to again."""
    monkeypatch.setenv("CHAT_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:sidecar-enforcer-gone")
    with SlackStandIn() as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        records = setup.receive()
        result = run(notifier(), records)
        setup.settle(records, result)

    assert result == {"batchItemFailures": []}
    assert len(slack_server.posts) == 1
    assert setup.receive() == []  # not put back
    [kept] = setup.dead_lettered()
    assert kept["MessageAttributes"]["delivered"]["StringValue"] == "slack"
    assert kept["MessageAttributes"]["reason"]["StringValue"].startswith("Publish: NotFound")


def test_a_chat_publish_that_fails_after_the_slack_post_does_not_post_to_slack_again(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat topic fails for now (SNS's InternalError, which a retry may cure): the record is put
    back for the chat topic only, and the retry publishes without posting."""
    from sidecar_enforcer.adapters import sns
    from sidecar_enforcer.errors import AwsError

    chat_topic = setup.sns.create_topic(Name="sidecar-enforcer-chat")["TopicArn"]
    monkeypatch.setenv("CHAT_TOPIC_ARN", chat_topic)
    inbox = setup.sqs.create_queue(QueueName="chat-inbox")["QueueUrl"]
    subscribe_queue(setup.sns, setup.sqs, chat_topic, inbox, raw=True)
    publish = sns.ChatPublisher.publish
    failures = [AwsError("Publish: InternalError: try again")]

    def once_failing(self: Any, notification: dict[str, Any], attributes: dict[str, str]) -> str:
        if failures:
            raise failures.pop()
        return publish(self, notification, attributes)

    monkeypatch.setattr(sns.ChatPublisher, "publish", once_failing)
    with SlackStandIn() as slack_server:
        webhook_secret(setup, slack_server.url, monkeypatch)
        setup.publish()
        records = setup.receive()
        module = notifier()
        first = run(module, records)
        setup.settle(records, first)
        assert len(slack_server.delivered()) == 1
        assert setup.sqs.receive_message(QueueUrl=inbox).get("Messages", []) == []

        [retry] = setup.receive()
        assert retry["messageAttributes"]["delivered"]["stringValue"] == "slack"
        second = run(module, [retry])
        setup.settle([retry], second)

    assert first == second == {"batchItemFailures": []}
    assert len(slack_server.posts) == 1  # posted once
    [published] = setup.sqs.receive_message(QueueUrl=inbox).get("Messages", [])
    assert json.loads(published["Body"])["metadata"]["eventType"] == "FLAPPING"
    assert setup.receive() == []
