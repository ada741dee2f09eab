"""The transactional outbox: events written with their change, relayed after.

`enqueue` writes the rows in the change's own transaction, `wakeup` wakes a
relay once they commit (NOTIFY on PostgreSQL, else after commit), `relay`
stores them in the event store and publishes them on the bus.
"""
