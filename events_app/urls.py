"""URLs of the event views: history, activity calendar, audit, events API."""

urlpatterns: list = []
