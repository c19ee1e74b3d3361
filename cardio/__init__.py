"""Kent Card protocol: APDU codec, card session, offline verification, reader loop.

Imports neither Flask nor SQLAlchemy; only ``cardio/pcsc.py`` imports pyscard.
"""
