"""Processes: ProcessSpec -> spawn -> Process, and run()/Command built on them."""
