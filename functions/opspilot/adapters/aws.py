"""boto3 clients, built lazily and once per process, and ClientError translation."""

from __future__ import annotations

from functools import cache
from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from opspilot.domain.errors import AwsPermissionError, TransientAwsError

_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=20)

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalServerErrorException",
        "ServiceException",
        # CloudWatch's 500: botocore's cloudwatch model, shape InternalServiceFault,
        # "error": {"code": "InternalServiceError", "httpStatusCode": 500}
        "InternalServiceError",
    }
)
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


@cache
def client(service: str, region: str | None = None, attempts: int = 3) -> Any:
    """A shared client per (service, region, attempts). Built at first use, never at import.
    ``attempts=1`` is for calls that are not idempotent (CreateCase): botocore would repeat one
    whose answer was lost, so the caller looks first and retries itself."""
    config = _CONFIG if attempts == 3 else _CONFIG.merge(Config(retries={"total_max_attempts": attempts}))
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def raise_provider_error(exc: Exception, what: str) -> NoReturn:
    """Powertools Parameters raises ``GetParameterError(str(error))`` inside its ``except``: the
    ClientError is the exception's context. Translate it as :func:`raise_translated` would."""
    cause = exc.__context__
    if isinstance(cause, ClientError):
        raise_translated(cause, what)
    raise exc


def raise_translated(exc: ClientError, what: str) -> NoReturn:
    """Re-raise a ClientError as the domain error the workflow retries or records."""
    code = error_code(exc)
    if code in TRANSIENT_CODES:
        raise TransientAwsError(f"{what}: {code}") from exc
    if code in DENIED_CODES:
        raise AwsPermissionError(f"{what}: {code}: {exc.response['Error'].get('Message', '')}") from exc
    raise exc
