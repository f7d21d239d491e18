"""Notify: the statuses of one batch of the notifier's queue, each rendered once and delivered to
each configured sink, within the invocation's time.

A record's body is read by ``usecases.delivery``; the status as a plain JSON object by
``domain.messages.notice``.

Sinks, each only when configured: a Slack incoming webhook (Block Kit, ``domain.messages.slack_message``)
and the chat topic of Amazon Q Developer in chat applications (``domain.messages.chat_message``). The
record's queue picks the route: the second Slack channel's queue goes to its webhook only; every
other record to the first webhook and the chat topic.

What becomes of a record:

- Every sink took it: done (the event source mapping deletes it).
- A sink failed for now (Slack's 5xx or no answer, after the retries that fit in the time left; an
  SNS error a retry may cure): the record is reported failed, and SQS hands it over again after the
  queue's visibility timeout (after maxReceiveCount receives, the dead-letter queue keeps it). If
  another sink did take it, the record is put back on its queue as a new message whose attribute
  ``delivered`` names the sinks that have it, and the original is done: a retry delivers only to the
  sinks that lack it, so a Slack post is not repeated because the chat topic failed after it. (Kept
  with the message, not in a table: nothing to expire, and a redrive from the dead-letter queue
  keeps the attribute.)
- A sink refused it for good (RefusedDeliveryError: a revoked webhook, an archived channel, a
  payload Slack cannot read; an SNS error no retry cures): the record goes at once to the dead-letter
  queue with the reason and ``delivered`` as attributes, the other sinks served first. The queue's
  alarm then fires (template.yaml, NotifierDeadLetterQueueAlarm). Another sink that failed for now
  gets its retry all the same: the record is put back for it alone, and the dead-lettered copy names
  it among ``delivered``, so a redrive goes to the refusing sink only.
- Slack throttled (429): a wait is taken only when it and the next post fit in the time left
  (``Deadline``); otherwise the record fails at once, its return put off by Retry-After
  (ChangeMessageVisibility), and the batch's later records are failed the same way without being
  tried: Slack would throttle them too, and a wait there would outlive the invocation. The records
  already delivered are not in the failures, so nothing is posted twice.
- A record that holds no status is malformed: retrying cannot fix it; it goes to the dead-letter
  queue intact at once (failed, to take the queue's way there, if that send fails).

Delivery is at least once: an invocation that ends between a sink's delivery and the record's
settling (a crash, a timeout) brings the record back whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain.messages import chat_message, slack_message
from ..domain.messages.notice import read
from ..errors import (
    AwsError,
    ConfigurationError,
    EnforcerError,
    MalformedEventError,
    NotDeliveredError,
    RefusedDeliveryError,
    ThrottledError,
)
from .delivery import Delivery, parse_delivery
from .ports import ChatSink, DeadLetterRecords, Deadline, Poster, Queues

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    slack: Callable[[], Poster] | None = None  # built on first use: reads the webhook's secret
    chat: ChatSink | None = None


SLACK, CHAT = "slack", "chat"  # the sinks, as ``delivered`` names them

# The rate-limit waits one post may take (each only when it fits in the time left), and the backoff
# between the attempts of a post that failed for now (a 5xx, no answer).
RATE_LIMIT_RETRIES = 2
BACKOFF_SECONDS = (0.5, 2.0)
# Kept free at the end of the invocation for settling the batch: failing the rest, the dead-letter
# sends and the visibility changes (each one SQS call).
MARGIN_SECONDS = 5.0


@dataclass
class Outcome:
    slack: dict[str, Any] | None = None  # the payload posted
    chat: dict[str, Any] | None = None  # the notification published
    delivered: set[str] = field(default_factory=set)  # the sinks that have it (now or before)
    refused: str | None = None  # a sink refused it for good: why
    refused_by: set[str] = field(default_factory=set)  # the sinks that refused it for good
    failed: str | None = None  # a sink failed for now: why
    retry_after: float | None = None  # Slack throttled: the seconds it asked for
    out_of_time: bool = False  # no time left to try: the record (and the batch's rest) come back later

    @property
    def stop(self) -> bool:
        """The batch's later records are not tried."""
        return self.retry_after is not None or self.out_of_time


