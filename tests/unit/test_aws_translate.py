"""adapters.aws: errors raised before AWS answers become one line saying what to check, and the CLI's
clients give up within seconds while the Lambda's keep their patient retries."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
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
from botocore.parsers import ResponseParserError
from sidecar_enforcer.adapters.aws import (
    INTERACTIVE,
    RETRIES,
    Clients,
    call,
    default_config,
    pages,
    translate,
)
from sidecar_enforcer.adapters.dynamodb import StateTable
from sidecar_enforcer.errors import AwsError

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


def connect_timeout(config: Config) -> Any:
    """A Config's connect timeout: botocore sets each option as an attribute when the Config is
    built, which its type stubs do not declare."""
    return vars(config)["connect_timeout"]


def test_the_lambda_keeps_its_retries_and_the_cli_s_block_gets_the_interactive_ones() -> None:
    lambda_client = Clients().client("ecs", "eu-west-1")

    with default_config(INTERACTIVE):
        cli_clients = Clients()
        cli_client = cli_clients.client("ecs", "eu-west-1")
    after = Clients()

    assert lambda_client.meta.config.connect_timeout == connect_timeout(RETRIES) == 5
    assert lambda_client.meta.config.retries["mode"] == "adaptive"
    assert cli_client.meta.config.connect_timeout == connect_timeout(INTERACTIVE) == 2
    assert cli_client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert cli_clients.client("sts").meta.config.connect_timeout == 2
    assert after.config is RETRIES


# -- any exception a client raises: one line, an AwsError -------------------------------------------

HTML = (
    "<!DOCTYPE html>\n<html><head><title>500</title></head>"
    "<body><h1>Internal Server Error</h1>\n</body></html>"
)


def client_error(code: str, message: str, status: int = 500) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": "r",
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "UpdateService",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # a load balancer's or proxy's HTML page: botocore makes it a ClientError whose message is the page
        (
            client_error("500", HTML),
            "HTTP 500 Internal Server Error (an answer that is not an AWS API response)",
        ),
        (
            client_error("502", "Bad Gateway", 502),
            "HTTP 502 Bad Gateway (an answer that is not an AWS API response)",
        ),
        (
            client_error("Unknown", "Unknown"),
            "HTTP 500 Internal Server Error (an answer that is not an AWS API response)",
        ),
        (
            ResponseParserError(f"Unable to parse response (syntax error), invalid XML received:\n{HTML}"),
            "the answer is not an AWS API response (ResponseParserError)",
        ),
        (
            ReadTimeoutError(endpoint_url=ECS, error="timed out"),
            "https://ecs.eu-west-1.amazonaws.com did not answer in time (read timeout)",
        ),
        (
            ConnectTimeoutError(endpoint_url=ECS),
            f"cannot reach https://ecs.eu-west-1.amazonaws.com: connect timeout {REACH}",
        ),
        (
            EndpointConnectionError(endpoint_url=ECS),
            f"cannot reach https://ecs.eu-west-1.amazonaws.com {REACH}",
        ),
        # botocore's query parser on an HTML page answered 200: a KeyError of its own
        (KeyError("PublishResult"), "KeyError in the AWS SDK (an answer that is not an AWS API response?)"),
        (
            ValueError("CANARY-secret"),
            "ValueError in the AWS SDK (an answer that is not an AWS API response?)",
        ),
    ],
    ids=[
        "html-500",
        "generic-502",
        "unknown",
        "parser",
        "read-timeout",
        "connect-timeout",
        "endpoint",
        "key",
        "value",
    ],
)
def test_any_exception_from_a_client_is_an_aws_error_of_one_line(exc: Exception, expected: str) -> None:
    def client_call(**kwargs: Any) -> Any:
        raise exc

    def paginate(**kwargs: Any) -> Any:
        raise exc
        yield  # pragma: no cover - a generator

    paginator = type("Paginator", (), {"paginate": staticmethod(paginate)})()
    client = type("Client", (), {"get_paginator": staticmethod(lambda operation: paginator)})()

    with pytest.raises(AwsError) as called:
        call("UpdateService", client_call, service="api")
    with pytest.raises(AwsError) as paged:
        list(pages("UpdateService", client, "list_services"))

    assert str(called.value) == str(paged.value) == f"UpdateService: {expected}"
    assert "<" not in str(called.value)
    assert "CANARY" not in str(called.value)
    assert called.value.retryable  # another attempt may get a real answer


def test_a_long_aws_message_is_cut_to_one_short_line() -> None:
    error = translate("DescribeServices", client_error("ServerException", "word " * 400))

    assert "\n" not in str(error)
    assert len(str(error)) < 600
    assert str(error).endswith("…")


@pytest.mark.parametrize(
    "exc",
    [
        ReadTimeoutError(endpoint_url=ECS, error="timed out"),
        ResponseParserError("invalid XML"),
        KeyError("x"),
    ],
    ids=["read-timeout", "parser", "key"],
)
def test_the_state_tables_conditional_writes_translate_every_exception(exc: Exception) -> None:
    def fail(**kwargs: Any) -> Any:
        raise exc

    client = type("Client", (), {"put_item": staticmethod(fail), "delete_item": staticmethod(fail)})()
    table = StateTable(client, "state")

    with pytest.raises(AwsError):
        table.put("pk", "sk", {}, None)
    with pytest.raises(AwsError):
        table.delete("pk", "sk", 1)


def test_a_failed_condition_is_still_a_lost_race_not_an_error() -> None:
    def refuse(**kwargs: Any) -> Any:
        raise client_error("ConditionalCheckFailedException", "The conditional request failed", 400)

    client = type("Client", (), {"put_item": staticmethod(refuse), "delete_item": staticmethod(refuse)})()
    table = StateTable(client, "state")

    assert table.put("pk", "sk", {}, 1) is False
    assert table.delete("pk", "sk", 1) is False


def _modelled_errors(service: str, operation: str) -> list[tuple[str, bool]]:
    """(code, the sender's fault) of each error botocore's model lists for an operation."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    return [
        (shape.metadata["error"]["code"], bool(shape.metadata["error"].get("senderFault")))
        for shape in model.error_shapes
        if "error" in shape.metadata
    ]


