"""Helpers for tests/test_newcomer.py: prober as a new user meets it, from the docs only."""
