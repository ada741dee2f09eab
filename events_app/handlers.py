"""Reactions to events, registered on the bus. Each is idempotent.

Handlers receive the event envelope; they read live rows only for what the
envelope cannot know (a task's watchers, its current milestone), and treat
a row that is gone as "nothing to do". `bus.run` applies each handler at
most once per event, in one transaction with its ledger row; on top of
that, every effect is idempotent by itself (one notification per event and
recipient, progress recomputed rather than incremented, watching twice is
one watch), so a handler run twice by hand changes nothing either.

Who hears about what:
- assignment (`task.assigned`, `task.created` with an assignee): the new
  assignee, unless they assigned themselves; on reassignment or
  `task.unassigned`, the previous assignee, unless they did it themselves;
- `comment.added`: the task's assignee, its watchers and the people
  @mentioned, never the author, once each;
- nobody hears about a matter they cannot see: every recipient passes
  `users_who_can_see_matter`, so a mention across a wall or into another
  firm notifies no one and tells the author nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from events_app import bus, envelope, live, names
from events_app.notifications import Draft, Verb, notify

# --- matter activity --------------------------------------------------------------


def matter_activity(event: dict[str, Any]) -> None:
    """Keep each matter's "last activity" stamp: the latest event it saw."""
    from tasks_app.models import Matter

    matter = event.get("matter")
    if not matter or event["name"] in names.HIDDEN_FROM_FEEDS:
        return
    when = envelope.parse_instant(event["occurred_at"])
    Matter.objects.filter(pk=matter["id"]).exclude(last_activity_at__gte=when).update(
        last_activity_at=when
    )


# --- who may hear about a matter --------------------------------------------------


def _can_see_matter(event: dict[str, Any], user_ids: Iterable[int | None]) -> set[int]:
    """The subset of `user_ids` who may open the event's matter today."""
    from tasks_app.models import Matter
    from tasks_app.selectors import users_who_can_see_matter

    wanted = {pk for pk in user_ids if pk is not None}
    matter_id = (event.get("matter") or {}).get("id")
    if not wanted or matter_id is None:
        return set()
    matter = Matter.objects.filter(pk=matter_id).first()
    if matter is None:
        return set()
    return set(
        users_who_can_see_matter(matter=matter)
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )


def _actor_name(event: dict[str, Any]) -> str:
    actor = event.get("actor") or {}
    return "Hivelight" if actor.get("id") is None else actor.get("name") or "Someone"


def _quote(label: str) -> str:
    return f"“{label}”"


def _excerpt(text: str, limit: int = 140) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- assignment -------------------------------------------------------------------


def notify_assignment(event: dict[str, Any]) -> None:
    """Tell the new assignee, and the previous one, unless they did it themselves."""
    before, after = (event.get("changes") or {}).get("assignee") or (None, None)
    actor_id = (event.get("actor") or {}).get("id")
    task = event["subject"]
    url = reverse("task_detail", args=[task["id"]])
    who = _actor_name(event)
    drafts: list[Draft] = []
    if after and after.get("id") != actor_id:
        drafts.append(
            Draft(
                after["id"],
                Verb.ASSIGNED,
                f"{who} assigned you {_quote(task['label'])}",
                url,
            )
        )
    if before and before.get("id") != actor_id:
        text = (
            f"{who} reassigned {_quote(task['label'])} to {after['name']}"
            if after
            else f"{who} unassigned you from {_quote(task['label'])}"
        )
        drafts.append(Draft(before["id"], Verb.UNASSIGNED, text, url))
    allowed = _can_see_matter(event, (d.recipient_id for d in drafts))
    notify(event=event, drafts=[d for d in drafts if d.recipient_id in allowed])


# --- comments and mentions --------------------------------------------------------

# `@name` not preceded by a word character, so `bob@example.com` is no mention.
# Usernames may hold letters, digits and @ . + - _ (Django's validator).
_MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.@+-]{1,150})")
_TRAILING_PUNCTUATION = ".,;:!?)-"
MAX_MENTIONS = 20


