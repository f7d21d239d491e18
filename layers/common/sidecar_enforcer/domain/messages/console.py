"""Links to the AWS Management Console for a status: the ECS service, its logs, the CloudTrail event.

Pure: built from the status's own names (account, region, cluster, service, ...), never from the
environment. The console's host depends on the partition:

- ``aws``: the Regional endpoint ``https://<region>.console.aws.amazon.com`` (AWS General Reference,
  "AWS Management Console endpoints and quotas");
- ``aws-us-gov``: ``https://console.amazonaws-us-gov.com`` and ``aws-cn``:
  ``https://console.amazonaws.cn``, each with ``?region=``;
- any other partition (the isolated ones, the European Sovereign Cloud) or a string that is no
  region: no link at all, rather than a commercial link that would open the wrong console.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from ..ecs.arns import partition_of

CONSOLE_HOSTS = {
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
    "aws-cn": "https://console.amazonaws.cn",
}


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def console_base(region: str | None) -> str | None:
    """The console's base URL for a region, or None where we know of no console to link to."""
    if not region:
        return None
    partition = partition_of(region)
    if partition == "aws":
        return f"https://{region}.console.aws.amazon.com"
    return CONSOLE_HOSTS.get(partition or "")


def _part(value: str) -> str:
    """A path segment or fragment value, percent-encoded (ECS names are [A-Za-z0-9_-] already)."""
    return quote(value, safe="")


def _fragment(value: str) -> str:
    """A value in CloudWatch's #logsV2 fragment: percent-encoded twice, then "%" written "$" (so
    "/" becomes "$252F", as the console's own links have it)."""
    return quote(quote(value, safe=""), safe="").replace("%", "$")


def service_link(region: str | None, cluster: str | None, service: str | None) -> Link | None:
    base = console_base(region)
    if base is None or not cluster or not service:
        return None
    return Link(
        "ECS service",
        f"{base}/ecs/v2/clusters/{_part(cluster)}/services/{_part(service)}/health?region={region}",
    )


def cluster_link(region: str | None, cluster: str | None) -> Link | None:
    base = console_base(region)
    if base is None or not cluster:
        return None
    return Link("ECS cluster", f"{base}/ecs/v2/clusters/{_part(cluster)}/services?region={region}")


def logs_link(
    region: str | None,
    cluster: str | None,
    service: str | None,
    log_group: str | None = None,
    family: str | None = None,
) -> Link | None:
    """The containers' log group in CloudWatch Logs when it is known (an awslogs group), otherwise
    the service's Logs tab in the ECS console (it reads its containers' awslogs groups), or for a
    task definition alone the log groups whose names contain its family."""
    base = console_base(region)
    if base is None:
        return None
    logs = f"{base}/cloudwatch/home?region={region}#logsV2:log-groups"
    if log_group:
        return Link("Logs", f"{logs}/log-group/{_fragment(log_group)}")
    if cluster and service:
        return Link(
            "Logs",
            f"{base}/ecs/v2/clusters/{_part(cluster)}/services/{_part(service)}/logs?region={region}",
        )
    if family:
        return Link("Log groups", f"{logs}$3FlogGroupNameFilter$3D{_fragment(family)}")
    return None


def cloudtrail_link(
    region: str | None, cloudtrail_event_id: str | None, resource_name: str | None
) -> Link | None:
    """The CloudTrail event itself when its CloudTrail event id is known, otherwise the event history
    of the resource (the status's ``eventId`` is the EventBridge envelope's id, which is not
    CloudTrail's ``eventID``: the detail of an "AWS API Call via CloudTrail" event carries that)."""
    base = console_base(region)
    if base is None:
        return None
    if cloudtrail_event_id:
        return Link(
            "CloudTrail event",
            f"{base}/cloudtrail/home?region={region}#/events/{_part(cloudtrail_event_id)}",
        )
    if resource_name:
        return Link(
            "CloudTrail history",
            f"{base}/cloudtrail/home?region={region}#/events?ResourceName={_part(resource_name)}",
        )
    return None
