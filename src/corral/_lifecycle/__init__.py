"""PURE lifecycle of a supervised process: states, the transition table, the machine, policy.

Below the pool and the supervisor, so the daemon's instances and the pool's workers
restart by the same rows. No asyncio, no I/O, no clock, no randomness: every decision
takes `now` (and `rand`) as arguments, and returns actions for a runtime to carry out.
"""
