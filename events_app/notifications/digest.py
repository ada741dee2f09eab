"""The morning digest: one email per person, in their own morning.

Due today, overdue, and waiting for their review: what a lawyer looks at
first. The scheduled job (`tasks.morning_digests`, every quarter hour) sends
it to each active person with an address whose local time has reached
DIGEST_HOUR, once per local day (the `DigestSent` ledger, written before
the email, so a rerun sends nothing twice); people who turned it off in
their preferences, or have nothing to be told, get no email.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from events_app.models import DigestSent
from events_app.notifications.selectors import preference_for
from tasks_app import selectors
from tasks_app.models import Task, User


@dataclass
class Digest:
    person: User
    day: dt.date
    due_today: list[Task]
    overdue: list[Task]
    to_review: list[Task]

    @property
    def empty(self) -> bool:
        return not (self.due_today or self.overdue or self.to_review)


def _local_now(person: User, now: dt.datetime) -> dt.datetime:
    try:
        return now.astimezone(zoneinfo.ZoneInfo(person.effective_timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return now.astimezone(dt.UTC)


def digest_for(*, person: User, day: dt.date) -> Digest:
    """What the person's morning digest of `day` (their local date) holds."""
    open_tasks = (
        selectors.task_queryset_for_user(user=person)
        .exclude(status=Task.Status.DONE)
        .filter(matter__closed_at__isnull=True)
        .select_related("matter")
        .order_by("due_date", "matter__number", "rank")
    )
    mine = open_tasks.filter(assignee=person, due_date__isnull=False)
    return Digest(
        person=person,
        day=day,
        due_today=list(mine.filter(due_date=day)),
        overdue=list(mine.filter(due_date__lt=day)),
        to_review=list(
            open_tasks.filter(reviewer=person, status=Task.Status.IN_REVIEW)
        ),
    )


def send_digests(*, now: dt.datetime | None = None) -> int:
    """Send the digests whose morning has come; returns how many went out."""
    now = now or timezone.now()
    sent = 0
    people = User.objects.filter(
        is_active=True, membership__isnull=False
    ).select_related("membership__firm")
    for person in people.exclude(email=""):
        local = _local_now(person, now)
        if local.hour < settings.DIGEST_HOUR:
            continue
        day = local.date()
        if DigestSent.objects.filter(user=person, local_date=day).exists():
            continue
        if not preference_for(user=person).email_digest:
            continue
        digest = digest_for(person=person, day=day)
        try:
            with transaction.atomic():
                DigestSent.objects.create(user=person, local_date=day)
        except IntegrityError:
            continue  # another run has it
        if digest.empty:
            continue
        send_mail(
            subject=f"Your day on Hivelight: {_summary(digest)}",
            message=_body(digest),
            from_email=None,
            recipient_list=[person.email],
        )
        sent += 1
    return sent


def _summary(digest: Digest) -> str:
    parts = []
    if digest.due_today:
        parts.append(f"{len(digest.due_today)} due today")
    if digest.overdue:
        parts.append(f"{len(digest.overdue)} overdue")
    if digest.to_review:
        parts.append(f"{len(digest.to_review)} to review")
    return ", ".join(parts)


def _body(digest: Digest) -> str:
    site = settings.SITE_URL.rstrip("/")
    lines = [f"Good morning {digest.person.display_name},", ""]
    for title, tasks in (
        ("Due today", digest.due_today),
        ("Overdue", digest.overdue),
        ("Waiting for your review", digest.to_review),
    ):
        if not tasks:
            continue
        lines.append(f"{title}:")
        for task in tasks:
            due = f" (due {task.due_date:%d %b})" if title == "Overdue" else ""
            lines.append(
                f"- {task.matter.number} {task.title}{due}: "
                f"{site}{reverse('task_detail', args=[task.pk])}"
            )
        lines.append("")
    lines.append(
        "You can turn this email off on your notification settings page: "
        f"{site}{reverse('notification_preferences')}"
    )
    return "\n".join(lines)
