"""The virtual Kent Card and the PC/SC test rig (never imported by what the app serves)."""
