"""Built-in pickers plugins."""
