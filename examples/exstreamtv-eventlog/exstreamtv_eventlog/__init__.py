"""Example ExStreamTV plugin package."""
