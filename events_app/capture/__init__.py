"""Capture: every write to a tracked row becomes events in the outbox.

`tracking` keeps rows' old images and covers the bulk write paths, `signals`
hands images over, `diff` (pure) names what happened, `core` builds the
envelopes and enqueues them, `specs` says how each model of the domain is
described, `records` makes the events that are not row changes.
"""
