"""Safe waves for a fleet's remediation: a redeployment of the whole fleet never goes out at once.

The services to change go out in waves: a small first wave, each next one ``growth`` times larger up
to ``largest``, never more than ``per_cluster`` deployments of one cluster in one wave (a wave's
deployments are all in flight together). Each wave waits until its deployments end (VERIFIED or
not, at most ``verify_seconds``); when more than ``failure_share`` of a wave failed, the fleet-level
circuit breaker stops the run: the rest is left as it is and the summary says why. A service whose
own tag asks for audit (``tracing-sidecar=audit``, ``<profile>:audit``) never enters a wave: it is
reported as its audit found it. One engine (usecases.run_waves) applies these rules, for the stack's
runs and the command line's alike.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ..status import Status

T = TypeVar("T")

# What counts as a good end for one service of a wave: its deployment was verified, or there was
# nothing to deploy after all (it already ran the compliant revision, or became compliant meanwhile).
SUCCEEDED = frozenset({Status.VERIFIED, Status.COMPLIANT, Status.NOT_OPTED_IN})
# The service was not changed for a reason that says nothing about the fleet's health (another
# controller, deleted meanwhile, quarantined by an earlier run, or its tag now asks for audit: the
# NONCOMPLIANT of an audit, reported and not changed): not counted either way. REMEDIATED
# as a wave's end: the compliant revision was registered but the run deployed nothing, since the
# service already ran or rolled it out (a deployment of the run's ends as its verdict instead).
NEUTRAL = frozenset(
    {
        Status.SKIPPED,
        Status.QUARANTINED,
        Status.REFUSED,
        Status.DRIFTED,
        Status.NONCOMPLIANT,
        Status.IGNORED,
        Status.REMEDIATED,
    }
)
# The keys a run's rows are ordered by: a wave takes the services in this order, as far as the
# per-cluster cap allows.
PLACE = ("account", "region", "cluster", "service")


@dataclass(frozen=True)
class WavePolicy:
    first: int = 5
    growth: float = 2.0
    largest: int = 100
    per_cluster: int = 10
    failure_share: float = 0.2  # stop when more than this share of a wave failed
    verify_seconds: float = 1800.0  # how long a wave waits for its deployments to end

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.growth, self.failure_share, self.verify_seconds)):
            raise ValueError("waves: growth, failure_share and verify_seconds must be finite numbers")
        if self.first < 1 or self.largest < self.first or self.per_cluster < 1:
            raise ValueError("waves: first >= 1, largest >= first and per_cluster >= 1")
        if self.growth < 1:
            raise ValueError("waves: growth must be at least 1")
        if not 0 <= self.failure_share < 1:
            raise ValueError("waves: failure_share must be in [0, 1)")
        if self.verify_seconds <= 0:
            raise ValueError("waves: verify_seconds must be more than 0")

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> WavePolicy:
        return cls(**doc)


def to_change(status: Status, changes: Sequence[str]) -> bool:
    """The audit found a change to make: the sidecar missing, or drifted with upgrades on."""
    return status in (Status.NONCOMPLIANT, Status.DRIFTED) and bool(changes)


def in_rollout(profile: str | None, rollout: str | None) -> bool:
    """Whether a service is in a run that rolls out ``rollout`` (None: every profile): the services
    asking for another profile stay out."""
    return rollout is None or profile in (None, rollout)


def wave_candidates(rows: Iterable[Mapping[str, Any]], rollout: str | None) -> list[Mapping[str, Any]]:
    """The services a run's waves change (``rows``: the survey's status messages): a change to make,
    the rollout's profile, and no tag of their own asking for audit; in account, region, cluster and
    service order."""
    chosen = [
        r
        for r in rows
        if to_change(Status(r["status"]), r.get("changes") or [])
        and in_rollout(r.get("profile"), rollout)
        and not r.get("auditOnly")
    ]
    return sorted(chosen, key=lambda r: tuple(str(r.get(k) or "") for k in PLACE))


def cluster_of(row: Mapping[str, Any]) -> str:
    """The cluster a row's deployment counts against (per_cluster), named by account and region."""
    return f"{row.get('account')}/{row.get('region')}/{row.get('cluster')}"


def plan_run(
    rows: Iterable[Mapping[str, Any]], rollout: str | None, policy: WavePolicy
) -> list[list[Mapping[str, Any]]]:
    """A run's waves from its survey's rows."""
    return plan_waves(wave_candidates(rows, rollout), cluster_of, policy)


