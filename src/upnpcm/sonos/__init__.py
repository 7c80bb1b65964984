"""A virtual Sonos household: zone players that Sonos clients use unchanged (see household.py)."""
