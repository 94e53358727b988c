"""IPC layer (below `_lifecycle`, above `_process`): framing and transports."""
