"""Drain the outbox: publish the statuses SNS refused earlier (kept in the state table), oldest
first; one SNS refuses for good goes to the dead-letter queue after a few attempts."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from ..errors import RejectedError
from ..ledger import Ledger
from ..models.findings import Finding
from .ports import DeadLetters, Publisher

log = logging.getLogger("sidecar_enforcer.enforcer")


class DrainOutbox:
    def __init__(self, ledger: Ledger, publisher: Publisher, dead_letters: DeadLetters | None) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._dead_letters = dead_letters

    def __call__(self) -> int:
        def publish(message: dict[str, Any]) -> str:
            try:
                finding = Finding.model_validate(message)
            except ValidationError as exc:  # no retry can publish it either
                raise RejectedError(f"kept status unreadable: {exc.error_count()} error(s)") from None
            return self._publisher.publish(finding)

        dead_letter = self._dead_letters.send if self._dead_letters is not None else None
        sent = self._ledger.outbox_drain(publish, dead_letter=dead_letter)
        if sent:
            log.info("published %d kept status(es)", sent)
        return sent
