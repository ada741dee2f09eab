"""Running a firm in the app: matters, their teams and walls, and people.

Matters are for firm admins and partners; people for firm admins. A firm
admin sees every matter of the firm listed, walled ones as their number and
client only (the team is theirs to manage; nothing inside is shown). Errors
map as everywhere (hivelight.http.action): hidden is 404, refused 403, bad
input a form error or a 400.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hivelight.http import action, login_required
from tasks_app import selectors, services
from tasks_app.forms import (
    MatterDetailsForm,
    MatterForm,
    PersonForm,
    PersonRoleForm,
    SuccessorForm,
    TeamMemberForm,
    TeamRoleForm,
)
from tasks_app.models import Matter, MatterMember, Membership, User


def _membership(request: HttpRequest) -> Membership:
    membership = selectors.membership_for(request.user)
    if membership is None:
        raise PermissionDenied("You are not a member of a firm.")
    return membership


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _inside(user: User, matter: Matter) -> bool:
    """May the user see what is inside the matter (open, or on its team)?"""
    return selectors.user_can_see_matter(user=user, matter=matter)


# --- matters ----------------------------------------------------------------------


@login_required
@require_GET
@action
def matter_list(request: HttpRequest) -> HttpResponse:
    """Every matter the person may run or open; `?closed=1` for the archive."""
    membership = _membership(request)
    closed = request.GET.get("closed") == "1"
    matters = (
        selectors.matter_queryset_for_manager(user=request.user)
        .filter(closed_at__isnull=not closed)
        .order_by("number")
    )
    outside = selectors.walled_matter_ids_outside(user=request.user)
    return render(
        request,
        "tasks_app/matters.html",
        {
            "rows": [(m, m.pk not in outside) for m in matters],
            "closed": closed,
            "can_manage": membership.manages_matters,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@action
def matter_new(request: HttpRequest) -> HttpResponse:
    membership = _membership(request)
    if not membership.manages_matters:
        raise PermissionDenied("Only partners and firm admins open matters.")
    form = MatterForm(request.POST or None, firm_id=membership.firm_id)
    if request.method == "POST" and form.is_valid():
        try:
            matter = services.matter_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Matter {matter.number} opened.")
            return redirect("matter_settings", matter_id=matter.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tasks_app/matter_new.html", {"form": form}, status=status)


def _matter_for_manager(request: HttpRequest, matter_id: int) -> Matter:
    membership = _membership(request)
    matter = (
        selectors.matter_queryset_for_manager(user=request.user)
        .filter(pk=matter_id)
        .first()
    )
    if matter is None:
        raise Http404("No such matter.")
    if not membership.manages_matters:
        raise PermissionDenied("Only partners and firm admins run matters.")
    return matter


def _settings_page(
    request: HttpRequest,
    matter: Matter,
    *,
    details: MatterDetailsForm | None = None,
    add: TeamMemberForm | None = None,
    status: int = 200,
) -> HttpResponse:
    inside = _inside(request.user, matter)
    details = details or MatterDetailsForm(
        initial={
            "number": matter.number,
            "name": matter.name,
            "client_name": matter.client_name,
        }
    )
    team = selectors.matter_team(matter=matter)
    return render(
        request,
        "tasks_app/matter_settings.html",
        {
            "matter": matter,
            "inside": inside,
            "details": details,
            "team": [(m, TeamRoleForm(initial={"role": m.role})) for m in team],
            "add": add or TeamMemberForm(matter=matter),
            "can_change_details": inside,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@action
def matter_settings(request: HttpRequest, matter_id: int) -> HttpResponse:
    """The matter's details, wall, state and team, for the people who run it."""
    matter = _matter_for_manager(request, matter_id)
    if request.method == "GET":
        return _settings_page(request, matter)
    form = MatterDetailsForm(request.POST)
    if form.is_valid():
        try:
            services.matter_update(
                actor=request.user, matter_id=matter.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Matter saved.")
            return redirect("matter_settings", matter_id=matter.pk)
    return _settings_page(request, matter, details=form, status=400)


@login_required
@require_POST
@action
def matter_wall(request: HttpRequest, matter_id: int) -> HttpResponse:
    restricted = request.POST.get("restricted") == "1"
    matter = services.matter_set_wall(
        actor=request.user, matter_id=matter_id, restricted=restricted
    )
    messages.success(
        request,
        f"{matter.number} is walled: only its team can see it."
        if restricted
        else f"{matter.number} is open to the whole firm.",
    )
    return redirect("matter_settings", matter_id=matter_id)


@login_required
@require_POST
@action
def matter_close(request: HttpRequest, matter_id: int) -> HttpResponse:
    if request.POST.get("reopen") == "1":
        matter = services.matter_reopen(actor=request.user, matter_id=matter_id)
        messages.success(request, f"{matter.number} reopened.")
    else:
        matter = services.matter_close(actor=request.user, matter_id=matter_id)
        messages.success(request, f"{matter.number} closed; its record is kept.")
    return redirect("matter_settings", matter_id=matter_id)


@login_required
@require_POST
@action
def team_add(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter = _matter_for_manager(request, matter_id)
    form = TeamMemberForm(request.POST, matter=matter)
    if form.is_valid():
        try:
            member = services.team_member_add(
                actor=request.user, matter_id=matter.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request,
                f"{member.user.display_name} joined the team of {matter.number}.",
            )
            return redirect("matter_settings", matter_id=matter.pk)
    return _settings_page(request, matter, add=form, status=400)


@login_required
@require_POST
@action
def team_role(request: HttpRequest, matter_id: int, member_id: int) -> HttpResponse:
    form = TeamRoleForm(request.POST)
    if not form.is_valid():
        raise ValidationError(" ".join(form.errors.get("role", ["Choose a role."])))
    services.team_member_set_role(
        actor=request.user,
        matter_id=matter_id,
        member_id=member_id,
        role=form.cleaned_data["role"],
    )
    messages.success(request, "Role changed.")
    return redirect("matter_settings", matter_id=matter_id)


@login_required
@require_http_methods(["GET", "POST"])
@action
def team_remove(request: HttpRequest, matter_id: int, member_id: int) -> HttpResponse:
    """Preview who takes over the person's open tasks, then take them off."""
    matter = _matter_for_manager(request, matter_id)
    member = (
        MatterMember.objects.select_related("user")
        .filter(matter=matter, pk=member_id)
        .first()
    )
    if member is None:
        raise Http404("No such person on this team.")
    plan = services.handover_plan(person=member.user, matter_ids=[matter.pk])
    line = plan[0] if plan else None
    form = SuccessorForm(
        request.POST or None, candidates=line.candidates if line else []
    )
    if request.method == "POST" and form.is_valid():
        try:
            handed = services.team_member_remove(
                actor=request.user,
                matter_id=matter.pk,
                member_id=member.pk,
                successor=form.cleaned_data["successor"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            tasks = sum(handed.values())
            note = f" and handed on {tasks} open task(s)" if tasks else ""
            name = member.user.display_name
            messages.success(
                request, f"Took {name} off the team of {matter.number}{note}."
            )
            return redirect("matter_settings", matter_id=matter.pk)
    return render(
        request,
        "tasks_app/team_remove.html",
        {
            "matter": matter,
            "member": member,
            "line": line,
            "form": form,
            "inside": _inside(request.user, matter),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- people -----------------------------------------------------------------------


def _require_firm_admin(request: HttpRequest) -> Membership:
    membership = _membership(request)
    if not membership.is_firm_admin:
        raise PermissionDenied("Only firm admins manage people.")
    return membership


@login_required
@require_GET
@action
def people(request: HttpRequest) -> HttpResponse:
    membership = _require_firm_admin(request)
    return render(
        request,
        "tasks_app/people.html",
        {"people": selectors.firm_people(firm_id=membership.firm_id)},
    )


@login_required
@require_http_methods(["GET", "POST"])
@action
def person_new(request: HttpRequest) -> HttpResponse:
    _require_firm_admin(request)
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = services.person_add(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request,
                f"{person.display_name} added; an email to set a password is on "
                f"its way to {person.email}.",
            )
            return redirect("person", user_id=person.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tasks_app/person_new.html", {"form": form}, status=status)


def _person(request: HttpRequest, user_id: int) -> User:
    membership = _require_firm_admin(request)
    person = (
        User.objects.select_related("membership")
        .filter(pk=user_id, membership__firm_id=membership.firm_id)
        .first()
    )
    if person is None:
        raise Http404("No such person.")
    return person


@login_required
@require_http_methods(["GET", "POST"])
@action
def person(request: HttpRequest, user_id: int) -> HttpResponse:
    """A person of the firm: their role; deactivate or reactivate them."""
    subject = _person(request, user_id)
    form = PersonRoleForm(
        request.POST or None, initial={"role": subject.membership.role}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.person_set_role(
                actor=request.user, user_id=subject.pk, role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Role changed.")
            return redirect("person", user_id=subject.pk)
    return render(
        request,
        "tasks_app/person.html",
        {"subject": subject, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
@action
def person_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    """Preview the handover of their open tasks per matter, then deactivate."""
    subject = _person(request, user_id)
    plan = services.handover_plan(person=subject)
    outside = selectors.walled_matter_ids_outside(user=request.user)
    lines = [
        (
            line,
            SuccessorForm(
                request.POST or None,
                prefix=f"m{line.matter.pk}",
                candidates=line.candidates,
            ),
            line.matter.pk not in outside,
        )
        for line in plan
    ]
    if request.method == "POST" and all(form.is_valid() for _, form, _ in lines):
        choices = {
            line.matter.pk: form.cleaned_data["successor"] for line, form, _ in lines
        }
        try:
            handed = services.person_deactivate(
                actor=request.user, user_id=subject.pk, choices=choices
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            tasks = sum(handed.values())
            messages.success(
                request,
                f"{subject.display_name} is deactivated"
                + (f"; {tasks} open task(s) handed on." if tasks else "."),
            )
            return redirect("person", user_id=subject.pk)
    return render(
        request,
        "tasks_app/person_deactivate.html",
        {"subject": subject, "lines": lines},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
@action
def person_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = services.person_reactivate(actor=request.user, user_id=user_id)
    messages.success(request, f"{subject.display_name} can log in again.")
    return redirect("person", user_id=subject.pk)
