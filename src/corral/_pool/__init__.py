"""Process pools (above `_lifecycle`): workers are children of the one spawn path."""
