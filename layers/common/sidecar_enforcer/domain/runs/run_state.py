"""A backfill run's state, as its document in the state table holds it, and the rules that move it.

A run goes through three phases: the **survey** (every service decided in audit mode, each row
counted once), an enforce run's **waves** (the services to change, one wave at a time: each service's
end in the wave counted once, the wave's last end judged by domain.runs.waves' breaker), and **done**
(the report and the digest are owed, then the run is closed: DONE, STOPPED, or FAILED when its
survey could not be queued).

Each transition is a method that answers the run as it is after the change, or None when the change
does not apply to the run as it is now (another invocation moved it on first): the state table's
conditional write keeps that answer, so the caller acts on what its own write decided.

The document is the one ``to_doc`` writes and ``from_doc`` reads, the same keys as ever: a run
written by an earlier version is read as it was written, and keys this version does not know are
kept as they are. Pure: no clock, no AWS; ``now`` is passed in, in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..status import Status
from .waves import WavePolicy, after_wave, judge_wave


class Phase(StrEnum):
    SURVEY = "survey"
    WAVES = "waves"
    DONE = "done"


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    STOPPED = "STOPPED"  # done, but the breaker (or an error, on the command line) stopped its waves
    FAILED = "FAILED"  # the survey was not queued in full: nothing of it is enforced


@dataclass(frozen=True)
class Pending:
    """A wave's deployment in flight: its end is the deployment's verdict."""

    deployment: str
    since: float

    def to_doc(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "since": self.since}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Pending:
        return cls(str(doc["deployment"]), float(doc["since"]))


@dataclass(frozen=True)
class WaveEnd:
    """A service's status in its wave: an end, or a deployment in flight (REMEDIATED, with its id)."""

    status: Status
    deployment_id: str | None = None


