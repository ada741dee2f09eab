"""Capture overhead: the cost event capture adds to one task update.

Standalone (not a test). On PostgreSQL, in one run, times 1,000 updates of a
task's title and status per variant, each in its own transaction, after a
warm-up, with the variants interleaved in rounds so drift (other load on the
machine, autovacuum, cache warmth) falls on all of them alike.

The path people use, the issue's target: the real service,
`tasks_app.services.task_update`, with capture on and with capture switched
off in-process (same table, same code; only the specs and the loaded-row
image are taken away, so the signals find nothing to do).

The ORM path (load the row with `select_for_update()`, change the two fields,
`save(update_fields=)`), against the peers on identical copies of Task:

- untracked: a plain copy of `tasks_app.models.Task` (bench/benchapp);
- tracked: the real Task: diff -> envelopes -> one multi-row INSERT into the
  outbox in the update's own transaction, carrying `pg_notify` (Celery not
  eager, as in production; no worker listens here, so nothing is relayed
  while the run is timed);
- django-simple-history, django-auditlog and django-pghistory (a trigger).

Each update runs inside the context a web request would set for its
mechanism, entered once per update and timed: Hivelight's `acting_as` (what
EventContextMiddleware does), auditlog's `set_actor`, pghistory's
`pghistory.context(user=, url=)` (what its HistoryMiddleware does);
simple-history is handed the user as `_history_user`.

Last, the untracked update's SQL on a raw psycopg connection, with and
without the outbox statement exactly as `events_app.outbox.enqueue` builds
it, to show what the database alone charges for the events. Prints tables,
then, as its last line, one JSON object.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hl_bench \
        .venv/bin/python bench/capture_overhead.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hl_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
STATUSES = ("TODO", "IN_PROGRESS", "IN_REVIEW", "DONE")
# What a service writes on every save: the two changed fields and the control
# fields (who and when). Every variant saves exactly these columns.
UPDATE_FIELDS = ["title", "status", "last_modified_by", "updated_at"]


def setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("capture_overhead.py measures PostgreSQL; DATABASE_URL is not one.")
    from hivelight.serve import ensure_database

    ensure_database(os.environ["DATABASE_URL"])

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)


# --- the world -------------------------------------------------------------------


@dataclass
class World:
    firm: Any
    user: Any
    matters: list[Any] = field(default_factory=list)
    task_ids: dict[str, int] = field(default_factory=dict)


def make_world() -> World:
    from django.db import transaction

    from bench.benchapp.models import (
        AuditlogTask,
        PghistoryTask,
        SimpleHistoryTask,
        UntrackedTask,
    )
    from events_app.context import acting_as
    from tasks_app.models import Firm, Matter, Membership, Task, User

    tag = uuid.uuid4().hex[:10]
    with transaction.atomic():
        firm = Firm.objects.create(name=f"Bench {tag}", slug=f"bench-{tag}")
        user = User.objects.create(
            username=f"bench-{tag}", first_name="Bench", last_name="User"
        )
        Membership.objects.create(user=user, firm=firm, role=Membership.Role.FIRM_ADMIN)
        # The service moves a card to the end of its new column; alone in its
        # matter, a service-path task keeps the same short rank key forever.
        matters = [
            Matter.objects.create(
                firm=firm,
                number=f"B-{tag}-{n}",
                name=f"Bench v Overhead {n}",
                client_name="Bench",
            )
            for n in range(3)
        ]
    world = World(firm=firm, user=user, matters=matters)
    kinds = {
        "tracked": (Task, 0),
        "untracked": (UntrackedTask, 0),
        "simple_history": (SimpleHistoryTask, 0),
        "auditlog": (AuditlogTask, 0),
        "pghistory": (PghistoryTask, 0),
        "service_off": (Task, 1),
        "service_tracked": (Task, 2),
    }
    with acting_as(user, source="shell"), transaction.atomic():
        for key, (model, matter_index) in kinds.items():
            world.task_ids[key] = model.objects.create(
                matter=matters[matter_index],
                title="Bench task 0",
                status="TODO",
                rank="n",
                created_by=user,
                last_modified_by=user,
            ).pk
    return world


def cleanup(world: World) -> None:
    """Delete every row the run made, emitting no events while doing it."""
    from auditlog.context import disable_auditlog
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction
    from pghistory.models import Context

    from bench.benchapp.models import AuditlogTask, PghistoryTask, SimpleHistoryTask
    from events_app.envelope import firm_key
    from events_app.models import OutboxEvent

    history = SimpleHistoryTask.history.model
    pgh_events = PghistoryTask.pgh_event_model.objects.filter(
        pgh_obj_id=world.task_ids["pghistory"]
    )
    with capture_switched_off(), disable_auditlog(), transaction.atomic():
        # Deleting the matters cascades to the real tasks and the copies.
        for matter in world.matters:
            matter.delete()
        history.objects.filter(id=world.task_ids["simple_history"]).delete()
        # One pghistory context per update (a request's), only these events'.
        Context.objects.filter(
            id__in=pgh_events.exclude(pgh_context=None).values("pgh_context_id")
        ).delete()
        pgh_events.delete()
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(AuditlogTask),
            object_pk=str(world.task_ids["auditlog"]),
        ).delete()
        OutboxEvent.objects.filter(firm=firm_key(world.firm.pk)).delete()
        world.user.delete()
        world.firm.delete()


@contextlib.contextmanager
def capture_switched_off() -> Iterator[None]:
    """Run the real Task with no capture at all: no signals' work, no image."""
    from django.db import models

    from events_app.capture import core
    from tasks_app.models import Task

    spec = core.SPECS.pop(Task)
    Task.from_db = classmethod(models.Model.from_db.__func__)
    try:
        yield
    finally:
        del Task.from_db
        core.SPECS[Task] = spec


