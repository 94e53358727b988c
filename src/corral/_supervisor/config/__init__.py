"""The daemon's config file: TOML -> a validated `Config` of `Program` objects, all or nothing.

load.py reads and parses; schema.py holds the keys as data and builds the
programs, table.py the Table/Key machinery that turns checked values into specs,
and sandbox.py the [programs.NAME.sandbox] tables; kinds.py and
sandbox_values.py check single values; positions.py finds the line of a key; and
reference.py renders docs/config-reference.md from the tables.
"""
