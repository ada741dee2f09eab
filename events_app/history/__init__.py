"""Reading the record back: histories, feeds, the activity calendar, audit, API.

`selectors` holds every rule of who sees which events, `sentences` tells an
event as text, `calendar` lays out the activity grid (pure), `views`,
`audit` and `api` are thin.
"""
