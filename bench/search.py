"""Search: full-text search against icontains over the same rows, in one run.

Standalone (not a test). On PostgreSQL, in its own database (created and
migrated if missing, so migration 0006's triggers and GIN indexes are
there), loads 200 matters across two firms (50 of the first firm's walled),
100,000 tasks and 300,000 comments of legal vocabulary. Tasks and comments
go in with COPY: no events are made for them, and each row's search vector
is written by the trigger on insert, exactly as for a row a service saves.
A loaded database is reused unless `--fresh`.

Then, for one associate who sees half the matters (the first firm's 90 open
ones and the 10 walled ones they are inside), times a two-word query through
`tasks_app.search`'s two paths, interleaved, each making its three queries
(matters, tasks, comments) and building its highlighted hits:

- full text: `search_fulltext_for_user`, what PostgreSQL serves;
- icontains: `search_words_for_user`, what SQLite serves (every word
  somewhere in the fields, newest first), run here on the same rows.

Prints a report; the last line is one JSON object:
{"fts_p50_ms": …, "fts_p99_ms": …, "icontains_p50_ms": …, "speedup": …}

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hl_bench_search \\
        .venv/bin/python bench/search.py [--reps 200] [--fresh]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hl_bench_search"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"

MATTERS = 200
FIRM_A_MATTERS = 140  # the searcher's firm; the rest belong to another firm
WALLED = 50  # of the searcher's firm's matters
INSIDE = 10  # walled matters the searcher is inside
TASKS = 100_000
COMMENTS = 300_000
QUERY = "indemnity breach"
SEED = 20_240_601
SEARCHER = "bench-sam"


def _listed(text: str) -> list[str]:
    return text.split()


# Legal words a firm's tasks and comments are made of. Neither word of QUERY is
# part of another, so icontains and full text look for the same words.
VOCABULARY = _listed("""
abandonment acceptance accounts acquisition adjournment adjudication
affidavit agency agreement allocation amendment annex appeal applicant
appraisal arbitration arrears assessment assets assignment attestation
audit authority bailiff bankruptcy barrister beneficiary bequest bond breach
brief bundle buyer caveat certificate chancery charge chattels claimant
clause closing codicil collateral committee compensation completion
compliance condition confidentiality consent consideration contract
conveyance costs counsel counterclaim covenant creditor custody damages
deadline debenture debtor deed default defendant deposit deposition
directions director disbursement disclosure discovery dismissal dispute
dividend easement encumbrance endorsement enforcement engagement equity
escrow estate estoppel evidence exchange execution executor exhibit expert
filing fiduciary forfeiture franchise freehold garnishment goodwill
grant guarantee guardian hearing holding injunction insolvency inspection
instruction insurance interest interim inventory invoice joinder judgment
jurisdiction jury landlord lease ledger legacy lender liability licence
lien limitation liquidation litigation loan mandate mediation memorandum
merger minutes mortgage negligence negotiation notary novation objection
obligation offer opinion option ordinance particulars partnership patent
payment penalty pension petition plaintiff pleading pledge possession
precedent premises premium priority probate proceeds proxy quantum
ratification receivership reconciliation rectification redemption referral
registration remedy rent repudiation rescission reservation resolution
respondent retainer royalty schedule seal security seller settlement
shareholder solicitor specification statute subpoena subrogation summons
surety surrender tenancy tender termination testimony title tort trademark
transcript transfer tribunal trustee undertaking valuation variation
vendor verdict waiver warrant warranty witness indemnity
""")
FILLER = _listed("the of to and for on with by under from a an as at in is be per")
VERBS = _listed("""
draft review prepare file serve send chase check agree update finalise
negotiate instruct collate approve sign register circulate confirm
""")


# --- setting up -------------------------------------------------------------------


def setup_django(*, fresh: bool) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("search.py measures PostgreSQL; DATABASE_URL is not one.")
    from hivelight.serve import ensure_database

    ensure_database(os.environ["DATABASE_URL"], fresh=fresh)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


class Words:
    """Text of the vocabulary, with the filler words real sentences have."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def words(self, count: int) -> list[str]:
        rng = self.rng
        return [
            rng.choice(FILLER) if rng.random() < 0.35 else rng.choice(VOCABULARY)
            for _ in range(count)
        ]

    def title(self) -> str:
        words = [self.rng.choice(VERBS), *self.words(self.rng.randint(2, 6))]
        return " ".join(words).capitalize()

    def text(self, low: int, high: int) -> str:
        words = self.words(self.rng.randint(low, high))
        sentences, i = [], 0
        while i < len(words):
            n = self.rng.randint(6, 14)
            sentences.append(" ".join(words[i : i + n]).capitalize() + ".")
            i += n
        return " ".join(sentences)


