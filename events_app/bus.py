"""The bus: patterns map event names to handlers, as EventBridge rules do.

`@subscribe("task.assigned")` (or `task.*`, `*`) registers a handler. Each
matching handler runs as its own Celery task with retries, so one failing
handler never blocks another. `run` applies a handler at most once per event:
its ledger row is written in the same transaction as the handler's database
effects, so a retried or redelivered event changes nothing twice.

Targets (`add_target`) hear each dispatched batch as a whole, inside the
dispatcher's transaction: the webhook fan-out and the EventBridge forwarder
write their rows there, so an event marked dispatched always has them. A
target only writes rows; whatever it sends out waits for the commit.

A backdated event (written with a historic time: the demo seed's year of
history, `envelope.backdated`) is stored and counted like any other but
dispatched to no handler and no target: nobody is told today of what
"happened" months ago, and whatever derived state it would have kept, the
seed keeps itself through the services.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from events_app import context, envelope
from events_app.models import HandlerRun
from hivelight.celery import app

logger = logging.getLogger(__name__)

# Published by name: the task (events_app.tasks) sits above the bus.
RUN_HANDLER_TASK = "events_app.tasks.run_handler"

Handler = Callable[[dict[str, Any]], None]
Target = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class Subscription:
    pattern: str
    name: str
    func: Handler


_registry: dict[str, Subscription] = {}
_targets: dict[str, Target] = {}


def subscribe(pattern: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for event names matching `pattern` (fnmatch style)."""

    def decorator(func: Handler) -> Handler:
        key = name or f"{func.__module__}.{func.__qualname__}"
        _registry[key] = Subscription(pattern=pattern, name=key, func=func)
        return func

    return decorator


def add_target(name: str, target: Target) -> None:
    """Hand every dispatched batch to `target`, in the dispatcher's transaction."""
    _targets[name] = target


def subscriptions() -> list[Subscription]:
    return list(_registry.values())


def matches(pattern: str, event_name: str) -> bool:
    """The bus's pattern rule: `task.completed`, `task.*`, `*` (fnmatch)."""
    return fnmatch.fnmatchcase(event_name, pattern)


def handlers_for(event_name: str) -> list[Subscription]:
    return [s for s in _registry.values() if matches(s.pattern, event_name)]


def dispatch(events: Iterable[dict[str, Any]]) -> int:
    """Enqueue one Celery task per (event, matching handler), then hand the
    batch to the targets. Returns how many tasks were enqueued."""
    batch = [event for event in events if not envelope.backdated(event)]
    run_handler = app.signature(RUN_HANDLER_TASK)
    sent = 0
    for event in batch:
        for sub in handlers_for(event["name"]):
            run_handler.apply_async(args=(sub.name, event))
            sent += 1
    for target in _targets.values():
        target(batch)
    return sent


def run(handler_name: str, event: dict[str, Any]) -> bool:
    """Apply one handler to one event, once. Returns False if already applied."""
    sub = _registry.get(handler_name)
    if sub is None:
        raise LookupError(f"no handler named {handler_name!r}")
    with context.acting_as(None, source="system", caused_by=event["id"]):
        try:
            with transaction.atomic():
                HandlerRun.objects.create(
                    event_id=event["id"], handler=handler_name, event_name=event["name"]
                )
                sub.func(event)
        except IntegrityError:
            if HandlerRun.objects.filter(
                event_id=event["id"], handler=handler_name
            ).exists():
                logger.info("%s already applied %s", handler_name, event["id"])
                return False
            raise
    return True
