"""How far a fleet run is (``Progress``): what a progress bar, or a survey child's report to its
parent, shows."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..domain.status import Status


@dataclass
class Progress:
    """How far a run is: what a progress bar (or backfill-status) shows."""

    phase: str = "survey"  # survey, wave N/M, done
    places_done: int = 0
    places: int = 0
    services_seen: int = 0
    services_decided: int = 0
    deployments_waiting: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def decided(self, status: Status) -> None:
        with self.lock:
            self.services_decided += 1
            self.counts[status.value] = self.counts.get(status.value, 0) + 1

    def snapshot(self) -> tuple[int, int, int, dict[str, int]]:
        """The survey's counts as plain data (a survey child's, for the parent)."""
        with self.lock:
            return self.places_done, self.services_seen, self.services_decided, dict(self.counts)

    def add_up(self, snapshots: Iterable[tuple[int, int, int, dict[str, int]]]) -> None:
        """The survey's counts: the sum of the survey children's."""
        counts: dict[str, int] = {}
        done = seen = decided = 0
        for places, services, finished, by_status in snapshots:
            done, seen, decided = done + places, seen + services, decided + finished
            for status, n in by_status.items():
                counts[status] = counts.get(status, 0) + n
        with self.lock:
            self.places_done, self.services_seen, self.services_decided = done, seen, decided
            self.counts = counts
