"""URLs of the Kanban pages."""

urlpatterns: list = []
