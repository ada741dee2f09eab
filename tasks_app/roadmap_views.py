"""Roadmaps in the app: keep them, save a matter as one, apply one to a matter.

For firm admins and partners of the roadmap's firm (another firm's roadmap
is a 404, anyone else a 403). Applying a roadmap a second time to the same
matter asks first.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from hivelight.http import action, login_required
from tasks_app import selectors, services
from tasks_app.forms import (
    ApplyRoadmapForm,
    RoadmapForm,
    RoadmapMilestoneForm,
    RoadmapTaskForm,
    SaveAsRoadmapForm,
)
from tasks_app.models import Roadmap


def _planner_firm(request: HttpRequest) -> int:
    membership = selectors.membership_for(request.user)
    if membership is None or not membership.manages_matters:
        raise PermissionDenied("Only partners and firm admins keep roadmaps.")
    return membership.firm_id


def _roadmap(request: HttpRequest, roadmap_id: int) -> Roadmap:
    firm_id = _planner_firm(request)
    roadmap = Roadmap.objects.filter(pk=roadmap_id, firm_id=firm_id).first()
    if roadmap is None:
        raise Http404("No such roadmap.")
    return roadmap


def _errors_to(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
@require_http_methods(["GET", "POST"])
@action
def roadmaps(request: HttpRequest) -> HttpResponse:
    firm_id = _planner_firm(request)
    form = RoadmapForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            roadmap = services.roadmap_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to(form, exc)
        else:
            return redirect(roadmap)
    return render(
        request,
        "tasks_app/roadmaps.html",
        {
            "roadmaps": Roadmap.objects.filter(firm_id=firm_id),
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


def _page(
    request: HttpRequest, roadmap: Roadmap, status: int = 200, **forms: Any
) -> HttpResponse:
    context = {
        "roadmap": roadmap,
        "milestones": roadmap.milestones.all(),
        "tasks": roadmap.tasks.select_related("milestone", "default_person"),
        "details": forms.get("details")
        or RoadmapForm(
            initial={"name": roadmap.name, "description": roadmap.description}
        ),
        "milestone_form": forms.get("milestone_form") or RoadmapMilestoneForm(),
        "task_form": forms.get("task_form") or RoadmapTaskForm(roadmap=roadmap),
        "apply_form": forms.get("apply_form") or ApplyRoadmapForm(user=request.user),
        "confirm": forms.get("confirm"),
    }
    return render(request, "tasks_app/roadmap.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@action
def roadmap(request: HttpRequest, roadmap_id: int) -> HttpResponse:
    item = _roadmap(request, roadmap_id)
    if request.method == "GET":
        return _page(request, item)
    form = RoadmapForm(request.POST)
    if form.is_valid():
        try:
            services.roadmap_update(
                actor=request.user, roadmap_id=item.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors_to(form, exc)
        else:
            messages.success(request, "Roadmap saved.")
            return redirect(item)
    return _page(request, item, status=400, details=form)


@login_required
@require_POST
@action
def roadmap_milestone_add(request: HttpRequest, roadmap_id: int) -> HttpResponse:
    item = _roadmap(request, roadmap_id)
    form = RoadmapMilestoneForm(request.POST)
    if form.is_valid():
        try:
            services.roadmap_milestone_add(
                actor=request.user, roadmap_id=item.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors_to(form, exc)
        else:
            return redirect(item)
    return _page(request, item, status=400, milestone_form=form)


@login_required
@require_POST
@action
def roadmap_task_add(request: HttpRequest, roadmap_id: int) -> HttpResponse:
    item = _roadmap(request, roadmap_id)
    form = RoadmapTaskForm(request.POST, roadmap=item)
    if form.is_valid():
        try:
            services.roadmap_task_add(
                actor=request.user, roadmap_id=item.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors_to(form, exc)
        else:
            return redirect(item)
    return _page(request, item, status=400, task_form=form)


@login_required
@require_POST
@action
def roadmap_item_remove(
    request: HttpRequest, roadmap_id: int, kind: str, item_id: int
) -> HttpResponse:
    if kind not in ("milestone", "task"):
        raise Http404("No such item.")
    services.roadmap_item_remove(
        actor=request.user, roadmap_id=roadmap_id, kind=kind, item_id=item_id
    )
    return redirect("roadmap", roadmap_id=roadmap_id)


@login_required
@require_POST
@action
def roadmap_delete(request: HttpRequest, roadmap_id: int) -> HttpResponse:
    item = _roadmap(request, roadmap_id)
    services.roadmap_delete(actor=request.user, roadmap_id=item.pk)
    messages.success(request, f"Roadmap “{item.name}” deleted.")
    return redirect("roadmaps")


@login_required
@require_POST
@action
def roadmap_apply(request: HttpRequest, roadmap_id: int) -> HttpResponse:
    """Apply to a matter; a second time only once the person has confirmed."""
    item = _roadmap(request, roadmap_id)
    form = ApplyRoadmapForm(request.POST, user=request.user)
    if not form.is_valid():
        return _page(request, item, status=400, apply_form=form)
    matter = form.cleaned_data["matter"]
    try:
        services.roadmap_apply(
            actor=request.user,
            roadmap_id=item.pk,
            matter_id=matter.pk,
            again=form.cleaned_data["again"],
        )
    except ValidationError as exc:
        if form.cleaned_data["again"] or not services.last_application(
            roadmap=item, matter=matter
        ):
            _errors_to(form, exc)
            return _page(request, item, status=400, apply_form=form)
        # Applied before: ask, with the same choice ready to confirm.
        return _page(
            request,
            item,
            status=409,
            confirm={"matter": matter, "message": " ".join(exc.messages)},
        )
    messages.success(request, f"“{item.name}” applied to {matter.number}.")
    return redirect("board", matter_id=matter.pk)


@login_required
@require_POST
@action
def roadmap_from_matter(request: HttpRequest, matter_id: int) -> HttpResponse:
    _planner_firm(request)
    form = SaveAsRoadmapForm(request.POST)
    if not form.is_valid():
        raise ValidationError(" ".join(form.errors.get("name", ["Name it."])))
    made = services.roadmap_from_matter(
        actor=request.user, matter_id=matter_id, name=form.cleaned_data["name"]
    )
    messages.success(request, f"Saved as roadmap “{made.name}”.")
    return redirect(made)
