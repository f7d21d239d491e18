"""The operators' switches, as the worker and the scheduled tick ask them: is every change stopped,
and which mode does the rollout policy give an account (domain.safety.rollout decides; this reads).

Both are SSM parameters read together in one GetParameters call at most every ``max_age`` seconds
per container (30 s: a switch thrown reaches every warm container within a minute). A new version
of the policy document is validated once: its JSON (models.rollout), then every id it names against
the organisation. A document that fails either is refused as a whole: every account is audited and
every status it touches says why (``Switch.because``), and an ERROR line is logged once per version;
nothing is enforced on a document nobody meant. A read that may succeed later (throttled, SSM
unreachable) raises, so the work item is retried rather than decided on a guess.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..config import Mode
from ..domain.safety.rollout import AUDIT, ENFORCE, kind_of, mode_for, needs_path, stop_switch, strictest
from ..errors import AwsError, InputError
from ..models.rollout import RolloutPolicy, parse_rollout
from .ports import SwitchReader, Tree
from .scope import Scope

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 30.0
PATH_MAX_AGE_SECONDS = 600.0  # an account moved to another OU is seen within ten minutes


def now() -> float:
    """The containers' clock for the cache (a test moves it on to see a switch thrown)."""
    return time.monotonic()


@dataclass(frozen=True)
class Switch:
    """The mode the switches allow for one account, and why when it is audit."""

    mode: str  # audit or enforce
    because: str | None = None


ENFORCE_ALLOWED = Switch(ENFORCE)


class Rollout:
    def __init__(
        self,
        switches: Callable[[], SwitchReader],
        tree: Callable[[], Tree],
        *,
        policy_name: str | None,
        stop_name: str | None,
        clock: Callable[[], float] | None = None,
        max_age: float = MAX_AGE_SECONDS,
        path_max_age: float = PATH_MAX_AGE_SECONDS,
    ) -> None:
        self._switches = switches
        self._tree = tree
        self._policy_name = policy_name
        self._stop_name = stop_name
        self._clock = clock or (lambda: now())
        self._max_age = max_age
        self._path_max_age = path_max_age
        self._read_at: float | None = None
        self._stopped: str | None = None
        self._version: int | None = None  # of the policy document validated last (0: none exists)
        self._policy: RolloutPolicy | None = None
        self._refused: str | None = None
        self._paths: dict[str, tuple[float, list[str] | None, str | None]] = {}

    @property
    def configured(self) -> bool:
        return bool(self._policy_name or self._stop_name)

    def stopped(self) -> str | None:
        """Why every change is stopped (the stop switch is on), or None."""
        self._refresh()
        return self._stopped

    def mode(self, account: str) -> Switch:
        """The mode the stop switch and the rollout policy allow in ``account``."""
        self._refresh()
        if self._stopped:
            return Switch(AUDIT, self._stopped)
        if not self._policy_name:
            return ENFORCE_ALLOWED
        if self._refused or self._policy is None:
            return Switch(AUDIT, self._refused)
        modes = self._policy.modes
        path, unknown = self._path(account) if needs_path(modes) else ([], None)
        decision = mode_for(modes, account, path)
        if decision.mode == ENFORCE:
            return ENFORCE_ALLOWED
        why = f"rollout: {decision.why}" + (f" ({unknown})" if unknown and path is None else "")
        return Switch(AUDIT, why)

    def applied(self, scope: Scope, account: str) -> Scope:
        """``scope`` in the mode the switches allow in ``account``: the most restrictive of its own
        mode, the stop switch and the rollout policy (domain.safety.rollout.strictest), and why when that
        is audit. Read only when the scope would enforce."""
        if scope.audit:
            return scope
        switch = self.mode(account)
        mode = Mode(strictest(scope.mode.value, switch.mode))
        return replace(scope, mode=mode, audit_because=switch.because if mode is Mode.AUDIT else None)

    # -- reading ------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        now = self._clock()
        if not self.configured or (self._read_at is not None and now - self._read_at < self._max_age):
            return
        names = [n for n in (self._policy_name, self._stop_name) if n]
        found = self._switches().read(names)  # an AwsError is raised: the item is retried
        self._stopped = stop_switch(found[self._stop_name][0] if self._stop_name in found else None)[1]
        if self._policy_name:
            text, version = found.get(self._policy_name, ("", 0))
            if version != self._version:
                self._load(text, version)
        self._read_at = now

    def _load(self, text: str, version: int) -> None:
        where = f"{self._policy_name} (version {version})"
        policy, refused = None, None
        if version == 0:
            refused = f"rollout: the rollout policy {self._policy_name} does not exist: every account audited"
        else:
            try:
                policy = parse_rollout(text, where)
                unknown = self._unknown(policy)
                if unknown:
                    refused = (
                        f"rollout: the rollout policy {where} refused: it names {unknown}, which the "
                        "organisation does not know: every account audited"
                    )
                    policy = None
            except InputError as exc:
                refused = f"rollout: {exc}: refused, every account audited"
            except AwsError as exc:
                if exc.retryable:
                    raise
                refused = f"rollout: the rollout policy {where} not checked ({exc}): every account audited"
        if refused and version != 0:
            log.error("%s", refused)
        self._version, self._policy, self._refused = version, policy, refused
        self._paths.clear()

    def _unknown(self, policy: RolloutPolicy) -> str | None:
        tree = self._tree()
        for target in sorted(policy.modes):
            kind = kind_of(target) or "account"
            if not tree.exists(target, kind):
                return f"{'the root' if kind == 'root' else 'an OU' if kind == 'ou' else 'account'} {target}"
        return None

    def _path(self, account: str) -> tuple[list[str] | None, str | None]:
        """The account's OU path (cached), or None and why when Organizations does not say."""
        now = self._clock()
        kept = self._paths.get(account)
        if kept is not None and now - kept[0] < self._path_max_age:
            return kept[1], kept[2]
        try:
            path: list[str] | None = self._tree().path(account)
            why = None
        except AwsError as exc:
            if exc.retryable:
                raise
            path, why = None, str(exc)
        self._paths[account] = (now, path, why)
        return path, why
