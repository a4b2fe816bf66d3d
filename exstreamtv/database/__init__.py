"""Database layer."""
