"""The state table kept in memory, for a run without one (the CLI offline) and for unit tests: the
same versioned documents and conditional writes as :class:`adapters.dynamodb.StateTable`, lost when
the process ends."""

from __future__ import annotations

import copy
import threading
from typing import Any

from ..domain.safety.records import Versioned

PERMISSIONS: tuple[str, ...] = ()


class MemoryTable:
    durable = False  # nothing outlives the process: a quarantine cannot be released later

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Versioned] = {}
        self._lock = threading.Lock()

    def get(self, pk: str, sk: str) -> Versioned | None:
        with self._lock:
            found = self._items.get((pk, sk))
            return copy.deepcopy(found)

    def put(
        self, pk: str, sk: str, doc: dict[str, Any], expected: int | None, *, expires: float | None = None
    ) -> bool:
        """Write ``doc`` as version ``expected + 1``; False when the stored version is another.
        (``expires`` is DynamoDB's TTL, best effort there too: kept here until the process ends.)"""
        with self._lock:
            found = self._items.get((pk, sk))
            if (found.version if found else None) != expected:
                return False
            self._items[pk, sk] = Versioned((expected or 0) + 1, copy.deepcopy(doc))
            return True

    def delete(self, pk: str, sk: str, expected: int) -> bool:
        with self._lock:
            found = self._items.get((pk, sk))
            if found is None or found.version != expected:
                return False
            del self._items[pk, sk]
            return True

    def query(self, pk: str, limit: int) -> list[tuple[str, Versioned]]:
        with self._lock:
            keys = sorted(sk for p, sk in self._items if p == pk)[:limit]
            return [(sk, copy.deepcopy(self._items[pk, sk])) for sk in keys]
