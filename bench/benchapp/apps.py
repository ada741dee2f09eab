"""App config of the bench-only copies of Task (see bench/capture_overhead.py)."""

from django.apps import AppConfig


class BenchAppConfig(AppConfig):
    name = "bench.benchapp"
    label = "benchapp"
    verbose_name = "Bench copies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from bench.benchapp.models import AuditlogTask

        auditlog.register(AuditlogTask)
