"""AWS Secrets Manager: the Slack webhook's URL, read with Powertools' parameters utility
(``SecretsProvider``, the provider behind ``parameters.get_secret``, given our client) and cached
``MAX_AGE_SECONDS``: one GetSecretValue per warm container and period, and a rotated URL reaches
the function within it.

The secret holds the URL as its string, or a JSON object with it under ``url`` (or
``webhookUrl``). The value is returned to the caller and nowhere else: never logged, never in an
error message.

IAM action used: ``PERMISSIONS``, on the secret (and kms:Decrypt on its key when it is a customer
managed one: template.yaml, SlackWebhookSecretKmsKeyArn).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AwsError, ConfigurationError
from .aws import translate

PERMISSIONS = ("secretsmanager:GetSecretValue",)

MAX_AGE_SECONDS = 300
URL_KEYS = ("url", "webhookUrl")


class WebhookSecret:
    def __init__(self, client: Any, secret_id: str) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._secret_id = secret_id

    def url(self) -> str:
        try:
            value = self._provider.get(self._secret_id, max_age=MAX_AGE_SECONDS)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError | BotoCoreError):
                raise translate(f"GetSecretValue {self._secret_id}", cause) from None
            raise AwsError(f"GetSecretValue {self._secret_id}: {type(exc).__name__}") from None
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        text = text.strip()
        if text.startswith("{"):
            try:
                document = json.loads(text)
            except ValueError:
                raise ConfigurationError(f"secret {self._secret_id}: not a URL and not JSON") from None
            found = next((document[k] for k in URL_KEYS if isinstance(document.get(k), str)), None)
            if found is None:
                raise ConfigurationError(f"secret {self._secret_id}: no {' or '.join(URL_KEYS)} key")
            text = found.strip()
        return text