class Notify:
    def __init__(self, routes: dict[str | None, Route], post_seconds: float = 10.0) -> None:
        """``routes`` by queue ARN; the key None is the route of every other queue. ``post_seconds``:
        the longest one Slack post may take (adapters.slack.TIMEOUT_SECONDS)."""
        self._routes = routes
        self._post_seconds = post_seconds

    def __call__(
        self, delivery: Delivery, deadline: Deadline, delivered: frozenset[str] = frozenset()
    ) -> Outcome:
        """Render and deliver to each sink of the record's route not in ``delivered``; the outcome
        says what each sink did (a delivery error is never raised)."""
        route = self._routes.get(delivery.queue_arn) or self._routes.get(None) or Route()
        outcome = Outcome(delivered=set(delivered))
        notice = read(delivery.status)
        if route.slack is not None and SLACK not in delivered:
            payload = slack_message.render(notice)
            try:
                self._post(route.slack, payload, deadline)
            except ThrottledError as exc:
                outcome.failed, outcome.retry_after = str(exc), exc.retry_after
                return outcome  # nothing more now: the record comes back when Slack said
            except _OutOfTime as exc:
                outcome.failed, outcome.out_of_time = str(exc), True
                return outcome
            except RefusedDeliveryError as exc:
                outcome.refused = str(exc)
                outcome.refused_by.add(SLACK)
            except Exception as exc:  # any other failure is for now: the record is retried
                outcome.failed = _one_line(exc)
            else:
                outcome.slack = payload
                outcome.delivered.add(SLACK)
        if route.chat is not None and CHAT not in delivered:
            if deadline.remaining() < self._post_seconds + MARGIN_SECONDS:
                outcome.failed = outcome.failed or "chat topic: not tried, no time left"
                outcome.out_of_time = True
                return outcome
            notification = chat_message.render(notice, delivery.message_id)
            attributes = {k: v for k, v in delivery.attributes.items() if k in CHAT_ATTRIBUTES}
            try:
                route.chat.publish(notification, attributes)
            except AwsError as exc:
                if exc.retryable:
                    outcome.failed = outcome.failed or str(exc)
                else:  # the topic is gone, the key disabled, the message refused: no retry cures it
                    outcome.refused = outcome.refused or str(exc)
                    outcome.refused_by.add(CHAT)
            except Exception as exc:
                outcome.failed = outcome.failed or _one_line(exc)
            else:
                outcome.chat = notification
                outcome.delivered.add(CHAT)
        return outcome

    def _post(self, slack: Callable[[], Poster], payload: dict[str, Any], deadline: Deadline) -> None:
        """Post, waiting only as long as the time left allows: a 429 waits its Retry-After (twice at
        most), a temporary failure BACKOFF_SECONDS; a wait that, with the post after it, would not
        end MARGIN_SECONDS before the invocation does is not taken and the error is raised."""
        throttled = failed = 0
        poster: Poster | None = None
        while True:
            if deadline.remaining() < self._post_seconds + MARGIN_SECONDS:
                raise _OutOfTime(f"Slack webhook: not tried, {deadline.remaining():.0f} s left")
            if poster is None:  # reads the webhook's secret on first use: the time left is asked again
                poster = slack()
                continue
            try:
                poster.post(payload)
                return
            except RefusedDeliveryError:
                raise
            except ThrottledError as exc:
                if throttled >= RATE_LIMIT_RETRIES or not self._fits(exc.retry_after, deadline):
                    raise
                throttled += 1
                deadline.sleep(exc.retry_after)
            except NotDeliveredError:
                if failed >= len(BACKOFF_SECONDS) or not self._fits(BACKOFF_SECONDS[failed], deadline):
                    raise
                deadline.sleep(BACKOFF_SECONDS[failed])
                failed += 1

    def _fits(self, wait: float, deadline: Deadline) -> bool:
        return wait + self._post_seconds + MARGIN_SECONDS <= deadline.remaining()


class _OutOfTime(NotDeliveredError):
    """Too little time left for one more post."""


@dataclass(frozen=True)
class Record:
    """One SQS record of the batch, as the event source mapping hands it over."""

    message_id: str
    body: str | None
    queue_arn: str | None = None
    receipt_handle: str | None = None
    delivered: frozenset[str] = frozenset()  # from the message attribute ``delivered``


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)  # the records whose every sink has it
    failures: dict[str, str] = field(default_factory=dict)  # message id -> why (batchItemFailures)
    refused: dict[str, str] = field(default_factory=dict)  # message id -> why (dead-lettered at once)
    malformed: dict[str, str] = field(default_factory=dict)  # message id -> why (dead-lettered at once)
    requeued: list[str] = field(default_factory=list)  # message ids put back for the sinks that lack them


MALFORMED = "sidecar-enforcer notifier record"
REFUSED = "sidecar-enforcer notifier refusal"


