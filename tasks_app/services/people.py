"""People of a firm: add someone, change their role, deactivate someone leaving.

Firm admins only. A new person gets an email to set their password, made by
Django's own password-reset machinery (its token generator and its
confirmation page). Deactivating hands the person's open tasks on
(`handover`), in one transaction with the deactivation. A firm always keeps
an active firm admin.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from events_app import names
from events_app.capture.records import record
from tasks_app import selectors
from tasks_app.models import Membership, User
from tasks_app.services.common import require_member
from tasks_app.services.handover import (
    handover_apply,
    handover_plan,
    release_reviews,
)


def _require_firm_admin(actor: User) -> Membership:
    membership = require_member(actor)
    if not membership.is_firm_admin:
        raise PermissionDenied("Only firm admins manage people.")
    return membership


def lock_person(*, actor: User, user_id: int) -> User:
    """A person of the admin's firm, locked (404 for anyone else)."""
    membership = _require_firm_admin(actor)
    person = (
        User.objects.select_for_update(of=("self",))
        .select_related("membership")
        .filter(pk=user_id, membership__firm_id=membership.firm_id)
        .first()
    )
    if person is None:
        raise Http404("No such person.")
    return person


@transaction.atomic
def person_add(
    *,
    actor: User,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
) -> User:
    """Add someone to the firm; they get an email to set their password."""
    membership = _require_firm_admin(actor)
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"“{role}” is not a firm role."})
    email = (email or "").strip()
    if not email:
        raise ValidationError({"email": "A new person needs an email address."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "Someone already has that email address."})
    person = User(
        username=(username or "").strip(),
        email=email,
        first_name=(first_name or "").strip(),
        last_name=(last_name or "").strip(),
    )
    person.set_unusable_password()
    person.full_clean()
    person.save()
    place = Membership(
        user=person, firm_id=membership.firm_id, role=role, last_modified_by=actor
    )
    place.full_clean()
    place.save()
    transaction.on_commit(lambda: send_invitation(user_id=person.pk, by=actor))
    return person


def send_invitation(*, user_id: int, by: User) -> None:
    """Email a link to Django's password-set page (valid per PASSWORD_RESET_TIMEOUT)."""
    person = User.objects.select_related("membership__firm").get(pk=user_id)
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    token = default_token_generator.make_token(person)
    site = settings.SITE_URL.rstrip("/")
    link = site + reverse("password_reset_confirm", args=[uid, token])
    firm = person.membership.firm.name
    send_mail(
        subject=f"{by.display_name} added you to {firm} on Hivelight",
        message="\n".join(
            [
                f"Hello {person.display_name},",
                "",
                f"{by.display_name} added you to {firm} on Hivelight.",
                f"Choose your password here: {link}",
                "",
                f"Your username is {person.username}.",
            ]
        ),
        from_email=None,
        recipient_list=[person.email],
    )


def _check_keeps_an_admin(person: User, *, leaving_admin_role: bool) -> None:
    if not leaving_admin_role or not person.membership.is_firm_admin:
        return
    others = Membership.objects.filter(
        firm_id=person.membership.firm_id,
        role=Membership.Role.FIRM_ADMIN,
        user__is_active=True,
    ).exclude(user=person)
    if not others.exists():
        raise ValidationError("The firm needs at least one active firm admin.")


@transaction.atomic
def person_set_role(*, actor: User, user_id: int, role: str) -> User:
    person = lock_person(actor=actor, user_id=user_id)
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"“{role}” is not a firm role."})
    place = Membership.objects.select_for_update().get(user=person)
    if place.role == role:
        return person
    _check_keeps_an_admin(person, leaving_admin_role=role != Membership.Role.FIRM_ADMIN)
    place.role = role
    place.last_modified_by = actor
    place.full_clean()
    place.save(update_fields=["role", "last_modified_by"])
    return person


@transaction.atomic
def person_deactivate(
    *, actor: User, user_id: int, choices: Mapping[int, User | None] | None = None
) -> dict[int, int]:
    """Deactivate someone leaving; their open tasks go to others first.

    `choices` maps a matter id to the person chosen instead of the proposal
    (see `handover.handover_plan`). Returns {new assignee id: tasks}.
    """
    person = lock_person(actor=actor, user_id=user_id)
    if person == actor:
        raise ValidationError("You cannot deactivate yourself.")
    if not person.is_active:
        return {}
    _check_keeps_an_admin(person, leaving_admin_role=True)
    cause = f"{person.display_name} left the firm"
    handed = handover_apply(
        actor=actor,
        person=person,
        plan=handover_plan(person=person),
        choices=choices or {},
        cause=cause,
    )
    release_reviews(actor=actor, person=person, cause=cause)
    person.is_active = False
    person.save(update_fields=["is_active"])
    _record_active(actor, person, names.USER_DEACTIVATED)
    return handed


@transaction.atomic
def person_reactivate(*, actor: User, user_id: int) -> User:
    person = lock_person(actor=actor, user_id=user_id)
    if not person.is_active:
        person.is_active = True
        person.save(update_fields=["is_active"])
        _record_active(actor, person, names.USER_REACTIVATED)
    return person


def _record_active(actor: User, person: User, name: str) -> None:
    record(
        name=name,
        firm_id=selectors.user_firm_id(person),
        actor={"id": actor.pk, "name": actor.display_name},
        subject={"type": "user", "id": person.pk, "label": person.display_name},
        changes={"is_active": [not person.is_active, person.is_active]},
    )
