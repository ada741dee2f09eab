"""Who may hear about a matter: nobody outside its firm or its wall."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tasks_app.models import Matter
from tasks_app.selectors import users_who_can_see_matter


def can_see_matter(event: dict[str, Any], user_ids: Iterable[int | None]) -> set[int]:
    """The subset of `user_ids` who may open the event's matter today.

    Checked when the event is handled, so a person walled off between the
    change and its handling hears nothing.
    """
    wanted = {pk for pk in user_ids if pk is not None}
    matter_id = (event.get("matter") or {}).get("id")
    if not wanted or matter_id is None:
        return set()
    matter = Matter.objects.filter(pk=matter_id).first()
    if matter is None:
        return set()
    return set(
        users_who_can_see_matter(matter=matter)
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )
