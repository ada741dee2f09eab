"""Forms: validate what a page sends before a service is asked to write it.

Field limits come from the models, so a form never accepts what the database
would refuse. Choices of people and milestones are limited to the matter, so
an id from another firm or matter is a form error, not a lookup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms

from tasks_app import selectors
from tasks_app.models import Comment, Matter, Milestone, Task, User


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
    due_date = forms.DateField(required=False, widget=DateInput())
    milestone = forms.ModelChoiceField(
        queryset=Milestone.objects.none(), required=False, empty_label="No milestone"
    )

    def __init__(self, *args: Any, matter: Matter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.users_who_can_see_matter(
            matter=matter
        )
        self.fields["milestone"].queryset = Milestone.objects.filter(matter=matter)

    @classmethod
    def initial_for(cls, task: Task) -> dict[str, Any]:
        return {
            "title": task.title,
            "description": task.description,
            "status": task.status,
            "priority": task.priority,
            "assignee": task.assignee_id,
            "due_date": task.due_date,
            "milestone": task.milestone_id,
        }


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
