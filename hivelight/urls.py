"""URL configuration."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("events_app.notifications.urls")),
    path("", include("events_app.history.urls")),
    path("", include("events_app.webhooks.urls")),
    path("", include("tasks_app.urls")),
]
