"""The Kanban domain: firms (tenants), matters behind ethical walls, tasks."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from events_app.capture.tracking import TrackedModel, loaded_image


def validate_timezone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known IANA timezone.")


def search_vector_field() -> SearchVectorField:
    """The row's words for the header search, weighted by where they stand.

    On PostgreSQL a trigger (migration 0006) writes it on every INSERT and
    UPDATE, whatever the write path; Django never writes it, and on SQLite
    it stays empty (search matches text there instead). Derived, so event
    capture ignores it (`events_app.capture.diff.CONTROL_FIELDS`).
    """
    return SearchVectorField(null=True, editable=False)


class Firm(models.Model):
    """A law firm: the tenant. No data ever crosses from one firm to another."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(
        max_length=64, default="Europe/London", validators=[validate_timezone]
    )
    overdue_escalation_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(365)],
        help_text="Days a task may be overdue before its matter's responsible "
        "partner hears of it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs in; belongs to at most one firm through a Membership."""

    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="Blank means the firm's timezone.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["first_name", "last_name", "username"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def initials(self) -> str:
        parts = [p for p in (self.first_name, self.last_name) if p]
        if not parts:
            return self.username[:2].upper()
        return "".join(p[0] for p in parts).upper()

    @property
    def firm_id_or_none(self) -> int | None:
        membership = getattr(self, "membership", None)
        return membership.firm_id if membership else None

    @property
    def effective_timezone(self) -> str:
        if self.timezone:
            return self.timezone
        membership = getattr(self, "membership", None)
        return membership.firm.timezone if membership else "UTC"


class Membership(TrackedModel):
    """A user's place in a firm, with a role. One firm per user."""

    class Role(models.TextChoices):
        PARTNER = "PARTNER", "Partner"
        ASSOCIATE = "ASSOCIATE", "Associate"
        PARALEGAL = "PARALEGAL", "Paralegal"
        FIRM_ADMIN = "FIRM_ADMIN", "Firm admin"
        COMPLIANCE = "COMPLIANCE", "Compliance officer"

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, related_name="membership"
    )
    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ASSOCIATE)
    joined_at = models.DateTimeField(auto_now_add=True)
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["firm", "user"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.firm}"

    @property
    def is_firm_admin(self) -> bool:
        return self.role == self.Role.FIRM_ADMIN

    @property
    def is_compliance_officer(self) -> bool:
        return self.role == self.Role.COMPLIANCE

    @property
    def manages_matters(self) -> bool:
        """Firm admins and partners open matters and set their teams and walls."""
        return self.role in (self.Role.FIRM_ADMIN, self.Role.PARTNER)


