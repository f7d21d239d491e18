"""Profiles: the shipped documents (one JSON file per profile in this folder) plus custom ones from a
folder or an SSM Parameter Store path, read by adapters and validated here.

A custom document with a shipped profile's name replaces it (a platform team pins its own image).
An invalid custom document does not stop the others: services asking for it are refused with the
field that is wrong. A profile's name is its document's whole path under the folder or the SSM
path; two custom documents that resolve to one name (the folder and SSM, or names that differ only
in case, which a tag's value does not tell apart) are both refused, naming both, never one chosen
by the order they were read in.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from pydantic import ValidationError

from ..domain.planning.profile import Profile
from ..errors import InputError


def parse_profile(text: str, origin: str) -> Profile:
    """Read one profile document; errors name the origin and the field."""
    try:
        return Profile.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        # botocore's paths use brackets (container.portMappings[0].containerPort): one style here
        message = re.sub(r"\[(\d+)\]", r".\1", err["msg"].removeprefix("Value error, "))
        if f"{where}." in message:  # the message names the full path already
            raise InputError(f"profile {origin}: {message}") from None
        raise InputError(f"profile {origin}: {where}: {message}") from None


@dataclass(frozen=True)
class Catalog:
    profiles: dict[str, Profile] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # name -> where its document came from
    errors: dict[str, str] = field(default_factory=dict)  # name -> why its document was rejected
    shipped: dict[str, str] = field(default_factory=dict)  # name -> origin of the shipped document

    def get(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def is_shipped(self, name: str) -> bool:
        """Whether the profile ``name`` is the shipped document itself (not replaced by a custom one)."""
        return name in self.profiles and name in self.shipped and self.origins[name] == self.shipped[name]

    def replacement(self, name: str) -> str | None:
        """A warning when the profile ``name`` comes from a custom document that replaced the
        shipped one: services using it must be able to tell (the document runs in their tasks)."""
        if name not in self.profiles or name not in self.shipped:
            return None
        origin = self.origins[name]
        if origin == self.shipped[name]:
            return None
        return f"profile {name} comes from {origin}, replacing the shipped one"

    def with_documents(self, documents: Iterable[tuple[str, str, str]]) -> Catalog:
        """A new catalog with (name, origin, text) documents added, each replacing a shipped or
        earlier profile of its name; documents of this batch that resolve to one name are all
        refused, naming every origin."""
        profiles, origins, errors = dict(self.profiles), dict(self.origins), dict(self.errors)
        batch = list(documents)
        # SSM parameter names are case sensitive (PutParameter's naming constraints) and so are
        # file names, but a tag's value is read lowercased (domain.planning.selection): names equal but for
        # case are one name to the services that ask for it.
        by_name: dict[str, list[tuple[str, str]]] = {}
        for name, origin, _ in batch:
            by_name.setdefault(name.casefold(), []).append((name, origin))
        for name, origin, text in batch:
            clashing = by_name[name.casefold()]
            if len(clashing) > 1:
                # never fall back to a shipped profile, nor to one of them by reading order
                message = _clash(clashing)
                for key in {name, name.casefold()}:
                    profiles.pop(key, None)
                    errors[key] = message
                continue
            try:
                profile = parse_profile(text, origin)
            except InputError as exc:
                # never fall back to a shipped profile of the same name: the team meant another one
                profiles.pop(name, None)
                errors[name] = str(exc)
                continue
            if profile.name != name:
                profiles.pop(name, None)
                errors[name] = (
                    f"profile {origin}: name: {profile.name!r} differs from the document's name {name!r} "
                    "(a profile's name is its whole path)"
                )
                continue
            errors.pop(name, None)
            profiles[name], origins[name] = profile, origin
        return Catalog(profiles, origins, errors, self.shipped)


def _clash(documents: list[tuple[str, str]]) -> str:
    names = sorted({name for name, _ in documents})
    origins = " and ".join(sorted(origin for _, origin in documents))
    return (
        f"profile {' / '.join(names)}: {origins} resolve to one profile name; both refused until one "
        "is removed or renamed (a profile's name is its whole path)"
    )


@cache
def builtin_catalog() -> Catalog:
    folder = resources.files(__name__)
    documents = [
        (entry.name.removesuffix(".json"), f"shipped {entry.name}", entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    ]
    catalog = Catalog().with_documents(documents)
    if catalog.errors:  # a shipped document is a bug of ours: fail loudly
        raise InputError("; ".join(catalog.errors.values()))
    return dataclasses.replace(catalog, shipped=dict(catalog.origins))


def builtin_profiles() -> dict[str, Profile]:
    return builtin_catalog().profiles


def dump(profile: Profile) -> str:
    return json.dumps(profile.model_dump(mode="json", by_alias=True), indent=2)
