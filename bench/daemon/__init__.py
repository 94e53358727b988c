"""Daemon benchmarks: restart latency, scale, control round trips and CLI import time.

Run from the repository root: `.venv/bin/python -m bench.daemon --help`. Each run
starts its own daemons in a scratch directory under /tmp and shuts them down through
the API, proving every program they started is gone (see harness.py).
"""
