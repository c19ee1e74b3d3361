"""Facts, the service catalogue, the eligibility engine and the entitlement ledger.

Uses SQLAlchemy but never Flask, so batch jobs and readers can use it.
"""
