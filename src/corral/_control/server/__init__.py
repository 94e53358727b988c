"""The daemon's HTTP servers: the transport in `http`, routes mounted on it by the lead modules."""
