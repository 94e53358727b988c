"""L4, watching: events, log capture and (later) metrics — generic, knows no supervisor types.

Modules here may import `corral._process`, `corral._platform` and `corral._errors`
only. Callers import the module that defines a name (`corral._observe.events`),
not this package.
"""
