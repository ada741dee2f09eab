"""Reactions to events: one module per reaction, registered on the bus.

Each handler receives the event envelope; it reads live rows only for what
the envelope cannot know (a task's watchers, its current milestone), and
treats a row that is gone as "nothing to do". `bus.run` applies a handler at
most once per event, in one transaction with its ledger row; on top of
that, every effect is idempotent by itself (one notification per event and
recipient, progress recomputed rather than incremented, watching twice is
one watch). `subscriptions` registers them all, in dispatch order.
"""
