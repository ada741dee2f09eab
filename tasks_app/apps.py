"""App config for the Kanban domain: firms, matters, milestones, tasks, comments."""

from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Matters and tasks"
