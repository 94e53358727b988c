"""One module per group of CLI commands; each parses, makes one API call, renders.

The renderers (`cli/render.py`) are imported where a command prints, not with the
module: every command module is imported to build the parser, `corral daemon` too,
and the daemon would hold them for its whole life.
"""
