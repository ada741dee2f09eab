"""Matters: open, edit, close and reopen them; their team and their wall.

Firm admins and partners run matters. A partner manages the matters they
can see; a firm admin manages every matter of the firm, walled ones
included, without seeing inside them (number and client only), and cannot
let themselves inside a wall. Every change is captured as an event on the
matter (`matter.created`, `.updated`, `.closed`, `.wall_changed`,
`.member_added`, ...): the wall's own record.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from events_app import context
from tasks_app import selectors
from tasks_app.models import Matter, MatterMember, Membership, User
from tasks_app.services.common import require_member, require_open
from tasks_app.services.handover import (
    handover_apply,
    handover_plan,
    release_reviews,
)


def _require_manager(actor: User) -> Membership:
    membership = require_member(actor)
    if not membership.manages_matters:
        raise PermissionDenied("Only partners and firm admins run matters.")
    return membership


def lock_matter_for_manager(*, actor: User, matter_id: int) -> Matter:
    """The matter, locked, if the actor may manage it (else 404 or 403)."""
    membership = require_member(actor)
    matter = (
        selectors.matter_queryset_for_manager(user=actor)
        .select_for_update(of=("self",))
        .filter(pk=matter_id)
        .first()
    )
    if matter is None:
        raise Http404("No such matter.")
    if not membership.manages_matters:
        raise PermissionDenied("Only partners and firm admins run matters.")
    return matter


def _check_team_person(*, matter: Matter, user: User) -> None:
    if user.firm_id_or_none != matter.firm_id or not user.is_active:
        raise ValidationError({"user": "Only active people of the firm can join."})


@transaction.atomic
def matter_create(
    *,
    actor: User,
    number: str,
    name: str,
    client_name: str,
    is_restricted: bool = False,
    members: list[User] | None = None,
    responsible_partner: User | None = None,
) -> Matter:
    """Open a matter. A partner who opens it is its responsible partner
    unless another is named; a walled matter starts with its team inside."""
    membership = _require_manager(actor)
    matter = Matter(
        firm_id=membership.firm_id,
        number=(number or "").strip(),
        name=(name or "").strip(),
        client_name=(client_name or "").strip(),
        is_restricted=is_restricted,
        created_by=actor,
        last_modified_by=actor,
    )
    matter.full_clean()
    partner = responsible_partner
    if partner is None and membership.role == Membership.Role.PARTNER:
        partner = actor
    people = [u for u in dict.fromkeys(members or []) if u != partner]
    outsiders = [
        u.display_name
        for u in ([partner, *people] if partner else people)
        if u.firm_id_or_none != matter.firm_id or not u.is_active
    ]
    if outsiders:
        raise ValidationError(
            {"members": f"Not active people of the firm: {', '.join(outsiders)}."}
        )
    if is_restricted and not partner and not people:
        raise ValidationError(
            {"is_restricted": "A walled matter needs at least one person inside."}
        )
    matter.save()
    if partner is not None:
        _add(actor, matter, partner, MatterMember.Role.RESPONSIBLE_PARTNER)
    for user in people:
        _add(actor, matter, user, _default_role(user))
    return matter


def _default_role(user: User) -> str:
    membership = getattr(user, "membership", None)
    if membership and membership.role == Membership.Role.PARALEGAL:
        return MatterMember.Role.PARALEGAL
    return MatterMember.Role.ASSOCIATE


def _add(actor: User, matter: Matter, user: User, role: str) -> MatterMember:
    member = MatterMember(matter=matter, user=user, role=role, last_modified_by=actor)
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def matter_update(
    *, actor: User, matter_id: int, number: str, name: str, client_name: str
) -> Matter:
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    _require_inside(actor, matter)
    matter.number = (number or "").strip()
    matter.name = (name or "").strip()
    matter.client_name = (client_name or "").strip()
    matter.last_modified_by = actor
    matter.full_clean()
    matter.save()
    return matter


def _require_inside(actor: User, matter: Matter) -> None:
    """Changing what a walled matter is called is for people inside it."""
    if matter.is_restricted and not matter.team.filter(user=actor).exists():
        raise PermissionDenied(
            "Only people inside the wall can change this matter's details."
        )


@transaction.atomic
def matter_close(*, actor: User, matter_id: int) -> Matter:
    """Archive: off boards and menus, its whole record kept."""
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    if matter.closed_at is None:
        matter.closed_at = context.now()
        matter.last_modified_by = actor
        matter.save(update_fields=["closed_at", "last_modified_by", "updated_at"])
    return matter


@transaction.atomic
def matter_reopen(*, actor: User, matter_id: int) -> Matter:
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    if matter.closed_at is not None:
        matter.closed_at = None
        matter.last_modified_by = actor
        matter.save(update_fields=["closed_at", "last_modified_by", "updated_at"])
    return matter


@transaction.atomic
def matter_set_wall(*, actor: User, matter_id: int, restricted: bool) -> Matter:
    """Put a wall up (only the team may see the matter) or take it down."""
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    if matter.is_restricted == restricted:
        return matter
    if restricted:
        team = set(matter.team.values_list("user_id", flat=True))
        if not team:
            raise ValidationError(
                "Add the people who work on this matter before walling it."
            )
        membership = require_member(actor)
        if not membership.is_firm_admin and actor.pk not in team:
            raise ValidationError(
                "Walling this matter would leave you outside it: join its team first."
            )
    matter.is_restricted = restricted
    matter.last_modified_by = actor
    matter.save(update_fields=["is_restricted", "last_modified_by", "updated_at"])
    return matter


@transaction.atomic
def team_member_add(
    *, actor: User, matter_id: int, user: User, role: str
) -> MatterMember:
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    require_open(matter)
    _check_team_person(matter=matter, user=user)
    if role not in MatterMember.Role.values:
        raise ValidationError({"role": f"“{role}” is not a matter role."})
    if matter.team.filter(user=user).exists():
        raise ValidationError({"user": f"{user.display_name} is already on the team."})
    if user == actor and matter.is_restricted:
        # A firm admin manages walls from outside; stepping inside one is for
        # the people who run the matter to decide.
        raise PermissionDenied("You cannot let yourself inside a wall.")
    _check_one_partner(matter, role)
    return _add(actor, matter, user, role)


def _check_one_partner(matter: Matter, role: str, *, other_than: int | None = None):
    if role != MatterMember.Role.RESPONSIBLE_PARTNER:
        return
    current = matter.team.filter(role=MatterMember.Role.RESPONSIBLE_PARTNER)
    if other_than is not None:
        current = current.exclude(pk=other_than)
    holder = current.select_related("user").first()
    if holder is not None:
        raise ValidationError(
            {"role": f"{holder.user.display_name} is already the responsible partner."}
        )


@transaction.atomic
def team_member_set_role(
    *, actor: User, matter_id: int, member_id: int, role: str
) -> MatterMember:
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    require_open(matter)
    member = matter.team.select_for_update().filter(pk=member_id).first()
    if member is None:
        raise Http404("No such person on this team.")
    if role not in MatterMember.Role.values:
        raise ValidationError({"role": f"“{role}” is not a matter role."})
    if member.role == role:
        return member
    _check_one_partner(matter, role, other_than=member.pk)
    member.role = role
    member.last_modified_by = actor
    member.full_clean()
    member.save(update_fields=["role", "last_modified_by"])
    return member


@transaction.atomic
def team_member_remove(
    *,
    actor: User,
    matter_id: int,
    member_id: int,
    successor: User | None = None,
) -> dict[int, int]:
    """Take someone off the team, handing their open tasks on first.

    Returns {new assignee id: tasks handed over}.
    """
    matter = lock_matter_for_manager(actor=actor, matter_id=matter_id)
    require_open(matter)
    member = (
        matter.team.select_for_update().select_related("user").filter(pk=member_id)
    ).first()
    if member is None:
        raise Http404("No such person on this team.")
    if matter.is_restricted and matter.team.count() == 1:
        raise ValidationError("A walled matter needs at least one person inside.")
    plan = handover_plan(person=member.user, matter_ids=[matter.pk])
    choices: Mapping[int, User | None] = {matter.pk: successor} if successor else {}
    cause = f"{member.user.display_name} left the team of {matter.number}"
    handed = handover_apply(
        actor=actor, person=member.user, plan=plan, choices=choices, cause=cause
    )
    release_reviews(
        actor=actor, person=member.user, cause=cause, matter_ids=[matter.pk]
    )
    member.last_modified_by = actor
    member.delete()
    return handed
