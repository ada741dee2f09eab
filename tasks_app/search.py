"""The header search: matters, tasks and comments a person may see, best first.

On PostgreSQL, full-text search over the stored vectors that migration
0005's triggers keep (matter number A, name and client B; task title A,
description C; comment body C): the person's words are read with
`websearch_to_tsquery` (quotes for a phrase, `or`, `-word`; nothing they
type is ever parsed as tsquery syntax), ranked with `ts_rank`, and shown
with `ts_headline`. A last word that may still be half typed is matched as
the prefix of its stem.
On other databases (SQLite for `make run`), every word must appear somewhere
in the fields (icontains), newest first, highlighted here in Python.

Both paths read through `selectors.matter_visibility_q` (the firm and the
walls: a matter outside them does not exist, for every role), never find a
deleted comment, and make at most one query per kind. Matters closed since
are found too, marked closed: their record is kept, and search is how one
finds an old piece of work. Search is not audit: compliance officers find
what they could open, no more.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import and_, or_
from typing import Any

from django.contrib.postgres.search import (
    CombinedSearchQuery,
    SearchHeadline,
    SearchQuery,
    SearchRank,
)
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, Func, Q, QuerySet, TextField, Value
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from tasks_app.models import Comment, Matter, Task, User
from tasks_app.selectors import matter_visibility_q, user_firm_id

# The configuration the triggers build the vectors with (migration 0006).
CONFIG = "english"
MAX_QUERY_LENGTH = 200
# Words the simple path looks for; more would only make a slower query.
MAX_WORDS = 8
# A last word shorter than this is not matched as a prefix: "a:*" would
# match most of the index and tell the person nothing.
MIN_PREFIX_LENGTH = 3

# ts_headline marks matches with these (Unicode private-use characters),
# and `<` stands in for itself while ts_headline reads the text, since its
# parser drops anything that looks like an HTML tag. All three are removed
# from the stored text first, so only ts_headline's own marks remain; the
# text is then escaped and the marks become <mark> (`_marked`).
START, STOP, LT = "\ue000", "\ue001", "\ue002"
_PRIVATE = START + STOP + LT

_WORD = re.compile(r"[^\W_]+")
_MARKED = re.compile(f"{START}(.*?){STOP}", re.DOTALL)


@dataclass(frozen=True)
class Hit:
    """One result: what it is, where it leads, and its text, highlighted."""

    kind: str  # "matter", "task" or "comment"
    pk: int
    url: str
    title: SafeString
    snippet: SafeString
    matter_label: str
    matter_closed: bool
    matter_walled: bool
    when: dt.datetime
    # The task's status; a comment's author and its task's title.
    status: str = ""
    author: str = ""
    task_title: str = ""


@dataclass(frozen=True)
class Group:
    """The hits of one kind, for a page: `more` when some were left out."""

    key: str
    heading: str
    hits: list[Hit]
    more: bool


@dataclass(frozen=True)
class SearchResults:
    """Each kind best first, at most `limit` of each; `more_*`: there are more."""

    matters: list[Hit] = field(default_factory=list)
    tasks: list[Hit] = field(default_factory=list)
    comments: list[Hit] = field(default_factory=list)
    more_matters: bool = False
    more_tasks: bool = False
    more_comments: bool = False
    # Full-text search (phrases, `or`, `-word` understood) or word matching.
    fulltext: bool = False

    @property
    def count(self) -> int:
        return len(self.matters) + len(self.tasks) + len(self.comments)

    @property
    def has_more(self) -> bool:
        return self.more_matters or self.more_tasks or self.more_comments

    @property
    def groups(self) -> list[Group]:
        """The kinds that found something, in the order pages show them."""
        groups = [
            Group("matters", "Matters", self.matters, self.more_matters),
            Group("tasks", "Tasks", self.tasks, self.more_tasks),
            Group("comments", "Comments", self.comments, self.more_comments),
        ]
        return [g for g in groups if g.hits]


def clean_query(query: str) -> str:
    """The query as searched: whitespace collapsed; ValidationError if too long."""
    text = " ".join((query or "").split())
    if len(text) > MAX_QUERY_LENGTH:
        raise ValidationError(
            f"Search for at most {MAX_QUERY_LENGTH} characters; "
            "a few distinctive words find the most."
        )
    return text


def search_for_user(*, user: User, query: str, limit: int = 20) -> SearchResults:
    """What `user` may see that matches `query`: up to `limit` of each kind.

    A query with no word or number in it finds nothing, without asking the
    database.
    """
    text = clean_query(query)
    if not _WORD.search(text) or user_firm_id(user) is None or limit < 1:
        return SearchResults(fulltext=connection.vendor == "postgresql")
    if connection.vendor == "postgresql":
        return search_fulltext_for_user(user=user, query=text, limit=limit)
    return search_words_for_user(user=user, query=text, limit=limit)


# --- links -------------------------------------------------------------------


def _task_url(task_id: int) -> str:
    return reverse("task_detail", args=[task_id])


def _comment_url(task_id: int, comment_id: int) -> str:
    return f"{_task_url(task_id)}#comment-{comment_id}"


def _matter_url(matter_id: int) -> str:
    return reverse("board", args=[matter_id])


def _split(rows: Iterable[Any], limit: int) -> tuple[list[Any], bool]:
    """The first `limit` rows, and whether there were more (the query asks
    for one more than it shows)."""
    found = list(rows)
    return found[:limit], len(found) > limit


# --- PostgreSQL: full-text search ----------------------------------------------


def typed_prefix(text: str) -> tuple[str, str] | None:
    """(the words before, the last word) if the last word may be half typed.

    Only a plain last word (letters and digits) of at least
    MIN_PREFIX_LENGTH characters, in a query with no phrase and no `or`
    (splitting those off the last word would change what they mean).
    """
    if '"' in text:
        return None
    words = text.split()
    if not words or any(w.lower() == "or" for w in words):
        return None
    last = words[-1]
    if len(last) < MIN_PREFIX_LENGTH or not _WORD.fullmatch(last):
        return None
    return " ".join(words[:-1]), last


def fulltext_query(text: str) -> SearchQuery | CombinedSearchQuery:
    """The tsquery for what a person typed.

    websearch_to_tsquery reads the text: it never fails on what people type,
    and nothing they type is read as tsquery syntax. A last word that may be
    half typed is matched as the prefix of its stem instead ("disclo" finds
    "disclosure", "claims" still finds "claim"); that term is built only
    from letters and digits, so `to_tsquery` gets no syntax of theirs.
    """
    prefix = typed_prefix(text)
    if prefix is None:
        return SearchQuery(text, search_type="websearch", config=CONFIG)
    head, last = prefix
    started = SearchQuery(f"'{last}':*", search_type="raw", config=CONFIG)
    if not head:
        return started
    return SearchQuery(head, search_type="websearch", config=CONFIG) & started


def _headline_source(column: str) -> Func:
    """The column's text as ts_headline should read it (see START, STOP, LT)."""
    stripped = Func(
        F(column),
        Value(_PRIVATE),
        Value(""),
        function="translate",
        output_field=TextField(),
    )
    return Replace(stripped, Value("<"), Value(LT))


