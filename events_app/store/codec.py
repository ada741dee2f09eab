"""How events and keys are written in DynamoDB: attribute values, keys, cursors.

Key layout (see the package docstring): every key starts with the firm, so
no query can reach another firm's items.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from django.core import signing

from events_app.store.client import InvalidCursor

INDEXES = {
    # index name -> (partition key attribute, sort key attribute)
    None: ("pk", "sk"),
    "gsi1_entity": ("gsi1pk", "gsi1sk"),
    "gsi2_matter": ("gsi2pk", "gsi2sk"),
    "gsi3_name": ("gsi3pk", "gsi3sk"),
    "gsi4_firm": ("gsi4pk", "gsi4sk"),
}
# Envelope field -> stored attribute.
FIELDS = {
    "id": "ev_id",
    "name": "ev_name",
    "version": "ev_version",
    "occurred_at": "occurred_at",
    "firm": "firm",
    "actor": "actor",
    "subject": "subject",
    "matter": "matter",
    "changes": "changes",
    "context": "context",
}
_JSON_FIELDS = frozenset({"changes", "context"})
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_CURSOR_SALT = "events_app.store.cursor"


def _key_part(value: Any, what: str) -> str:
    text = "system" if value is None else str(value)
    if not text or "#" in text:
        raise ValueError(f"{what} {value!r} cannot be part of a key")
    return text


def user_pk(firm: str, user_id: int | str | None) -> str:
    """Partition key of a user's events and counters (None: the system)."""
    return f"U#{_key_part(firm, 'firm')}#{_key_part(user_id, 'user id')}"


def entity_pk(firm: str, subject_type: str, subject_id: int | str) -> str:
    firm_part = _key_part(firm, "firm")
    type_part = _key_part(subject_type, "subject type")
    return f"E#{firm_part}#{type_part}#{_key_part(subject_id, 'subject id')}"


def matter_pk(firm: str, matter_id: int | str) -> str:
    return f"M#{_key_part(firm, 'firm')}#{_key_part(matter_id, 'matter id')}"


def name_pk(firm: str, name: str) -> str:
    return f"N#{_key_part(firm, 'firm')}#{_key_part(name, 'event name')}"


def firm_month_pk(firm: str, month: str) -> str:
    """Partition of a firm's events of one UTC month (`YYYY-MM`)."""
    return f"F#{_key_part(firm, 'firm')}#{_key_part(month, 'month')}"


def seal_pk(firm: str) -> str:
    """Partition of a firm's seals (table Seals), one item per period."""
    return f"S#{_key_part(firm, 'firm')}"


def seal_sk(period: str) -> str:
    """Sort key of a period's seal: `P#<YYYY-MM-DD>`, the chain's order."""
    return f"P#{_key_part(period, 'period')}"


def leaves_pk(firm: str, token: str) -> str:
    """Partition of one seal's leaf list, split over items (table Seals)."""
    return f"L#{_key_part(firm, 'firm')}#{_key_part(token, 'token')}"


def indexed_entity(event: dict[str, Any]) -> dict[str, Any]:
    """The entity whose history holds the event: its parent, else its subject."""
    parent = event.get("parent")
    return parent if parent is not None else event["subject"]


def to_av(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not JSON-safe")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): to_av(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_av(v) for v in value]}
    raise ValueError(f"{type(value).__name__} value {value!r} is not JSON-safe")


def from_av(av: dict[str, Any]) -> Any:
    ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        try:
            return int(value)
        except ValueError:
            return float(value)
    if kind == "M":
        return {k: from_av(v) for k, v in value.items()}
    if kind == "L":
        return [from_av(v) for v in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    raise ValueError(f"unexpected DynamoDB type {kind}")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_name(name: str, what: str = "event name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} must match {NAME_RE.pattern}")
    return name


def decode_event(item: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    wanted = fields or (*FIELDS, "_extra")
    event: dict[str, Any] = {}
    extra = json.loads(item["ev_extra"]["S"]) if "ev_extra" in item else {}
    for name in wanted:
        if name == "_extra":
            event.update(extra)
            continue
        attr = FIELDS.get(name)
        if attr is None:
            if name in extra:
                event[name] = extra[name]
            continue
        av = item.get(attr)
        if av is None:
            event[name] = None if name == "matter" else {}
        elif name in _JSON_FIELDS:
            event[name] = json.loads(av["S"])
        else:
            event[name] = from_av(av)
    return event


def encode_cursor(key: dict[str, Any], scope: str) -> str:
    plain = {attr: av["S"] for attr, av in key.items()}
    return signing.dumps({"k": plain, "s": scope}, salt=_CURSOR_SALT, compress=True)


def decode_cursor(cursor: str, scope: str, key_attrs: set[str]) -> dict[str, Any]:
    try:
        payload = signing.loads(cursor, salt=_CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidCursor(
            "That page link (cursor) was altered or not issued here; start again."
        ) from exc
    if not isinstance(payload, dict) or payload.get("s") != scope:
        raise InvalidCursor(
            "That page link (cursor) belongs to another query; start again."
        )
    key = payload.get("k")
    if not isinstance(key, dict) or set(key) != key_attrs:
        raise InvalidCursor(
            "That page link (cursor) has an unexpected shape; start again."
        )
    return {attr: {"S": str(value)} for attr, value in key.items()}


def query_scope(*parts: str) -> str:
    """A short digest naming one query: a cursor is valid only for its query."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
