"""PURE process model: program specs, the instance state machine, restart policy.

No asyncio, no I/O, no clock: every decision takes `now` as an argument.
"""
