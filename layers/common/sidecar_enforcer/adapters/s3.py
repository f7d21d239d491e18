"""Amazon S3: a backfill run's report, in the stack's report bucket.

IAM action used: ``PERMISSIONS``, on the report bucket's objects.
"""

from __future__ import annotations

from typing import Any

from .aws import call

PERMISSIONS = ("s3:PutObject",)


class ReportStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, body: str, content_type: str) -> str:
        """Write the object; its s3:// address."""
        call(
            "PutObject",
            self._client.put_object,
            Bucket=self._bucket,
            Key=key,
            Body=body.encode("utf-8"),
            ContentType=content_type,
        )
        return f"s3://{self._bucket}/{key}"
