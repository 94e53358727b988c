"""Coordination across machines on etcd: a client of its v3 JSON API, leases, locks,
leader election and group membership. See docs/decisions/0015-etcd-client.md for why
the client is our own, on h11, rather than an etcd client package."""
