"""Safe waves for a fleet's remediation: a redeployment of the whole fleet never goes out at once.

The services to change go out in waves: a small first wave, each next one ``growth`` times larger up
to ``largest``, never more than ``per_cluster`` deployments of one cluster in one wave (a wave's
deployments are all in flight together). Each wave waits until its deployments end (VERIFIED or
not, at most ``verify_seconds``); when more than ``failure_share`` of a wave failed, the fleet-level
circuit breaker stops the run: the rest is left as it is and the summary says why. The command
line's run (usecases.backfill) and the stack's (usecases.runs) share these rules.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from .status import Status

T = TypeVar("T")

# What counts as a good end for one service of a wave: its deployment was verified, or there was
# nothing to deploy after all (it already ran the compliant revision, or became compliant meanwhile).
SUCCEEDED = frozenset({Status.VERIFIED, Status.COMPLIANT, Status.NOT_OPTED_IN})
# The service was not changed for a reason that says nothing about the fleet's health (another
# controller, deleted meanwhile, quarantined by an earlier run): not counted either way. REMEDIATED
# as a wave's end: the compliant revision was registered but the run deployed nothing, since the
# service already ran or rolled it out (a deployment of the run's ends as its verdict instead).
NEUTRAL = frozenset(
    {Status.SKIPPED, Status.QUARANTINED, Status.REFUSED, Status.DRIFTED, Status.IGNORED, Status.REMEDIATED}
)


@dataclass(frozen=True)
class WavePolicy:
    first: int = 5
    growth: float = 2.0
    largest: int = 100
    per_cluster: int = 10
    failure_share: float = 0.2  # stop when more than this share of a wave failed
    verify_seconds: float = 1800.0  # how long a wave waits for its deployments to end

    def __post_init__(self) -> None:
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
    neutral = sum(1 for s in statuses if s in NEUTRAL)
    failed = len(statuses) - succeeded - neutral
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


def not_changed(reasons: Sequence[str], stopped: str) -> list[str]:
    """The reasons of a service a stopped run did not reach: its audit's, and why it stayed so."""
    return [*reasons, f"not changed: {stopped}"]
