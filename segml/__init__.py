"""segml."""
