"""Services: the only writers of the domain (this package's API).

Every function is keyword-only, runs in one transaction, checks that the actor
may do what it asks, validates with `full_clean()` before saving, and sets
`last_modified_by`. Rows are loaded under `select_for_update`, so the image
the event capture compares against is the row as it stood, with no extra
SELECT per save.

Errors: an object the actor may not see raises Http404 (a wall leaks nothing);
bad input raises ValidationError (a form error or a 400); an action on a
visible object the actor may not take raises PermissionDenied.
"""

from tasks_app.services.comments import comment_create, comment_delete, comment_edit
from tasks_app.services.handover import HandoverLine, handover_plan
from tasks_app.services.matters import (
    matter_close,
    matter_create,
    matter_reopen,
    matter_set_wall,
    matter_update,
    team_member_add,
    team_member_remove,
    team_member_set_role,
)
from tasks_app.services.milestones import (
    milestone_create,
    milestone_recompute_progress,
    milestone_update,
)
from tasks_app.services.people import (
    person_add,
    person_deactivate,
    person_reactivate,
    person_set_role,
)
from tasks_app.services.review import task_approve, task_request_changes
from tasks_app.services.roadmaps import (
    last_application,
    roadmap_apply,
    roadmap_create,
    roadmap_delete,
    roadmap_from_matter,
    roadmap_item_remove,
    roadmap_milestone_add,
    roadmap_task_add,
    roadmap_update,
)
from tasks_app.services.tasks import (
    TASK_EDITABLE_FIELDS,
    task_assign,
    task_create,
    task_delete,
    task_move,
    task_update,
)
from tasks_app.services.watching import task_unwatch, task_watch

__all__ = [
    "TASK_EDITABLE_FIELDS",
    "HandoverLine",
    "comment_create",
    "comment_delete",
    "comment_edit",
    "handover_plan",
    "last_application",
    "matter_close",
    "matter_create",
    "matter_reopen",
    "matter_set_wall",
    "matter_update",
    "milestone_create",
    "milestone_recompute_progress",
    "milestone_update",
    "person_add",
    "person_deactivate",
    "person_reactivate",
    "person_set_role",
    "roadmap_apply",
    "roadmap_create",
    "roadmap_delete",
    "roadmap_from_matter",
    "roadmap_item_remove",
    "roadmap_milestone_add",
    "roadmap_task_add",
    "roadmap_update",
    "task_approve",
    "task_assign",
    "task_create",
    "task_delete",
    "task_move",
    "task_request_changes",
    "task_unwatch",
    "task_update",
    "task_watch",
    "team_member_add",
    "team_member_remove",
    "team_member_set_role",
]
