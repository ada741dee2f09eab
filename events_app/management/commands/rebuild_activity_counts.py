"""Recompute activity counters from the stored events; report what was wrong."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events_app import envelope, store
from events_app.management.progress import Progress
from tasks_app.models import Firm, Matter, User


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


@dataclass(frozen=True)
class Target:
    """One counters partition: a person of a firm, a firm's system actor, or
    a matter."""

    firm: str
    user_id: int | None
    label: str
    matter_id: int | None = None

    def recount(self, **options: Any) -> dict[str, Any]:
        if self.matter_id is not None:
            return store.recount_matter(
                firm=self.firm, matter_id=self.matter_id, **options
            )
        return store.recount_user(firm=self.firm, user_id=self.user_id, **options)


class Command(BaseCommand):
    help = (
        "Recount the activity counters of the calendars (people's and "
        "matters', every series and calendar filter) from the stored events "
        "and correct any that differ, reporting each corrected day. Run it "
        "after changing a calendar filter's definition. Counters are kept per "
        "UTC day; --since limits the recount to UTC days from that date. Safe "
        "while events are being written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user",
            type=int,
            action="append",
            metavar="ID",
            help="only this user (repeatable); default: everyone, each "
            "firm's system actor and every matter",
        )
        parser.add_argument(
            "--matter",
            type=int,
            action="append",
            metavar="ID",
            help="only this matter (repeatable)",
        )
        parser.add_argument(
            "--since",
            type=dt.date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="only UTC days from this date on",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report the differences without correcting them",
        )
        parser.add_argument(
            "--if-changed",
            action="store_true",
            help="only if the counting rules or calendar filters changed since "
            "the last full recount (for deploys and `make run`)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        full = not (
            options["user"]
            or options["matter"]
            or options["since"]
            or options["dry_run"]
        )
        if options["if_changed"]:
            if not full:
                raise CommandError("--if-changed recounts everything, alone")
            try:
                current = store.stored_layout() == store.layout_fingerprint()
            except store.StoreError as exc:
                raise CommandError(str(exc)) from exc
            if current:
                self.stdout.write("Counters follow the current filters; no recount.")
                return
        self._recount(options)
        if full:
            self.stdout.write(f"Counters rebuilt under layout {store.put_layout()}.")

    def _recount(self, options: dict[str, Any]) -> None:
        targets = self._targets(options["user"], options["matter"])
        progress = Progress(self.stderr, len(targets))
        corrected_people = corrected_days = checked_days = counted = 0
        try:
            for target in targets:
                report = target.recount(
                    since=options["since"],
                    dry_run=options["dry_run"],
                    on_day=lambda day, t=target: progress.step(t.label, day),
                )
                progress.finished(target.label)
                checked_days += report["days_checked"]
                counted += report["events_counted"]
                if report["corrections"]:
                    corrected_people += 1
                    corrected_days += report["days_corrected"]
                    self._report(target, report["corrections"], options["dry_run"])
        except store.StoreError as exc:
            progress.close()
            raise CommandError(str(exc)) from exc
        progress.close()
        verb = "would correct" if options["dry_run"] else "corrected"
        summary = (
            f"Checked {len(targets)} counter sets, {checked_days} days, "
            f"{counted} events; {verb} {_days(corrected_days)} "
            f"for {corrected_people} of them."
        )
        style = self.style.WARNING if corrected_days else self.style.SUCCESS
        self.stdout.write(style(summary))

    def _targets(
        self, user_ids: list[int] | None, matter_ids: list[int] | None
    ) -> list[Target]:
        if matter_ids and not user_ids:
            return self._matters(matter_ids)
        users = User.objects.select_related("membership").order_by("pk")
        if user_ids:
            users = users.filter(pk__in=user_ids)
            missing = set(user_ids) - set(users.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no user with id {', '.join(map(str, missing))}")
        targets = [
            Target(
                envelope.firm_key(user.firm_id_or_none),
                user.pk,
                f"{user.display_name} (#{user.pk})",
            )
            for user in users
        ]
        if not user_ids:
            targets += [
                Target(envelope.firm_key(pk), None, f"system of {name}")
                for pk, name in Firm.objects.order_by("pk").values_list("pk", "name")
            ]
        if matter_ids or not user_ids:
            targets += self._matters(matter_ids)
        return targets

    def _matters(self, matter_ids: list[int] | None) -> list[Target]:
        matters = Matter.objects.order_by("pk")
        if matter_ids:
            matters = matters.filter(pk__in=matter_ids)
            missing = set(matter_ids) - set(matters.values_list("pk", flat=True))
            if missing:
                raise CommandError(
                    f"no matter with id {', '.join(map(str, sorted(missing)))}"
                )
        return [
            Target(
                envelope.firm_key(firm_id),
                None,
                f"matter {number} {name} (#{pk})",
                matter_id=pk,
            )
            for pk, firm_id, number, name in matters.values_list(
                "pk", "firm_id", "number", "name"
            )
        ]

    def _report(
        self, target: Target, corrections: dict[str, Any], dry_run: bool
    ) -> None:
        verb = "would correct" if dry_run else "corrected"
        self.stdout.write(f"{target.label}: {verb} {_days(len(corrections))}")
        for day, change in sorted(corrections.items()):
            before, after = change["before"], change["after"]
            parts = [
                f"{series} {before.get(series, 0)} -> {after.get(series, 0)}"
                for series in sorted(set(before) | set(after))
                if before.get(series, 0) != after.get(series, 0)
            ]
            self.stdout.write(f"  {day} (UTC): {', '.join(parts)}")
