"""The store: SQLAlchemy models, engine set-up, and compare-and-set transitions."""
