"""Seals: per-firm Merkle seals over the stored events, chained, and their checks.

`canonical` (the bytes an event is hashed as), `merkle` (RFC 9162 trees and
inclusion proofs), `periods` (a firm's sealing days), `sealing` (making
seals), `verify` (recomputing them from the store), `proofs` (inclusion
proofs for exports). Seals themselves are stored by `events_app.store`.
"""
