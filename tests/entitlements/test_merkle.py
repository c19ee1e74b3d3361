"""The Merkle tree against RFC 9162's recursive definition, for every small tree."""

from __future__ import annotations

import hashlib

from entitlements.ledger.merkle import (
    EMPTY_ROOT,
    RootBuilder,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_inclusion,
)


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC: split at the largest power of two below n."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(70)]


def test_hash_prefixes_follow_rfc_9162() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert root_of([]) == EMPTY_ROOT


def test_root_matches_the_recursive_definition_for_every_size() -> None:
    for n in range(71):
        assert root_of(LEAVES[:n]) == reference_root(LEAVES[:n]), n


def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not() -> None:
    for n in range(1, 40):
        root = root_of(LEAVES[:n])
        for i in range(n):
            path = inclusion_proof(i, LEAVES[:n])
            assert verify_inclusion(i, n, LEAVES[i], path, root), (i, n)
            assert not verify_inclusion(i, n, LEAVES[n], path, root)  # a different leaf
            if n > 1:
                assert not verify_inclusion((i + 1) % n, n, LEAVES[i], path, root)
            assert not verify_inclusion(i, n + 1, LEAVES[i], path, root_of(LEAVES[: n + 1]))


def test_known_vector_for_three_leaves() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert root_of([a, b, c]) == node_hash(node_hash(a, b), c)
    assert inclusion_proof(2, [a, b, c]) == [node_hash(a, b)]
    assert inclusion_proof(0, [a, b, c]) == [b, c]


def test_root_builder_in_batches_matches_the_recursive_definition() -> None:
    """``verify`` feeds leaves a batch at a time and asks for roots between batches."""
    for batch in (1, 2, 3, 7, 64):
        builder = RootBuilder()
        for start in range(0, len(LEAVES), batch):
            builder.extend(LEAVES[start : start + batch])
            size = min(start + batch, len(LEAVES))
            assert builder.size == size
            assert builder.root() == reference_root(LEAVES[:size]), (batch, size)
