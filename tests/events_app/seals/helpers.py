"""A sealed trail to test against, and ways to tamper with it behind the app's back.

`trail` puts a week of a firm's events into DynamoDB Local (Europe/London
days 2023-03-10 to 2023-03-14, the 12th quiet, page views on the 11th) and
seals it. The tampering helpers edit items directly with boto3 (through the
store's client), as someone with write access to the tables could.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from events_app import store
from events_app.seals import sealing, verify
from events_app.store.client import call
from events_app.store.codec import seal_pk, seal_sk, to_av, user_pk
from tests.events_app.event_helpers import envelope_event

UTC = dt.UTC
DAYS = ["2023-03-10", "2023-03-11", "2023-03-12", "2023-03-13", "2023-03-14"]
LAST_DAY = dt.date(2023, 3, 14)


@dataclass
class Trail:
    world: Any
    firm: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def on(self, day: str, *, sealed: bool = True) -> list[dict[str, Any]]:
        """The trail's events of a London day, in sk order."""
        found = [
            e
            for e in self.events
            if london_day(e["occurred_at"]) == day
            and (not sealed or e["name"] != "task.viewed")
        ]
        return sorted(found, key=lambda e: (e["occurred_at"], e["id"]))


def london_day(instant: str) -> str:
    import zoneinfo

    moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(zoneinfo.ZoneInfo("Europe/London")).date().isoformat()


def day_events(world: Any, day: str, count: int, **kwargs: Any) -> list[dict]:
    """`count` events spread over a London day (March: London is on UTC)."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=UTC)
    people = [world.alice, world.bob, world.carol, None]
    names = ["task.created", "task.completed", "comment.added", "milestone.updated"]
    return [
        envelope_event(
            start + dt.timedelta(minutes=37 + i * (1400 // max(count, 1))),
            kwargs.get("name", names[i % len(names)]),
            firm_id=world.firm.pk,
            actor=people[i % len(people)],
            matter=[world.matter, world.walled][i % 2],
            subject_id=500 + i,
            label=f"Thing {day} {i}",
        )
        for i in range(count)
    ]


def seal(world: Any, until: dt.date = LAST_DAY, **kwargs: Any) -> sealing.SealRun:
    return sealing.seal_firm(firm_id=world.firm.pk, until=until, **kwargs)


def seals_of(firm: str) -> list[store.StoredSeal]:
    return list(store.seals_between(firm=firm))


def check(firm: str, **kwargs: Any) -> verify.TrailReport:
    return verify.verify_trail(firm=firm, **kwargs)


def findings(report: verify.TrailReport) -> dict[str, dict[str, Any]]:
    """Per period with a finding: what was found (for exact assertions)."""
    return {
        p.period: {
            k: v
            for k, v in (
                ("changed", p.changed),
                ("added", p.added),
                ("removed", p.removed),
                ("problems", p.problems),
            )
            if v
        }
        for p in report.periods
        if not p.ok
    }


# --- tampering, straight through boto3 ------------------------------------------


def event_key(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "pk": {"S": user_pk(event["firm"], event["actor"]["id"])},
        "sk": {"S": f"{event['occurred_at']}#{event['id']}"},
    }


def set_attribute(event: dict[str, Any], attribute: str, value: Any) -> None:
    call(
        "update_item",
        TableName=store.table_names().events,
        Key=event_key(event),
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": to_av(value)},
        ConditionExpression="attribute_exists(pk)",
    )


def delete_event(event: dict[str, Any]) -> None:
    call("delete_item", TableName=store.table_names().events, Key=event_key(event))


def seal_item(firm: str, period: str) -> dict[str, Any]:
    return call(
        "get_item",
        TableName=store.table_names().seals,
        Key={"pk": {"S": seal_pk(firm)}, "sk": {"S": seal_sk(period)}},
    )["Item"]


def put_seal_item(item: dict[str, Any]) -> None:
    """Overwrite a seal item unconditionally, as the app never does."""
    call("put_item", TableName=store.table_names().seals, Item=item)


def delete_seal_item(firm: str, period: str) -> None:
    call(
        "delete_item",
        TableName=store.table_names().seals,
        Key={"pk": {"S": seal_pk(firm)}, "sk": {"S": seal_sk(period)}},
    )


def seal_body(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["body"]["S"])


@pytest.fixture
def trail(world, event_store, settings) -> Trail:
    """Five London days of events (the 12th quiet), sealed to the 14th."""
    settings.TASK_VIEWED_RETENTION_DAYS = 100 * 365
    made = Trail(world, f"f_{world.firm.pk}")
    for day, count in zip(DAYS, [6, 9, 0, 5, 4], strict=True):
        made.events += day_events(world, day, count)
    made.events += day_events(world, "2023-03-11", 3, name="task.viewed")
    other = day_events(world, "2023-03-11", 1)[0] | {"firm": f"f_{world.other_firm.pk}"}
    store.put_events([*made.events, other])
    seal(world)
    return made
