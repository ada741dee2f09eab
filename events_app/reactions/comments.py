"""A new comment: the task's assignee, its watchers and the people @mentioned.

Never the author, once each, "mentioned" winning over "commented". Mentions
are `@username` not preceded by a word character (so e-mail addresses are
not mentions), matched case-insensitively within the event's firm. Only
`comment.added` mentions notify: an edit adding a mention does not.
"""

from __future__ import annotations

import re
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q
from django.urls import reverse

from events_app.notifications.services import Draft, Verb, notify
from events_app.reactions.audience import can_see_matter
from events_app.text import actor_name, excerpt, quoted
from tasks_app.models import Task, TaskWatch, User

# `@name` not preceded by a word character, so `bob@example.com` is no mention.
# Usernames may hold letters, digits and @ . + - _ (Django's validator).
_MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.@+-]{1,150})")
_TRAILING_PUNCTUATION = ".,;:!?)-"
MAX_MENTIONS = 20
QUOTE_LENGTH = 140


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
    allowed = can_see_matter(event, mentioned | followers) - {author_id}
    who = actor_name(event)
    label = quoted(task_ref.get("label", ""))
    url = (
        reverse("task_detail", args=[task["pk"]]) + f"#comment-{event['subject']['id']}"
    )
    quote = excerpt(body, QUOTE_LENGTH)
    drafts = [
        Draft(user_id, Verb.MENTIONED, f"{who} mentioned you on {label}: {quote}", url)
        if user_id in mentioned
        else Draft(user_id, Verb.COMMENTED, f"{who} commented on {label}: {quote}", url)
        for user_id in sorted(allowed)
    ]
    notify(event=event, drafts=drafts)
