"""The profiles shipped with the enforcer: one validated JSON document per file in this folder."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pydantic import ValidationError

from ..errors import InputError
from ..models.profiles import Profile


def parse_profile(text: str, origin: str) -> Profile:
    """Read one profile document; errors name the file and the field."""
    try:
        return Profile.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise InputError(f"profile {origin}: {where}: {err['msg']}") from None


@cache
def builtin_profiles() -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            profile = parse_profile(entry.read_text(encoding="utf-8"), entry.name)
            found[profile.name] = profile
    return found


def dump(profile: Profile) -> str:
    return json.dumps(profile.model_dump(mode="json", by_alias=True), indent=2)