def plan_waves(items: Sequence[T], cluster_of: Callable[[T], str], policy: WavePolicy) -> list[list[T]]:
    """``items`` in waves, in their order as far as the per-cluster cap allows: wave n holds up to
    first x growth^n items (at most ``largest``), at most ``per_cluster`` of any one cluster. Every
    item is in exactly one wave."""
    waiting = list(items)
    waves: list[list[T]] = []
    size = float(policy.first)
    while waiting:
        wave: list[T] = []
        per_cluster: Counter[str] = Counter()
        rest: list[T] = []
        limit = min(int(size), policy.largest)
        for item in waiting:
            cluster = cluster_of(item)
            if len(wave) < limit and per_cluster[cluster] < policy.per_cluster:
                wave.append(item)
                per_cluster[cluster] += 1
            else:
                rest.append(item)
        waves.append(wave)
        waiting = rest
        size = min(size * policy.growth, float(policy.largest))  # never past largest: no overflow
    return waves


# A run's document keeps each wave's size and outcome: a plan of more waves is refused, so that the
# document stays far below DynamoDB's 400 KB item limit.
MAX_WAVES = 2000


def too_many_waves(waves: int) -> str | None:
    """Why a plan of ``waves`` waves is refused (one line), or None."""
    if waves <= MAX_WAVES:
        return None
    return (
        f"the run stopped before wave 1: its plan has {waves} waves, more than {MAX_WAVES}; "
        "raise first, growth, largest or per_cluster, or run fewer services at once"
    )


@dataclass(frozen=True)
class WaveOutcome:
    number: int  # 1-based
    size: int
    succeeded: int
    failed: int
    neutral: int
    tripped: bool

    @property
    def failure_share(self) -> float:
        counted = self.succeeded + self.failed
        return self.failed / counted if counted else 0.0

    def to_doc(self) -> dict[str, Any]:
        """As a run's report lists it."""
        return {**asdict(self), "failureShare": round(self.failure_share, 3)}


def judge_wave(number: int, statuses: Sequence[Status], policy: WavePolicy) -> WaveOutcome:
    """How a wave ended, and whether the breaker trips: more than ``failure_share`` of the services
    that were changed (or failed to be) ended badly."""
    succeeded = sum(1 for s in statuses if s in SUCCEEDED)
    failed = sum(1 for s in statuses if counts_as_failed(s))
    neutral = len(statuses) - succeeded - failed
    counted = succeeded + failed
    tripped = counted > 0 and failed / counted > policy.failure_share
    return WaveOutcome(number, len(statuses), succeeded, failed, neutral, tripped)


def stop_reason(outcome: WaveOutcome, waves: int, left: int, policy: WavePolicy) -> str:
    """Why the breaker stopped the run after ``outcome``'s wave, of ``waves``, ``left`` services unsent."""
    return (
        f"the run stopped after wave {outcome.number} of {waves}: {outcome.failed} of "
        f"{outcome.succeeded + outcome.failed} deployments failed (more than "
        f"{policy.failure_share:.0%}); {left} service(s) left unchanged"
    )


@dataclass(frozen=True)
class Next:
    """What a judged wave leads to: the next wave to queue, or (None) the run's end; ``stopped``:
    why the breaker ended it early."""

    wave: int | None
    stopped: str | None = None


def after_wave(outcome: WaveOutcome, sizes: Sequence[int], policy: WavePolicy) -> Next:
    """The step after ``outcome``'s wave of a plan of waves of ``sizes``."""
    if outcome.tripped:
        return Next(None, stop_reason(outcome, len(sizes), sum(sizes[outcome.number :]), policy))
    if outcome.number >= len(sizes):
        return Next(None)
    return Next(outcome.number + 1)


def counts_as_failed(status: Status) -> bool:
    """A wave's end the breaker counts against the fleet."""
    return status not in SUCCEEDED and status not in NEUTRAL


def failed_members(ended: Mapping[str, str], rows: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A wave's members whose end (``ended``: key -> status, as the breaker judged them) counts as
    failed, each named with its last reason (``rows``: the run's rows by key), in the wave's order."""
    members = []
    for key, status in ended.items():
        if not counts_as_failed(Status(status)):
            continue
        found = rows.get(key, {})
        reasons = found.get("reasons") or []
        members.append(
            {
                **{k: found.get(k) for k in PLACE},
                "status": status,
                "reason": str(reasons[-1]) if reasons else "",
            }
        )
    return members


def not_changed(reasons: Sequence[str], stopped: str) -> list[str]:
    """The reasons of a service a stopped run did not reach: its audit's, and why it stayed so."""
    return [*reasons, f"not changed: {stopped}"]
