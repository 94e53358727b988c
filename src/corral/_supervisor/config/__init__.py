"""The daemon's config file: TOML -> a validated `Config` of `Program` objects, all or nothing.

load.py reads and parses, schema.py holds the keys as data and builds the
programs, kinds.py checks single values, positions.py finds the line of a key,
and reference.py renders docs/config-reference.md from the schema.
"""
