"""Fixtures of the webhook tests: a real receiver, endpoints pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from events_app.models import WebhookEndpoint
from events_app.webhooks import services
from tests.events_app.webhooks.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def endpoint_at(
    receiver: Receiver,
) -> Callable[..., tuple[WebhookEndpoint, str]]:
    """`endpoint_at(admin, "/path", patterns=["*"], ...)`: an endpoint of the
    admin's firm on the receiver, its secret known to the receiver."""

    def make(
        admin: Any, path: str = "/hook", *, patterns: list[str] | None = None, **kw: Any
    ) -> tuple[WebhookEndpoint, str]:
        endpoint, secret = services.endpoint_create(
            actor=admin,
            url=receiver.url(path),
            event_patterns=patterns or ["*"],
            **kw,
        )
        receiver.secrets[path] = [secret]
        return endpoint, secret

    return make
