"""A year of demo history, written through the services at historic times.

`seed_demo` calls `write_history` for each demo firm. Every step is a real
service call made inside `acting_as(person, at=<a past time>)`, so capture,
the outbox and the relay record it as they record real work, only dated in
the past (see "Demo data" in docs/architecture.md): the calendars, feeds,
task histories and the audit all read it from the event store.

The year is simulated day by day with a seeded `random.Random`, so the same
run date gives the same history. Each day is one transaction; its commit
wakes the relay as any commit does. Past matters are opened, worked and
closed inside the year; today's work stays in the demo's current matters.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from events_app import context, names
from events_app.capture.records import record
from events_app.context import acting_as
from tasks_app import services
from tasks_app.models import Firm, Matter, Membership, Milestone, Task, User

DEFAULT_DAYS = 365
S = Task.Status
Role = Membership.Role
# Who works on matters, and how many things they try to do on a usual day.
_WORKERS = {Role.PARTNER: 2.5, Role.ASSOCIATE: 3.0, Role.PARALEGAL: 2.5}


@dataclass(frozen=True)
class PastMatter:
    number: str
    name: str
    client: str
    opened_by: str
    partner: str
    team: list[str]
    # Share of the history (0..1) when it opens and when it closes.
    opens: float
    closes: float
    milestones: tuple[str, ...] = ("Pleadings", "Disclosure")
    # Share of the history when its trial (or completion) week falls.
    crunch: float | None = None


PAST_MATTERS: dict[str, list[PastMatter]] = {
    "hartley-vale": [
        PastMatter(
            "HV-2025-014", "Calder Estates boundary dispute", "Calder Estates",
            "dora", "alice", ["bob", "carol"], 0.0, 0.45,
            crunch=0.38,
        ),
        PastMatter(
            "HV-2025-022", "Marlow Foods v Greenway Packaging", "Marlow Foods plc",
            "alice", "alice", ["bob"], 0.15, 0.8,
            ("Statements of case", "Expert evidence", "Trial"), crunch=0.72,
        ),
        PastMatter(
            "HV-2025-031", "Kestrel Freight: restructuring advice", "Kestrel Freight",
            "dora", "alice", ["carol", "bob"], 0.4, 0.7,
            ("Advice note",),
        ),
        PastMatter(
            "HV-2025-040", "Greaves v Ashdown Homes", "Mr and Mrs Greaves",
            "alice", "alice", ["bob", "carol"], 0.62, 1.0,
            ("Letter of claim", "Settlement"), crunch=0.9,
        ),
    ],
    "northgate-legal": [
        PastMatter(
            "NG-0087", "Sale of 14 Harbour Row", "D. and S. Walsh",
            "nina", "nina", ["oliver"], 0.0, 0.55,
            ("Contracts exchanged", "Completion"), crunch=0.5,
        ),
        PastMatter(
            "NG-0093", "Byrne Farms partnership dissolution", "Byrne Farms",
            "nina", "nina", ["oliver"], 0.45, 1.0,
            ("Accounts", "Dissolution deed"), crunch=0.85,
        ),
    ],
}  # fmt: skip

TASK_TITLES = [
    "Draft letter before action",
    "Review client's documents",
    "Chronology of key events",
    "Research limitation point",
    "Draft witness statement",
    "Prepare bundle index",
    "Attendance note: client call",
    "Check court fees and issue claim",
    "Draft directions questionnaire",
    "Review opponent's disclosure",
    "Instruct counsel",
    "Schedule of loss",
    "Draft settlement proposal",
    "File and serve reply",
    "Update costs budget",
    "Prepare hearing bundle",
    "Compile exhibit list",
    "Draft advice note",
    "Companies House searches",
    "Agree trial timetable",
    "Prepare client report",
    "Check title documents",
    "Draft completion statement",
    "Review engagement terms",
    "Summarise expert report",
    "Diary deadlines from order",
    "Draft Part 36 offer",
    "Review without-prejudice correspondence",
]

PROGRESS_NOTES = [
    "First draft done; tidying the references.",
    "Waiting on two documents from the client.",
    "Spoke to the client; they confirm the dates.",
    "About halfway; the chronology needs another pass.",
    "Found a useful authority on this point.",
    "Sent a chaser to the other side.",
    "Cross-checked against the bundle; all consistent.",
]
MENTION_NOTES = [
    "@{who} can you take a look before Friday?",
    "@{who} the client called about this; can we discuss?",
    "Thanks @{who}, that helps.",
    "@{who} please check the figures in section 3.",
]
CHANGES_NOTES = [
    "Please tighten paragraph 4 and add the missing dates.",
    "Close, but the loss figures need a source for each line.",
    "Needs the correspondence from March referenced.",
]


@dataclass
class _Person:
    user: User
    role: str
    # A week's workload factor, by Monday's date (0: on holiday).
    weeks: dict[dt.date, float] = field(default_factory=dict)


@dataclass
class _Card:
    task_id: int
    matter: PastMatter
    assignee: str
    reviewer: str | None
    status: str = S.TODO
    ready: int = 0  # first day index of its next step
    notes: int = 0  # progress notes still to write before review


@dataclass
class _Day:
    """One day's steps, each (local time, username, what to do)."""

    steps: list[tuple[dt.datetime, str, Callable[[], None]]] = field(
        default_factory=list
    )


