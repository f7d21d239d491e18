"""Custom profile documents: a folder of JSON files (e.g. a layer's /opt/...), and an SSM Parameter
Store path read with Powertools' SSM provider (GetParametersByPath, recursive, cached ``max_age``
seconds). Returns raw (name, origin, text) documents; ``profiles.Catalog`` validates them.

A document's name is its whole path under the folder or the SSM path (``team-a/adot`` for
``<path>/team-a/adot``): a document in a deeper path never stands in for another path's profile.

IAM actions used: ``PERMISSIONS``, on the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import AwsError, ConfigurationError
from .aws import answer, translate

PERMISSIONS = ("ssm:GetParametersByPath",)

MAX_AGE_SECONDS = 300  # a changed profile reaches warm containers within five minutes

Document = tuple[str, str, str]


def folder_documents(folder: str) -> list[Document]:
    path = Path(folder)
    if not path.is_dir():
        raise ConfigurationError(f"PROFILES_DIR: {folder} is not a folder")
    return [
        (
            entry.relative_to(path).with_suffix("").as_posix(),
            str(entry),
            entry.read_text(encoding="utf-8-sig"),
        )
        for entry in sorted(path.rglob("*.json"))
        if entry.is_file()
    ]


class SsmProfiles:
    """Powertools' SSM provider, imported (about 15 ms) only when an SSM path is configured."""

    def __init__(self, client: Any, path: str) -> None:
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        self._provider = SSMProvider(boto3_client=client)
        self._path = path
        # Powertools reads a page's parameters with a default: a page that is no API answer (an
        # HTML page answered 200 parses as {}) would read as "no custom profile" and be cached.
        client.meta.events.register(
            "after-call.ssm.GetParametersByPath",
            self._answered,
            unique_id=f"sidecar-enforcer-profiles-{path}",
        )

    def _answered(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if getattr(http_response, "status_code", 200) < 300:
            answer(f"GetParametersByPath {self._path}", parsed, "Parameters")

    def documents(self) -> list[Document]:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            values = self._provider.get_multiple(
                self._path, max_age=MAX_AGE_SECONDS, recursive=True, decrypt=False
            )
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, Exception):  # the client's own: one line, its text never quoted
                raise translate(f"GetParametersByPath {self._path}", cause) from None
            raise AwsError(f"GetParametersByPath {self._path}: {type(exc).__name__}") from None
        base = self._path.rstrip("/")
        # Powertools names each parameter by its path under self._path (the prefix and the
        # leading "/" stripped): that whole path is the profile's name.
        return [(name, f"ssm:{base}/{name}", str(text)) for name, text in sorted(values.items())]