def _headline(column: str, query: Any, *, whole: bool) -> SearchHeadline:
    """The column with its matches marked: all of it, or its best fragments."""
    options: dict[str, Any] = {"start_sel": START, "stop_sel": STOP}
    if whole:
        options["highlight_all"] = True
    else:
        options.update(
            max_fragments=2,
            max_words=20,
            min_words=8,
            short_word=2,
            fragment_delimiter=" … ",
        )
    return SearchHeadline(_headline_source(column), query, config=CONFIG, **options)


def _marked(headline: str | None) -> SafeString:
    """ts_headline's output as safe HTML: escaped, its marks made <mark>."""
    text = escape((headline or "").replace(LT, "<"))
    # Neighbouring matches ("HV-2024-001" is three words) read as one.
    text = _MARKED.sub(r"<mark>\1</mark>", text).replace("</mark><mark>", "")
    # An unpaired mark (a fragment cut inside one) says nothing: drop it.
    return mark_safe(text.replace(START, "").replace(STOP, ""))  # noqa: S308


def _ranked(qs: QuerySet, query: Any) -> QuerySet:
    return qs.filter(search_vector=query).annotate(
        relevance=SearchRank(F("search_vector"), query)
    )


def search_fulltext_for_user(*, user: User, query: str, limit: int) -> SearchResults:
    """PostgreSQL's path: ranked by ts_rank, ties newest first."""
    tsquery = fulltext_query(query)
    matter_rows = (
        _ranked(Matter.objects.filter(matter_visibility_q(user)), tsquery)
        .annotate(
            number_hl=_headline("number", tsquery, whole=True),
            name_hl=_headline("name", tsquery, whole=True),
            client_hl=_headline("client_name", tsquery, whole=True),
        )
        .order_by("-relevance", "-updated_at", "-pk")
        .values(
            "pk",
            "number",
            "name",
            "closed_at",
            "is_restricted",
            "updated_at",
            "number_hl",
            "name_hl",
            "client_hl",
        )[: limit + 1]
    )
    task_rows = (
        _ranked(
            Task.objects.filter(matter_visibility_q(user, prefix="matter__")), tsquery
        )
        .annotate(
            title_hl=_headline("title", tsquery, whole=True),
            text_hl=_headline("description", tsquery, whole=False),
        )
        .order_by("-relevance", "-updated_at", "-pk")
        .values(
            "pk",
            "status",
            "updated_at",
            "title_hl",
            "text_hl",
            "matter__number",
            "matter__name",
            "matter__closed_at",
            "matter__is_restricted",
        )[: limit + 1]
    )
    comment_rows = (
        _ranked(
            Comment.objects.filter(
                matter_visibility_q(user, prefix="task__matter__"), is_deleted=False
            ),
            tsquery,
        )
        .annotate(text_hl=_headline("body", tsquery, whole=False))
        .order_by("-relevance", "-created_at", "-pk")
        .values(
            "pk",
            "task_id",
            "created_at",
            "text_hl",
            "task__title",
            "author__first_name",
            "author__last_name",
            "author__username",
            "task__matter__number",
            "task__matter__name",
            "task__matter__closed_at",
            "task__matter__is_restricted",
        )[: limit + 1]
    )
    matters, more_matters = _split(matter_rows, limit)
    tasks, more_tasks = _split(task_rows, limit)
    comments, more_comments = _split(comment_rows, limit)
    return SearchResults(
        matters=[
            _matter_hit(
                row,
                title=_join(_marked(row["number_hl"]), _marked(row["name_hl"])),
                snippet=_marked(row["client_hl"]),
            )
            for row in matters
        ],
        tasks=[
            _task_hit(
                row, title=_marked(row["title_hl"]), snippet=_marked(row["text_hl"])
            )
            for row in tasks
        ],
        comments=[
            _comment_hit(row, snippet=_marked(row["text_hl"])) for row in comments
        ],
        more_matters=more_matters,
        more_tasks=more_tasks,
        more_comments=more_comments,
        fulltext=True,
    )


