"""Wardgate: an identity-aware access gateway for PostgreSQL."""

__version__ = "0.1.0"
