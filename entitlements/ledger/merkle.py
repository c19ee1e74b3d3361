"""Merkle tree hashing in the style of RFC 9162 (Certificate Transparency 2.0), section 2.1.

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``, the tree
split at the largest power of two below its size. Anyone can check an inclusion proof with
these few lines and SHA-256, which is the point: auditors need not trust our code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class RootBuilder:
    """Streams leaf hashes and gives the root at any size, in one pass.

    Keeps the perfect subtrees along the right edge (at most log2(n) hashes); the root is
    those subtrees folded right to left, which equals RFC 9162's recursive definition.
    """

    def __init__(self) -> None:
        # Hashes of the perfect subtrees, largest first: one per set bit of the size.
        self._stack: list[bytes] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add leaves in order: one call per batch keeps the per-leaf cost to the hashing."""
        stack, sha256 = self._stack, _sha256
        count = self.size
        for digest in leaves:
            count += 1
            # Below the new leaf, one perfect subtree merges per trailing zero bit of the
            # new size (a binary counter): node_hash inlined, as this runs once per event.
            merges = (count & -count).bit_length() - 1
            for _ in range(merges):
                digest = sha256(b"\x01" + stack.pop() + digest).digest()
            stack.append(digest)
        self.size = count

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The tree head hash of leaf hashes ``leaves``."""
    builder = RootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path for leaf ``index`` (0-based) in the tree of ``leaves`` (RFC 9162 2.1.3)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of size {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(root_of(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root_of(leaves[lo : lo + k]))
            lo += k
    path.reverse()
    return path


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``path`` prove ``leaf`` is at ``index`` under ``root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, digest = index, tree_size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and digest == root
