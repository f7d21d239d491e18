"""The rollout policy document, read strictly (an SSM Parameter Store parameter, JSON):

    {"modes": {"r-ab12": "audit", "ou-ab12-11111111": "enforce", "111122223333": "audit"}}

``modes`` maps an organisation id (an account, an OU, the root) to ``audit`` or ``enforce``;
domain.safety.rollout decides an account's mode from it (the most specific entry; audit for anything not
named). A document that is not this is refused in one line, naming the field, never its whole value.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..domain.safety.rollout import kind_of
from ..errors import InputError
from .events import one_line

MAX_ENTRIES = 500  # an advanced SSM parameter holds 8 KB: about 300 entries fit; more is a mistake


class RolloutPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    modes: dict[str, Literal["audit", "enforce"]] = Field(default_factory=dict, max_length=MAX_ENTRIES)

    @field_validator("modes")
    @classmethod
    def _organisation_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for target in value:
            if kind_of(target) is None:
                raise ValueError(
                    f"{target[:40]!r} is neither a 12-digit account id, an OU id (ou-xxxx-xxxxxxxx) "
                    "nor a root id (r-xxxx)"
                )
        return value


def parse_rollout(text: str, where: str) -> RolloutPolicy:
    """The policy in ``text`` (read from ``where``), or an InputError in one line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"rollout policy {where}: not JSON ({exc.msg} at column {exc.colno})") from None
    try:
        return RolloutPolicy.model_validate(data)
    except ValidationError as exc:
        raise InputError(one_line(exc, f"rollout policy {where}", "(document)")) from None
