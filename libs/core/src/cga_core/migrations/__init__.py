"""Alembic migrations for the whole system."""
