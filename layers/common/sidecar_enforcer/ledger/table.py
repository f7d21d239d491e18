"""The state table as the ledger uses it (``Table``: versioned documents with conditional
writes) and what every part of the ledger shares: the table, the clock, the pause between retries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..domain.safety.records import Versioned

WAIT_SECONDS = 30  # how long an invocation waits for a lease before its event is retried
POLL_SECONDS = 0.2


class Table(Protocol):
    """Versioned documents with conditional writes: adapters.dynamodb.StateTable, or
    adapters.memory.MemoryTable for a run without a state table."""

    durable: bool

    def get(self, pk: str, sk: str) -> Versioned | None: ...

    def put(
        self, pk: str, sk: str, doc: dict[str, Any], expected: int | None, *, expires: float | None = None
    ) -> bool: ...

    def delete(self, pk: str, sk: str, expected: int) -> bool: ...

    def query(self, pk: str, limit: int) -> list[tuple[str, Versioned]]: ...


class TableClient:
    """The table, the clock and the sleep a ledger reads, writes and retries with."""

    def __init__(
        self,
        table: Table,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._wait = wait_seconds

    @property
    def durable(self) -> bool:
        """Whether what it records outlives the process (a state table, not memory)."""
        return self._table.durable

    def now(self) -> float:
        return self._clock()

    def _pause(self) -> None:
        self._sleep(POLL_SECONDS * (0.5 + random.random()))  # noqa: S311 - jitter, not security