def history_present(firm: Firm) -> bool | None:
    """True: the firm's year is written; False: not started; None: partial."""
    numbers = [m.number for m in PAST_MATTERS.get(firm.slug, [])]
    found = Matter.objects.filter(firm=firm, number__in=numbers)
    if not found.exists():
        return False
    if found.count() == len(numbers) and not found.filter(closed_at=None).exists():
        return True
    return None


def write_history(firm: Firm, *, days: int = DEFAULT_DAYS, seed: int = 12) -> int:
    """Simulate `days` days of the firm's work, ending yesterday. Returns how
    many steps (service calls and logins) it took."""
    return _History(firm, days=days, seed=seed).run()


class _History:
    def __init__(self, firm: Firm, *, days: int, seed: int) -> None:
        self.firm = firm
        self.zone = zoneinfo.ZoneInfo(firm.timezone or "UTC")
        self.rng = random.Random(f"{seed}:{firm.slug}")
        today = timezone.now().astimezone(self.zone).date()
        self.first = today - dt.timedelta(days=days)
        self.days = days
        self.people = {
            m.user.username: _Person(m.user, m.role)
            for m in Membership.objects.filter(firm=firm)
            .select_related("user")
            .order_by("user__username")
        }
        self.plans = PAST_MATTERS.get(firm.slug, [])
        self.matters: dict[str, Matter] = {}
        self.milestones: dict[str, list[Milestone]] = {}
        self.cards: list[_Card] = []
        self.titles = 0
        self.steps = 0
        self.rush = False
        self._plan_weeks()

    # --- the shape of the year ----------------------------------------------------

    def _plan_weeks(self) -> None:
        """Holidays (two weeks each, plus the Christmas week for everyone),
        busy weeks around each matter's trial, ordinary weeks in between."""
        mondays = [
            self.first + dt.timedelta(days=d)
            for d in range(self.days + 7)
            if (self.first + dt.timedelta(days=d)).weekday() == 0
        ]
        crunches = {
            self._day_of(p.crunch).isocalendar()[:2]: p
            for p in self.plans
            if p.crunch is not None
        }
        for username, person in self.people.items():
            away = set(self.rng.sample(range(len(mondays)), k=min(2, len(mondays))))
            for i, monday in enumerate(mondays):
                factor = self.rng.choice((0.6, 0.8, 1.0, 1.0, 1.2, 1.4))
                plan = crunches.get(monday.isocalendar()[:2])
                if plan and username in (plan.partner, *plan.team):
                    factor = 2.2
                elif i in away or (monday.month == 12 and monday.day >= 22):
                    factor = 0.0
                person.weeks[monday] = factor

    def _day_of(self, share: float) -> dt.date:
        """The working day at `share` of the history (a weekend: the Friday)."""
        day = self.first + dt.timedelta(days=int(share * (self.days - 1)))
        return day - dt.timedelta(days=max(0, day.weekday() - 4))

    def _at(self, day: dt.date, hour: float) -> dt.datetime:
        seconds = int(hour * 3600) + self.rng.randrange(60)
        local = dt.datetime.combine(day, dt.time(seconds // 3600, seconds // 60 % 60))
        return local.replace(second=seconds % 60, tzinfo=self.zone)

    # --- running it ----------------------------------------------------------------

    def run(self) -> int:
        # One transaction per week: its commit wakes the relay, which then
        # stores the week's events in a few batched writes.
        weeks: dict[tuple[int, int], list[int]] = {}
        for index in range(self.days):
            day = self.first + dt.timedelta(days=index)
            weeks.setdefault(day.isocalendar()[:2], []).append(index)
        for indices in weeks.values():
            with transaction.atomic():
                for index in indices:
                    self._run_day(index)
        return self.steps

    def _run_day(self, index: int) -> None:
        plan = self._plan_day(index, self.first + dt.timedelta(days=index))
        for at, username, step in sorted(plan.steps, key=lambda s: s[0]):
            with acting_as(self.people[username].user, source="shell", at=at):
                step()
            self.steps += 1

    def _plan_day(self, index: int, day: dt.date) -> _Day:
        plan = _Day()
        # Cards someone already works on today: one step per card per day.
        busy: set[int] = set()
        weekend = day.weekday() >= 5
        for p in self.plans:
            if self._day_of(p.opens) == day:
                plan.steps.append((self._at(day, 9.2), p.opened_by, self._open(p)))
            if self._day_of(p.closes) == day:
                plan.steps.append((self._at(day, 17.6), p.partner, self._close(p)))
        for username, person in self.people.items():
            monday = day - dt.timedelta(days=day.weekday())
            factor = person.weeks.get(monday, 1.0)
            if weekend:
                factor = 0.3 if self.rng.random() < 0.04 else 0.0
            # Firm admins and compliance look in two or three days a week.
            present = 0.95 if person.role in _WORKERS else 0.5
            if factor == 0.0 or self.rng.random() > present:
                continue
            start = self.rng.uniform(7.9, 9.6) if not weekend else 10.5
            plan.steps.append((self._at(day, start), username, self._login(person)))
            if factor > 1.5 and self.rng.random() < 0.5:
                # Back in after the day in court.
                evening = self._at(day, self.rng.uniform(18.2, 20.0))
                plan.steps.append((evening, username, self._login(person)))
            for _ in range(self._how_many(person, factor)):
                hour = self.rng.uniform(start + 0.3, 18.3 if factor < 2 else 19.5)
                # A trial week: more work comes in, and it moves daily.
                self.rush = factor > 1.5
                step = self._choose(index, day, username, busy, factor)
                if step is not None:
                    plan.steps.append((self._at(day, hour), username, step))
        return plan

    def _how_many(self, person: _Person, factor: float) -> int:
        base = _WORKERS.get(person.role, 0.0)
        return max(0, round(self.rng.gauss(base * factor, 1.2)))

    def _active(self, day: dt.date, username: str) -> list[PastMatter]:
        return [
            p
            for p in self.plans
            if self._day_of(p.opens) < day < self._day_of(p.closes)
            and username in (p.partner, *p.team)
        ]

    def _choose(
        self, index: int, day: dt.date, username: str, busy: set[int], factor: float
    ) -> Callable[[], None] | None:
        """One thing `username` does today, if there is one to do."""
        matters = self._active(day, username)
        if not matters:
            return None
        ready = [
            c
            for c in self.cards
            if c.ready <= index
            and c.task_id not in busy
            and c.status != S.DONE
            and c.matter in matters
        ]
        mine = [c for c in ready if c.assignee == username and c.status != S.IN_REVIEW]
        to_review = [
            c for c in ready if c.reviewer == username and c.status == S.IN_REVIEW
        ]
        roll = self.rng.random()
        if to_review and roll < 0.7:
            return self._review(to_review[0], index, busy)
        if mine and roll < 0.75:
            return self._advance(self.rng.choice(mine), index, busy)
        person = self.people[username]
        # New work comes in until a fortnight before a matter closes.
        growing = [p for p in matters if (self._day_of(p.closes) - day).days > 14]
        open_cards = [c for c in self.cards if c.status != S.DONE]
        if (
            person.role in (Role.PARTNER, Role.ASSOCIATE)
            and growing
            and len(open_cards) < (6 if self.rush else 3) * len(growing)
            and roll < 0.85
        ):
            return self._create(self.rng.choice(growing), username, index)
        others = [c for c in ready if c.assignee != username]
        # A busy week is also a talkative one.
        if others and self.rng.random() < 0.1 + 0.1 * factor:
            card = self.rng.choice(others)
            busy.add(card.task_id)
            return self._mention(card, username)
        if mine:
            card = self.rng.choice(mine)
            busy.add(card.task_id)
            if roll < 0.95:
                return self._reorder(card)
            return self._advance(card, index, busy)
        return None

    # --- steps: each returns what to run at its time -------------------------------

    def _login(self, person: _Person) -> Callable[[], None]:
        user = person.user

        def step() -> None:
            record(
                name=names.USER_LOGGED_IN,
                firm_id=self.firm.pk,
                actor={"id": user.pk, "name": user.display_name},
                subject={"type": "user", "id": user.pk, "label": user.get_username()},
            )

        return step

    def _open(self, plan: PastMatter) -> Callable[[], None]:
        def step() -> None:
            opener = self.people[plan.opened_by].user
            matter = services.matter_create(
                actor=opener,
                number=plan.number,
                name=plan.name,
                client_name=plan.client,
                members=[self.people[u].user for u in plan.team],
                responsible_partner=self.people[plan.partner].user,
            )
            self.matters[plan.number] = matter
            closes = self._day_of(plan.closes)
            self.milestones[plan.number] = [
                services.milestone_create(
                    actor=opener,
                    matter_id=matter.pk,
                    name=name,
                    due_date=closes
                    - dt.timedelta(days=20 * (len(plan.milestones) - i - 1)),
                )
                for i, name in enumerate(plan.milestones)
            ]

        return step

    def _close(self, plan: PastMatter) -> Callable[[], None]:
        """The partner finishes what is left and closes the matter."""
        left = [c for c in self.cards if c.matter is plan and c.status != S.DONE]
        for card in left:
            card.status = S.DONE

        def step() -> None:
            partner = self.people[plan.partner].user
            matter = self.matters[plan.number]
            for card in left:
                services.task_move(actor=partner, task_id=card.task_id, status=S.DONE)
            for milestone in self.milestones[plan.number]:
                _recompute(milestone.pk)
            services.matter_close(actor=partner, matter_id=matter.pk)
            # What the `matter_activity` reaction would have stamped.
            Matter._base_manager.filter(pk=matter.pk).update(
                last_activity_at=context.now()
            )

        return step

    def _create(
        self, plan: PastMatter, username: str, index: int
    ) -> Callable[[], None] | None:
        if plan.number not in self.matters:
            return None
        team = [plan.partner, *plan.team]
        assignee = self.rng.choice([u for u in team if u != plan.partner] or team)
        reviewer = plan.partner if assignee != plan.partner else None
        title = TASK_TITLES[self.titles % len(TASK_TITLES)]
        self.titles += 1
        card = _Card(0, plan, assignee, reviewer, ready=index + self._wait())
        card.notes = self.rng.choice((0, 0, 1, 1, 2))
        priority = self.rng.choice(
            (Task.Priority.NORMAL,) * 5 + (Task.Priority.HIGH, Task.Priority.URGENT)
        )
        self.cards.append(card)

        def step() -> None:
            actor = self.people[username].user
            matter = self.matters[plan.number]
            today = timezone.localdate(context.now(), self.zone)
            milestone = self.rng.choice([*self.milestones[plan.number], None])
            task = services.task_create(
                actor=actor,
                matter_id=matter.pk,
                title=title,
                priority=priority,
                assignee=self.people[assignee].user,
                reviewer=self.people[reviewer].user if reviewer else None,
                due_date=today + dt.timedelta(days=self.rng.randint(7, 25)),
                milestone=milestone,
            )
            card.task_id = task.pk

        return step

    def _wait(self) -> int:
        if self.rush:
            return 1
        return self.rng.choice((1, 1, 2, 2, 3, 4, 6))

    def _advance(
        self, card: _Card, index: int, busy: set[int]
    ) -> Callable[[], None] | None:
        """The assignee's next step: start, write a note, ask for review, finish."""
        busy.add(card.task_id)
        card_ready = index + self._wait()
        actor = self.people[card.assignee].user
        if card.status == S.TODO:
            card.status, card.ready = S.IN_PROGRESS, card_ready
            return lambda: services.task_move(
                actor=actor, task_id=card.task_id, status=S.IN_PROGRESS
            )
        if card.notes > 0:
            card.notes -= 1
            card.ready = card_ready
            body = self.rng.choice(PROGRESS_NOTES)
            return lambda: services.comment_create(
                actor=actor, task_id=card.task_id, body=body
            )
        card.status = S.IN_REVIEW if card.reviewer else S.DONE
        card.ready = card_ready
        status = card.status

        def step() -> None:
            task = services.task_move(actor=actor, task_id=card.task_id, status=status)
            if status == S.DONE and task.milestone_id:
                _recompute(task.milestone_id)

        return step

    def _review(self, card: _Card, index: int, busy: set[int]) -> Callable[[], None]:
        busy.add(card.task_id)
        reviewer = self.people[card.reviewer or ""].user
        card.ready = index + self._wait()
        if self.rng.random() < 0.3:
            card.status, card.notes = S.IN_PROGRESS, 0
            body = self.rng.choice(CHANGES_NOTES)
            return lambda: services.task_request_changes(
                actor=reviewer, task_id=card.task_id, comment=body
            )
        card.status = S.DONE

        def step() -> None:
            task = services.task_approve(actor=reviewer, task_id=card.task_id)
            if task.milestone_id:
                _recompute(task.milestone_id)

        return step

    def _mention(self, card: _Card, username: str) -> Callable[[], None]:
        actor = self.people[username].user
        if self.rng.random() < 0.4:
            body = self.rng.choice(MENTION_NOTES).format(who=card.assignee)
        else:
            body = self.rng.choice(PROGRESS_NOTES)
        return lambda: services.comment_create(
            actor=actor, task_id=card.task_id, body=body
        )

    def _reorder(self, card: _Card) -> Callable[[], None]:
        """Pull the card to the top of its column (`task.moved`)."""
        actor = self.people[card.assignee].user
        status = card.status

        def step() -> None:
            first = (
                Task.objects.filter(
                    matter_id=self.matters[card.matter.number].pk, status=status
                )
                .exclude(pk=card.task_id)
                .order_by("rank")
                .values_list("pk", flat=True)
                .first()
            )
            if first is not None:
                services.task_move(
                    actor=actor,
                    task_id=card.task_id,
                    status=status,
                    before_id=first,
                )

        return step


def _recompute(milestone_id: int) -> None:
    """What the `milestone_progress` reaction does for current events: the
    milestone follows its tasks, as the system, at the same (historic) time."""
    with acting_as(None, source="system", at=context.now()):
        services.milestone_recompute_progress(milestone_id=milestone_id)