def _copy(cursor: Any, table: str, columns: list[str], rows: Iterator[tuple]) -> int:
    """COPY rows into a table (the BEFORE INSERT trigger fires per row)."""
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def load(rng: random.Random) -> None:
    """The firms, people, matters (some walled), tasks and comments."""
    from django.db import connection, transaction

    from tasks_app.models import Firm, Matter, MatterMember, Membership, User

    words = Words(rng)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    # The plain base managers: no capture, no events for the bench's rows.
    with transaction.atomic():
        firm_a, firm_b = Firm._base_manager.bulk_create(
            [
                Firm(name="Bench & Partners", slug="bench-search-a"),
                Firm(name="Other Bench LLP", slug="bench-search-b"),
            ]
        )
        people = User._base_manager.bulk_create(
            [
                User(username=SEARCHER, first_name="Sam", last_name="Searcher"),
                User(username="bench-pat", first_name="Pat", last_name="Partner"),
                User(username="bench-oli", first_name="Oli", last_name="Other"),
            ]
        )
        for user in people:
            user.set_unusable_password()
        User._base_manager.bulk_update(people, ["password"])
        sam, pat, oli = people
        Membership._base_manager.bulk_create(
            [
                Membership(user=sam, firm=firm_a, role=Membership.Role.ASSOCIATE),
                Membership(user=pat, firm=firm_a, role=Membership.Role.PARTNER),
                Membership(user=oli, firm=firm_b, role=Membership.Role.PARTNER),
            ]
        )
        matters = Matter._base_manager.bulk_create(
            [
                Matter(
                    firm=firm_a if n < FIRM_A_MATTERS else firm_b,
                    number=f"{'BP' if n < FIRM_A_MATTERS else 'OB'}-{n:04d}",
                    name=" ".join(words.words(3)).title(),
                    client_name=f"{rng.choice(VOCABULARY).title()} Holdings Ltd",
                    is_restricted=n < WALLED,
                )
                for n in range(MATTERS)
            ]
        )
        MatterMember._base_manager.bulk_create(
            [
                MatterMember(matter=m, user=pat, role="RESPONSIBLE_PARTNER")
                for m in matters[:WALLED]
            ]
            + [MatterMember(matter=m, user=sam) for m in matters[:INSIDE]]
        )
    print(f"  firms, people, {len(matters)} matters", flush=True)

    two_years = 2 * 365 * 86400

    def when() -> dt.datetime:
        return now - dt.timedelta(seconds=rng.randint(0, two_years))

    def task_rows() -> Iterator[tuple]:
        statuses = ("TODO", "IN_PROGRESS", "IN_REVIEW", "DONE")
        for n in range(TASKS):
            matter = matters[n % MATTERS]
            created = when()
            description = words.text(10, 70) if rng.random() < 0.85 else ""
            yield (
                matter.pk,
                words.title(),
                description,
                rng.choice(statuses),
                "NORMAL",
                f"{n:08d}",
                created,
                created + dt.timedelta(days=rng.randint(0, 30)),
            )

    with transaction.atomic(), connection.cursor() as cursor:
        columns = [
            "matter_id",
            "title",
            "description",
            "status",
            "priority",
            "rank",
            "created_at",
            "updated_at",
        ]
        count = _copy(cursor.cursor, "tasks_app_task", columns, task_rows())
    print(f"  {count:,} tasks ({time.perf_counter() - started:.0f} s)", flush=True)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM tasks_app_task WHERE matter_id = ANY(%s) ORDER BY id",
            [[m.pk for m in matters]],
        )
        task_ids = [row[0] for row in cursor.fetchall()]

    def comment_rows() -> Iterator[tuple]:
        authors = (sam.pk, pat.pk)
        for _ in range(COMMENTS):
            yield (
                rng.choice(task_ids),
                rng.choice(authors),
                words.text(6, 40),
                when(),
                rng.random() < 0.03,
            )

    with transaction.atomic(), connection.cursor() as cursor:
        columns = ["task_id", "author_id", "body", "created_at", "is_deleted"]
        count = _copy(cursor.cursor, "tasks_app_comment", columns, comment_rows())
    print(f"  {count:,} comments ({time.perf_counter() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE tasks_app_task, tasks_app_comment, tasks_app_matter, "
            "tasks_app_matter_members"
        )
    print(f"  loaded and vacuumed in {time.perf_counter() - started:.0f} s")


def loaded() -> bool:
    from tasks_app.models import Comment, Firm, Task

    firm = Firm.objects.filter(slug="bench-search-a").first()
    if firm is None:
        return False
    return (
        Task.objects.count() == TASKS
        and Comment.objects.count() == COMMENTS
        and not Task.objects.filter(search_vector__isnull=True).exists()
    )


