"""Domain services: what views, the command line and APIs call. Views never touch the
database session directly."""
