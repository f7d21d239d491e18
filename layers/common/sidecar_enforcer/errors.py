"""Domain errors. Each carries a one-line message safe to log and to publish.

Messages never include container environment values or secrets: they name fields, not values.
"""


class EnforcerError(Exception):
    """Base class; ``str(error)`` is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class MalformedEventError(EnforcerError):
    """The event is not one the enforcer understands. Retrying cannot fix it: it goes to the
    dead-letter destination intact."""


class InputError(EnforcerError):
    """A document (task definition, profile, settings) cannot be read."""


class ConfigurationError(EnforcerError):
    """The enforcer's own settings are invalid."""


class AwsError(EnforcerError):
    """An AWS call failed. ``retryable`` says whether a later attempt may succeed."""

    retryable = True


class NotFoundError(AwsError):
    retryable = False


class AccessDeniedError(AwsError):
    retryable = False


class MisconfiguredError(AwsError):
    """One of the enforcer's own resources is missing or unusable (the state table named in
    STATE_TABLE_NAME does not exist): FAILED, never mistaken for a missing service (SKIPPED)."""

    retryable = False


class RejectedError(AwsError):
    """The API refused the request as invalid (a ClientException / InvalidParameterException)."""

    retryable = False


class EnforcementFailedError(EnforcerError):
    """Raised by the handler after publishing, so Lambda retries and finally dead-letters the event."""


class NotDeliveredError(EnforcerError):
    """A notification was not delivered (a chat webhook that kept failing after its retries). The
    message names the status code or the error's type, never the webhook's URL."""


class RefusedDeliveryError(NotDeliveredError):
    """A sink refused a notification for good (a revoked webhook, an archived or missing channel, a
    payload it cannot read): no retry can deliver it, so its record goes to the dead-letter queue at
    once with this message as the reason."""


class ThrottledError(NotDeliveredError):
    """A sink asked to be called again later (Slack's HTTP 429): ``retry_after`` seconds from now."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
