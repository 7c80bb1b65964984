"""Package data (profile captures)."""
