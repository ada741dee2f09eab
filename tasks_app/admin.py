"""Admin for firms, people and the Kanban, for staff who run the service.

The admin writes models directly rather than through the services, so it keeps
their rules here: `last_modified_by` names the admin user on every save,
assignees must be able to see the matter, walls hold only the firm's people,
and a task added here gets a rank at the bottom of its column.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from tasks_app import ranking, selectors
from tasks_app.models import (
    Comment,
    Firm,
    Matter,
    MatterMember,
    Membership,
    Milestone,
    Task,
    TaskWatch,
    User,
)


class MembershipInline(admin.StackedInline):
    model = Membership
    fk_name = "user"
    can_delete = False
    extra = 0
    max_num = 1
    fields = ("firm", "role")


@admin.register(Firm)
class FirmAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "timezone", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "firm",
        "role",
        "is_active",
        "is_staff",
    )
    list_filter = (
        "membership__firm",
        "membership__role",
        "is_active",
        "is_staff",
        "is_superuser",
    )
    list_select_related = ("membership__firm",)
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Time", {"fields": ("timezone",)}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (
            "Person",
            {"fields": ("first_name", "last_name", "email", "timezone")},
        ),
    )
    inlines = (MembershipInline,)

    @admin.display(description="Firm", ordering="membership__firm__name")
    def firm(self, obj: User) -> str:
        membership = getattr(obj, "membership", None)
        return membership.firm.name if membership else "—"

    @admin.display(description="Role", ordering="membership__role")
    def role(self, obj: User) -> str:
        membership = getattr(obj, "membership", None)
        return membership.get_role_display() if membership else "—"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "firm", "role", "joined_at")
    list_filter = ("firm", "role")
    search_fields = (
        "user__username",
        "user__first_name",
        "user__last_name",
        "firm__name",
    )
    list_select_related = ("user", "firm")
    autocomplete_fields = ("user",)
    readonly_fields = ("joined_at",)


class MatterMemberInline(admin.TabularInline):
    """The team: only the matter's firm's people are offered, and
    MatterMember.clean refuses anyone else (a new matter's firm is not known
    until it is saved, so its first team is checked by clean alone)."""

    model = MatterMember
    fk_name = "matter"
    extra = 0
    fields = ("user", "role", "added_at")
    readonly_fields = ("added_at",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        self._firm_id = obj.firm_id if obj is not None else None
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and getattr(self, "_firm_id", None):
            kwargs["queryset"] = User.objects.filter(
                membership__firm_id=self._firm_id, is_active=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Matter)
class MatterAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "name",
        "client_name",
        "firm",
        "is_restricted",
        "closed_at",
    )
    list_filter = ("firm", "is_restricted")
    search_fields = ("number", "name", "client_name")
    list_select_related = ("firm",)
    readonly_fields = ("created_at", "updated_at", "last_activity_at")
    exclude = ("created_by", "last_modified_by")
    inlines = (MatterMemberInline,)

    def save_model(
        self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool
    ) -> None:
        obj.last_modified_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: bool
    ) -> None:
        for member in formset.save(commit=False):
            member.last_modified_by = request.user
            member.save()
        for member in formset.deleted_objects:
            member.last_modified_by = request.user
            member.delete()
        formset.save_m2m()


class _TracksModifier:
    """Name the admin user as the last modifier of every save and delete."""

    def save_model(
        self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool
    ) -> None:
        obj.last_modified_by = request.user
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        obj.last_modified_by = request.user
        super().delete_model(request, obj)


@admin.register(Milestone)
class MilestoneAdmin(_TracksModifier, admin.ModelAdmin):
    list_display = ("name", "matter", "due_date", "progress", "updated_at")
    list_filter = ("matter__firm", "due_date")
    search_fields = ("name", "matter__number", "matter__name")
    list_select_related = ("matter",)
    autocomplete_fields = ("matter",)
    readonly_fields = ("created_by", "last_modified_by", "created_at", "updated_at")

    def save_model(
        self, request: HttpRequest, obj: Milestone, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class TaskAdminForm(forms.ModelForm):
    """Fields come from TaskAdmin; this adds the assignee's visibility check."""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        matter = data.get("matter")
        assignee = data.get("assignee")
        if (
            matter is not None
            and assignee is not None
            and not selectors.users_who_can_see_matter(matter=matter)
            .filter(pk=assignee.pk)
            .exists()
        ):
            self.add_error(
                "assignee", f"{assignee.display_name} cannot see this matter."
            )
        return data


class CommentInline(admin.TabularInline):
    model = Comment
    extra = 0
    fields = ("author", "body", "created_at", "is_deleted")
    readonly_fields = ("author", "created_at")
    show_change_link = True


@admin.register(Task)
class TaskAdmin(_TracksModifier, admin.ModelAdmin):
    form = TaskAdminForm
    list_display = (
        "title",
        "matter",
        "status",
        "priority",
        "assignee",
        "due_date",
        "milestone",
        "updated_at",
    )
    list_filter = ("status", "priority", "matter__firm", "due_date")
    search_fields = ("title", "description", "matter__number", "matter__name")
    list_select_related = ("matter", "assignee", "milestone")
    autocomplete_fields = ("matter", "milestone", "assignee")
    readonly_fields = (
        "rank",
        "created_by",
        "last_modified_by",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "created_at"
    inlines = (CommentInline,)

    def save_model(
        self, request: HttpRequest, obj: Task, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        if not change or "status" in form.changed_data or "matter" in form.changed_data:
            last = (
                Task.objects.filter(matter_id=obj.matter_id, status=obj.status)
                .exclude(pk=obj.pk)
                .order_by("-rank", "-id")
                .values_list("rank", flat=True)
                .first()
            )
            obj.rank = ranking.rank_between(last, None)
        super().save_model(request, obj, form, change)

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool
    ) -> None:
        comments = formset.save(commit=False)
        for comment in comments:
            if comment.pk is None:
                comment.author = request.user
            comment.last_modified_by = request.user
            comment.save()
        for comment in formset.deleted_objects:
            comment.delete()
        formset.save_m2m()


@admin.register(Comment)
class CommentAdmin(_TracksModifier, admin.ModelAdmin):
    list_display = (
        "__str__",
        "task",
        "author",
        "created_at",
        "edited_at",
        "is_deleted",
    )
    list_filter = ("is_deleted", "task__matter__firm", "created_at")
    search_fields = ("body", "task__title", "author__username")
    list_select_related = ("task", "author")
    autocomplete_fields = ("task", "author")
    readonly_fields = ("created_at", "edited_at", "last_modified_by")


@admin.register(TaskWatch)
class TaskWatchAdmin(admin.ModelAdmin):
    list_display = ("task", "user")
    list_filter = ("task__matter__firm",)
    search_fields = ("task__title", "user__username", "user__last_name")
    list_select_related = ("task", "user")
    autocomplete_fields = ("task", "user")
