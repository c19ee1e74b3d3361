"""The virtual Kent Card, the PC/SC test rig and reader profiles (never imported in production)."""