class Matter(TrackedModel):
    """A client matter, with its team. A restricted matter is walled: only its
    team knows of it. A closed matter is archived: off boards and menus, its
    whole record kept."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="matters")
    number = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    client_name = models.CharField(max_length=200)
    is_restricted = models.BooleanField(
        default=False,
        help_text="Ethical wall: only the matter's team may see this matter.",
    )
    members = models.ManyToManyField(
        User,
        through="MatterMember",
        through_fields=("matter", "user"),
        blank=True,
        related_name="team_matters",
        help_text="The matter's team (inside the wall when the matter is walled).",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Kept by the `matter_activity` reaction.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # Number and its parts (A), name and client (B).
    search_vector = search_vector_field()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["firm", "number"], name="matter_number_per_firm"
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("board", args=[self.pk])

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def label(self) -> str:
        return f"{self.number} {self.name}"


class MatterMember(TrackedModel):
    """A person on a matter's team, with their role on it.

    Only people of the matter's firm; at most one responsible partner. On a
    walled matter the team is who is inside the wall.
    """

    class Role(models.TextChoices):
        RESPONSIBLE_PARTNER = "RESPONSIBLE_PARTNER", "Responsible partner"
        ASSOCIATE = "ASSOCIATE", "Associate"
        PARALEGAL = "PARALEGAL", "Paralegal"
        REVIEWER = "REVIEWER", "Reviewer"

    matter = models.ForeignKey(Matter, on_delete=models.CASCADE, related_name="team")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=24, choices=Role.choices, default=Role.ASSOCIATE)
    added_at = models.DateTimeField(auto_now_add=True)
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "tasks_app_matter_members"
        unique_together = [("matter", "user")]
        constraints = [
            models.UniqueConstraint(
                fields=["matter"],
                condition=models.Q(role="RESPONSIBLE_PARTNER"),
                name="one_responsible_partner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} on {self.matter}"

    def clean(self) -> None:
        if not self.matter_id or not self.user_id:
            return
        firm_id = (
            Membership.objects.filter(user_id=self.user_id)
            .values_list("firm_id", flat=True)
            .first()
        )
        if firm_id != self.matter.firm_id:
            raise ValidationError(
                {"user": "Only people of the matter's firm can be on its team."}
            )


class Milestone(TrackedModel):
    """A dated goal within a matter; its progress follows its tasks."""

    matter = models.ForeignKey(
        Matter, on_delete=models.CASCADE, related_name="milestones"
    )
    name = models.CharField(max_length=200)
    due_date = models.DateField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(100)],
        help_text="Percent of tasks done.",
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [models.F("due_date").asc(nulls_last=True), "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("milestones", args=[self.matter_id])


class Task(TrackedModel):
    """A card on a matter's board."""

    class Status(models.TextChoices):
        TODO = "TODO", "To do"
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        IN_REVIEW = "IN_REVIEW", "In review"
        DONE = "DONE", "Done"

    class Priority(models.TextChoices):
        LOW = "LOW", "Low"
        NORMAL = "NORMAL", "Normal"
        HIGH = "HIGH", "High"
        URGENT = "URGENT", "Urgent"

    matter = models.ForeignKey(Matter, on_delete=models.CASCADE, related_name="tasks")
    milestone = models.ForeignKey(
        Milestone,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20_000)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.TODO
    )
    priority = models.CharField(
        max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    assignee = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tasks",
    )
    # Who reviews the work when it moves to In review: one of the matter's team.
    reviewer = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewing_tasks",
    )
    due_date = models.DateField(null=True, blank=True)
    # Fractional-index key ([0-9a-z], compared bytewise); see tasks_app.ranking.
    rank = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Title (A), description (C).
    search_vector = search_vector_field()

    class Meta:
        ordering = ["status", "rank", "id"]
        indexes = [models.Index(fields=["matter", "status", "rank"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("task_detail", args=[self.pk])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.title is not None and not self.title.strip():
            errors["title"] = "A task needs a title."
        loaded = loaded_image(self) or {}
        if (
            self.reviewer_id
            and self.matter_id
            and self.reviewer_id != loaded.get("reviewer_id")
            and not MatterMember.objects.filter(
                matter_id=self.matter_id, user_id=self.reviewer_id, user__is_active=True
            ).exists()
        ):
            errors["reviewer"] = "The reviewer must be on the matter's team."
        if loaded and loaded.get("matter_id") not in (None, self.matter_id):
            # A task never changes matter: that would carry it across a wall
            # or into another firm.
            errors["matter"] = "A task stays in the matter it was created in."
        if (
            self.milestone_id
            and self.matter_id
            and self.milestone.matter_id != self.matter_id
        ):
            errors["milestone"] = "That milestone belongs to another matter."
        if errors:
            raise ValidationError(errors)


class Comment(TrackedModel):
    """A remark on a task. Deleting keeps the row (soft delete) for the record."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="comments"
    )
    body = models.TextField(max_length=10_000)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Body (C).
    search_vector = search_vector_field()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.task_id}"

    def clean(self) -> None:
        if self.body is not None and not self.body.strip():
            raise ValidationError({"body": "A comment cannot be empty."})


class TaskWatch(models.Model):
    """A person follows a task: they hear about its comments.

    The creator and each new assignee start watching automatically (the
    `auto_watch` event handler); anyone who can see the task may watch or
    unwatch it. Watching is a preference, not a change to the task, so it
    records no event.
    """

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="watches")
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="task_watches"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "user"], name="task_watch_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} watches {self.task_id}"


# --- roadmaps: plans of milestones and tasks a matter starts from --------------------


class Roadmap(models.Model):
    """A firm's named plan of milestones and tasks (a civil claim, a tribunal
    claim...), applied to a matter to start it from the same steps."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="roadmaps")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5_000)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["firm", "name"], name="roadmap_name_per_firm"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("roadmap", args=[self.pk])


class RoadmapMilestone(models.Model):
    """A milestone of a roadmap, due a number of days after it is applied."""

    roadmap = models.ForeignKey(
        Roadmap, on_delete=models.CASCADE, related_name="milestones"
    )
    name = models.CharField(max_length=200)
    due_offset_days = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-3650), MaxValueValidator(3650)],
        help_text="Days after the day the roadmap is applied; blank: no date.",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["roadmap", "name"], name="roadmap_milestone_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class RoadmapTask(models.Model):
    """A task of a roadmap: what, who by default, how urgent, when."""

    class DueFrom(models.TextChoices):
        APPLIED = "APPLIED", "the day the roadmap is applied"
        MILESTONE = "MILESTONE", "its milestone's date"

    roadmap = models.ForeignKey(Roadmap, on_delete=models.CASCADE, related_name="tasks")
    milestone = models.ForeignKey(
        RoadmapMilestone,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20_000)
    default_role = models.CharField(
        max_length=24, choices=MatterMember.Role.choices, blank=True
    )
    default_person = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.CharField(
        max_length=10, choices=Task.Priority.choices, default=Task.Priority.NORMAL
    )
    due_offset_days = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-3650), MaxValueValidator(3650)],
    )
    due_from = models.CharField(
        max_length=10, choices=DueFrom.choices, default=DueFrom.APPLIED
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.milestone_id and self.milestone.roadmap_id != self.roadmap_id:
            errors["milestone"] = "That milestone belongs to another roadmap."
        if self.due_from == self.DueFrom.MILESTONE and not self.milestone_id:
            errors["due_from"] = "Choose a milestone to count from."
        if (
            self.default_person_id
            and self.roadmap_id
            and not Membership.objects.filter(
                user_id=self.default_person_id, firm_id=self.roadmap.firm_id
            ).exists()
        ):
            errors["default_person"] = "Only people of the roadmap's firm."
        if errors:
            raise ValidationError(errors)


class RoadmapApplication(models.Model):
    """A roadmap was applied to a matter (applying it again asks first)."""

    roadmap = models.ForeignKey(
        Roadmap, on_delete=models.CASCADE, related_name="applications"
    )
    matter = models.ForeignKey(
        Matter, on_delete=models.CASCADE, related_name="roadmap_applications"
    )
    applied_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.roadmap} on {self.matter}"
