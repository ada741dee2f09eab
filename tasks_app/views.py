"""Pages and actions of the Kanban: forms validate, services write, selectors read.

Errors map the same way everywhere (hivelight.http.action): an object the
user may not see is a 404 (a wall leaks nothing); bad input is a form error
on a full page, or a 400 with a plain message for htmx and JSON callers; a
refused action is a 403 with the reason. Nothing a user sends can make a
view fail with a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from events_app.capture.records import record_task_viewed
from hivelight.http import action, login_required, next_url, wants_json
from tasks_app import cards, selectors, services
from tasks_app.forms import (
    BoardFilterForm,
    CommentForm,
    MilestoneForm,
    MoveForm,
    QuickAddForm,
    ReturnForm,
    SearchForm,
    TaskForm,
)
from tasks_app.models import Comment, Matter, Milestone, Task
from tasks_app.search import SearchResults, query_words, search_for_user

# Fired on the client after any change to a board; the board re-fetches its columns.
BOARD_CHANGED = "board-changed"
# Fired with a message for the page's screen-reader live region.
ANNOUNCE = "announce"
# The header search box's results menu (base.html): htmx names it as target.
SEARCH_MENU = "search-menu"
SEARCH_MENU_LIMIT = 5
SEARCH_PAGE_LIMIT = 25


def _form_message(form: Any) -> str:
    """A form's errors as one plain sentence, for htmx and JSON callers."""
    parts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label or field.replace("_", " ").capitalize()
        text = " ".join(errors)
        parts.append(text if field == "__all__" else f"{label}: {text}")
    return " ".join(parts)


def _done(request: HttpRequest, default_url: str, announce: str = "") -> HttpResponse:
    """Answer a successful board action in the caller's format.

    htmx callers get the board re-drawn, and `announce` read out by screen
    readers (the card moved out from under the keyboard).
    """
    if request.htmx:
        response = trigger_client_event(HttpResponse(status=204), BOARD_CHANGED)
        if announce:
            trigger_client_event(response, ANNOUNCE, {"message": announce})
        return response
    return HttpResponseRedirect(next_url(request, default_url))


# --- board building -------------------------------------------------------------


def _board_context(request: HttpRequest, matter: Matter) -> dict[str, Any]:
    people = list(selectors.users_who_can_see_matter(matter=matter))
    milestones = list(Milestone.objects.filter(matter=matter))
    filter_form = BoardFilterForm(request.GET, people=people, milestones=milestones)
    board = selectors.board_for_matter(matter=matter, **filter_form.filters())
    query = filter_form.querystring()
    return {
        "matter": matter,
        "columns": cards.columns(board),
        "statuses": Task.Status.choices,
        "people": people,
        "milestones": milestones,
        "filter_form": filter_form,
        "filter_query": query,
        "is_filtered": bool(query),
        "board_url": reverse("board", args=[matter.pk])
        + (f"?{query}" if query else ""),
        "today": timezone.localdate(),
    }


# --- home -----------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "tasks_app/home.html",
        {
            "matters": selectors.matter_list_for_user(user=user),
            "my_tasks": selectors.task_list_open_for_user(user=user),
            "to_review": selectors.task_list_waiting_for_review(user=user, limit=10),
            "due_soon": selectors.task_list_due_soon(user=user),
            "today": timezone.localdate(),
        },
    )


@login_required
@require_GET
def home_matters(request: HttpRequest) -> HttpResponse:
    """The home page's matters, again: after joining or leaving a team."""
    return render(
        request,
        "tasks_app/partials/home_matters.html",
        {"matters": selectors.matter_list_for_user(user=request.user)},
    )


# --- search ---------------------------------------------------------------------


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _search_summary(results: SearchResults) -> str:
    """What was found, in words ("1 matter and 5 tasks")."""
    parts = [
        _count(len(group.hits), group.heading.lower()[:-1], group.heading.lower())
        for group in results.groups
    ]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


@login_required
@require_GET
@action
def search(request: HttpRequest) -> HttpResponse:
    """Search results: the whole page, or the header box's menu (htmx).

    Always a 200: a query too long or with no words gets a message, one that
    finds nothing says so. The query itself is never written back into the
    page (the box fills itself from the address, static/js/search.js), so a
    page about a search for a hidden matter's name carries no such name.
    """
    in_menu = bool(request.htmx) and request.htmx.target == SEARCH_MENU
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    if in_menu and form.is_valid() and not query:
        return HttpResponse("")  # an emptied box closes the menu
    results = None
    message = ""
    if not form.is_valid():
        message = " ".join(form.errors["q"])
    elif not query:
        message = "Type a few words to find matters, tasks and comments."
    elif not query_words(query):
        message = "Search for words or numbers: punctuation alone finds nothing."
    else:
        results = search_for_user(
            user=request.user,
            query=query,
            limit=SEARCH_MENU_LIMIT if in_menu else SEARCH_PAGE_LIMIT,
        )
    context = {"results": results, "message": message, "menu_id": SEARCH_MENU}
    if not in_menu:
        return render(request, "tasks_app/search.html", context)
    response = render(request, "tasks_app/partials/search_menu.html", context)
    if results is None:
        announce = message
    elif results.count:
        announce = f"{_search_summary(results)}. Press Down to go through them."
    else:
        announce = "No matches."
    return trigger_client_event(response, ANNOUNCE, {"message": announce})


