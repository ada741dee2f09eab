"""Forms: validate what a page sends before a service is asked to write it.

Field limits come from the models, so a form never accepts what the database
would refuse. Choices of people and milestones are limited to the matter, so
an id from another firm or matter is a form error, not a lookup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

from tasks_app import search, selectors
from tasks_app.models import (
    Comment,
    Matter,
    MatterMember,
    Membership,
    Milestone,
    Roadmap,
    RoadmapMilestone,
    RoadmapTask,
    Task,
    User,
)


def _max_length(model: type, field: str) -> int:
    return model._meta.get_field(field).max_length


class DateInput(forms.DateInput):
    """A native date picker; it only reads ISO dates, whatever the locale."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class BaseForm(forms.Form):
    """Labels without a trailing colon: the templates lay them out above fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


class TaskForm(BaseForm):
    """Every editable field of a task, with choices limited to its matter."""

    title = forms.CharField(max_length=_max_length(Task, "title"))
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=_max_length(Task, "description"),
    )
    status = forms.ChoiceField(choices=Task.Status.choices)
    priority = forms.ChoiceField(choices=Task.Priority.choices)
    assignee = PersonChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Unassigned"
    )
    reviewer = PersonChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label="No review",
        help_text="Moving the task to In review asks them to review it.",
    )
    due_date = forms.DateField(required=False, widget=DateInput())
    milestone = forms.ModelChoiceField(
        queryset=Milestone.objects.none(), required=False, empty_label="No milestone"
    )

    def __init__(self, *args: Any, matter: Matter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.users_who_can_see_matter(
            matter=matter
        )
        self.fields["reviewer"].queryset = selectors.possible_reviewers(matter=matter)
        self.fields["milestone"].queryset = Milestone.objects.filter(matter=matter)

    @classmethod
    def initial_for(cls, task: Task) -> dict[str, Any]:
        return {
            "title": task.title,
            "description": task.description,
            "status": task.status,
            "priority": task.priority,
            "assignee": task.assignee_id,
            "reviewer": task.reviewer_id,
            "due_date": task.due_date,
            "milestone": task.milestone_id,
        }


class ReturnForm(BaseForm):
    """Returning work in review: what needs to change (required)."""

    comment = forms.CharField(
        label="What needs to change",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=_max_length(Comment, "body"),
    )


class QuickAddForm(BaseForm):
    """A title typed at the foot of a column."""

    title = forms.CharField(max_length=_max_length(Task, "title"))
    status = forms.ChoiceField(choices=Task.Status.choices)


class MoveForm(BaseForm):
    """Where a card goes: a column, and optionally the card it goes after or before."""

    status = forms.ChoiceField(
        choices=Task.Status.choices,
        error_messages={"invalid_choice": "“%(value)s” is not a column of the board."},
    )
    after_id = forms.IntegerField(required=False, min_value=1)
    before_id = forms.IntegerField(required=False, min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("after_id") and data.get("before_id"):
            # The client sends one anchor; the other is implied by the column.
            data["before_id"] = None
        return data


class CommentForm(BaseForm):
    body = forms.CharField(
        max_length=_max_length(Comment, "body") or 10_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "A comment cannot be empty."},
    )


class MilestoneForm(BaseForm):
    name = forms.CharField(max_length=_max_length(Milestone, "name"))
    due_date = forms.DateField(required=False, widget=DateInput())


class BoardFilterForm(BaseForm):
    """The board's GET filters. A value it cannot read means "no filter"."""

    UNASSIGNED = "none"

    assignee = forms.ChoiceField(required=False)
    milestone = forms.ChoiceField(required=False)

    def __init__(
        self,
        *args: Any,
        people: list[User],
        milestones: list[Milestone],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Choices come from lists the page already loaded: no extra queries.
        self.fields["assignee"].choices = [
            ("", "Everyone"),
            (self.UNASSIGNED, "Unassigned"),
            *((str(u.pk), u.display_name) for u in people),
        ]
        self.fields["milestone"].choices = [
            ("", "All milestones"),
            *((str(m.pk), m.name) for m in milestones),
        ]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `selectors.board_for_matter`; invalid parts dropped."""
        self.is_valid()
        data = self.cleaned_data
        assignee = data.get("assignee") or ""
        milestone = data.get("milestone") or ""
        return {
            "unassigned": assignee == self.UNASSIGNED,
            "assignee_id": int(assignee) if assignee.isdigit() else None,
            "milestone_id": int(milestone) if milestone.isdigit() else None,
        }

    def querystring(self) -> str:
        """The valid filters as a query string, to carry across fragment fetches."""
        self.is_valid()
        return urlencode({k: v for k, v in self.cleaned_data.items() if v})


class SearchForm(BaseForm):
    """The header search box. Whatever is typed is searched for as words."""

    q = forms.CharField(required=False, label="Search")

    def clean_q(self) -> str:
        return search.clean_query(self.cleaned_data["q"])


# --- running a firm: matters, teams, people ------------------------------------------


class PeopleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


class MatterForm(BaseForm):
    """Opening a matter: what it is, who runs it, who works on it, the wall."""

    number = forms.CharField(max_length=_max_length(Matter, "number"))
    name = forms.CharField(max_length=_max_length(Matter, "name"))
    client_name = forms.CharField(
        label="Client", max_length=_max_length(Matter, "client_name")
    )
    responsible_partner = PersonChoiceField(
        queryset=User.objects.none(), required=False, empty_label="—"
    )
    members = PeopleChoiceField(
        label="Team",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Everyone else who works on it.",
    )
    is_restricted = forms.BooleanField(
        label="Ethical wall",
        required=False,
        help_text="Only the team can see a walled matter; for everyone else, "
        "firm admins included, it does not exist.",
    )

    def __init__(self, *args: Any, firm_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = selectors.firm_people(firm_id=firm_id).filter(is_active=True)
        self.fields["members"].queryset = people
        self.fields["responsible_partner"].queryset = people.filter(
            membership__role="PARTNER"
        )


class MatterDetailsForm(BaseForm):
    number = forms.CharField(max_length=_max_length(Matter, "number"))
    name = forms.CharField(max_length=_max_length(Matter, "name"))
    client_name = forms.CharField(
        label="Client", max_length=_max_length(Matter, "client_name")
    )


class TeamMemberForm(BaseForm):
    """Add someone of the firm to a matter's team, with their role on it."""

    user = PersonChoiceField(
        label="Person", queryset=User.objects.none(), empty_label="Choose…"
    )
    role = forms.ChoiceField(choices=MatterMember.Role.choices)

    def __init__(self, *args: Any, matter: Matter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            selectors.firm_people(firm_id=matter.firm_id)
            .filter(is_active=True)
            .exclude(pk__in=matter.team.values("user_id"))
        )


class TeamRoleForm(BaseForm):
    role = forms.ChoiceField(choices=MatterMember.Role.choices)


class SuccessorForm(BaseForm):
    """Who takes over someone's open tasks on one matter."""

    successor = PersonChoiceField(
        label="Hand their open tasks to",
        queryset=User.objects.none(),
        required=False,
        empty_label="The proposed person",
    )

    def __init__(self, *args: Any, candidates: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["successor"].queryset = User.objects.filter(
            pk__in=[u.pk for u in candidates]
        )


class PersonForm(BaseForm):
    """Adding someone to the firm."""

    first_name = forms.CharField(max_length=_max_length(User, "first_name"))
    last_name = forms.CharField(max_length=_max_length(User, "last_name"))
    email = forms.EmailField(max_length=_max_length(User, "email"))
    username = forms.CharField(
        max_length=_max_length(User, "username"),
        help_text="What they log in with, and how colleagues @mention them.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices)


class PersonRoleForm(BaseForm):
    role = forms.ChoiceField(choices=Membership.Role.choices)


# --- logging in ------------------------------------------------------------------


def login_failures_key(address: str, username: str) -> str:
    """The cache key counting one name's failed logins from one address."""
    return f"hl:login-failures:{address}:{username.lower()[:150]}"


class LoginForm(AuthenticationForm):
    """Django's login form, refusing a name from an address after repeated
    failures (LOGIN_FAILURE_LIMIT in LOGIN_LOCKOUT_SECONDS), before it even
    tries the password: guessing stops, and so do its failed-login events."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password did not match. Please try again.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = (self.request.META.get("REMOTE_ADDR") if self.request else "") or ""
        key = login_failures_key(address, username)
        limit = settings.LOGIN_FAILURE_LIMIT
        if username and (cache.get(key) or 0) >= limit:
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            raise ValidationError(
                f"Too many failed logins. Try again in {minutes} minutes, or ask "
                "your firm admin for help.",
                code="throttled",
            )
        try:
            data = super().clean()
        except ValidationError:
            if username:
                cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            raise
        cache.delete(key)
        return data


# --- roadmaps ------------------------------------------------------------------

OFFSET_HELP = "Days after the day the roadmap is applied (negative: before)."


def _offset_field(**kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=-3650, max_value=3650, **kwargs)


class RoadmapForm(BaseForm):
    name = forms.CharField(max_length=_max_length(Roadmap, "name"))
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=_max_length(Roadmap, "description"),
    )


class RoadmapMilestoneForm(BaseForm):
    name = forms.CharField(
        label="Milestone", max_length=_max_length(RoadmapMilestone, "name")
    )
    due_offset_days = _offset_field(label="Due after (days)", help_text=OFFSET_HELP)


class RoadmapTaskForm(BaseForm):
    title = forms.CharField(max_length=_max_length(RoadmapTask, "title"))
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=_max_length(RoadmapTask, "description"),
    )
    milestone = forms.ModelChoiceField(
        queryset=RoadmapMilestone.objects.none(), required=False, empty_label="None"
    )
    default_role = forms.ChoiceField(
        label="Goes to the matter's",
        required=False,
        choices=[("", "—"), *MatterMember.Role.choices],
    )
    default_person = PersonChoiceField(
        label="Or to",
        queryset=User.objects.none(),
        required=False,
        empty_label="—",
        help_text="A person wins over a role when they can see the matter.",
    )
    priority = forms.ChoiceField(
        choices=Task.Priority.choices, initial=Task.Priority.NORMAL
    )
    due_offset_days = _offset_field(label="Due after (days)")
    due_from = forms.ChoiceField(
        label="Counting from",
        choices=RoadmapTask.DueFrom.choices,
        initial=RoadmapTask.DueFrom.APPLIED,
    )

    def __init__(self, *args: Any, roadmap: Roadmap, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["milestone"].queryset = roadmap.milestones.all()
        self.fields["default_person"].queryset = selectors.firm_members(
            firm_id=roadmap.firm_id
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("due_from") == RoadmapTask.DueFrom.MILESTONE and not data.get(
            "milestone"
        ):
            self.add_error("due_from", "Choose a milestone to count from.")
        return data


class ApplyRoadmapForm(BaseForm):
    matter = forms.ModelChoiceField(queryset=Matter.objects.none(), empty_label="—")
    again = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["matter"].queryset = selectors.matter_list_for_user(user=user)


class SaveAsRoadmapForm(BaseForm):
    name = forms.CharField(
        label="Roadmap name", max_length=_max_length(Roadmap, "name")
    )
