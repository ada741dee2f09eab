"""Load demo firms, people, matters and tasks; running it again changes nothing.

Firms, users and memberships are written directly (they have no services).
Everything else goes through the services, acting as a person of the firm, so
event capture sees the demo data arrive the way real work does. Each object is
looked up by its natural key first and only created when missing.

Then each firm gets a year of history (`tasks_app.demo_history`): past
matters worked day by day through the same services at historic times. It is
written once: a firm whose past matters exist is left alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from events_app.context import acting_as
from events_app.outbox import relay
from tasks_app import demo_history, services
from tasks_app.models import (
    Comment,
    Firm,
    Matter,
    MatterMember,
    Membership,
    Milestone,
    Task,
    User,
)

DEMO_PASSWORD = "hivelight-demo"  # noqa: S105 - published on purpose, demo only
ADMIN_USERNAME = "admin"

Role = Membership.Role
S = Task.Status
P = Task.Priority


@dataclass
class TaskSpec:
    title: str
    status: str = S.TODO
    assignee: str | None = None
    due_in_days: int | None = None
    priority: str = P.NORMAL
    milestone: str | None = None
    description: str = ""
    comments: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class MatterSpec:
    number: str
    name: str
    client: str
    opened_by: str
    # Everyone on the team but the opener (a partner: its responsible partner).
    team: list[str] = field(default_factory=list)
    walled: bool = False
    milestones: list[tuple[str, int | None]] = field(default_factory=list)
    tasks: list[TaskSpec] = field(default_factory=list)


@dataclass
class FirmSpec:
    name: str
    slug: str
    timezone: str
    people: list[tuple[str, str, str, str]]  # username, first, last, role
    matters: list[MatterSpec]


FIRMS = [
    FirmSpec(
        name="Hartley & Vale",
        slug="hartley-vale",
        timezone="Europe/London",
        people=[
            ("alice", "Alice", "Hartley", Role.PARTNER),
            ("bob", "Bob", "Stone", Role.ASSOCIATE),
            ("carol", "Carol", "King", Role.PARALEGAL),
            ("dora", "Dora", "Adeyemi", Role.FIRM_ADMIN),
            ("cora", "Cora", "Lindqvist", Role.COMPLIANCE),
        ],
        matters=[
            MatterSpec(
                number="HV-2024-001",
                name="Smith v Jones",
                client="Smith Holdings Ltd",
                opened_by="alice",
                team=["bob", "carol"],
                milestones=[("Pleadings", -10), ("Disclosure", 21), ("Trial", 120)],
                tasks=[
                    TaskSpec(
                        "Draft particulars of claim",
                        S.DONE,
                        "bob",
                        -14,
                        milestone="Pleadings",
                        comments=[("alice", "Filed and served. Nice work.")],
                    ),
                    TaskSpec(
                        "Review defence",
                        S.IN_REVIEW,
                        "alice",
                        -2,
                        P.HIGH,
                        "Pleadings",
                        comments=[
                            ("bob", "First pass done; two points need your view."),
                            ("alice", "Looking at it this afternoon."),
                        ],
                    ),
                    TaskSpec(
                        "Collate client documents",
                        S.IN_PROGRESS,
                        "carol",
                        5,
                        milestone="Disclosure",
                    ),
                    TaskSpec(
                        "Prepare disclosure list",
                        S.TODO,
                        "bob",
                        14,
                        milestone="Disclosure",
                    ),
                    TaskSpec(
                        "Instruct expert witness",
                        S.TODO,
                        "alice",
                        30,
                        P.URGENT,
                        "Trial",
                    ),
                    TaskSpec("Book counsel for CMC", S.TODO, None, 3, P.HIGH),
                    TaskSpec(
                        "Chase opponent for draft directions",
                        S.IN_PROGRESS,
                        "bob",
                        1,
                    ),
                ],
            ),
            MatterSpec(
                number="HV-2024-002",
                name="Acquisition of Brightwater Mills",
                client="Orchard Capital LLP",
                opened_by="alice",
                team=["bob"],
                walled=True,
                milestones=[("Due diligence", 10), ("Completion", 45)],
                tasks=[
                    TaskSpec(
                        "Data room review: property",
                        S.IN_PROGRESS,
                        "bob",
                        4,
                        milestone="Due diligence",
                        comments=[("bob", "Title issues on plot 3; flagged.")],
                    ),
                    TaskSpec(
                        "Draft SPA first turn",
                        S.TODO,
                        "alice",
                        12,
                        P.HIGH,
                        "Completion",
                    ),
                    TaskSpec(
                        "Disclosure letter comments",
                        S.IN_REVIEW,
                        "alice",
                        6,
                        milestone="Due diligence",
                    ),
                    TaskSpec("Conflict check", S.DONE, "bob", -20),
                ],
            ),
            MatterSpec(
                number="HV-2024-003",
                name="Employment tribunal: Patel",
                client="Northwind Logistics",
                opened_by="alice",
                team=["bob", "carol"],
                milestones=[("ET3 response", 7)],
                tasks=[
                    TaskSpec(
                        "Take witness statements",
                        S.TODO,
                        "carol",
                        9,
                        milestone="ET3 response",
                    ),
                    TaskSpec(
                        "Draft ET3 grounds of resistance",
                        S.IN_PROGRESS,
                        "bob",
                        6,
                        P.HIGH,
                        "ET3 response",
                    ),
                    TaskSpec("Client call notes", S.IN_REVIEW, "carol", None),
                    TaskSpec("Open file and engagement letter", S.DONE, "carol", -30),
                ],
            ),
        ],
    ),
    FirmSpec(
        name="Northgate Legal",
        slug="northgate-legal",
        timezone="Europe/Dublin",
        people=[
            ("nina", "Nina", "Byrne", Role.PARTNER),
            ("oliver", "Oliver", "Quinn", Role.ASSOCIATE),
        ],
        matters=[
            MatterSpec(
                number="NG-0101",
                name="Harbour lease renewal",
                client="Quayside Cafés",
                opened_by="nina",
                team=["oliver"],
                milestones=[("Heads of terms", 14)],
                tasks=[
                    TaskSpec(
                        "Review current lease",
                        S.DONE,
                        "oliver",
                        -5,
                        milestone="Heads of terms",
                    ),
                    TaskSpec(
                        "Negotiate rent review clause",
                        S.IN_PROGRESS,
                        "nina",
                        8,
                        P.HIGH,
                        "Heads of terms",
                        comments=[("nina", "Landlord wants upward-only; resist.")],
                    ),
                    TaskSpec("Draft heads of terms", S.IN_REVIEW, "oliver", 10),
                    TaskSpec("Search local authority records", S.TODO, "oliver", 20),
                ],
            ),
            MatterSpec(
                number="NG-0102",
                name="Estate of M. Kavanagh",
                client="Kavanagh family",
                opened_by="nina",
                team=["oliver"],
                tasks=[
                    TaskSpec("Apply for grant of probate", S.TODO, "nina", 15),
                    TaskSpec("Value the estate", S.IN_PROGRESS, "oliver", 25),
                ],
            ),
        ],
    ),
]


class Command(BaseCommand):
    help = "Load demo firms, people, matters, milestones, tasks and comments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--history-days",
            type=int,
            default=demo_history.DEFAULT_DAYS,
            help="Days of past activity to write, ending yesterday (0: none).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.created = 0
        with transaction.atomic():
            for firm_spec in FIRMS:
                self._seed_firm(firm_spec)
            self._seed_admin()
        if options["history_days"] > 0:
            self._seed_history(options["history_days"])
        if self.created:
            self.stdout.write(self.style.SUCCESS(f"Created {self.created} objects."))
        else:
            self.stdout.write("Demo data already present; nothing changed.")
        self._print_logins()

    def _seed_history(self, days: int) -> None:
        for firm_spec in FIRMS:
            firm = Firm.objects.get(slug=firm_spec.slug)
            present = demo_history.history_present(firm)
            if present is None:
                raise CommandError(
                    f"{firm.name}'s demo history is only partly written (an "
                    "interrupted first run?); start from an empty database."
                )
            if present:
                continue
            steps = demo_history.write_history(firm, days=days)
            self.created += steps
            self.stdout.write(
                f"{firm.name}: {steps} steps of history over {days} days."
            )
        # Each week's commit woke the relay; store what it left (held back
        # behind an older event, or no relay at all inside a test's
        # transaction). A store that fails leaves rows to the sweeper.
        while True:
            result = relay.sweep(ignore_backoff=True)
            if not result.handled or result.failed:
                break

    # --- firms and people: no services for these -------------------------------

    def _seed_firm(self, spec: FirmSpec) -> None:
        firm, created = Firm.objects.get_or_create(
            slug=spec.slug, defaults={"name": spec.name, "timezone": spec.timezone}
        )
        self.created += created
        people = {}
        for username, first, last, role in spec.people:
            people[username] = self._user(firm, username, first, last, role)
        today = timezone.localdate()
        for matter_spec in spec.matters:
            self._seed_matter(firm, people, matter_spec, today)

    def _user(
        self, firm: Firm, username: str, first: str, last: str, role: str
    ) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                email=f"{username}@{firm.slug}.example",
            )
            self.created += 1
        _, created = Membership.objects.get_or_create(
            user=user, defaults={"firm": firm, "role": role}
        )
        self.created += created
        return user

    def _seed_admin(self) -> None:
        if not User.objects.filter(username=ADMIN_USERNAME).exists():
            User.objects.create_superuser(
                username=ADMIN_USERNAME,
                password=DEMO_PASSWORD,
                email="admin@hivelight.example",
                first_name="Site",
                last_name="Admin",
            )
            self.created += 1

    # --- the rest goes through the services -------------------------------------

    def _seed_matter(
        self, firm: Firm, people: dict[str, User], spec: MatterSpec, today: dt.date
    ) -> None:
        opener = people[spec.opened_by]
        matter = Matter.objects.filter(firm=firm, number=spec.number).first()
        if matter is None:
            with acting_as(opener, source="shell"):
                matter = services.matter_create(
                    actor=opener,
                    number=spec.number,
                    name=spec.name,
                    client_name=spec.client,
                    is_restricted=spec.walled,
                    members=[people[u] for u in spec.team],
                )
            self.created += 1
        on_team = set(matter.team.values_list("user__username", flat=True))
        for username in [spec.opened_by, *spec.team]:
            if username not in on_team:
                with acting_as(opener, source="shell"):
                    services.team_member_add(
                        actor=opener,
                        matter_id=matter.pk,
                        user=people[username],
                        role=_team_role(people[username], opener),
                    )
                self.created += 1

        milestones = {}
        for name, due_in_days in spec.milestones:
            milestone = Milestone.objects.filter(matter=matter, name=name).first()
            if milestone is None:
                with acting_as(opener, source="shell"):
                    milestone = services.milestone_create(
                        actor=opener,
                        matter_id=matter.pk,
                        name=name,
                        due_date=_days(today, due_in_days),
                    )
                self.created += 1
            milestones[name] = milestone

        for task_spec in spec.tasks:
            self._seed_task(matter, opener, people, milestones, task_spec, today)

    def _seed_task(
        self,
        matter: Matter,
        opener: User,
        people: dict[str, User],
        milestones: dict[str, Milestone],
        spec: TaskSpec,
        today: dt.date,
    ) -> None:
        task = Task.objects.filter(matter=matter, title=spec.title).first()
        if task is None:
            with acting_as(opener, source="shell"):
                task = services.task_create(
                    actor=opener,
                    matter_id=matter.pk,
                    title=spec.title,
                    description=spec.description,
                    status=spec.status,
                    priority=spec.priority,
                    assignee=people[spec.assignee] if spec.assignee else None,
                    due_date=_days(today, spec.due_in_days),
                    milestone=milestones[spec.milestone] if spec.milestone else None,
                )
            self.created += 1
        for author_name, body in spec.comments:
            author = people[author_name]
            if not Comment.objects.filter(task=task, author=author, body=body).exists():
                with acting_as(author, source="shell"):
                    services.comment_create(actor=author, task_id=task.pk, body=body)
                self.created += 1

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for firm_spec in FIRMS:
            people = ", ".join(
                f"{username} ({Role(role).label.lower()})"
                for username, _, _, role in firm_spec.people
            )
            self.stdout.write(f"  {firm_spec.name}: {people}")
        self.stdout.write(f"  Site admin for /admin/: {ADMIN_USERNAME}")
        walled = next(m for f in FIRMS for m in f.matters if m.walled)
        inside = [walled.opened_by, *walled.team]
        self.stdout.write(
            f"  {walled.number} {walled.name} is walled: only "
            f"{' and '.join(inside)} can see it."
        )


def _team_role(user: User, opener: User) -> str:
    if user == opener:
        return MatterMember.Role.RESPONSIBLE_PARTNER
    if user.membership.role == Role.PARALEGAL:
        return MatterMember.Role.PARALEGAL
    return MatterMember.Role.ASSOCIATE


def _days(today: dt.date, offset: int | None) -> dt.date | None:
    return None if offset is None else today + dt.timedelta(days=offset)
