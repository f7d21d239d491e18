"""The plans a fleet run remembers between runs (``FileMemo``): a local JSON file, by endpoint,
planning context and revision (``backfill --plans``; revisions are immutable)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar_enforcer.domain.ecs.arns import parse_arn

DEFAULT_PLANS = "sidecar-enforcer/plans.json"


PLANS_VERSION = 2


class FileMemo:
    """Plans by revision in a JSON file, read once and written back at the end of a run (atomically:
    a temporary file renamed over it).

    A plan is true of one revision as one endpoint serves it, for one profile document and policy:
    it is kept under the ECS endpoint of the revision's region (``endpoint(region)``: AWS's own, or
    AWS_ENDPOINT_URL's emulator, whose ARNs can repeat AWS's), the context (domain.planning.plan_memo: the
    profile's name, version and document, and the policy) and the revision's ARN (its partition,
    Region and account). A file that cannot be read or written is only a cache: a warning
    (``warnings``, ``save``'s answer), never a run's end. A survey child hands the plans it learned
    and its hits to the run's memo (usecases.survey_processes.Handover)."""

    def __init__(self, path: Path | None, endpoint: Callable[[str], str] = lambda region: "") -> None:
        self.path = path
        self._endpoint = endpoint
        self._endpoints: dict[str, str] = {}
        self._data: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.hits = 0  # plans found that an earlier run made
        self.warnings: list[str] = []
        if path is not None and path.exists():
            self._data = self._read(path)
        self._earlier = {
            (where, arn) for where, memos in self._data.items() if isinstance(memos, dict) for arn in memos
        }
        self._learned: list[tuple[str, str, dict[str, Any]]] = []  # put since forget()

    def _read(self, path: Path) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            self.warnings.append(f"plans not read from {path}: {exc.strerror}; planning afresh")
            return {}
        except ValueError:
            self.warnings.append(f"plans not read from {path}: not JSON; planning afresh")
            return {}
        if not isinstance(loaded, dict) or loaded.get("v") != PLANS_VERSION:
            return {}  # another version's file (or none of ours): planned afresh, then replaced
        plans = loaded.get("plans")
        return plans if isinstance(plans, dict) else {}

    def _where(self, context: str, arn: str) -> str:
        parsed = parse_arn(arn)
        region = parsed.region if parsed else ""
        if region not in self._endpoints:
            self._endpoints[region] = self._endpoint(region)
        return f"{self._endpoints[region]} {context}"

    def get(self, context: str, arn: str) -> dict[str, Any] | None:
        with self._lock:
            where = self._where(context, arn)
            memo = self._data.get(where, {}).get(arn)
            if memo is not None and (where, arn) in self._earlier:
                self.hits += 1
                self._earlier.discard((where, arn))  # counted once per revision
            return memo

    def put(self, context: str, arn: str, memo: dict[str, Any]) -> None:
        with self._lock:
            where = self._where(context, arn)
            self._data.setdefault(where, {})[arn] = memo
            self._learned.append((where, arn, memo))

    def forget(self) -> None:
        with self._lock:
            self._learned, self.hits = [], 0

    def take(self) -> tuple[list[tuple[str, str, dict[str, Any]]], int]:
        with self._lock:
            return list(self._learned), self.hits

    def merge(self, taken: tuple[list[tuple[str, str, dict[str, Any]]], int]) -> None:
        learned, hits = taken
        with self._lock:
            for where, arn, memo in learned:
                self._data.setdefault(where, {})[arn] = memo
            self.hits += hits

    def save(self) -> str | None:
        """Write the plans back; the warning (one line) when they could not be."""
        if self.path is None:
            return None
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                document = {"v": PLANS_VERSION, "plans": self._data}
                temporary.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
            temporary.replace(self.path)
        except OSError as exc:
            if temporary.parent.is_dir():
                temporary.unlink(missing_ok=True)
            return f"plans not remembered in {self.path}: {exc.strerror or exc}"
        return None


def default_plans_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / DEFAULT_PLANS
