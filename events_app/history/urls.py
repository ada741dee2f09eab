"""URLs of the event views: history, activity calendar, audit, events API."""

from django.urls import path

from events_app.history import api, audit, views

urlpatterns = [
    path("tasks/<int:task_id>/history/", views.task_history, name="task_history"),
    path(
        "comments/<int:comment_id>/history/",
        views.comment_history,
        name="comment_history",
    ),
    path(
        "milestones/<int:milestone_id>/history/",
        views.milestone_history,
        name="milestone_history",
    ),
    path("matters/<int:matter_id>/activity/", views.matter_feed, name="matter_feed"),
    path(
        "matters/<int:matter_id>/calendar/",
        views.matter_calendar,
        name="matter_calendar",
    ),
    path(
        "matters/<int:matter_id>/calendar/grid/",
        views.matter_calendar_grid,
        name="matter_calendar_grid",
    ),
    path(
        "matters/<int:matter_id>/calendar/day/",
        views.matter_calendar_day,
        name="matter_calendar_day",
    ),
    path("activity/", views.my_activity, name="my_activity"),
    path("people/<int:user_id>/activity/", views.activity_page, name="activity"),
    path(
        "people/<int:user_id>/activity/grid/",
        views.activity_grid,
        name="activity_grid",
    ),
    path(
        "people/<int:user_id>/activity/day/",
        views.activity_day,
        name="activity_day",
    ),
    path("audit/", audit.audit, name="audit"),
    path("audit/export.<str:fmt>", audit.audit_export, name="audit_export"),
    path("audit/seals/", audit.audit_seals, name="audit_seals"),
    path("audit/seals/chain.json", audit.audit_seal_chain, name="audit_seal_chain"),
    path(
        "audit/history/<str:subject_type>/<int:subject_id>/",
        audit.audit_history,
        name="audit_history",
    ),
    path("api/events/", api.events, name="api_events"),
    path("api/activity/daily/", api.daily, name="api_activity_daily"),
    path(
        "api/tasks/<int:task_id>/history/",
        api.task_history,
        name="api_task_history",
    ),
]
