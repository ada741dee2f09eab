"""App config for the event pipeline: capture, outbox, store, bus."""

from django.apps import AppConfig


class EventsAppConfig(AppConfig):
    name = "events_app"
    verbose_name = "Events"

    def ready(self) -> None:
        from events_app import capture, diff, handlers, signals
        from tasks_app.models import Comment, Milestone, Task

        capture.register(
            Task,
            capture.Spec(
                subject_type="task",
                describe=diff.task_events,
                label_field="title",
                matter_path="matter",
            ),
        )
        capture.register(
            Comment,
            capture.Spec(
                subject_type="comment",
                describe=diff.comment_events,
                label_field="body",
                matter_path="task",
                parent_type="task",
                parent_attname="task",
            ),
        )
        capture.register(
            Milestone,
            capture.Spec(
                subject_type="milestone",
                describe=diff.milestone_events,
                label_field="name",
                matter_path="matter",
            ),
        )
        signals.connect()
        handlers.connect()
