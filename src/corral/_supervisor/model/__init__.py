"""PURE model of the configuration: program specs, target names, the reload diff.

No asyncio, no I/O, no clock. The instance lifecycle (states, table, machine,
restart policy) is below, in `corral._lifecycle`.
"""
