"""RFC 9162 Merkle trees: the reference vectors, and properties over random trees."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events_app.seals import merkle

# The test vectors of RFC 6962's reference implementation (Certificate
# Transparency), which RFC 9162 keeps: eight leaves, the tree head of each
# prefix, and inclusion proofs (leaf index here from 0).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 defines it, recursively."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) exactly as RFC 9162 §2.1.3.1 defines it."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_root(leaves[:k])]


@pytest.mark.parametrize("size", range(9))
def test_tree_heads_match_the_rfc_reference_vectors(size):
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_rfc_reference_vectors(index, size, path):
    levels = merkle.tree_levels(LEAVES[:size])
    root = bytes.fromhex(ROOTS[size])

    proof = merkle.inclusion_proof(levels, index)

    assert [p.hex() for p in proof] == path
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, root)
    assert not merkle.verify_inclusion(
        LEAVES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1])
    )


leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists)
def test_bottom_up_trees_are_the_rfcs_trees(leaves):
    levels = merkle.tree_levels(leaves)

    assert merkle.root_of_levels(levels) == reference_root(leaves)
    for index in range(len(leaves)):
        assert merkle.inclusion_proof(levels, index) == reference_path(index, leaves)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_proof_verifies_and_any_one_byte_change_fails(leaves, data):
    levels = merkle.tree_levels(leaves)
    root = merkle.root_of_levels(levels)
    size = len(leaves)
    for index, leaf in enumerate(leaves):
        path = merkle.inclusion_proof(levels, index)
        assert merkle.verify_inclusion(leaf, index, size, path, root)

    index = data.draw(st.integers(0, size - 1), label="index")
    leaf = leaves[index]
    path = merkle.inclusion_proof(levels, index)

    def flipped(blob: bytes) -> bytes:
        at = data.draw(st.integers(0, len(blob) - 1), label="byte")
        bit = data.draw(st.integers(0, 7), label="bit")
        return blob[:at] + bytes([blob[at] ^ (1 << bit)]) + blob[at + 1 :]

    if leaf:
        assert not merkle.verify_inclusion(flipped(leaf), index, size, path, root)
    assert not merkle.verify_inclusion(leaf + b"\x00", index, size, path, root)
    assert not merkle.verify_inclusion(leaf, index, size, path, flipped(root))
    if path:
        node = data.draw(st.integers(0, len(path) - 1), label="node")
        bad = [*path[:node], flipped(path[node]), *path[node + 1 :]]
        assert not merkle.verify_inclusion(leaf, index, size, bad, root)
        assert not merkle.verify_inclusion(leaf, index, size, path[:-1], root)
    assert not merkle.verify_inclusion(leaf, index, size, [*path, root], root)


def test_a_leaf_outside_the_tree_has_no_proof():
    levels = merkle.tree_levels(LEAVES[:3])

    with pytest.raises(IndexError):
        merkle.inclusion_proof(levels, 3)
    assert merkle.root_from_inclusion(LEAVES[0], 3, 3, []) is None
    assert not merkle.verify_inclusion(LEAVES[0], 0, 0, [], merkle.EMPTY_ROOT)
