"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) defines them. Pure.

Hashing (§2.1.1): a leaf hash is SHA-256(0x00 || leaf), an interior node
SHA-256(0x01 || left || right), the empty tree's hash SHA-256 of nothing.
A tree of n > 1 leaves splits at k, the largest power of two below n:
MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])). Built bottom-up, pairing
neighbours and carrying an unpaired last node up a level unchanged gives
exactly that tree (a test checks it against the recursive definition), in
one pass and O(n) hashes.

Inclusion proofs are the audit paths of §2.1.3.1, deepest sibling first,
and `verify_inclusion` is the algorithm of §2.1.3.2, step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over `leaves`, leaf hashes first, root last.

    Empty input gives one empty level (the root is then EMPTY_ROOT).
    """
    level = [leaf_hash(leaf) for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
        level = up
    return levels


def root_of_levels(levels: list[list[bytes]]) -> bytes:
    return levels[-1][0] if levels[-1] else EMPTY_ROOT


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]): the tree head of `leaves`, in order."""
    return root_of_levels(tree_levels(leaves))


def inclusion_proof(levels: list[list[bytes]], index: int) -> list[bytes]:
    """PATH(index, D[n]) from a tree's levels: the siblings, deepest first.

    A node carried up unpaired has no sibling at that level, so the path of
    a leaf in an unbalanced tree is shorter than log2(n) rounded up.
    """
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"leaf {index} is not in a tree of {len(levels[0])}")
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index //= 2
    return path


def root_from_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes]
) -> bytes | None:
    """The root that `path` proves `leaf` (at `index` of `size`) to be under.

    RFC 9162 §2.1.3.2, steps 1-5 but the last comparison; None if the path
    cannot be a valid one (too long, too short, index out of range).
    """
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root_hash: bytes
) -> bool:
    """Whether `path` proves `leaf` is leaf `index` of the tree `root_hash`."""
    return root_from_inclusion(leaf, index, size, path) == root_hash
