"""Comments: added by anyone who sees the task, changed by their author only."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404

from events_app import context
from tasks_app import selectors
from tasks_app.models import Comment, User
from tasks_app.services.common import check_text_length, require_open


@transaction.atomic
def comment_create(*, actor: User, task_id: int, body: str) -> Comment:
    task = selectors.task_get_for_user(user=actor, task_id=task_id)
    require_open(task.matter)
    body = (body or "").strip()
    check_text_length(Comment, "body", body)
    comment = Comment(task=task, author=actor, body=body, last_modified_by=actor)
    comment.full_clean()
    comment.save()
    return comment


def _lock_own_comment(*, actor: User, comment_id: int) -> Comment:
    comment = (
        Comment.objects.select_for_update(of=("self",))
        .filter(selectors.matter_visibility_q(actor, prefix="task__matter__"))
        .filter(pk=comment_id, is_deleted=False)
        .select_related("task__matter")
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    require_open(comment.task.matter)
    if comment.author_id != actor.pk:
        raise PermissionDenied("You can only change your own comments.")
    return comment


@transaction.atomic
def comment_edit(*, actor: User, comment_id: int, body: str) -> Comment:
    comment = _lock_own_comment(actor=actor, comment_id=comment_id)
    body = (body or "").strip()
    if body == comment.body:
        return comment
    check_text_length(Comment, "body", body)
    comment.body = body
    comment.edited_at = context.now()
    comment.last_modified_by = actor
    comment.full_clean()
    comment.save(update_fields=["body", "edited_at", "last_modified_by"])
    return comment


@transaction.atomic
def comment_delete(*, actor: User, comment_id: int) -> None:
    comment = _lock_own_comment(actor=actor, comment_id=comment_id)
    comment.is_deleted = True
    comment.last_modified_by = actor
    comment.save(update_fields=["is_deleted", "last_modified_by"])
