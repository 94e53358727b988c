"""Log capture: `writer` (one stream to one file), `rotation` (size-based), `tail` (read back)."""