def mentioned_usernames(body: str) -> list[str]:
    """The usernames a comment @mentions, as written, in order, at most 20.

    "@bob." at the end of a sentence names `bob`; a username that really
    ends in punctuation still matches, since both spellings are tried.
    """
    found: list[str] = []
    seen: set[str] = set()
    for match in _MENTION_RE.finditer(body or ""):
        token = match.group(1)
        for candidate in (token, token.rstrip(_TRAILING_PUNCTUATION)):
            if candidate and candidate.lower() not in seen:
                seen.add(candidate.lower())
                found.append(candidate)
        if len(found) >= MAX_MENTIONS:
            break
    return found[:MAX_MENTIONS]


def _resolve_mentions(event: dict[str, Any], usernames: list[str]) -> set[int]:
    """Users of the event's firm with those usernames (case-insensitive)."""
    from tasks_app.models import User

    firm = event.get("firm", "")
    if not usernames or not firm.startswith("f_") or not firm[2:].isdigit():
        return set()
    same_name = reduce(or_, (Q(username__iexact=name) for name in usernames))
    return set(
        User.objects.filter(
            same_name, is_active=True, membership__firm_id=int(firm[2:])
        ).values_list("pk", flat=True)
    )


def notify_comment(event: dict[str, Any]) -> None:
    """Tell the task's assignee, watchers and mentioned people of a new comment."""
    from tasks_app.models import Task, TaskWatch

    task_ref = event.get("parent") or {}
    task = (
        Task.objects.filter(pk=task_ref.get("id")).values("pk", "assignee_id").first()
    )
    if task is None:
        return  # deleted since: nothing left to point anyone at
    author_id = (event.get("actor") or {}).get("id")
    body = ((event.get("changes") or {}).get("body") or [None, ""])[1] or ""
    mentioned = _resolve_mentions(event, mentioned_usernames(body))
    followers = set(
        TaskWatch.objects.filter(task_id=task["pk"]).values_list("user_id", flat=True)
    )
    followers.add(task["assignee_id"])
    allowed = _can_see_matter(event, mentioned | followers) - {author_id}
    who = _actor_name(event)
    label = _quote(task_ref.get("label", ""))
    url = (
        reverse("task_detail", args=[task["pk"]]) + f"#comment-{event['subject']['id']}"
    )
    quote = _excerpt(body)
    drafts = [
        Draft(user_id, Verb.MENTIONED, f"{who} mentioned you on {label}: {quote}", url)
        if user_id in mentioned
        else Draft(user_id, Verb.COMMENTED, f"{who} commented on {label}: {quote}", url)
        for user_id in sorted(allowed)
    ]
    notify(event=event, drafts=drafts)


# --- watching ---------------------------------------------------------------------


def auto_watch(event: dict[str, Any]) -> None:
    """The creator and each new assignee follow the task from then on.

    Done here rather than in the services so every write path (admin, shell,
    bulk) gets it; a person who unwatches later is not re-added by a
    redelivered event, since `bus.run` applies each event once.
    """
    from tasks_app.models import Task, TaskWatch

    task_id = event["subject"]["id"]
    people: set[int | None] = set()
    after = ((event.get("changes") or {}).get("assignee") or (None, None))[1]
    if after:
        people.add(after.get("id"))
    if event["name"] == names.TASK_CREATED:
        people.add((event.get("actor") or {}).get("id"))
    watchers = _can_see_matter(event, people)
    if not watchers or not Task.objects.filter(pk=task_id).exists():
        return
    TaskWatch.objects.bulk_create(
        [TaskWatch(task_id=task_id, user_id=user_id) for user_id in sorted(watchers)],
        ignore_conflicts=True,
    )


# --- milestone progress -----------------------------------------------------------

# Events that can change how many of a milestone's tasks are done.
MILESTONE_EVENTS = (
    names.TASK_COMPLETED,
    names.TASK_REOPENED,
    names.TASK_MILESTONE_CHANGED,
    names.TASK_CREATED,
    names.TASK_DELETED,
)


