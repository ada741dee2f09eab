"""URLs of notifications: the list, marking read, preferences, watching."""

from django.urls import path

from events_app.notifications import views

urlpatterns = [
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/bell/", views.notification_bell, name="notification_bell"),
    path(
        "notifications/read-all/",
        views.notification_read_all,
        name="notifications_read_all",
    ),
    path(
        "notifications/settings/",
        views.notification_preferences,
        name="notification_preferences",
    ),
    path(
        "notifications/<int:notification_id>/open/",
        views.notification_open,
        name="notification_open",
    ),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read,
        name="notification_read",
    ),
    path("tasks/<int:task_id>/watch/", views.task_watch, name="task_watch"),
    path("tasks/<int:task_id>/unwatch/", views.task_unwatch, name="task_unwatch"),
]
