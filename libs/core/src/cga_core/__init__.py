"""Shared core of the custom-gpt-adapter services."""