def vacuum_tables() -> None:
    """Start every variant's tables clean: earlier runs leave dead rows behind
    (each run's rows are deleted at the end), and the real Task's table also
    holds the service variants' rows."""
    from auditlog.models import LogEntry
    from django.db import connection
    from pghistory.models import Context

    from bench.benchapp.models import (
        AuditlogTask,
        PghistoryTask,
        SimpleHistoryTask,
        UntrackedTask,
    )
    from events_app.models import OutboxEvent
    from tasks_app.models import Task

    models = [Task, UntrackedTask, SimpleHistoryTask, AuditlogTask, PghistoryTask]
    models += [OutboxEvent, SimpleHistoryTask.history.model, LogEntry]
    models += [PghistoryTask.pgh_event_model, Context]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {tables}")


def purge_broker() -> int:
    from hivelight.celery import app

    return app.control.purge()


# --- the updates ---------------------------------------------------------------


def orm_update(model: type, pk: int, user: Any, title: str, status: str) -> None:
    from django.db import transaction

    with transaction.atomic():
        task = model.objects.select_for_update().get(pk=pk)
        task.title = title
        task.status = status
        task.last_modified_by = user
        # Who did it, for django-simple-history (the others read it from their
        # request context); a plain attribute, no query.
        task._history_user = user
        task.save(update_fields=UPDATE_FIELDS)


def service_update(pk: int, user: Any, title: str, status: str) -> None:
    from tasks_app.services import task_update

    task_update(actor=user, task_id=pk, title=title, status=status)


ContextFactory = Callable[[], contextlib.AbstractContextManager]


@dataclass
class Variant:
    key: str
    label: str
    run: Callable[[str, str], None]
    # What a web request sets up for this mechanism: entered for every update,
    # inside the timing, as a request would pay for it.
    request: ContextFactory = contextlib.nullcontext
    # Entered once per turn, outside the timing (switching capture off).
    around: ContextFactory = contextlib.nullcontext
    samples: list[float] = field(default_factory=list)
    done: int = 0

    def once(self, *, record: bool) -> None:
        """One update; the caller has entered `around()`."""
        self.done += 1
        title = f"Bench task {self.done}"
        status = STATUSES[self.done % len(STATUSES)]
        start = time.perf_counter_ns()
        with self.request():
            self.run(title, status)
        elapsed = time.perf_counter_ns() - start
        if record:
            self.samples.append(elapsed / 1000)


