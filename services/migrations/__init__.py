"""Alembic migrations of the OneThing database (run by `onething db upgrade` and at start-up)."""
