"""adapters.aws: errors raised before AWS answers become one line saying what to check, and the CLI's
clients give up within seconds while the Lambda's keep their patient retries."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSOTokenLoadError,
)
from sidecar_enforcer.adapters.aws import INTERACTIVE, RETRIES, Clients, default_config, translate

ECS = "https://ecs.eu-west-1.amazonaws.com/"
REACH = "(check AWS_ENDPOINT_URL, the region, or the network)"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            EndpointConnectionError(endpoint_url=ECS),
            f"cannot reach https://ecs.eu-west-1.amazonaws.com {REACH}",
        ),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"),
            f"cannot reach http://127.0.0.1:9 {REACH}",
        ),
        (
            ConnectTimeoutError(endpoint_url=ECS),
            f"cannot reach https://ecs.eu-west-1.amazonaws.com: connect timeout {REACH}",
        ),
        (
            ReadTimeoutError(endpoint_url=ECS, error="timed out"),
            "https://ecs.eu-west-1.amazonaws.com did not answer in time (read timeout)",
        ),
        (
            ProxyConnectionError(proxy_url="http://alice:s3cret@proxy.internal:3128", error="refused"),
            "cannot reach the proxy http://proxy.internal:3128 (check HTTPS_PROXY)",
        ),
        (
            NoCredentialsError(),
            "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            "incomplete AWS credentials from env: AWS_SECRET_ACCESS_KEY is missing",
        ),
        (
            SSOTokenLoadError(error_msg="expired"),
            "cannot get AWS credentials (an SSO session may have expired: aws sso login)",
        ),
        (NoRegionError(), "no AWS region (set AWS_REGION or AWS_DEFAULT_REGION)"),
        # botocore's own message quotes the request's values: only the type is told
        (ParamValidationError(report="value: CANARY-secret"), "ParamValidationError"),
    ],
)
def test_an_error_before_aws_answers_is_one_line_with_what_to_check(
    exc: BotoCoreError, expected: str
) -> None:
    error = translate("DescribeServices", exc)

    assert str(error) == f"DescribeServices: {expected}"
    assert "s3cret" not in str(error)
    assert "CANARY" not in str(error)


def test_the_lambda_keeps_its_retries_and_the_cli_s_block_gets_the_interactive_ones() -> None:
    lambda_client = Clients().client("ecs", "eu-west-1")

    with default_config(INTERACTIVE):
        cli_clients = Clients()
        cli_client = cli_clients.client("ecs", "eu-west-1")
    after = Clients()

    assert lambda_client.meta.config.connect_timeout == RETRIES.connect_timeout == 5
    assert lambda_client.meta.config.retries["mode"] == "adaptive"
    assert cli_client.meta.config.connect_timeout == INTERACTIVE.connect_timeout == 2
    assert cli_client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert cli_clients.client("sts").meta.config.connect_timeout == 2
    assert after.config is RETRIES
