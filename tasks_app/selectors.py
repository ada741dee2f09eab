"""Reads, always scoped to what the acting user may see.

A user sees the matters of their own firm that are either open or walled with
them inside. Everything else (other firms, walls they are outside of) does not
exist for them: lookups raise Http404, never 403, so a wall leaks nothing.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from tasks_app.models import (
    Comment,
    Matter,
    MatterMember,
    Membership,
    Milestone,
    Task,
    User,
)


def user_firm_id(user: User) -> int | None:
    if not user.is_authenticated:
        return None
    return user.firm_id_or_none


def matter_visibility_q(user: User, prefix: str = "") -> Q:
    """A Q object on Matter (or a relation to it via `prefix`) for `user`."""
    firm_id = user_firm_id(user)
    if firm_id is None:
        return Q(pk__in=[])
    inside_wall = Exists(
        Matter.members.through.objects.filter(
            matter_id=OuterRef(f"{prefix}pk" if prefix else "pk"), user_id=user.pk
        )
    )
    return Q(**{f"{prefix}firm_id": firm_id}) & (
        Q(**{f"{prefix}is_restricted": False}) | inside_wall
    )


def matter_list_for_user(*, user: User) -> QuerySet[Matter]:
    """The open matters the user can see (closed ones are off boards and menus)."""
    return (
        Matter.objects.filter(matter_visibility_q(user), closed_at__isnull=True)
        .annotate(open_tasks=Count("tasks", filter=~Q(tasks__status=Task.Status.DONE)))
        .order_by("number")
    )


def matter_get_for_user(*, user: User, matter_id: int) -> Matter:
    matter = (
        Matter.objects.filter(matter_visibility_q(user), pk=matter_id)
        .select_related("firm")
        .first()
    )
    if matter is None:
        raise Http404("No such matter.")
    return matter


def matter_queryset_for_manager(*, user: User) -> QuerySet[Matter]:
    """The matters a person may see listed for running them.

    A firm admin: every matter of the firm, walled ones included (their
    team is the admin's to manage, though nothing inside them is shown).
    Anyone else: the matters they can see.
    """
    membership = membership_for(user)
    if membership is not None and membership.is_firm_admin:
        return Matter.objects.filter(firm_id=membership.firm_id)
    return Matter.objects.filter(matter_visibility_q(user))


def walled_matter_ids_outside(*, user: User) -> set[int]:
    """The walled matters of the user's firm the user is not inside.

    For everyone, firm admins included, these matters and everything in
    them do not exist (compliance officers may audit them, and each such
    read is recorded).
    """
    firm_id = user_firm_id(user)
    if firm_id is None:
        return set()
    return set(
        Matter.objects.filter(firm_id=firm_id, is_restricted=True)
        .exclude(team__user=user)
        .values_list("pk", flat=True)
    )


def task_queryset_for_user(*, user: User) -> QuerySet[Task]:
    return Task.objects.filter(
        matter__in=Matter.objects.filter(matter_visibility_q(user)).values("pk")
    )


def task_get_for_user(*, user: User, task_id: int) -> Task:
    task = (
        task_queryset_for_user(user=user)
        .filter(pk=task_id)
        .select_related(
            "matter",
            "matter__firm",
            "milestone",
            "assignee",
            "created_by",
            "last_modified_by",
        )
        .first()
    )
    if task is None:
        raise Http404("No such task.")
    return task


def milestone_get_for_user(*, user: User, milestone_id: int) -> Milestone:
    milestone = (
        Milestone.objects.filter(matter_visibility_q(user, prefix="matter__"))
        .filter(pk=milestone_id)
        .select_related("matter")
        .first()
    )
    if milestone is None:
        raise Http404("No such milestone.")
    return milestone


def comment_get_for_user(*, user: User, comment_id: int) -> Comment:
    comment = (
        Comment.objects.filter(matter_visibility_q(user, prefix="task__matter__"))
        .filter(pk=comment_id, is_deleted=False)
        .select_related("task", "task__matter", "author")
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    return comment


def users_who_can_see_matter(*, matter: Matter) -> QuerySet[User]:
    """Everyone in the matter's firm who may open it: the people a task can go to."""
    users = User.objects.filter(is_active=True, membership__firm_id=matter.firm_id)
    if matter.is_restricted:
        users = users.filter(team_matters=matter)
    return users.order_by("first_name", "last_name", "username")


def possible_reviewers(*, matter: Matter) -> QuerySet[User]:
    """Who may review a task of the matter: its team's active people."""
    return User.objects.filter(
        is_active=True, pk__in=MatterMember.objects.filter(matter=matter).values("user")
    ).order_by("first_name", "last_name", "username")


def task_list_waiting_for_review(*, user: User, limit: int = 50) -> QuerySet[Task]:
    """Tasks in review whose reviewer is the user, oldest request first."""
    return (
        task_queryset_for_user(user=user)
        .filter(reviewer=user, status=Task.Status.IN_REVIEW)
        .filter(matter__closed_at__isnull=True)
        .select_related("matter", "assignee")
        .order_by("updated_at", "pk")[:limit]
    )


def user_can_see_matter(*, user: User, matter: Matter) -> bool:
    return Matter.objects.filter(matter_visibility_q(user), pk=matter.pk).exists()


def board_for_matter(
    *,
    matter: Matter,
    assignee_id: int | None = None,
    milestone_id: int | None = None,
    unassigned: bool = False,
) -> dict[str, list[Task]]:
    """The cards of a board, a list per status in rank order, in one query."""
    tasks = Task.objects.filter(matter=matter).select_related(
        "assignee", "reviewer", "milestone"
    )
    if unassigned:
        tasks = tasks.filter(assignee__isnull=True)
    elif assignee_id:
        tasks = tasks.filter(assignee_id=assignee_id)
    if milestone_id:
        tasks = tasks.filter(milestone_id=milestone_id)
    columns: dict[str, list[Task]] = {status: [] for status in Task.Status.values}
    for task in tasks.order_by("rank", "id"):
        columns[task.status].append(task)
    return columns


def milestone_list_for_matter(*, matter: Matter) -> QuerySet[Milestone]:
    return Milestone.objects.filter(matter=matter).annotate(
        task_count=Count("tasks"),
        done_count=Count("tasks", filter=Q(tasks__status=Task.Status.DONE)),
    )


def task_comments(*, task: Task) -> QuerySet[Comment]:
    return task.comments.filter(is_deleted=False).select_related("author")


def task_list_open_for_user(*, user: User, limit: int = 50) -> QuerySet[Task]:
    return (
        task_queryset_for_user(user=user)
        .filter(assignee=user)
        .exclude(status=Task.Status.DONE)
        .select_related("matter", "milestone")
        # Undated tasks last on every database (SQLite would put NULLs first).
        .order_by(F("due_date").asc(nulls_last=True), "matter__number", "rank")[:limit]
    )


def task_list_due_soon(
    *, user: User, days: int = 7, today: dt.date | None = None, limit: int = 50
) -> QuerySet[Task]:
    today = today or timezone.localdate()
    return (
        task_queryset_for_user(user=user)
        .exclude(status=Task.Status.DONE)
        .filter(due_date__isnull=False, due_date__lte=today + dt.timedelta(days=days))
        .select_related("matter", "assignee")
        .order_by("due_date", "rank")[:limit]
    )


def firm_members(*, firm_id: int) -> QuerySet[User]:
    return User.objects.filter(membership__firm_id=firm_id, is_active=True).order_by(
        "first_name", "last_name", "username"
    )


def firm_people(*, firm_id: int) -> QuerySet[User]:
    """Everyone of the firm, former staff included (active first)."""
    return (
        User.objects.filter(membership__firm_id=firm_id)
        .select_related("membership")
        .order_by("-is_active", "first_name", "last_name", "username")
    )


def matter_team(*, matter: Matter) -> list[MatterMember]:
    """A matter's team, responsible partner first."""
    order = {role: i for i, role in enumerate(MatterMember.Role.values)}
    team = list(MatterMember.objects.filter(matter=matter).select_related("user"))
    team.sort(key=lambda m: (order[m.role], m.user.display_name.lower()))
    return team


def membership_for(user: User) -> Membership | None:
    return getattr(user, "membership", None) if user.is_authenticated else None


def user_can_view_activity_of(*, viewer: User, subject: User) -> bool:
    """A user sees their own activity; firm admins see anyone's in their firm."""
    if not viewer.is_authenticated:
        return False
    if viewer.pk == subject.pk:
        return viewer.firm_id_or_none is not None
    membership = membership_for(viewer)
    return bool(
        membership
        and membership.is_firm_admin
        and subject.firm_id_or_none == membership.firm_id
    )