# --- board ----------------------------------------------------------------------


@login_required
@require_GET
def board(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter = selectors.matter_get_for_user(user=request.user, matter_id=matter_id)
    context = _board_context(request, matter)
    context["quick_add_form"] = QuickAddForm()
    return render(request, "tasks_app/board.html", context)


@login_required
@require_GET
@action
def board_columns(request: HttpRequest, matter_id: int) -> HttpResponse:
    """The board's columns as a fragment; `?status=` narrows it to one column."""
    matter = selectors.matter_get_for_user(user=request.user, matter_id=matter_id)
    context = _board_context(request, matter)
    status = request.GET.get("status")
    if status is None:
        return render(request, "tasks_app/partials/board_columns.html", context)
    if status not in Task.Status.values:
        raise ValidationError(f"“{status}” is not a column of the board.")
    context["column"] = next(c for c in context["columns"] if c.status == status)
    return render(request, "tasks_app/partials/board_column.html", context)


@login_required
@require_GET
def task_card(request: HttpRequest, task_id: int) -> HttpResponse:
    """One card as a fragment, with its neighbours under the same filters."""
    task = selectors.task_get_for_user(user=request.user, task_id=task_id)
    context = _board_context(request, task.matter)
    column = next(c for c in context["columns"] if c.status == task.status)
    card = next((c for c in column.cards if c.task.pk == task.pk), None)
    if card is None:
        # Filtered out of the board: the card still renders, without neighbours.
        card = cards.Card(task=task, previous_id=None, next_id=None)
    context.update(card=card, column=column)
    return render(request, "tasks_app/partials/task_card.html", context)


@login_required
@require_POST
@action
def task_quick_add(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter = selectors.matter_get_for_user(user=request.user, matter_id=matter_id)
    form = QuickAddForm(request.POST)
    if not form.is_valid():
        raise ValidationError(_form_message(form))
    task = services.task_create(
        actor=request.user,
        matter_id=matter.pk,
        title=form.cleaned_data["title"],
        status=form.cleaned_data["status"],
    )
    if wants_json(request):
        return JsonResponse({"id": task.pk, "status": task.status}, status=201)
    return _done(
        request,
        matter.get_absolute_url(),
        f"Added “{task.title}” to {task.get_status_display()}.",
    )


@login_required
@require_POST
@action
def task_move(request: HttpRequest, task_id: int) -> HttpResponse:
    """Put a card in a column, after or before another card (drag, keys or buttons)."""
    task = selectors.task_get_for_user(user=request.user, task_id=task_id)
    form = MoveForm(request.POST)
    if not form.is_valid():
        raise ValidationError(_form_message(form))
    task = services.task_move(
        actor=request.user,
        task_id=task.pk,
        status=form.cleaned_data["status"],
        after_id=form.cleaned_data["after_id"],
        before_id=form.cleaned_data["before_id"],
    )
    if wants_json(request):
        return JsonResponse({"id": task.pk, "status": task.status, "rank": task.rank})
    return _done(
        request,
        reverse("board", args=[task.matter_id]),
        f"Moved “{task.title}” in {task.get_status_display()}.",
    )


# --- task page ------------------------------------------------------------------


def _task_page(
    request: HttpRequest,
    task: Task,
    *,
    form: TaskForm | None = None,
    comment_form: CommentForm | None = None,
    editing: tuple[int, CommentForm] | None = None,
    return_form: ReturnForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if form is None:
        form = TaskForm(initial=TaskForm.initial_for(task), matter=task.matter)
    context = {
        "return_form": return_form or ReturnForm(),
        "task": task,
        "matter": task.matter,
        "form": form,
        "comments": selectors.task_comments(task=task),
        "comment_form": comment_form or CommentForm(),
        "editing_comment_id": editing[0] if editing else None,
        "editing_form": editing[1] if editing else None,
        "today": timezone.localdate(),
    }
    return render(request, "tasks_app/task_detail.html", context, status=status)


def _add_service_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
@require_http_methods(["GET", "POST"])
@action
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    task = selectors.task_get_for_user(user=request.user, task_id=task_id)
    if request.method == "GET":
        record_task_viewed(user=request.user, task=task)
        return _task_page(request, task)
    form = TaskForm(request.POST, matter=task.matter)
    if form.is_valid():
        try:
            services.task_update(
                actor=request.user, task_id=task.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, "Task saved.")
            return redirect(task)
    return _task_page(request, task, form=form, status=400)


@login_required
@require_POST
@action
def task_delete(request: HttpRequest, task_id: int) -> HttpResponse:
    task = selectors.task_get_for_user(user=request.user, task_id=task_id)
    services.task_delete(actor=request.user, task_id=task.pk)
    messages.success(request, f"Deleted “{task.title}”.")
    return redirect("board", matter_id=task.matter_id)


# --- review ---------------------------------------------------------------------


@login_required
@require_POST
@action
def task_approve(request: HttpRequest, task_id: int) -> HttpResponse:
    task = services.task_approve(actor=request.user, task_id=task_id)
    messages.success(request, f"Approved “{task.title}”: it is Done.")
    return redirect(task)


@login_required
@require_POST
@action
def task_return(request: HttpRequest, task_id: int) -> HttpResponse:
    task = selectors.task_get_for_user(user=request.user, task_id=task_id)
    form = ReturnForm(request.POST)
    if form.is_valid():
        try:
            services.task_request_changes(
                actor=request.user,
                task_id=task.pk,
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Returned “{task.title}” with your comment.")
            return redirect(task)
    return _task_page(request, task, return_form=form, status=400)


@login_required
@require_GET
def reviews(request: HttpRequest) -> HttpResponse:
    """Waiting for my review: the tasks whose reviewer I am, in review."""
    return render(
        request,
        "tasks_app/reviews.html",
        {
            "tasks": selectors.task_list_waiting_for_review(user=request.user),
            "today": timezone.localdate(),
        },
    )


# --- comments -------------------------------------------------------------------


@login_required
@require_POST
@action
def comment_create(request: HttpRequest, task_id: int) -> HttpResponse:
    task = selectors.task_get_for_user(user=request.user, task_id=task_id)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            comment = services.comment_create(
                actor=request.user, task_id=task.pk, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            return redirect(f"{task.get_absolute_url()}#comment-{comment.pk}")
    return _task_page(request, task, comment_form=form, status=400)


def _comment_task(request: HttpRequest, comment_id: int) -> tuple[Comment, Task]:
    comment = selectors.comment_get_for_user(user=request.user, comment_id=comment_id)
    task = selectors.task_get_for_user(user=request.user, task_id=comment.task_id)
    return comment, task


@login_required
@require_POST
@action
def comment_edit(request: HttpRequest, comment_id: int) -> HttpResponse:
    comment, task = _comment_task(request, comment_id)
    if comment.author_id != request.user.pk:
        raise PermissionDenied("You can only change your own comments.")
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.comment_edit(
                actor=request.user,
                comment_id=comment.pk,
                body=form.cleaned_data["body"],
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            return redirect(f"{task.get_absolute_url()}#comment-{comment.pk}")
    return _task_page(request, task, editing=(comment.pk, form), status=400)


@login_required
@require_POST
@action
def comment_delete(request: HttpRequest, comment_id: int) -> HttpResponse:
    comment, task = _comment_task(request, comment_id)
    services.comment_delete(actor=request.user, comment_id=comment.pk)
    messages.success(request, "Comment deleted.")
    return redirect(task)


# --- milestones -----------------------------------------------------------------


def _milestones_page(
    request: HttpRequest, matter: Matter, form: MilestoneForm, status: int = 200
) -> HttpResponse:
    milestones = list(selectors.milestone_list_for_matter(matter=matter))
    for milestone in milestones:
        # Drawn from the tasks as they stand, so the bar is right even before
        # the stored progress has been recomputed.
        milestone.percent_done = (
            round(100 * milestone.done_count / milestone.task_count)
            if milestone.task_count
            else 0
        )
    return render(
        request,
        "tasks_app/milestones.html",
        {
            "matter": matter,
            "milestones": milestones,
            "form": form,
            "today": timezone.localdate(),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@action
def milestones(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter = selectors.matter_get_for_user(user=request.user, matter_id=matter_id)
    if request.method == "GET":
        return _milestones_page(request, matter, MilestoneForm())
    form = MilestoneForm(request.POST)
    if form.is_valid():
        try:
            milestone = services.milestone_create(
                actor=request.user, matter_id=matter.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Milestone “{milestone.name}” added.")
            return redirect("milestones", matter_id=matter.pk)
    return _milestones_page(request, matter, form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
@action
def milestone_edit(request: HttpRequest, milestone_id: int) -> HttpResponse:
    milestone = selectors.milestone_get_for_user(
        user=request.user, milestone_id=milestone_id
    )
    status = 200
    if request.method == "POST":
        form = MilestoneForm(request.POST)
        if form.is_valid():
            try:
                services.milestone_update(
                    actor=request.user, milestone_id=milestone.pk, **form.cleaned_data
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, "Milestone saved.")
                return redirect(milestone)
        status = 400
    else:
        form = MilestoneForm(
            initial={"name": milestone.name, "due_date": milestone.due_date}
        )
    return render(
        request,
        "tasks_app/milestone_edit.html",
        {"milestone": milestone, "matter": milestone.matter, "form": form},
        status=status,
    )
