"""Built-in error screens plugins."""
