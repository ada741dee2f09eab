"""Seal firms' closed periods of stored events by hand, as the scheduled job does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events_app import store
from events_app.management.progress import Progress
from events_app.seals import sealing
from tasks_app.models import Firm


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"--until takes a date as YYYY-MM-DD, not {value!r}"
        ) from exc


class Command(BaseCommand):
    help = (
        "Seal each firm's closed periods (local days of the firm, closed "
        "AUDIT_SEAL_MARGIN_MINUTES after they end) into its chain of seals. "
        "Idempotent: sealed periods are left as they are, and running it "
        "beside the scheduled job makes one seal per period."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--firm",
            type=int,
            action="append",
            metavar="ID",
            help="only this firm (repeatable); default: every firm",
        )
        parser.add_argument(
            "--until",
            type=_date,
            metavar="YYYY-MM-DD",
            help="seal no period after this local day (default: every closed one)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        firms = Firm.objects.order_by("pk")
        if options["firm"]:
            firms = firms.filter(pk__in=options["firm"])
            missing = set(options["firm"]) - set(firms.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no firm with id {', '.join(map(str, missing))}")
        firms = list(firms)
        progress = Progress(self.stderr, len(firms), units="firms", steps="periods")
        sealed_total = 0
        try:
            for firm in firms:
                label = f"{firm.name} (#{firm.pk})"
                run = sealing.seal_firm(
                    firm_id=firm.pk,
                    until=options["until"],
                    on_period=lambda day, label=label: progress.step(label, day),
                )
                progress.finished(label, f"{len(run.sealed)} sealed")
                sealed_total += len(run.sealed)
                self._report(label, run)
        except (store.StoreError, sealing.ChainDamaged) as exc:
            progress.close()
            raise CommandError(str(exc)) from exc
        progress.close()
        self.stdout.write(
            self.style.SUCCESS(f"Sealed {sealed_total} periods for {len(firms)} firms.")
        )

    def _report(self, label: str, run: sealing.SealRun) -> None:
        through = run.sealed_through or "nothing yet"
        if not run.sealed:
            self.stdout.write(f"{label}: nothing to seal; sealed through {through}")
            return
        span = (
            run.sealed[0]
            if len(run.sealed) == 1
            else (f"{run.sealed[0]} to {run.sealed[-1]}")
        )
        late = f", {len(run.late)} of them late" if run.late else ""
        self.stdout.write(
            f"{label}: sealed {len(run.sealed)} periods ({span}), "
            f"{run.events} events{late}; sealed through {through}"
        )
        for event_id in run.late:
            self.stdout.write(f"  late event {event_id}")
