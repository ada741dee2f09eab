"""Websocket URLs: one endpoint per page, `ws/live/`."""

from django.urls import path

from events_app.live.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi(), name="live"),
]
