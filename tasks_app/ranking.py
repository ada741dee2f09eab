"""Fractional-index rank keys: a card moves by writing only itself.

A key is the fractional part of a base-36 number written with the digits
[0-9a-z]; keys never end in "0", so between any two keys there is another.
Moving a card computes a key strictly between its new neighbours. Keys grow by
about one character per five inserts into the same gap; when a key would pass
`MAX_KEY_LENGTH` the column is rebalanced (evenly spaced short keys), which is
the only time more than the moved card is written.
"""

from __future__ import annotations

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
MAX_KEY_LENGTH = 40  # the column holds up to 64; leave room for growth


class RankError(ValueError):
    """Keys out of order or malformed."""


def _digit(char: str) -> int:
    index = DIGITS.find(char)
    if index < 0:
        raise RankError(f"invalid rank digit {char!r}")
    return index


def _check_key(key: str) -> None:
    if key == "" or key.endswith("0"):
        raise RankError("rank keys are not empty and never end in 0")
    if key.strip(DIGITS):
        raise RankError(f"invalid rank key {key!r}: digits are [0-9a-z]")


def rank_between(lo: str | None, hi: str | None) -> str:
    """Return a key strictly between `lo` and `hi` (None: open end)."""
    a = lo or ""
    if a:
        _check_key(a)
    if hi is not None:
        _check_key(hi)
    if hi is not None and a >= hi:
        raise RankError(f"{lo!r} is not below {hi!r}")
    return _midpoint(a, hi)


def _midpoint(a: str, b: str | None) -> str:
    if b is not None:
        # Skip the common prefix (a is padded with zeros).
        n = 0
        while (a[n] if n < len(a) else "0") == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _digit(a[0]) if a else 0
    digit_b = _digit(b[0]) if b is not None else BASE
    if digit_b - digit_a > 1:
        return DIGITS[(digit_a + digit_b + 1) // 2]
    if b is not None and len(b) > 1:
        return b[0]
    return DIGITS[digit_a] + _midpoint(a[1:], None)


def evenly_spaced(count: int) -> list[str]:
    """Return `count` increasing short keys spread over the whole key space."""
    if count <= 0:
        return []
    width = 1
    while BASE**width < (count + 1) * 4:
        width += 1
    step = BASE**width // (count + 1)
    keys = []
    for i in range(1, count + 1):
        value = step * i
        chars = []
        for _ in range(width):
            value, rem = divmod(value, BASE)
            chars.append(DIGITS[rem])
        keys.append("".join(reversed(chars)).rstrip("0"))
    return keys
