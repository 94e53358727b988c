"""Alert rules: a pure, indexed rule engine (rules, engine, logmatch) and the webhook client.

`rules` parses conditions and durations, `engine` turns observations (samples, state
and health changes, exits, log matches) into firing, repeat and resolved transitions,
`logmatch` finds rule patterns in captured output. None of them reads a clock or does
I/O: time is passed in. `webhook` is the one module here that talks to the network.
"""
