"""The event store's client: settings, the boto3 client, errors, table names.

The only module that imports boto3. Every call goes through `call`, which
turns transport failures and throttling into StoreUnavailable (retry later)
and a missing table into StoreError.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.core.exceptions import ValidationError

from hivelight.http import ServiceUnavailable

logger = logging.getLogger(__name__)

EVENTS_TABLE = "Events"
COUNTS_TABLE = "ActivityCounts"
SEALS_TABLE = "Seals"
THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "TransactionInProgressException",
    }
)


# --- errors and results ------------------------------------------------------------


class StoreError(ServiceUnavailable):
    """The event store refused a request (misconfiguration, invalid data)."""

    public_message = (
        "The activity record is unavailable just now. Please try again shortly."
    )


class StoreUnavailable(StoreError):
    """The event store cannot be reached or is overloaded: retry later.

    Nothing was written by the failing call, or what was written is
    idempotent to write again (puts are conditional on the event id).
    """


class InvalidCursor(ValidationError):
    """A pagination cursor was tampered with or belongs to another query."""


class TableNames(NamedTuple):
    events: str
    counts: str
    seals: str


# --- settings and client -----------------------------------------------------------

_clients: dict[tuple[str | None, str, float], Any] = {}
_clients_lock = threading.Lock()


def _store_settings() -> dict[str, Any]:
    return dict(getattr(settings, "EVENT_STORE", {}) or {})


def table_names() -> TableNames:
    """The store's table names under the current TABLE_PREFIX (read per call)."""
    prefix = _store_settings().get("TABLE_PREFIX", "") or ""
    return TableNames(
        prefix + EVENTS_TABLE, prefix + COUNTS_TABLE, prefix + SEALS_TABLE
    )


def _client() -> Any:
    conf = _store_settings()
    endpoint = conf.get("ENDPOINT_URL") or None
    region = conf.get("REGION") or "eu-west-2"
    # Seconds to wait for an answer; benchmarks reading 100,000 items from a
    # DynamoDB Local on a busy machine need more than a request does.
    read_timeout = float(conf.get("READ_TIMEOUT") or 10)
    key = (endpoint, region, read_timeout)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = boto3.session.Session().client(
                    "dynamodb",
                    endpoint_url=endpoint,
                    region_name=region,
                    config=Config(
                        connect_timeout=2,
                        read_timeout=read_timeout,
                        retries={"max_attempts": 2, "mode": "standard"},
                        max_pool_connections=20,
                        tcp_keepalive=True,
                        # Requests are built here and covered by tests; the
                        # client-side shape check cost a third of write CPU.
                        parameter_validation=False,
                    ),
                )
                _clients[key] = client
    return client


def reset_client() -> None:
    """Forget cached clients; the next call builds one from current settings.

    Clients are cached per (endpoint, region) and the table prefix is read on
    every call, so this is only needed to drop connections (e.g. in tests).
    """
    with _clients_lock:
        _clients.clear()


def _endpoint_label() -> str:
    return _store_settings().get("ENDPOINT_URL") or "Amazon DynamoDB"


def call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """Call one DynamoDB operation, translating transport errors.

    Raises StoreUnavailable for unreachable endpoints, timeouts and
    throttling; StoreError for a missing table; other ClientErrors as is.
    """
    try:
        return getattr(_client(), operation)(**kwargs)
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StoreUnavailable(
            f"event store at {_endpoint_label()} is unreachable: {exc}"
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING:
            raise StoreUnavailable(f"event store is overloaded ({code})") from exc
        if code == "ResourceNotFoundException":
            raise StoreError(
                f"event store table missing at {_endpoint_label()} ({exc}); "
                "run `python manage.py ensure_event_tables`"
            ) from exc
        raise
    except BotoCoreError as exc:  # e.g. no credentials for Amazon DynamoDB
        raise StoreError(f"event store client error: {exc}") from exc


def paginate(operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Yield raw items of every page of a Query."""
    while True:
        response = call(operation, **kwargs)
        yield from response.get("Items", ())
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last
