"""The entitlement ledger: append-only, hash-chained, Merkle tree, signed tree heads."""
