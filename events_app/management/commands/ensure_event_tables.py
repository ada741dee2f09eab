"""Create the event store's tables, indexes and TTL if missing (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from events_app import store


class Command(BaseCommand):
    help = (
        "Create the DynamoDB tables of the event store (events with their "
        "entity, matter and name indexes and TTL; activity counters; seals) "
        "if they do not exist. Safe to run any number of times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="keep retrying this long while the store is unreachable "
            "(e.g. DynamoDB Local still starting)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deadline = time.monotonic() + options["wait"]
        endpoint = settings.EVENT_STORE.get("ENDPOINT_URL") or "Amazon DynamoDB"
        while True:
            try:
                store.ensure_tables()
                break
            except store.StoreUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(str(exc)) from exc
                time.sleep(0.5)
            except store.StoreError as exc:
                raise CommandError(str(exc)) from exc
        names = store.table_names()
        self.stdout.write(
            self.style.SUCCESS(
                f"event store ready at {endpoint}: "
                f"{names.events}, {names.counts}, {names.seals}"
            )
        )