# --- every other database: words in the text -----------------------------------


def query_words(text: str) -> list[str]:
    """The distinct words and numbers of a query, at most MAX_WORDS of them."""
    words = dict.fromkeys(w.lower() for w in _WORD.findall(text))
    return list(words)[:MAX_WORDS]


def _every_word_in(words: Iterable[str], fields: Sequence[str]) -> Q:
    return reduce(
        and_,
        (
            reduce(or_, (Q(**{f"{name}__icontains": word}) for name in fields))
            for word in words
        ),
    )


def highlight_words(text: str, words: Sequence[str], *, around: int = 0) -> SafeString:
    """`text` escaped, each word containing one of `words` (any case) in <mark>.

    With `around`, only a snippet: about `around` characters either side
    of the first occurrence, "…" where text was cut (the start of the text
    when none occurs).
    """
    text = text or ""
    # The whole word around each match, as ts_headline marks it ("disclos"
    # marks "disclosure").
    pattern = re.compile(
        r"[^\W_]*(?:"
        + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        + r")[^\W_]*",
        re.IGNORECASE,
    )
    start, end = 0, len(text)
    if around:
        first = pattern.search(text) if words else None
        centre = first.start() if first else 0
        start = max(0, centre - around)
        end = min(len(text), max(centre, start) + around * 2)
        # Cut at spaces, not inside words.
        if start > 0:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < centre else start
        if end < len(text):
            space = text.rfind(" ", max(centre, start), end)
            end = space if space > centre else end
    piece = text[start:end]
    parts: list[str] = ["…" if start > 0 else ""]
    position = 0
    for match in pattern.finditer(piece) if words else ():
        parts.append(escape(piece[position : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    parts.append(escape(piece[position:]))
    parts.append("…" if end < len(text) else "")
    return mark_safe("".join(parts))  # noqa: S308


def search_words_for_user(*, user: User, query: str, limit: int) -> SearchResults:
    """The simpler match: every word somewhere in the fields, newest first.

    Works on any database; SQLite compares case-insensitively only in ASCII.
    """
    words = query_words(query)
    if not words:
        return SearchResults()
    matter_rows = (
        Matter.objects.filter(matter_visibility_q(user))
        .filter(_every_word_in(words, ("number", "name", "client_name")))
        .order_by("-updated_at", "-pk")
        .values(
            "pk",
            "number",
            "name",
            "client_name",
            "closed_at",
            "is_restricted",
            "updated_at",
        )[: limit + 1]
    )
    task_rows = (
        Task.objects.filter(matter_visibility_q(user, prefix="matter__"))
        .filter(_every_word_in(words, ("title", "description")))
        .order_by("-updated_at", "-pk")
        .values(
            "pk",
            "status",
            "updated_at",
            "title",
            "description",
            "matter__number",
            "matter__name",
            "matter__closed_at",
            "matter__is_restricted",
        )[: limit + 1]
    )
    comment_rows = (
        Comment.objects.filter(
            matter_visibility_q(user, prefix="task__matter__"), is_deleted=False
        )
        .filter(_every_word_in(words, ("body",)))
        .order_by("-created_at", "-pk")
        .values(
            "pk",
            "task_id",
            "created_at",
            "body",
            "task__title",
            "author__first_name",
            "author__last_name",
            "author__username",
            "task__matter__number",
            "task__matter__name",
            "task__matter__closed_at",
            "task__matter__is_restricted",
        )[: limit + 1]
    )
    matters, more_matters = _split(matter_rows, limit)
    tasks, more_tasks = _split(task_rows, limit)
    comments, more_comments = _split(comment_rows, limit)
    return SearchResults(
        matters=[
            _matter_hit(
                row,
                title=_join(
                    highlight_words(row["number"], words),
                    highlight_words(row["name"], words),
                ),
                snippet=highlight_words(row["client_name"], words),
            )
            for row in matters
        ],
        tasks=[
            _task_hit(
                row,
                title=highlight_words(row["title"], words),
                snippet=highlight_words(row["description"], words, around=80),
            )
            for row in tasks
        ],
        comments=[
            _comment_hit(row, snippet=highlight_words(row["body"], words, around=80))
            for row in comments
        ],
        more_matters=more_matters,
        more_tasks=more_tasks,
        more_comments=more_comments,
    )


# --- hits ------------------------------------------------------------------------


def _join(*parts: SafeString) -> SafeString:
    return mark_safe(" ".join(parts))  # noqa: S308


def _matter_hit(row: dict[str, Any], *, title: SafeString, snippet: SafeString) -> Hit:
    return Hit(
        kind="matter",
        pk=row["pk"],
        url=_matter_url(row["pk"]),
        title=title,
        snippet=snippet,
        matter_label=f"{row['number']} {row['name']}",
        matter_closed=row["closed_at"] is not None,
        matter_walled=row["is_restricted"],
        when=row["updated_at"],
    )


def _task_hit(row: dict[str, Any], *, title: SafeString, snippet: SafeString) -> Hit:
    return Hit(
        kind="task",
        pk=row["pk"],
        url=_task_url(row["pk"]),
        title=title,
        snippet=snippet,
        matter_label=f"{row['matter__number']} {row['matter__name']}",
        matter_closed=row["matter__closed_at"] is not None,
        matter_walled=row["matter__is_restricted"],
        when=row["updated_at"],
        status=Task.Status(row["status"]).label,
    )


def _comment_hit(row: dict[str, Any], *, snippet: SafeString) -> Hit:
    author = " ".join(
        p for p in (row["author__first_name"], row["author__last_name"]) if p
    )
    return Hit(
        kind="comment",
        pk=row["pk"],
        url=_comment_url(row["task_id"], row["pk"]),
        title=escape(row["task__title"]),
        snippet=snippet,
        matter_label=f"{row['task__matter__number']} {row['task__matter__name']}",
        matter_closed=row["task__matter__closed_at"] is not None,
        matter_walled=row["task__matter__is_restricted"],
        when=row["created_at"],
        author=author or row["author__username"] or "A former user",
        task_title=row["task__title"],
    )
