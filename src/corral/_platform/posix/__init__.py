"""Portable POSIX implementations: these must import and work on any POSIX system."""
