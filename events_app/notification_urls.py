"""URLs of notifications: the list, marking read, preferences, watching."""

urlpatterns: list = []
