"""Built-in self-healing strategies."""
