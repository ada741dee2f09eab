"""Signing secrets and the Standard Webhooks headers of one attempt.

A secret is `whsec_` and 32 random bytes in base64, the format the
standard's libraries read. Signing is theirs (`standardwebhooks.Webhook`):
`v1,` and the base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`.
During a rotation both secrets sign, space-separated in one header, and a
receiver accepts the message if any signature matches.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterable

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix)
SECRET_BYTES = 32
# How long the previous secret keeps signing after a rotation.
ROTATION_OVERLAP = dt.timedelta(hours=24)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def hint(secret: str) -> str:
    """Enough to tell secrets apart, too little to use: `whsec_…Xy4=`."""
    return f"{SECRET_PREFIX}…{secret[-4:]}" if secret else ""


def headers(
    *, message_id: str, at: dt.datetime, body: str, secrets_in_use: Iterable[str]
) -> dict[str, str]:
    """The three headers of the standard, signed with every secret in use."""
    moment = at.astimezone(dt.UTC)
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body)
        for secret in secrets_in_use
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
