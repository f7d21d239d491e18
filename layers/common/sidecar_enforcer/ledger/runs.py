"""A backfill run's records in the state table.

A run: its document (pk run#<id>, sk "run": its state, domain.runs.run_state) and one row per
service (sk svc#<key>: the service's latest status message), the keys its survey queued
(sk survey#NNNN, 100 a row) and an enforce run's waves (sk wave#NNNN: the wave's work items).
A row counts once: a retried item overwrites its row without counting it again. The open runs
are listed under pk "runs" (sk: the run id) for the scheduled tick, until the run is finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import RejectedError
from .table import TableClient

if TYPE_CHECKING:
    from ..domain.runs.run_state import RunState

RUN = "run"
RUN_TTL_SECONDS = 30 * 24 * 3600  # a run's rows; its report stays in the report bucket
RUN_ROWS_MAX = 1_000_000
RUNS = "runs"  # the open runs' partition
RUNS_OPEN_MAX = 100
SURVEY_KEYS_PER_ROW = 100  # a key (an ECS service ARN) is at most about 600 characters


class RunRecords(TableClient):
    """A run's document, its rows, its survey's keys and its waves; the open runs' listing."""

    def run_open(self, run_id: str, run: RunState) -> bool:
        """Record a new run; False when a run with this id exists."""
        opened = run.opened(self._clock())
        # Listed first: a run never exists unlisted (the tick drops a listing whose run is not open).
        self._table.put(RUNS, run_id, {}, None, expires=self._run_expiry())
        return self._table.put(f"run#{run_id}", RUN, opened.to_doc(), None, expires=self._run_expiry())

    def runs_open(self) -> list[str]:
        """The runs not finished yet (one Query)."""
        return [run_id for run_id, _ in self._table.query(RUNS, RUNS_OPEN_MAX)]

    def run_closed(self, run_id: str) -> None:
        """The run is finished: no longer listed as open."""
        self._table.delete(RUNS, run_id, 1)

    def run(self, run_id: str) -> RunState | None:
        found = self._table.get(f"run#{run_id}", RUN)
        return _run_state(found.doc) if found else None

    def run_record(self, run_id: str, key: str, message: dict[str, Any]) -> RunState | None:
        """Keep a service's status in its run. The run once the row is new (its ``done`` counted),
        None when the row was there already (a retried item: overwritten, not counted)."""
        pk, sk = f"run#{run_id}", f"svc#{key}"
        while True:
            found = self._table.get(pk, sk)
            if self._table.put(pk, sk, message, found.version if found else None, expires=self._run_expiry()):
                break
            self._pause()
        if found is not None:
            return None
        now = self._clock()
        return self.run_update(run_id, lambda run: run.row_counted(now))

    def run_row(self, run_id: str, key: str) -> dict[str, Any] | None:
        found = self._table.get(f"run#{run_id}", f"svc#{key}")
        return found.doc if found else None

    def run_update(self, run_id: str, change: Callable[[RunState], RunState | None]) -> RunState | None:
        """Apply ``change`` to the run by a conditional write (read again and applied again when
        another invocation wrote first). The run as this write left it, or None when the change did
        not apply to the run as it was (nothing written): what the change decided."""
        key = (f"run#{run_id}", RUN)
        while True:
            found = self._table.get(*key)
            if found is None:
                raise RejectedError(f"backfill run {run_id} is not recorded in the state table")
            new = change(_run_state(found.doc))
            if new is None:
                return None
            if self._table.put(*key, new.to_doc(), found.version, expires=self._run_expiry()):
                return new
            self._pause()

    def run_rows(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Every service status recorded in the run, by key."""
        rows = self._table.query(f"run#{run_id}", RUN_ROWS_MAX)
        return {sk.removeprefix("svc#"): found.doc for sk, found in rows if sk.startswith("svc#")}

    def run_survey(self, run_id: str, keys: list[str]) -> None:
        """The keys of the services the run's survey queued (what a sweep finds missing)."""
        for start in range(0, len(keys), SURVEY_KEYS_PER_ROW):
            sk = f"survey#{start // SURVEY_KEYS_PER_ROW + 1:04d}"
            doc = {"keys": keys[start : start + SURVEY_KEYS_PER_ROW]}
            self._table.put(f"run#{run_id}", sk, doc, None, expires=self._run_expiry())

    def run_unrecorded(self, run_id: str) -> list[str]:
        """The keys the survey queued that have no row in the run yet."""
        found = self._table.query(f"run#{run_id}", RUN_ROWS_MAX)
        listed = [k for sk, part in found if sk.startswith("survey#") for k in part.doc["keys"]]
        recorded = {sk.removeprefix("svc#") for sk, _ in found if sk.startswith("svc#")}
        return [k for k in listed if k not in recorded]

    def run_wave_put(self, run_id: str, plan: str, number: int, items: list[str]) -> None:
        """Keep a wave's work items (their bodies) under the plan that made it: two planners of one
        run write under two plans, and the run's document names the one that won."""
        self._table.put(
            f"run#{run_id}", f"wave#{plan}#{number:04d}", {"items": items}, None, expires=self._run_expiry()
        )

    def run_wave(self, run_id: str, plan: str, number: int) -> list[str]:
        found = self._table.get(f"run#{run_id}", f"wave#{plan}#{number:04d}")
        return list(found.doc["items"]) if found else []

    def _run_expiry(self) -> float:
        return self._clock() + RUN_TTL_SECONDS


def _run_state(doc: dict[str, Any]) -> RunState:
    # Imported when a run is read: the router and the worker start without a run's rules.
    from ..domain.runs.run_state import RunState

    return RunState.from_doc(doc)