@dataclass(frozen=True)
class RunState:
    run_id: str
    mode: str  # audit or enforce
    expected: int  # the services (and the places not surveyed) the survey queued
    status: RunStatus = RunStatus.RUNNING
    phase: Phase = Phase.SURVEY
    profile: str | None = None  # a profile's rollout: only the services that ask for it
    places: tuple[tuple[str, str], ...] | None = None  # (account, region) as asked for
    clusters: tuple[str, ...] | None = None
    started: str | None = None  # ISO 8601
    partition: str = ""
    policy: WavePolicy | None = None  # an enforce run's waves
    reconcile: bool = False  # the scheduled reconciliation
    done: int = 0  # rows recorded
    recorded: float = 0.0  # when a row or an end was last counted
    # The waves: the plan whose items the waves are, each wave's size, each judged wave's outcome
    # (as the report lists it), the wave the run waits on, and its ends so far.
    plan: str = ""
    sizes: tuple[int, ...] = ()
    outcomes: tuple[Mapping[str, Any], ...] = ()
    wave: int = 0
    pending: Mapping[str, Pending] = field(default_factory=dict)
    ends: Mapping[str, str] = field(default_factory=dict)  # key -> status
    resent_at: float | None = None  # the wave's unrecorded items were queued again
    held: int | None = None  # the wave the stop switch holds
    resumes: int = 0
    # The end.
    stopped: str | None = None  # why the waves stopped before the last
    ended: str | None = None  # ISO 8601, once closed
    reason: str | None = None  # why a run FAILED
    report: Mapping[str, str] | None = None  # where its report is stored, by kind
    totals: Mapping[str, Any] | None = None
    others: Mapping[str, Any] = field(default_factory=dict)  # keys of the document not named here

    # -- the document -------------------------------------------------------------------------------

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> RunState:
        ended = doc.get("ended")  # a wave's ends while on it; when the run ended, once closed
        waves, places, clusters = doc.get("waves"), doc.get("places"), doc.get("clusters")
        return cls(
            run_id=str(doc["runId"]),
            mode=str(doc["mode"]),
            expected=int(doc.get("expected", 0)),
            status=RunStatus(doc["status"]),
            phase=Phase(doc.get("phase", Phase.SURVEY.value)),
            profile=doc.get("profile"),
            places=tuple((str(a), str(r)) for a, r in places) if places is not None else None,
            clusters=tuple(str(c) for c in clusters) if clusters is not None else None,
            started=doc.get("started"),
            partition=str(doc.get("partition", "")),
            policy=WavePolicy.from_doc(waves) if waves is not None else None,
            reconcile=bool(doc.get("reconcile", False)),
            done=int(doc.get("done", 0)),
            recorded=float(doc.get("recorded", 0)),
            plan=str(doc.get("plan", "")),
            sizes=tuple(int(s) for s in doc.get("sizes") or ()),
            outcomes=tuple(doc.get("outcomes") or ()),
            wave=int(doc.get("wave", 0)),
            pending={k: Pending.from_doc(v) for k, v in (doc.get("pending") or {}).items()},
            ends={k: str(v) for k, v in ended.items()} if isinstance(ended, dict) else {},
            resent_at=_float(doc.get("resentAt")),
            held=int(doc["held"]) if doc.get("held") else None,
            resumes=int(doc.get("resumes", 0)),
            stopped=doc.get("stopped"),
            ended=ended if isinstance(ended, str) else None,
            reason=doc.get("reason"),
            report=doc.get("report"),
            totals=doc.get("totals"),
            others={k: v for k, v in doc.items() if k not in _KEYS},
        )

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            **self.others,
            "runId": self.run_id,
            "mode": self.mode,
            "profile": self.profile,
            "expected": self.expected,
            "status": self.status.value,
            "phase": self.phase.value,
            "partition": self.partition,
            "done": self.done,
            "recorded": self.recorded,
        }
        optional: dict[str, Any] = {
            "places": [list(p) for p in self.places] if self.places is not None else None,
            "clusters": list(self.clusters) if self.clusters is not None else None,
            "started": self.started,
            "waves": self.policy.to_doc() if self.policy is not None else None,
            "reconcile": True if self.reconcile else None,
            "resentAt": self.resent_at,
            "held": self.held,
            "resumes": self.resumes or None,
            "stopped": self.stopped,
            "reason": self.reason,
            "report": dict(self.report) if self.report is not None else None,
            "totals": dict(self.totals) if self.totals is not None else None,
        }
        doc |= {k: v for k, v in optional.items() if v is not None}
        if self.plan or self.stopped is not None or self.sizes or self.outcomes or self.wave:
            # the waves planned, or a plan refused or a run stopped before them (no wave, no size)
            outcomes = [dict(o) for o in self.outcomes]
            doc |= {"sizes": list(self.sizes), "outcomes": outcomes, "wave": self.wave}
        if self.plan:  # the waves were planned: the wave the run is on (or ended on)
            doc |= {
                "plan": self.plan,
                "pending": {k: p.to_doc() for k, p in self.pending.items()},
                "ended": dict(self.ends),
            }
        if self.ended is not None:
            doc["ended"] = self.ended
        return doc

    # -- where it is --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.status is RunStatus.RUNNING

    @property
    def surveying(self) -> bool:
        return self.running and self.phase is Phase.SURVEY

    @property
    def all_recorded(self) -> bool:
        """Every item of the survey has its row (or was declared lost)."""
        return self.running and self.done >= self.expected

    def on(self, wave: int) -> bool:
        """Whether the run waits for the ends of this wave."""
        return self.running and self.phase is Phase.WAVES and self.wave == wave

    def scope(self) -> dict[str, Any]:
        """What the run was asked to cover, as its document (and its report) names it."""
        doc = self.to_doc()
        return {k: doc.get(k) for k in ("places", "clusters", "profile")}

    def progress(self) -> str:
        """Where a run is: survey, wave N/M (how many of its services ended), or done."""
        if not self.running or self.phase is not Phase.WAVES:
            return self.phase.value if self.running else Phase.DONE.value
        return (
            f"wave {self.wave}/{len(self.sizes)}, {len(self.ends)} of {self.sizes[self.wave - 1]} "
            f"services ended, {len(self.pending)} deployment(s) in flight"
        )

    # -- the survey ---------------------------------------------------------------------------------

    def opened(self, now: float) -> RunState:
        return replace(self, done=0, recorded=now)

    def row_counted(self, now: float) -> RunState:
        return replace(self, done=self.done + 1, recorded=now)

    def survey_lost(self) -> RunState:
        """The survey's items nothing was recorded for were declared lost: every one is counted."""
        return replace(self, done=max(self.done, self.expected))

    def waves_started(self, plan: str, sizes: Sequence[int], now: float) -> RunState | None:
        """The survey's end, for the planner whose write wins: wave 1 of the plan's waves."""
        if not self.surveying:
            return None
        return replace(self, phase=Phase.WAVES, plan=plan, sizes=tuple(sizes), outcomes=())._on_wave(1, now)

    def refused(self, stopped: str) -> RunState | None:
        """The run whose plan was refused: done before its first wave, every service left as it is."""
        if not self.surveying:
            return None
        return replace(self, phase=Phase.DONE, stopped=stopped, sizes=(), outcomes=(), wave=0)

    # -- a wave -------------------------------------------------------------------------------------

    def counted(self, wave: int, ends: Mapping[str, WaveEnd], now: float) -> RunState | None:
        """Each service's end (or its deployment in flight) in ``wave``, counted once; the count that
        completes the wave judges it and moves the run on to the next wave, or to its end. None when
        the run is not on that wave (a later one, or stopped: counted already)."""
        if not self.on(wave):
            return None
        pending, ended = dict(self.pending), dict(self.ends)
        for key, end in ends.items():
            if key in ended:
                continue
            if end.status is Status.REMEDIATED and end.deployment_id:
                pending.setdefault(key, Pending(end.deployment_id, now))
            else:
                pending.pop(key, None)
                ended[key] = end.status.value
        counted = replace(self, pending=pending, ends=ended, recorded=now)
        if len(ended) < self.sizes[wave - 1]:
            return counted
        return counted._judged(now)

    def _judged(self, now: float) -> RunState:
        assert self.policy is not None, "a run on a wave is an enforce run"
        outcome = judge_wave(self.wave, [Status(s) for s in self.ends.values()], self.policy)
        # Each wave's ends as judged (key -> status): the report names the failed ones.
        judged = replace(self, outcomes=(*self.outcomes, outcome.to_doc()))
        step = after_wave(outcome, self.sizes, self.policy)
        if step.wave is None:
            return replace(judged, phase=Phase.DONE, stopped=step.stopped or self.stopped)
        return replace(judged, resent_at=None)._on_wave(step.wave, now)

    def _on_wave(self, number: int, now: float) -> RunState:
        return replace(self, wave=number, pending={}, ends={}, recorded=now)

    def resent(self, wave: int, now: float) -> RunState | None:
        """The wave's unrecorded items were queued again: the lost interval starts over from now."""
        return replace(self, resent_at=now, recorded=now) if self.on(wave) else None

    def held_on(self, wave: int) -> RunState | None:
        """The stop switch holds the run on ``wave``."""
        return replace(self, held=wave) if self.on(wave) else None

    def resumed(self, wave: int, now: float) -> RunState | None:
        """The held wave goes on (its items queued again under a new origin, ``resumes``)."""
        if not (self.on(wave) and self.held):
            return None
        return replace(self, held=None, resent_at=None, recorded=now, resumes=self.resumes + 1)

    # -- the end ------------------------------------------------------------------------------------

    def aborted(self, reason: str) -> RunState:
        """The run an error ended: what the waves sent so far stands; the rest is left as it is."""
        stopped = f"the run stopped: {reason}"
        if self.phase is Phase.WAVES:
            return replace(self, phase=Phase.DONE, stopped=stopped)
        return replace(self, phase=Phase.DONE, stopped=stopped, sizes=(), outcomes=(), wave=0)

    def failed(self, reason: str, ended: str) -> RunState:
        """The survey was not queued in full: FAILED, so that no sweep enforces what it found."""
        return replace(self, status=RunStatus.FAILED, phase=Phase.DONE, ended=ended, reason=reason)

    def finished(self) -> RunState:
        """Its report made: DONE, or STOPPED when its waves stopped before the last."""
        return replace(self, status=RunStatus.STOPPED if self.stopped else RunStatus.DONE)

    def closed(self, ended: str, report: Mapping[str, str], totals: Mapping[str, Any]) -> RunState | None:
        """The finish's close: its report and totals kept. None when another finish closed it first."""
        if not self.running:
            return None
        return replace(self.finished(), ended=ended, report=report, totals=totals)


_KEYS = frozenset(
    {
        "runId",
        "mode",
        "expected",
        "status",
        "phase",
        "profile",
        "places",
        "clusters",
        "started",
        "partition",
        "waves",
        "reconcile",
        "done",
        "recorded",
        "plan",
        "sizes",
        "outcomes",
        "wave",
        "pending",
        "ended",
        "resentAt",
        "held",
        "resumes",
        "stopped",
        "reason",
        "report",
        "totals",
    }
)


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
