"""Open pages follow events: a matter's boards and calendars, the actor's calendars.

Messages are sent after the handler's run commits. A board message carries
the changed card, rendered once for every open board of the matter
(`tasks_app.cards.live_card`): the page puts it in place itself, so a
change on a board with 200 people looking makes no request at all (it used
to make 200 to 400, each drawing the board's query). A card whose column is
too long to send, or a message without a card, makes the page fetch what
changed through the same permission-checked fragments as before. Calendar
messages stay thin (a day gained an event): the page re-fetches its grid.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from events_app import names
from events_app.live import groups
from tasks_app import cards


def live_board(event: dict[str, Any]) -> None:
    """Tell the matter's open boards which card changed (not the tab that did it)."""
    matter = event.get("matter")
    if not matter or event["name"] not in names.LIVE_ON_BOARD:
        return
    payload = {
        "kind": "board",
        "matter_id": matter["id"],
        "task_id": event["subject"]["id"],
        "event": event["name"],
        # Lets a page (and the load test) tell a redelivered message apart.
        "event_id": event["id"],
    }
    status = (event.get("changes") or {}).get("status")
    if isinstance(status, list) and len(status) == 2 and status[1]:
        payload["status"] = status[1]
        if status[0]:
            payload["from_status"] = status[0]
    card = cards.live_card(task_id=payload["task_id"], matter_id=matter["id"])
    if card is None:
        payload["removed"] = True  # deleted since: off every board of the matter
    else:
        payload["card"] = card
    client = (event.get("context") or {}).get("client_id")
    exclude = groups.live_client_id(client) or None
    transaction.on_commit(
        lambda: groups.send_to_matter(matter["id"], payload, exclude_channel=exclude),
        robust=True,
    )


def activity_live(event: dict[str, Any]) -> None:
    """Tell the actor's open activity calendars that a day gained an event.

    The page applies its own filter and the viewer's timezone.
    """
    name = event["name"]
    actor_id = (event.get("actor") or {}).get("id")
    if actor_id is None or name not in names.LIVE_ON_CALENDAR:
        return
    payload = {
        "kind": "activity",
        "user_id": actor_id,
        "occurred_at": event["occurred_at"],
        "name": name,
    }
    transaction.on_commit(
        lambda: groups.send_to_activity(actor_id, payload), robust=True
    )


def matter_activity_live(event: dict[str, Any]) -> None:
    """Tell the matter's open activity calendars that a day gained an event."""
    matter = event.get("matter")
    name = event["name"]
    if not matter or name not in names.LIVE_ON_MATTER_CALENDAR:
        return
    payload = {
        "kind": "matter_activity",
        "matter_id": matter["id"],
        "occurred_at": event["occurred_at"],
        "name": name,
    }
    transaction.on_commit(
        lambda: groups.send_to_matter_activity(matter["id"], payload), robust=True
    )


def team_live(event: dict[str, Any]) -> None:
    """Someone joined or left a matter's team: their open pages list their
    matters again (a new walled matter appears, a lost one goes)."""
    member = (event.get("changes") or {}).get("user") or [None, None]
    person = member[1] or member[0]
    if not person or not person.get("id"):
        return
    payload = {"kind": "matters", "matter_id": (event.get("matter") or {}).get("id")}
    transaction.on_commit(
        lambda: groups.send_to_user(person["id"], payload), robust=True
    )
