"""URLs of a firm's webhooks: endpoints, their deliveries, resends, tests."""

from django.urls import path

from events_app.webhooks import views

urlpatterns = [
    path("settings/webhooks/", views.webhook_list, name="webhooks"),
    path("settings/webhooks/new/", views.webhook_create, name="webhook_create"),
    path(
        "settings/webhooks/<int:endpoint_id>/",
        views.webhook_detail,
        name="webhook_detail",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/edit/",
        views.webhook_edit,
        name="webhook_edit",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/toggle/",
        views.webhook_toggle,
        name="webhook_toggle",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/rotate/",
        views.webhook_rotate,
        name="webhook_rotate",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/delete/",
        views.webhook_delete,
        name="webhook_delete",
    ),
    path(
        "settings/webhooks/<int:endpoint_id>/test/",
        views.webhook_test,
        name="webhook_test",
    ),
    path(
        "settings/webhooks/deliveries/<int:delivery_id>/",
        views.delivery_row,
        name="webhook_delivery",
    ),
    path(
        "settings/webhooks/deliveries/<int:delivery_id>/resend/",
        views.delivery_resend,
        name="webhook_delivery_resend",
    ),
]
