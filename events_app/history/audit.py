"""The audit views: search a firm's record, export it, any entity's full history,
and the firm's seals.

For firm admins (history.selectors decides). Exports stream the selection
as CSV or JSON Lines, page by page, in bounded memory; on request each
event comes with its inclusion proof and its period's seal. The seal chain
downloads as one JSON file, for a third party to keep.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.timezone import now as timezone_now
from django.views.decorators.http import require_GET

from events_app import names, store
from events_app.envelope import firm_key, isoformat, parse_instant
from events_app.history import selectors
from events_app.history.forms import AuditForm, parse_flag, parse_positive_int
from events_app.history.views import (
    HISTORY_PAGE,
    cursor_of,
    history_response,
    rows_of,
    today_in,
    tz_of,
    with_query,
)
from events_app.seals import chain
from events_app.seals.canonical import canonical_json, event_digest, seal_hash
from events_app.seals.proofs import SealProofs
from events_app.text import quoted
from hivelight.http import action, login_required, message_of
from tasks_app.models import Task

logger = logging.getLogger(__name__)

AUDIT_PAGE = 50
SEALS_PAGE = 60


def _audit_form(request: HttpRequest) -> AuditForm:
    selectors.require_auditor(request.user)
    tz = tz_of(request)
    return AuditForm(
        request.GET,
        people=selectors.firm_people(viewer=request.user),
        matters=selectors.firm_matters(viewer=request.user),
        tz=tz,
        today=today_in(tz),
    )


@login_required
@require_GET
@action
def audit(request: HttpRequest) -> HttpResponse:
    form = _audit_form(request)
    context: dict[str, Any] = {
        "form": form,
        "event_names": sorted(names.ALL - names.NEVER_RECORDED),
    }
    status = 200
    if form.is_valid():
        page = selectors.audit_events(
            viewer=request.user,
            query=form.query(),
            cursor=cursor_of(request),
            limit=AUDIT_PAGE,
        )
        query = form.querystring()
        base = reverse("audit")
        context.update(
            rows=rows_of(request, page.items, audit=True),
            query=query,
            first_page=cursor_of(request) is None,
            first_url=f"{base}?{query}",
            next_url=f"{base}?{query}&{urlencode({'cursor': page.next_cursor})}"
            if page.next_cursor
            else None,
            export_params=sorted(form.params().items()),
            csv_url=reverse("audit_export", args=["csv"]),
            jsonl_url=reverse("audit_export", args=["jsonl"]),
        )
    else:
        status = 400
    return render(request, "events_app/audit.html", context, status=status)


EXPORT_COLUMNS = [
    "occurred_at",
    "id",
    "name",
    "actor_id",
    "actor_name",
    "subject_type",
    "subject_id",
    "subject_label",
    "parent_type",
    "parent_id",
    "parent_label",
    "matter_id",
    "matter_label",
    "changes",
    "source",
    "request_id",
]
# With proofs: what a third party needs to check the row against its seal.
PROOF_COLUMNS = [
    "event_sha256",
    "leaf_index",
    "tree_size",
    "audit_path",
    "late",
    "seal_period",
    "seal_seq",
    "seal_root",
    "seal_hash",
    "unsealed",
    "event_json",
    "seal_json",
]
# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_row(event: dict[str, Any]) -> list[Any]:
    """One CSV row of an event, in EXPORT_COLUMNS order."""
    actor = event.get("actor") or {}
    subject = event.get("subject") or {}
    parent = event.get("parent") or {}
    matter = event.get("matter") or {}
    context = event.get("context") or {}
    row = [
        event["occurred_at"],
        event["id"],
        event["name"],
        actor.get("id"),
        actor.get("name"),
        subject.get("type"),
        subject.get("id"),
        subject.get("label"),
        parent.get("type"),
        parent.get("id"),
        parent.get("label"),
        matter.get("id"),
        matter.get("label"),
        json.dumps(event.get("changes") or {}, ensure_ascii=False, sort_keys=True),
        context.get("source"),
        context.get("request_id"),
    ]
    return [_csv_cell(v) for v in row]


def proof_row(event: dict[str, Any], sealed: dict[str, Any]) -> list[Any]:
    """The PROOF_COLUMNS of an event: its canonical JSON, proof and seal."""
    proof, seal = sealed["proof"], sealed["seal"]
    event_json = canonical_json(event).decode()
    digest = event_digest(event).hex()
    if proof is None:
        return [
            digest,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            sealed["unsealed"],
            event_json,
            "",
        ]
    body = {k: v for k, v in seal.items() if k != "hash"}
    row = [
        digest,
        proof["leaf_index"],
        proof["tree_size"],
        " ".join(proof["audit_path"]),
        "yes" if proof["late"] else "no",
        seal["period"],
        seal["seq"],
        seal["root"],
        seal["hash"],
        "",
        event_json,
        canonical_json(body).decode(),
    ]
    return [_csv_cell(v) for v in row]


class _Line:
    """A file-like object whose write returns the line (csv.writer to a stream)."""

    def write(self, value: str) -> str:
        return value


def _export_lines(
    first: dict[str, Any] | None,
    rest: Iterator[dict[str, Any]],
    fmt: str,
    proofs: SealProofs | None = None,
) -> Iterator[str]:
    writer = csv.writer(_Line())
    if fmt == "csv":
        yield writer.writerow(EXPORT_COLUMNS + (PROOF_COLUMNS if proofs else []))
    if first is None:
        return
    try:
        for event in itertools.chain([first], rest):
            sealed = proofs.proof_for(event) if proofs else None
            if fmt == "csv":
                row = export_row(event)
                if sealed is not None:
                    row += proof_row(event, sealed)
                yield writer.writerow(row)
            else:
                line = {"event": event, **sealed} if sealed is not None else event
                yield json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n"
    except store.StoreError:
        # Headers are gone: the best left is to say plainly that it stops here.
        logger.warning("audit export cut short by the event store", exc_info=True)
        note = "export incomplete: the event store became unavailable"
        if fmt == "csv":
            yield writer.writerow([f"#ERROR {note}"])
        else:
            yield json.dumps({"error": note}) + "\n"


@login_required
@require_GET
@action
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The audit selection as CSV or JSON Lines, streamed page by page.

    `proofs=1` adds each event's inclusion proof and its period's seal: in
    JSON Lines each line is then {"event", "proof", "seal"} (or "unsealed",
    why not); in CSV the PROOF_COLUMNS follow.
    """
    if fmt not in ("csv", "jsonl"):
        raise Http404("No such export.")
    form = _audit_form(request)
    if not form.is_valid():
        raise ValidationError(_form_errors(form))
    with_proofs = parse_flag(request.GET.get("proofs"), "proofs")
    query = form.query()
    events = selectors.audit_export(viewer=request.user, query=query)
    # The first page (and the seals) are read before answering, so a store
    # that is down is a 503 rather than a broken download.
    first = next(events, None)
    proofs = (
        selectors.audit_proofs(viewer=request.user, query=query)
        if with_proofs
        else None
    )
    data = form.cleaned_data
    sealed = "-sealed" if with_proofs else ""
    filename = f"hivelight-audit-{data['date_from']}-{data['date_to']}{sealed}.{fmt}"
    response = StreamingHttpResponse(
        _export_lines(first, events, fmt, proofs),
        content_type="text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/x-ndjson; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _form_errors(form: AuditForm) -> str:
    parts = []
    for field, errors in form.errors.items():
        text = " ".join(errors)
        parts.append(text if field == "__all__" else f"{form[field].label}: {text}")
    return " ".join(parts)


@login_required
@require_GET
@action
def audit_history(
    request: HttpRequest, subject_type: str, subject_id: int
) -> HttpResponse:
    """Any entity's full history for auditors, including deleted tasks."""
    selectors.require_auditor(request.user)
    parent = None
    if subject_type == "comment":
        try:
            task_id = parse_positive_int(request.GET.get("task"), "task")
        except ValidationError as exc:
            raise ValidationError(message_of(exc)) from exc
        parent = (
            ("task", task_id)
            if task_id
            else selectors.comment_parent(viewer=request.user, comment_id=subject_id)
        )
        if parent is None:
            raise Http404("No such comment.")
    ref = selectors.EntityRef(subject_type, subject_id, parent)
    page = selectors.audit_history(
        viewer=request.user, ref=ref, cursor=cursor_of(request), limit=HISTORY_PAGE
    )
    label = _label_of(page.items, subject_type, subject_id)
    live_url = None
    if subject_type == "task" and Task.objects.filter(pk=subject_id).exists():
        live_url = reverse("task_detail", args=[subject_id])
    more = with_query(
        reverse("audit_history", args=[subject_type, subject_id]),
        task=parent[1] if parent else None,
    )
    return history_response(
        request,
        page=page,
        title=f"Audit history of {subject_type} {label}",
        subject_url=live_url,
        more_url=more,
        audit=True,
        intro="Every recorded event, page views and reorders included.",
    )


def _label_of(events: list[dict[str, Any]], subject_type: str, subject_id: int) -> str:
    for event in events:
        subject = event.get("subject") or {}
        if subject.get("type") == subject_type and subject.get("id") == subject_id:
            return quoted(subject.get("label"))
    return f"#{subject_id}"


# --- seals ---------------------------------------------------------------------------


def _seal_row(seal: store.StoredSeal) -> dict[str, Any]:
    """A seal for the page; `intact` is its cheap self-check (its hash), not
    verification, which recomputes it from the events (verify_audit_trail)."""
    body = seal.body
    intact = (
        set(body) == chain.BODY_KEYS
        and seal_hash(body) == seal.hash
        and body["period"] == seal.period
    )
    try:
        sealed_at = parse_instant(body["sealed_at"])
    except (KeyError, TypeError, ValueError):
        sealed_at = None
    return {
        "period": seal.period,
        "seq": body.get("seq"),
        "size": body.get("size"),
        "late": body.get("late"),
        "tz": body.get("tz"),
        "sealed_at": sealed_at,
        "root": body.get("root") or "",
        "hash": seal.hash,
        "intact": intact,
    }


@login_required
@require_GET
@action
def audit_seals(request: HttpRequest) -> HttpResponse:
    """The firm's seals, newest first, and the chain to download."""
    cursor = cursor_of(request)
    page = selectors.audit_seals(viewer=request.user, cursor=cursor, limit=SEALS_PAGE)
    rows = [_seal_row(seal) for seal in page.items]
    base = reverse("audit_seals")
    context = {
        "rows": rows,
        "head": rows[0] if rows and cursor is None else None,
        "first_page": cursor is None,
        "first_url": base,
        "next_url": f"{base}?{urlencode({'cursor': page.next_cursor})}"
        if page.next_cursor
        else None,
        "margin_minutes": settings.AUDIT_SEAL_MARGIN_MINUTES,
        "chain_url": reverse("audit_seal_chain"),
    }
    return render(request, "events_app/audit_seals.html", context)


@login_required
@require_GET
@action
def audit_seal_chain(request: HttpRequest) -> HttpResponse:
    """Every seal of the firm as one JSON file, for a third party to keep."""
    seals = selectors.audit_seal_chain(viewer=request.user)
    firm = request.user.membership.firm
    through = seals[-1]["period"] if seals else "none"
    document = {
        "format": "hivelight-seal-chain",
        "version": chain.FORMAT,
        "firm": firm_key(firm.pk),
        "firm_name": firm.name,
        "exported_at": isoformat(timezone_now()),
        "genesis": chain.GENESIS,
        "hashing": (
            "Each seal's hash is the hex SHA-256 of the canonical JSON of its "
            "other fields (keys sorted, no whitespace, UTF-8); each seal's prev "
            "is the hash of the seal before it, the first one's the genesis. "
            "See docs/verify.md."
        ),
        "seals": seals,
    }
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=1) + "\n",
        content_type="application/json; charset=utf-8",
    )
    filename = f"hivelight-seals-{firm.slug}-{through}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
