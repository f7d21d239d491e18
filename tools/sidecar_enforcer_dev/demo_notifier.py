"""The demo's notifications act: functions/notifier on what the status topic delivered to its queue,
posting Block Kit to a stand-in for a Slack incoming webhook and publishing Amazon Q Developer's
custom notifications to a chat topic."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from . import fleet
from .demo_moto import drain
from .local import SlackStandIn, lambda_context, load_function, queue_arn, subscribe_queue


def notifier_queue(sns: Any, sqs: Any, topic: str) -> str:
    """The notifier's queue, subscribed to the status topic as template.yaml does (raw delivery off:
    SNS's envelope, with the message attributes)."""
    queue: str = sqs.create_queue(QueueName="demo-notifier")["QueueUrl"]
    subscribe_queue(sns, sqs, topic, queue, raw=False)
    return queue


def notifications(session: boto3.session.Session, queue: str, published: int) -> dict[str, bool]:
    """functions/notifier on what the status topic delivered to its queue: Block Kit to a stand-in
    for a Slack incoming webhook on 127.0.0.1 (its URL in Secrets Manager), and Amazon Q Developer's
    custom notifications to a chat topic. Shows what was actually posted and published."""
    sqs, sns = session.client("sqs"), session.client("sns")
    chat_topic = sns.create_topic(Name="demo-chat")["TopicArn"]
    chat_inbox = sqs.create_queue(QueueName="demo-chat-inbox")["QueueUrl"]
    subscribe_queue(sns, sqs, chat_topic, chat_inbox, raw=True)
    records, failures, posted = _deliver(session, queue, chat_topic)
    chats = [json.loads(m["Body"]) for m in drain(sqs, chat_inbox)]
    print(
        f"\nfunctions/notifier on the {len(records)} status(es) the topic delivered to its queue: "
        f"{len(posted)} Block Kit message(s) posted to a Slack webhook stand-in on 127.0.0.1 (URL from "
        f"Secrets Manager), {len(chats)} Amazon Q Developer notification(s) published to the chat topic."
    )
    shown = _show(posted, chats)
    everything = json.dumps(posted) + json.dumps(chats)
    return {
        "every published status reached Slack (Block Kit) and the Amazon Q Developer chat topic, once": (
            len(records) == published
            and not failures
            and len(posted) == len(chats) == published
            and all(p["blocks"][0]["type"] == "header" for p in posted)
            and all(c["version"] == "1.0" and c["source"] == "custom" for c in chats)
            and shown == 2
            and fleet.CANARY not in everything
        )
    }


def _deliver(
    session: boto3.session.Session, queue: str, chat_topic: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The notifier's queue handed to functions/notifier batch by batch, as the event source mapping
    does: the records, the batch item failures, and what the Slack stand-in was posted."""
    sqs = session.client("sqs")
    source_arn = queue_arn(sqs, queue)
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    with SlackStandIn() as slack:
        secret = session.client("secretsmanager").create_secret(
            Name="demo-slack-webhook", SecretString=slack.url
        )
        os.environ.update(SLACK_WEBHOOK_SECRET_ARN=secret["ARN"], CHAT_TOPIC_ARN=chat_topic)
        notifier = load_function("notifier")
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            event = {
                "Records": [
                    {"messageId": m["MessageId"], "body": m["Body"], "eventSourceARN": source_arn}
                    for m in batch
                ]
            }
            records += event["Records"]
            failures += notifier.lambda_handler(event, lambda_context("notifier"))["batchItemFailures"]
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
            )
    return records, failures, slack.delivered()


def _header(payload: dict[str, Any]) -> str:
    text: str = payload["blocks"][0]["text"]["text"]
    return text


def _show(posted: list[dict[str, Any]], chats: list[dict[str, Any]]) -> int:
    """One FLAPPING and one REMEDIATED Slack payload, and one FLAPPING chat notification, printed;
    how many Slack payloads were shown."""
    shown = [p for p in posted if "FLAPPING" in _header(p)][:1] + [
        p for p in posted if "REMEDIATED" in _header(p)
    ][:1]
    for payload in shown:
        print(f"\nSlack payload posted for {_header(payload)}:")
        print(json.dumps(payload, indent=1, ensure_ascii=False))
    flapping = [c for c in chats if c["metadata"]["eventType"] == "FLAPPING"][:1]
    for notification in flapping:
        print("\nAmazon Q Developer custom notification (chat topic):")
        print(json.dumps(notification, indent=1, ensure_ascii=False))
    return len(shown)