def milestone_progress(event: dict[str, Any]) -> None:
    """Recompute the progress of each milestone the task left, joined or is in.

    The service recomputes from the tasks and saves only on a change, so its
    `milestone.progress_changed` / `milestone.completed` events come once per
    real change; nothing here listens to milestone events, so no loop.
    """
    from tasks_app import services
    from tasks_app.models import Task

    milestone_ids: set[int] = set()
    for side in (event.get("changes") or {}).get("milestone") or ():
        if side and side.get("id"):
            milestone_ids.add(side["id"])
    if event["name"] in (names.TASK_COMPLETED, names.TASK_REOPENED):
        current = (
            Task.objects.filter(pk=event["subject"]["id"])
            .values_list("milestone_id", flat=True)
            .first()
        )
        if current:
            milestone_ids.add(current)
    for milestone_id in sorted(milestone_ids):
        services.milestone_recompute_progress(milestone_id=milestone_id)


# --- live boards ------------------------------------------------------------------

# Every task event moves, adds, changes or removes a card, except a page view.
BOARD_EVENTS = tuple(
    sorted(
        name
        for name in names.ALL
        if names.family(name) == "task" and name != names.TASK_VIEWED
    )
)


def live_board(event: dict[str, Any]) -> None:
    """Tell the matter's open boards which card changed (not the tab that did it)."""
    matter = event.get("matter")
    if not matter or event["name"] == names.TASK_VIEWED:
        return
    payload = {
        "kind": "board",
        "matter_id": matter["id"],
        "task_id": event["subject"]["id"],
        "event": event["name"],
    }
    exclude = live.live_client_id((event.get("context") or {}).get("client_id")) or None
    transaction.on_commit(
        lambda: live.send_to_matter(matter["id"], payload, exclude_channel=exclude),
        robust=True,
    )


# --- live activity calendars ------------------------------------------------------

# Names that can reach a calendar: counted by the store (not `task.viewed`),
# not a rank change, and done by a person (milestone progress and failed
# logins are the system's). One subscription per name rather than `*`, so
# events no calendar shows cost no Celery task.
ACTIVITY_EVENTS = tuple(
    sorted(
        names.ALL
        - names.HIDDEN_FROM_FEEDS
        - {
            names.MILESTONE_PROGRESS_CHANGED,
            names.MILESTONE_COMPLETED,
            names.USER_LOGIN_FAILED,
        }
    )
)


def activity_live(event: dict[str, Any]) -> None:
    """Tell the actor's open activity calendars that a day gained an event.

    Only events the calendar counts: the store never counts expiring names
    (`task.viewed`) and the calendar leaves out `task.moved`. The page
    applies its own filter and the viewer's timezone to the payload.
    """
    from events_app import store

    name = event["name"]
    actor_id = (event.get("actor") or {}).get("id")
    if actor_id is None or not store.is_counted(name) or name == names.TASK_MOVED:
        return
    payload = {
        "kind": "activity",
        "user_id": actor_id,
        "occurred_at": event["occurred_at"],
        "name": name,
    }
    transaction.on_commit(lambda: live.send_to_activity(actor_id, payload), robust=True)


# --- registration -----------------------------------------------------------------


def _subscribe_each(
    event_names: Iterable[str], name: str, handler: bus.Handler
) -> None:
    """One subscription per event name (`<name>:<event>`), for handlers that
    react to a few names: cheaper than a `task.*` task for every page view."""
    for event_name in event_names:
        bus.subscribe(event_name, name=f"{name}:{event_name}")(handler)


def connect() -> None:
    """Register the handlers; dispatch order is this order (people first)."""
    bus.subscribe("*", name="matter_activity")(matter_activity)
    bus.subscribe(names.TASK_ASSIGNED, name="notify_assigned")(notify_assignment)
    bus.subscribe(names.TASK_UNASSIGNED, name="notify_unassigned")(notify_assignment)
    bus.subscribe(names.TASK_CREATED, name="notify_assigned_on_create")(
        notify_assignment
    )
    bus.subscribe(names.COMMENT_ADDED, name="notify_comment")(notify_comment)
    _subscribe_each(BOARD_EVENTS, "live_board", live_board)
    bus.subscribe(names.TASK_CREATED, name="auto_watch_created")(auto_watch)
    bus.subscribe(names.TASK_ASSIGNED, name="auto_watch_assigned")(auto_watch)
    _subscribe_each(MILESTONE_EVENTS, "milestone_progress", milestone_progress)
    _subscribe_each(ACTIVITY_EVENTS, "activity_live", activity_live)