@pytest.mark.parametrize(("code", "sender"), _modelled_errors("sns", "Publish"))
def test_sns_publish_refusals_that_no_retry_cures_are_not_retryable(code: str, sender: bool) -> None:
    # The notifier retries the chat topic only for an error a retry may cure (a record it put back
    # for the chat topic would otherwise come back for good): every Publish error botocore's model
    # calls the sender's fault (a topic or key gone, disabled or denied; a parameter refused) is
    # permanent, except a throttle; the others (InternalError) are for now.
    error = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": 400}}

    translated = translate("Publish", ClientError(error, "Publish"))  # type: ignore[arg-type]

    assert translated.retryable is (not sender or "Throttl" in code), code


@pytest.mark.parametrize("value", [0, 1733600000, 1733600000.123456, "1733600000", "2024-12-07T19:33:20Z"])
def test_a_timestamp_is_the_instant_botocore_s_own_parser_reads(value: Any) -> None:
    from botocore.utils import parse_timestamp
    from sidecar_enforcer.adapters.answers import timestamp

    parsed = timestamp(value)

    assert parsed == parse_timestamp(value)
    assert parsed.utcoffset() is not None


def test_a_session_s_clients_read_epoch_timestamps_in_utc() -> None:
    import datetime
    import json

    from sidecar_enforcer.adapters import aws

    session = aws.session("us-east-1")
    model = session.get_service_model("ecs").operation_model("DescribeServices")
    body = {"services": [{"serviceName": "web", "createdAt": 1733600000.5}]}
    parser = session.get_component("response_parser_factory").create_parser("json")

    parsed = parser.parse(
        {"body": json.dumps(body).encode(), "headers": {}, "status_code": 200}, model.output_shape
    )

    created = parsed["services"][0]["createdAt"]
    assert created == datetime.datetime(2024, 12, 7, 19, 33, 20, 500000, tzinfo=datetime.UTC)
    assert created.tzinfo is datetime.UTC  # botocore's own parser answers in the local zone