def make_variants(world: World, *, service: bool) -> list[Variant]:
    import pghistory
    from auditlog.context import set_actor

    from bench.benchapp.models import (
        AuditlogTask,
        PghistoryTask,
        SimpleHistoryTask,
        UntrackedTask,
    )
    from events_app.context import acting_as
    from tasks_app.models import Task

    user, ids = world.user, world.task_ids
    pghistory_url = f"/tasks/{ids['pghistory']}/"

    def orm(model: type, pk: int) -> Callable[[str, str], None]:
        return lambda title, status: orm_update(model, pk, user, title, status)

    def svc(pk: int) -> Callable[[str, str], None]:
        return lambda title, status: service_update(pk, user, title, status)

    def hivelight_request() -> contextlib.AbstractContextManager:
        # As events_app.middleware.EventContextMiddleware for a signed-in user.
        return acting_as(user, source="web")

    def auditlog_request() -> contextlib.AbstractContextManager:
        # As auditlog's AuditlogMiddleware: the actor and the client's address.
        return set_actor(user, remote_addr="127.0.0.1")

    def pghistory_request() -> contextlib.AbstractContextManager:
        # As pghistory.middleware.HistoryMiddleware: the user's pk and the path.
        return pghistory.context(user=user.pk, url=pghistory_url)

    variants = [
        Variant("untracked", "untracked copy", orm(UntrackedTask, ids["untracked"])),
        Variant(
            "tracked",
            "tracked (hivelight)",
            orm(Task, ids["tracked"]),
            request=hivelight_request,
        ),
        Variant(
            "simple_history",
            "django-simple-history",
            orm(SimpleHistoryTask, ids["simple_history"]),
        ),
        Variant(
            "auditlog",
            "django-auditlog",
            orm(AuditlogTask, ids["auditlog"]),
            request=auditlog_request,
        ),
        Variant(
            "pghistory",
            "django-pghistory",
            orm(PghistoryTask, ids["pghistory"]),
            request=pghistory_request,
        ),
    ]
    if service:
        variants += [
            Variant(
                "service_off",
                "task_update, capture off",
                svc(ids["service_off"]),
                request=hivelight_request,
                around=capture_switched_off,
            ),
            Variant(
                "service_tracked",
                "task_update, tracked",
                svc(ids["service_tracked"]),
                request=hivelight_request,
            ),
        ]
    return variants


