"""Recompute a firm's seals from the stored events and report every difference."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events_app import envelope, store
from events_app.management.progress import Progress
from events_app.seals import verify
from tasks_app.models import Firm


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"dates are YYYY-MM-DD, not {value!r}") from exc


def _published(path: str) -> list[dict[str, Any]]:
    """The seals of a downloaded chain file (see the audit seals page)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read the seal chain {path}: {exc}") from exc
    seals = document.get("seals") if isinstance(document, dict) else None
    if not isinstance(seals, list):
        raise CommandError(f"{path} is not a seal chain: it has no list of seals")
    return seals


class Command(BaseCommand):
    help = (
        "Verify a firm's sealed audit trail: recompute every seal from the "
        "stored events and check the chain. Reports, per period, ok or exactly "
        "which event ids were changed, added or removed, and any break in the "
        "chain. Exits with status 1 on any finding."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--firm", type=int, required=True, metavar="ID")
        parser.add_argument(
            "--from",
            dest="first",
            type=_date,
            metavar="YYYY-MM-DD",
            help="first period (local day) to verify; default: the first seal",
        )
        parser.add_argument(
            "--to",
            dest="last",
            type=_date,
            metavar="YYYY-MM-DD",
            help="last period to verify; default: the newest seal",
        )
        parser.add_argument(
            "--published",
            metavar="FILE",
            help="a seal chain downloaded earlier (JSON): each stored seal must "
            "equal it, and none of its seals may be missing from the store",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = options["first"], options["last"]
        if first and last and first > last:
            raise CommandError("--from is after --to")
        firm = Firm.objects.filter(pk=options["firm"]).first()
        if firm is None:
            raise CommandError(f"no firm with id {options['firm']}")
        published = _published(options["published"]) if options["published"] else None
        progress = Progress(self.stderr, 0, units="periods", steps="periods")

        def on_period(label: str, done: int, total: int) -> None:
            progress.total = total
            progress.finished(label, "verified")

        try:
            report = verify.verify_trail(
                firm=envelope.firm_key(firm.pk),
                first=first,
                last=last,
                published=published,
                on_period=on_period,
            )
        except store.StoreError as exc:
            progress.close()
            raise CommandError(str(exc)) from exc
        progress.close()
        self._print(firm, report)
        if not report.ok:
            raise CommandError(
                f"the audit trail of {firm.name} does not verify: "
                f"{report.findings} findings",
                returncode=1,
            )

    def _print(self, firm: Firm, report: verify.TrailReport) -> None:
        write = self.stdout.write
        write(f"Audit trail of {firm.name} ({report.firm}), in {firm.timezone}")
        for period in report.periods:
            late = f", {len(period.late)} late" if period.late else ""
            head = f"{period.period}  seal #{period.seq}  {period.size} events{late}"
            if period.ok:
                write(f"{head}  ok")
                continue
            write(self.style.ERROR(f"{head}  FAILED"))
            for problem in period.problems:
                write(f"  {problem}")
            for what, ids in (
                ("changed", period.changed),
                ("added", period.added),
                ("removed", period.removed),
            ):
                for event_id in ids:
                    note = period.notes.get(event_id)
                    write(f"  {what} {event_id}" + (f" ({note})" if note else ""))
        for problem in report.problems:
            write(self.style.ERROR(problem))
        through = report.sealed_through or "nothing"
        verdict = "ok" if report.ok else f"{report.findings} findings"
        write(
            f"{len(report.periods)} seals checked; sealed through {through}: {verdict}"
        )
