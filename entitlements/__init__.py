"""Facts, the service catalogue, the eligibility engine, the ledger and snapshots.

Uses SQLAlchemy but never Flask, so batch jobs and readers can use it.
"""
