"""Coordination between processes: locks, leader election, membership, work assignment.

On one machine (`filelock`, `election`): lock files, nothing else needed. Across
machines (`etcd/`): locks, leaders and membership on etcd leases. `hashing` assigns
keys to members or shards, pure. The public names are re-exported by `corral.coordinate`.
"""
