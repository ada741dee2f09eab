"""Compliance officers' reads of walled matters: each one is itself recorded.

A compliance officer is the one person outside a wall who may audit a
walled matter's record. Every read that shows them events of such a matter
records `audit.walled_matter_viewed` on that matter (who, where, how many
events), which the matter's history shows and its responsible partner is
told of (reactions/compliance.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from events_app import names
from events_app.capture.records import record
from tasks_app import selectors as task_selectors
from tasks_app.models import User


def _is_compliance(viewer: User) -> bool:
    membership = task_selectors.membership_for(viewer)
    return bool(membership and membership.is_compliance_officer)


def record_reads(viewer: User, events: Iterable[dict[str, Any]], view: str) -> None:
    """Record one read per walled matter (outside the viewer's walls) shown."""
    if not _is_compliance(viewer):
        return
    outside = task_selectors.walled_matter_ids_outside(user=viewer)
    if not outside:
        return
    seen: Counter[int] = Counter()
    labels: dict[int, str] = {}
    for event in events:
        matter = event.get("matter") or {}
        if matter.get("id") in outside:
            seen[matter["id"]] += 1
            labels[matter["id"]] = matter.get("label", "")
    for matter_id, count in sorted(seen.items()):
        _record(viewer, matter_id, labels[matter_id], view, count)


def recorded_stream(
    viewer: User, events: Iterator[dict[str, Any]], view: str
) -> Iterator[dict[str, Any]]:
    """An export's events, recording each walled matter when first seen."""
    if not _is_compliance(viewer):
        yield from events
        return
    outside = task_selectors.walled_matter_ids_outside(user=viewer)
    recorded: set[int] = set()
    for event in events:
        matter = event.get("matter") or {}
        matter_id = matter.get("id")
        if matter_id in outside and matter_id not in recorded:
            recorded.add(matter_id)
            _record(viewer, matter_id, matter.get("label", ""), view, None)
        yield event


def _record(
    viewer: User, matter_id: int, label: str, view: str, count: int | None
) -> None:
    changes: dict[str, Any] = {"view": [None, view]}
    if count is not None:
        changes["events"] = [None, count]
    record(
        name=names.AUDIT_WALLED_MATTER_VIEWED,
        firm_id=task_selectors.user_firm_id(viewer),
        actor={"id": viewer.pk, "name": viewer.display_name},
        subject={"type": "matter", "id": matter_id, "label": label},
        matter={"id": matter_id, "label": label},
        changes=changes,
    )