# --- timing -----------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def describe(label: str, samples: list[float]) -> str:
    return (
        f"  {label:<12} p50 {statistics.median(samples):8.1f} ms   "
        f"p90 {percentile(samples, 90):8.1f}   p99 {percentile(samples, 99):8.1f}   "
        f"min {min(samples):8.1f}   n={len(samples)}"
    )


def interleaved(
    paths: dict[str, Callable[[], Any]], *, reps: int, warmup: int
) -> dict[str, list[float]]:
    """Each path `reps` times after `warmup`, alternating which goes first."""
    samples: dict[str, list[float]] = {key: [] for key in paths}
    keys = list(paths)
    for n in range(warmup + reps):
        for key in keys if n % 2 == 0 else reversed(keys):
            start = time.perf_counter()
            paths[key]()
            elapsed = (time.perf_counter() - start) * 1000
            if n >= warmup:
                samples[key].append(elapsed)
    return samples


def visible_matter_ids(user: Any) -> set[int]:
    from tasks_app.models import Matter
    from tasks_app.selectors import matter_visibility_q

    return set(
        Matter.objects.filter(matter_visibility_q(user)).values_list("pk", flat=True)
    )


def matches(user: Any) -> dict[str, int]:
    """How many rows of each kind the person may see match (not capped at 20)."""
    from django.contrib.postgres.search import SearchQuery

    from tasks_app.models import Comment, Task
    from tasks_app.search import CONFIG

    query = SearchQuery(QUERY, search_type="websearch", config=CONFIG)
    visible = visible_matter_ids(user)
    return {
        "tasks": Task.objects.filter(
            matter_id__in=visible, search_vector=query
        ).count(),
        "comments": Comment.objects.filter(
            task__matter_id__in=visible, is_deleted=False, search_vector=query
        ).count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="timed runs per path")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--limit", type=int, default=20, help="hits of each kind")
    parser.add_argument("--fresh", action="store_true", help="drop and reload")
    args = parser.parse_args()

    setup_django(fresh=args.fresh)
    from django.conf import settings
    from django.db import connection

    from tasks_app.models import Matter, User
    from tasks_app.search import search_fulltext_for_user, search_words_for_user

    if not loaded():
        if Matter.objects.exists():
            sys.exit("The bench database holds other rows: run with --fresh.")
        print("loading (once; --fresh loads again)...", flush=True)
        load(random.Random(SEED))

    sam = User.objects.select_related("membership").get(username=SEARCHER)
    visible = visible_matter_ids(sam)
    found = matches(sam)

    def fulltext() -> Any:
        return search_fulltext_for_user(user=sam, query=QUERY, limit=args.limit)

    def icontains() -> Any:
        return search_words_for_user(user=sam, query=QUERY, limit=args.limit)

    # Neither path may show anything outside what the person may open, and
    # each must find a full page of tasks and comments (no idle figures).
    numbers = set(
        Matter.objects.filter(pk__in=visible).values_list("number", flat=True)
    )
    for results in (fulltext(), icontains()):
        hits = results.matters + results.tasks + results.comments
        assert {h.matter_label.split(" ", 1)[0] for h in hits} <= numbers
        assert len(results.tasks) == len(results.comments) == args.limit
    samples = interleaved(
        {"fulltext": fulltext, "icontains": icontains},
        reps=args.reps,
        warmup=args.warmup,
    )

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_size_pretty(pg_relation_size('tasks_app_task_search_gin')), "
            "pg_size_pretty(pg_relation_size('tasks_app_comment_search_gin'))"
        )
        task_gin, comment_gin = cursor.fetchone()
    fts_p50 = statistics.median(samples["fulltext"])
    fts_p99 = percentile(samples["fulltext"], 99)
    like_p50 = statistics.median(samples["icontains"])
    print(
        f"PostgreSQL {server} at {settings.DATABASES['default']['HOST']}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        f"{MATTERS} matters ({WALLED} walled), {TASKS:,} tasks, {COMMENTS:,} "
        f"comments; GIN indexes: tasks {task_gin}, comments {comment_gin}"
    )
    print(
        f"Searcher sees {len(visible)} of {MATTERS} matters; query “{QUERY}” "
        f"matches {found['tasks']:,} tasks and {found['comments']:,} comments "
        f"they may see; {args.limit} hits of each kind shown"
    )
    print(f"{args.reps} timed searches per path after {args.warmup}, interleaved:")
    print(describe("full text", samples["fulltext"]))
    print(describe("icontains", samples["icontains"]))
    print(
        f"Speedup (icontains p50 / full-text p50): {like_p50 / fts_p50:.1f}x; "
        f"targets: full-text p50 ≤ 50 ms, speedup ≥ 10x"
    )
    print(
        json.dumps(
            {
                "fts_p50_ms": round(fts_p50, 2),
                "fts_p99_ms": round(fts_p99, 2),
                "icontains_p50_ms": round(like_p50, 2),
                "speedup": round(like_p50 / fts_p50, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
