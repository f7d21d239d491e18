"""The backfill function's payload, read strictly: anything else is one line of MalformedEventError.

    {"mode": "audit", "accounts": ["111122223333"] | "ORGANIZATION", "regions": ["eu-west-1"],
     "clusters": ["shop-prod"], "profile": "jaeger", "runId": "bf-2026-12-01"}

Only ``mode`` is required: the accounts default to the hub's own, the regions to the function's.
An enforce run's waves (domain.runs.waves.WavePolicy, whose defaults they take): ``first``, ``growth``,
``largest`` (at most 100: a wave's items are kept in one state table item, at most 400 KB),
``perCluster``, ``failureShare`` and ``verifySeconds``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..domain.ecs.arns import ACCOUNT_ID, REGION
from ..domain.ecs.ecs_rules import NAME
from ..domain.runs.waves import WavePolicy
from ..errors import MalformedEventError
from .events import one_line
from .work import RUN_ID

ORGANIZATION = "ORGANIZATION"
LARGEST_WAVE = 100  # a wave's items, serialized, in one state table item (DynamoDB: at most 400 KB)


class BackfillRequest(BaseModel):
    # No NaN or Infinity (JSON parsers take both): a wave that waits forever, or a growth of nothing.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    mode: Literal["audit", "enforce"]
    accounts: list[str] | Literal["ORGANIZATION"] | None = None
    regions: list[str] | None = Field(default=None, min_length=1, max_length=40)
    clusters: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    profile: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    run_id: str | None = Field(default=None, alias="runId", pattern=RUN_ID.pattern)
    first: int = Field(default=WavePolicy.first, ge=1)
    growth: float = Field(default=WavePolicy.growth, ge=1)
    largest: int = Field(default=WavePolicy.largest, ge=1, le=LARGEST_WAVE)
    per_cluster: int = Field(default=WavePolicy.per_cluster, alias="perCluster", ge=1)
    failure_share: float = Field(default=WavePolicy.failure_share, alias="failureShare", ge=0, lt=1)
    verify_seconds: float = Field(default=WavePolicy.verify_seconds, alias="verifySeconds", gt=0)

    @property
    def waves(self) -> WavePolicy:
        return WavePolicy(
            self.first, self.growth, self.largest, self.per_cluster, self.failure_share, self.verify_seconds
        )


def parse_request(event: Any) -> BackfillRequest:
    data = event
    if isinstance(event, str | bytes):
        try:
            data = json.loads(event)
        except json.JSONDecodeError as exc:
            raise MalformedEventError(f"backfill payload: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise MalformedEventError(f"backfill payload: a {type(data).__name__}, not a JSON object")
    try:
        request = BackfillRequest.model_validate(data)
    except ValidationError as exc:
        raise MalformedEventError(one_line(exc, "backfill payload", "(payload)")) from None
    if request.accounts == []:
        raise MalformedEventError(
            'backfill payload: accounts: none given (give account ids, or "ORGANIZATION")'
        )
    for account in request.accounts if isinstance(request.accounts, list) else []:
        if not ACCOUNT_ID.fullmatch(account):
            raise MalformedEventError(f"backfill payload: accounts: {account!r} is not a 12-digit account id")
    for region in request.regions or []:
        if not REGION.fullmatch(region):
            raise MalformedEventError(f"backfill payload: regions: {region!r} is not a region")
    for cluster in request.clusters or []:
        if not NAME.fullmatch(cluster.rsplit("/", 1)[-1]):
            raise MalformedEventError(f"backfill payload: clusters: {cluster!r} is not a cluster name")
    # A place or cluster given twice would be surveyed twice: its services counted twice, and the
    # run would wait for records that never come.
    for field_name, values, name_of in (
        ("accounts", request.accounts if isinstance(request.accounts, list) else [], str),
        ("regions", request.regions or [], str),
        ("clusters", request.clusters or [], lambda c: c.rsplit("/", 1)[-1]),
    ):
        seen: set[str] = set()
        for value in values:
            if name_of(value) in seen:
                raise MalformedEventError(f"backfill payload: {field_name}: {value!r} is given twice")
            seen.add(name_of(value))
    try:
        request.waves  # noqa: B018 - the policy's own rules (largest >= first)
    except ValueError as exc:
        raise MalformedEventError(f"backfill payload: {exc}") from None
    return request
