"""Amazon ECS, as a fleet run surveys it: every cluster, the clusters' tags, every service's ARN.

IAM actions used: ``PERMISSIONS`` (read only). ListClusters and ListServices by full pages (100);
DescribeClusters takes up to 100 clusters per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .aws import call, pages

PERMISSIONS = ("ecs:ListClusters", "ecs:DescribeClusters", "ecs:ListServices")

DESCRIBE_CLUSTERS_MAX = 100  # DescribeClusters: up to 100 clusters per call
PAGE = {"PageSize": 100}  # ListClusters, ListServices: at most 100 per page


class EcsSurvey:
    def __init__(self, client: Any) -> None:
        self._client = client

    def clusters(self) -> Iterator[str]:
        """Every cluster's ARN."""
        for page in pages("ListClusters", self._client, "list_clusters", PaginationConfig=PAGE):
            yield from page.get("clusterArns", [])

    def clusters_tags(self, clusters: list[str]) -> dict[str, dict[str, str]]:
        """The tags of each cluster ECS describes, by cluster name (names or ARNs in)."""
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(clusters), DESCRIBE_CLUSTERS_MAX):
            response = call(
                "DescribeClusters",
                self._client.describe_clusters,
                clusters=clusters[start : start + DESCRIBE_CLUSTERS_MAX],
                include=["TAGS"],
            )
            for cluster in response.get("clusters", []):
                found[cluster["clusterName"]] = {
                    t["key"]: t.get("value", "") for t in cluster.get("tags") or []
                }
        return found

    def services(self, cluster: str) -> Iterator[str]:
        """The ARNs of a cluster's services."""
        for page in pages(
            "ListServices", self._client, "list_services", cluster=cluster, PaginationConfig=PAGE
        ):
            yield from page.get("serviceArns", [])
