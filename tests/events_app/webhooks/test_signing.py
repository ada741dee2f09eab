"""Signing: what receivers verify with the standard's own library."""

from __future__ import annotations

import datetime as dt

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from events_app.webhooks import signing


def _signed(secrets: list[str], body: str = '{"id":"e1"}') -> dict[str, str]:
    return signing.headers(
        message_id="e1", at=dt.datetime.now(dt.UTC), body=body, secrets_in_use=secrets
    )


def test_a_signed_message_verifies_with_the_standards_verifier() -> None:
    secret = signing.new_secret()
    headers = _signed([secret])

    assert Webhook(secret).verify('{"id":"e1"}', headers) == {"id": "e1"}
    assert headers["webhook-id"] == "e1"
    assert headers["webhook-signature"].startswith("v1,")


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    secret = signing.new_secret()
    headers = _signed([secret])

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"id":"e2"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify('{"id":"e1"}', headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    headers = _signed([new, old])

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify('{"id":"e1"}', headers)
    assert Webhook(new).verify('{"id":"e1"}', headers)


def test_secrets_are_distinct_and_their_hint_shows_only_the_end() -> None:
    secrets = {signing.new_secret() for _ in range(50)}

    assert len(secrets) == 50
    secret = secrets.pop()
    assert secret.startswith("whsec_")
    assert signing.hint(secret) == "whsec_…" + secret[-4:]
    assert secret[6:-4] not in signing.hint(secret)