def run_rounds(variants: list[Variant], *, count: int, block: int, record: bool):
    """`count` updates per variant, `block` at a time, the order rotating."""
    rounds = -(-count // block)
    for r in range(rounds):
        k = r % len(variants)
        for variant in variants[k:] + variants[:k]:
            # Entered once per turn, not per update: switching capture off
            # rebinds a class attribute, which empties Python's method caches;
            # doing that before every update would slow the baseline itself.
            with variant.around():
                for _ in range(min(block, count - r * block)):
                    variant.once(record=record)


def round_trips_per_update(variant: Variant) -> int:
    from django.db import connection

    seen = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with variant.around(), connection.execute_wrapper(count):
        variant.once(record=False)
    # One round trip per execute (pghistory's context rides in the UPDATE's);
    # BEGIN, which psycopg sends before the first statement, and COMMIT go
    # through no cursor. Count both.
    return len(seen) + 2


# --- the SQL alone ------------------------------------------------------------


def sql_floor(
    world: World, *, count: int, block: int
) -> tuple[list[float], list[float], int, str]:
    """What the database alone charges for the events: no Django, no capture.

    On a raw psycopg connection, the untracked update's statements (SELECT ...
    FOR UPDATE, UPDATE, COMMIT), and the same with the statement a tracked
    update adds before its COMMIT: the outbox INSERT and its `pg_notify`, for
    the envelopes of the tracked task's last update (fresh ids), built by
    `events_app.outbox.enqueue.enqueue` itself (recorded on Django's
    connection, not run there; outside the timing) and bound client-side as
    Django binds. Interleaved in turns like the variants.
    """
    import psycopg
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.benchapp.models import UntrackedTask
    from events_app.envelope import uuid7
    from events_app.models import OutboxEvent
    from events_app.outbox.enqueue import enqueue

    table = connection.ops.quote_name(UntrackedTask._meta.db_table)
    pk, user_id = world.task_ids["untracked"], world.user.pk
    # One update's events share its request id (one `acting_as` per update).
    rows = OutboxEvent.objects.filter(entity_key=f"task:{world.task_ids['tracked']}")
    last = rows.order_by("-seq").first()
    request_id = last.payload["context"]["request_id"]
    envelopes = [
        row.payload
        for row in rows.filter(payload__context__request_id=request_id).order_by("seq")
    ]

    def outbox_statement() -> tuple[str, list[Any]]:
        sent: list[tuple[str, list[Any]]] = []

        def record(execute, sql, params, many, context):
            sent.append((sql, params))

        events = [{**envelope, "id": uuid7()} for envelope in envelopes]
        # Rolled back: a commit hook `enqueue` may register is dropped.
        with transaction.atomic(), connection.execute_wrapper(record):
            enqueue(events)
            transaction.set_rollback(True)
        (statement,) = sent
        return statement

    sql, _ = outbox_statement()
    samples: dict[bool, list[float]] = {False: [], True: []}
    params = connection.get_connection_params()
    params["cursor_factory"] = psycopg.ClientCursor  # as Django's connection
    with psycopg.connect(**params) as conn:
        cursor = conn.cursor()

        def update(n: int, with_rows: bool) -> float:
            outbox = outbox_statement() if with_rows else None
            start = time.perf_counter_ns()
            cursor.execute(
                f"SELECT * FROM {table} WHERE id = %s FOR UPDATE",  # noqa: S608
                [pk],
            )
            cursor.fetchall()
            cursor.execute(
                f"UPDATE {table} SET title = %s, status = %s, "  # noqa: S608
                "last_modified_by_id = %s, updated_at = %s WHERE id = %s",
                [f"Bench task {n}", STATUSES[n % 4], user_id, timezone.now(), pk],
            )
            if outbox is not None:
                cursor.execute(*outbox)
                cursor.fetchall()
            conn.commit()
            return (time.perf_counter_ns() - start) / 1000

        n = 0
        for r in range(-(-count // block)):
            for with_rows in (False, True) if r % 2 == 0 else (True, False):
                for _ in range(min(block, count - r * block)):
                    n += 1
                    samples[with_rows].append(update(n, with_rows))
    return samples[False], samples[True], len(envelopes), sql


# --- figures -------------------------------------------------------------------


def summarise(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=10)[-1]


def table(
    title: str, variants: list[Variant], baseline: Variant, trips: dict[str, int]
) -> list[str]:
    base, _ = summarise(baseline.samples)
    lines = [
        title,
        f"  {'variant':<26}{'median µs':>11}{'p90 µs':>10}{'added µs':>10}"
        f"{'ratio':>8}{'trips':>6}",
    ]
    for v in variants:
        median, p90 = summarise(v.samples)
        lines.append(
            f"  {v.label:<26}{median:>11.1f}{p90:>10.1f}{median - base:>10.1f}"
            f"{median / base:>8.3f}{trips[v.key]:>6}"
        )
    return lines


def sanity_check(world: World, before: dict[str, int]) -> dict[str, int]:
    """Each history mechanism wrote what it should: the figures are not idle."""
    from auditlog.models import LogEntry

    from bench.benchapp.models import PghistoryTask, SimpleHistoryTask
    from events_app.envelope import firm_key
    from events_app.models import OutboxEvent

    pgh_events = PghistoryTask.pgh_event_model.objects.filter(
        pgh_obj_id=world.task_ids["pghistory"], pgh_label="update"
    )
    after = {
        "outbox_rows": OutboxEvent.objects.filter(firm=firm_key(world.firm.pk)).count(),
        "simple_history_rows": SimpleHistoryTask.history.filter(
            id=world.task_ids["simple_history"]
        ).count(),
        "auditlog_entries": LogEntry.objects.filter(
            object_pk=str(world.task_ids["auditlog"]), actor=world.user
        ).count(),
        "pghistory_events": pgh_events.count(),
        # Each with its request's context (user and url) attached.
        "pghistory_contexts": pgh_events.filter(
            pgh_context__metadata__user=world.user.pk
        )
        .values("pgh_context")
        .distinct()
        .count(),
    }
    return {k: after[k] - before.get(k, 0) for k in after}


def describe_setup() -> list[str]:
    from django.conf import settings
    from django.db import connection

    from hivelight.celery import app

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    broker = urlsplit(str(app.conf.broker_url))
    return [
        f"PostgreSQL {pg} at {settings.DATABASES['default']['HOST']}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs",
        f"Celery: task_always_eager={app.conf.task_always_eager}, broker "
        f"{broker.scheme}://{broker.hostname}:{broker.port}{broker.path}: the "
        "outbox INSERT carries pg_notify, delivered at COMMIT; no broker round "
        "trip and no inline DynamoDB write (no worker; the queue is purged at "
        "start and end)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--block", type=int, default=10, help="updates per turn")
    parser.add_argument("--no-service", action="store_true")
    args = parser.parse_args()

    setup_django()
    purge_broker()
    vacuum_tables()
    world = make_world()
    try:
        variants = make_variants(world, service=not args.no_service)
        run_rounds(variants, count=args.warmup, block=args.block, record=False)
        before = sanity_check(world, {})
        run_rounds(variants, count=args.updates, block=args.block, record=True)
        written = sanity_check(world, before)
        trips = {v.key: round_trips_per_update(v) for v in variants}
        plain, with_rows, events_per_update, outbox_sql = sql_floor(
            world, count=args.updates, block=args.block
        )
    finally:
        purged = purge_broker()
        cleanup(world)

    by_key = {v.key: v for v in variants}

    def median(key: str) -> float:
        return statistics.median(by_key[key].samples)

    orm_keys = ("untracked", "tracked", "simple_history", "auditlog", "pghistory")
    lines = describe_setup()
    lines.append(
        f"{args.updates} timed updates per variant after {args.warmup} warm-up, "
        f"interleaved in turns of {args.block}; each in its request's context"
    )
    if "service_off" in by_key:
        lines.append("")
        lines += table(
            "Service path (tasks_app.services.task_update, title + status):",
            [by_key["service_off"], by_key["service_tracked"]],
            by_key["service_off"],
            trips,
        )
    lines.append("")
    lines += table(
        "ORM path (atomic(), select_for_update(), "
        f"save(update_fields={UPDATE_FIELDS})):",
        [by_key[k] for k in orm_keys],
        by_key["untracked"],
        trips,
    )
    floor_plain, floor_rows = statistics.median(plain), statistics.median(with_rows)
    lines.append("")
    lines.append(
        "The untracked update's SQL on a raw psycopg connection (no Django, no "
        f"capture), {args.updates} each:"
    )
    lines.append(
        f"  SELECT FOR UPDATE, UPDATE, COMMIT {floor_plain:.1f} µs; with the "
        f"outbox statement for {events_per_update} events {floor_rows:.1f} µs "
        f"(+{floor_rows - floor_plain:.1f} µs, ratio "
        f"{floor_rows / floor_plain:.3f})"
    )
    lines.append(f"  outbox statement, as enqueue built it: {outbox_sql[:96]}…")
    lines.append("")
    tracked_updates = args.updates * (2 if "service_tracked" in by_key else 1)
    lines.append(
        "Written during the timed updates: "
        + ", ".join(f"{k}={v}" for k, v in written.items())
        + f" ({written['outbox_rows'] / tracked_updates:.1f} events per tracked "
        f"update); relay messages purged from the broker: {purged}"
    )
    print("\n".join(lines))

    base = median("untracked")

    def added(key: str) -> float:
        return round(median(key) - base, 1)

    service = (
        round(median("service_tracked") / median("service_off"), 3)
        if "service_off" in by_key
        else None
    )
    print(
        json.dumps(
            {
                "service_tracked_over_untracked": service,
                "orm_tracked_over_untracked": round(median("tracked") / base, 3),
                "tracked_added_us": added("tracked"),
                "pghistory_added_us": added("pghistory"),
                "simple_history_added_us": added("simple_history"),
                "auditlog_added_us": added("auditlog"),
                "median_us": {k: round(median(k), 1) for k in by_key},
                "p90_us": {
                    k: round(summarise(v.samples)[1], 1) for k, v in by_key.items()
                },
                "round_trips_per_update": trips,
                "outbox_sql_added_us": round(floor_rows - floor_plain, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
