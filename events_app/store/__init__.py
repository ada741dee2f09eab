"""The event store: events and activity counters in DynamoDB.

Tables (names take `settings.EVENT_STORE["TABLE_PREFIX"]`):

`<prefix>Events`, one item per event:
    pk      `U#<firm>#<actor id or "system">`   a user's activity
    sk      `<occurred_at>#<id>`                 time order, unique
    gsi1pk  `E#<firm>#<type>#<id>` of the event's `parent` if it has one
            (comments: their task), else of its subject (index gsi1_entity):
            a task's history holds its comments' events, interleaved in
            time; a comment's own history is its task's, filtered to it
    gsi2pk  `M#<firm>#<matter id>`  (index gsi2_matter; only with a matter)
    gsi3pk  `N#<firm>#<name>`       (index gsi3_name)
    gsi4pk  `F#<firm>#<YYYY-MM>`    (index gsi4_firm; the UTC month of
            occurred_at): a firm's events by date range, any user and name,
            read month by month (audit)
    gsi1sk / gsi2sk / gsi3sk / gsi4sk = sk
    envelope: ev_id, ev_name, ev_version, occurred_at, firm, actor (map),
    subject (map), matter (map, absent when None), changes and context (JSON
    text, so any JSON value round-trips exactly), ev_extra (JSON text of any
    other top-level envelope key, e.g. `parent`), expires_at (epoch seconds,
    `task.viewed` only; the table's TTL attribute).

`<prefix>ActivityCounts`: per person (pk `U#<firm>#<user>`) or matter (pk
`M#<firm>#<matter>`) and day, the counters the calendars read (layout in
`counters`).

`<prefix>Seals`: per firm and period, the seal of the period's events and
its leaf list (layout in `seals`; what a seal is: `events_app.seals`).
Seals are only ever added, with conditional puts.

Modules: `client` (boto3, errors), `codec` (keys, attribute values,
cursors), `tables` (create, upgrade), `writes` (put_events), `queries`,
`counters` (daily counts), `recount`, `seals` (seal heads and leaf lists),
`local` (DynamoDB Local for `make run` and tests). This package's public
API is what it imports here.

Events whose names expire (`task.viewed`, via TTL) are stored but not
counted: counters must stay rebuildable from the events that remain.
`ensure_tables` turns TTL on (attribute `expires_at`); DynamoDB deletes
expired items in the background, typically within a few days of expiry, so
readers that must not show expired views filter on `expires_at` themselves.

`ensure_tables` upgrades a table made under an older layout: it adds the
missing indexes and then re-keys the stored events (`reindex_events`), so
old comment events join their task's history and old events the firm index.
"""

from events_app.store.client import (
    InvalidCursor,
    StoreError,
    StoreUnavailable,
    TableNames,
    reset_client,
    table_names,
)
from events_app.store.counters import (
    daily_counts,
    layout_fingerprint,
    matter_daily_counts,
)
from events_app.store.queries import (
    Page,
    get_event,
    iter_events,
    iter_pages,
    query_entity_history,
    query_events_by_name,
    query_firm_events,
    query_matter_feed,
    query_user_events,
)
from events_app.store.recount import (
    put_layout,
    recount_matter,
    recount_user,
    stored_layout,
)
from events_app.store.seals import (
    SealPage,
    StoredSeal,
    events_at,
    get_seal,
    latest_seal,
    put_seal,
    seal_before,
    seal_leaves,
    seal_page,
    seals_between,
)
from events_app.store.tables import delete_tables, ensure_tables, reindex_events
from events_app.store.writes import PutResult, put_events

__all__ = [
    "InvalidCursor",
    "Page",
    "PutResult",
    "SealPage",
    "StoreError",
    "StoreUnavailable",
    "StoredSeal",
    "TableNames",
    "daily_counts",
    "delete_tables",
    "ensure_tables",
    "events_at",
    "get_event",
    "get_seal",
    "iter_events",
    "iter_pages",
    "latest_seal",
    "layout_fingerprint",
    "matter_daily_counts",
    "put_events",
    "put_layout",
    "put_seal",
    "query_entity_history",
    "query_events_by_name",
    "query_firm_events",
    "query_matter_feed",
    "query_user_events",
    "recount_matter",
    "recount_user",
    "reindex_events",
    "reset_client",
    "seal_before",
    "seal_leaves",
    "seal_page",
    "seals_between",
    "stored_layout",
    "table_names",
]
