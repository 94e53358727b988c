"""Lead an etcd election from another process until killed (at most 300 s).

Usage: etcd_lead.py URL NAME TTL CANDIDATE
Prints `leader TERM` once it leads.
"""

from __future__ import annotations

import asyncio
import sys

from corral.coordinate import EtcdClient, EtcdElection

_MAX_LIFETIME = 300.0


async def lead(url: str, name: str, ttl: int, candidate: str) -> None:
    async with EtcdClient([url]) as client:
        election = EtcdElection(client, name, ttl=ttl, candidate=candidate)
        term = await election.campaign(timeout=60)
        print(f"leader {term}", flush=True)
        await asyncio.sleep(_MAX_LIFETIME)


if __name__ == "__main__":
    asyncio.run(lead(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