class NotifyBatch:
    def __init__(self, notify: Notify, queues: Queues | None, dead_letters: DeadLetterRecords | None) -> None:
        self._notify = notify
        self._queues = queues
        self._dead_letters = dead_letters

    def __call__(self, records: list[Record], deadline: Deadline) -> BatchResult:
        result = BatchResult()
        stopped: Outcome | None = None
        for record in records:
            if stopped is not None:  # Slack throttled or time ran out: not tried
                self._later(record, stopped, result, "not tried: " + (stopped.failed or "no time left"))
                continue
            try:
                delivery = parse_delivery(record.body, record.queue_arn)
            except MalformedEventError as exc:
                self._malformed(record, str(exc), result)
                continue
            try:
                outcome = self._notify(delivery, deadline, record.delivered)
            except Exception as exc:  # a status we cannot render (a bug of ours): retried, then kept
                outcome = Outcome(delivered=set(record.delivered), failed=_one_line(exc))
            if outcome.stop:
                stopped = outcome
            fresh = outcome.delivered - record.delivered
            if outcome.refused:  # the dead-letter queue, saying which sinks have it
                self._refused(record, outcome, result)
            elif outcome.stop and not fresh:  # back when Slack said
                self._later(record, outcome, result, outcome.failed or "no time left")
            elif outcome.failed:  # back for the sinks that lack it
                self._failed(record, outcome, result)
            else:
                result.outcomes.append(outcome)
        return result

    def _later(self, record: Record, stopped: Outcome, result: BatchResult, why: str) -> None:
        """Failed, to come back when Slack said (or after the queue's visibility timeout)."""
        result.failures[record.message_id] = why
        log.warning("record %s not delivered: %s", record.message_id, why)
        if stopped.retry_after is None or self._queues is None:
            return
        if record.queue_arn and record.receipt_handle:
            try:
                self._queues.retry_after(record.queue_arn, record.receipt_handle, stopped.retry_after)
            except Exception as exc:  # it comes back after the queue's visibility timeout instead
                log.warning("record %s: its return not put off: %s", record.message_id, _one_line(exc))

    def _failed(self, record: Record, outcome: Outcome, result: BatchResult) -> None:
        why = outcome.failed or "not delivered"
        fresh = outcome.delivered - record.delivered
        if fresh and self._queues is not None and record.queue_arn:
            try:  # a new message for the sinks that lack it; this one is done
                self._queues.requeue(record.queue_arn, record.body or "", frozenset(outcome.delivered))
            except Exception as exc:
                why = f"{why}; not put back for the other sinks: {_one_line(exc)}"
            else:
                result.requeued.append(record.message_id)
                log.warning(
                    "record %s: %s; delivered to %s, put back for the rest",
                    record.message_id,
                    why,
                    ", ".join(sorted(outcome.delivered)),
                )
                return
        result.failures[record.message_id] = why
        log.error("record %s not delivered: %s", record.message_id, why)

    def _refused(self, record: Record, outcome: Outcome, result: BatchResult) -> None:
        """To the dead-letter queue, saying which sinks have it. Another sink that failed for now
        gets its retry from a copy put back for it alone; the dead-lettered one then names it too,
        so a redrive goes to the refusing sink only."""
        why = outcome.refused or "refused"
        delivered = set(outcome.delivered)
        if outcome.failed and self._queues is not None and record.queue_arn:
            try:
                self._queues.requeue(
                    record.queue_arn, record.body or "", frozenset(delivered | outcome.refused_by)
                )
            except Exception as exc:  # the dead-lettered copy keeps it for that sink too
                log.warning(
                    "record %s: not put back for the other sinks: %s", record.message_id, _one_line(exc)
                )
            else:
                delivered |= {SLACK, CHAT} - outcome.refused_by
        attributes = {"delivered": ",".join(sorted(delivered))} if delivered else None
        try:
            self._dead_letter(record.body, why, REFUSED, attributes)
        except Exception as exc:  # the queue's own redrive takes it there instead
            result.failures[record.message_id] = f"{why}; not dead-lettered: {_one_line(exc)}"
            log.error("record %s refused: %s; not dead-lettered: %s", record.message_id, why, _one_line(exc))
            return
        result.refused[record.message_id] = why
        log.error("record %s refused for good, dead-lettered: %s", record.message_id, why)

    def _malformed(self, record: Record, why: str, result: BatchResult) -> None:
        log.error("record %s dead-lettered: %s", record.message_id, why)
        try:
            self._dead_letter(record.body, why, MALFORMED, None)
        except Exception as exc:  # the queue's own redrive takes it there instead
            result.failures[record.message_id] = f"{why}; not dead-lettered: {_one_line(exc)}"
            return
        result.malformed[record.message_id] = why

    def _dead_letter(self, body: str | None, why: str, kind: str, attributes: dict[str, str] | None) -> None:
        if self._dead_letters is None:
            raise ConfigurationError("NOTIFIER_DEAD_LETTER_QUEUE_URL: not set")
        self._dead_letters.send_body(str(body or ""), why, kind, attributes)


def _one_line(exc: BaseException) -> str:
    """Our errors' one-line messages; any other error by its type only (a library's message may
    quote a URL or a request)."""
    return str(exc) if isinstance(exc, EnforcerError) else type(exc).__name__


# The status topic's message attributes passed on to the chat topic, so Amazon Q Developer's
# channels can filter their subscriptions the same way (models.findings.message_attributes).
CHAT_ATTRIBUTES = frozenset({"status", "account", "region", "cluster", "profile", "mode"})
