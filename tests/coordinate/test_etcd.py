"""Locks, elections and groups on a real etcd: safety when holders, leaders and etcd die.

The etcd is the session's own (tests/support/etcd.py), on a free loopback port with
its data on tmpfs; tests that kill it get it back running afterwards. Each test uses
names of its own, since the store outlives the test. Timing is asserted only as
"within the timeout"; the failover figure is bench/coordinate.py's.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from corral.coordinate import (
    CoordinationError,
    EtcdClient,
    EtcdElection,
    EtcdGroup,
    EtcdLease,
    EtcdLock,
    LeaseLost,
    LockTimeout,
    StoreUnavailable,
)
from tests.support.etcd import Etcd, free_port

LEADER = Path(__file__).resolve().parent.parent / "helpers" / "etcd_lead.py"
TTL = 2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_contenders_never_hold_together_and_fencing_tokens_only_increase(etcd: Etcd) -> None:
    name, rounds = unique("lock"), 8
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    tokens: list[int] = []

    async def contender(who: str) -> None:
        async with EtcdClient([etcd.url]) as client:
            lock = EtcdLock(client, name, ttl=TTL, owner=who, timeout=30)
            for _ in range(rounds):
                async with lock:
                    inside.append(who)
                    if len(inside) > 1:
                        overlaps.append(tuple(inside))
                    tokens.append(lock.token)
                    await asyncio.sleep(0.002)  # let the others try while it is held
                    inside.remove(who)

    async def scenario() -> None:
        await asyncio.gather(*(contender(f"c{i}") for i in range(3)))

    asyncio.run(scenario())
    assert overlaps == []
    assert len(tokens) == 3 * rounds
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)


def test_a_waiting_contender_times_out_naming_the_holder_and_withdraws(etcd: Etcd) -> None:
    name = unique("lock")

    async def scenario() -> None:
        async with EtcdClient([etcd.url]) as one, EtcdClient([etcd.url]) as two:
            holder = EtcdLock(one, name, ttl=TTL, owner="first")
            await holder.acquire()
            waiter = EtcdLock(two, name, ttl=TTL, owner="second")
            with pytest.raises(LockTimeout, match="held by first"):
                await waiter.acquire(timeout=0.3)
            assert not waiter.held
            assert await waiter.holder() == "first"
            await holder.release()
            assert await waiter.holder() is None  # the withdrawn waiter left no key behind
            assert await waiter.acquire(timeout=5) > 0
            await waiter.release()

    asyncio.run(scenario())


def test_a_shared_lease_holds_several_locks_and_each_hold_gets_a_new_token(etcd: Etcd) -> None:
    async def scenario() -> None:
        async with EtcdClient([etcd.url]) as client, EtcdLease(client, ttl=TTL) as lease:
            first = EtcdLock(client, unique("a"), lease=lease)
            second = EtcdLock(client, unique("b"), lease=lease)
            one, two = await first.acquire(), await second.acquire()
            assert [first.held, second.held, two > one] == [True, True, True]
            await first.release()
            assert [first.held, second.held, lease.alive] == [False, True, True]
            again = await first.acquire()
            assert again > two
            await first.release()
            await second.release()

    asyncio.run(scenario())


def test_a_killed_leader_is_replaced_by_a_waiting_candidate_with_a_higher_term(
    etcd: Etcd,
) -> None:
    name = unique("election")
    argv = [sys.executable, str(LEADER), etcd.url, name, str(TTL), "doomed"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[0] == "leader"
        doomed_term = int(line[1])

        async def scenario() -> tuple[int, list[str | None]]:
            async with EtcdClient([etcd.url]) as client:
                election = EtcdElection(client, name, ttl=TTL, candidate="heir")
                seen: list[str | None] = []

                async def watch() -> None:
                    async for leader in election.observe():
                        seen.append(leader)

                watcher = asyncio.create_task(watch())
                campaign = asyncio.create_task(election.campaign(timeout=TTL + 10))
                await asyncio.sleep(0.2)
                assert not campaign.done(), "two leaders: the heir led beside the live leader"
                assert await election.leader() == "doomed"
                child.kill()
                term = await campaign
                assert election.is_leader
                await asyncio.sleep(0.1)  # the watch's push of the new leader
                watcher.cancel()
                await election.resign()
                return term, seen

        term, seen = asyncio.run(scenario())
        assert term > doomed_term
        assert seen[0] == "doomed"
        assert "heir" in seen
        assert seen.index("heir") > 0
    finally:
        child.kill()
        child.wait(30)
        assert child.stdout is not None
        child.stdout.close()


def test_etcd_down_at_start_is_a_clear_error_within_the_timeout() -> None:
    async def scenario() -> None:
        async with EtcdClient([f"http://127.0.0.1:{free_port()}"], timeout=1.0) as client:
            began = time.monotonic()
            with pytest.raises(
                StoreUnavailable, match=r"unavailable: .*Connect call failed|refused"
            ):
                await EtcdLock(client, "x").acquire(timeout=5)
            assert time.monotonic() - began < 2.0

    asyncio.run(scenario())


def test_an_endpoint_that_never_answers_is_unavailable_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        async def scenario() -> None:
            async with EtcdClient([url], timeout=0.5) as client:
                began = time.monotonic()
                with pytest.raises(StoreUnavailable, match=r"no answer within 0.5 s"):
                    await EtcdLock(client, "x").acquire()
                assert time.monotonic() - began < 1.5

        asyncio.run(scenario())


def test_a_peer_that_answers_garbage_is_unavailable_not_a_traceback() -> None:
    async def scenario() -> None:
        async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            writer.write(b"\x00\xffnot http at all\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, EtcdClient([f"http://127.0.0.1:{port}"], timeout=2) as client:
            with pytest.raises(StoreUnavailable, match=r"not HTTP/1\.1"):
                await client.grant(5)

    asyncio.run(scenario())


def test_a_second_endpoint_is_used_when_the_first_is_down(etcd: Etcd) -> None:
    async def scenario() -> None:
        down = f"http://127.0.0.1:{free_port()}"
        async with EtcdClient([down, etcd.url], timeout=2) as client:
            lock = EtcdLock(client, unique("lock"))
            assert await lock.acquire() > 0
            await lock.release()
            assert client.endpoints[0] == etcd.url

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ([], "expected a list of URLs"),
        ("http://127.0.0.1:2379", "expected a list of URLs"),
        (["127.0.0.1:2379"], "expected http://HOST:PORT"),
        (["http://127.0.0.1:port"], "the port is not a number"),
    ],
)
def test_bad_endpoints_are_refused_at_once(endpoints: list[str], message: str) -> None:
    with pytest.raises(CoordinationError, match=message):
        EtcdClient(endpoints)


def test_etcd_killed_mid_lease_makes_the_leader_report_the_loss_and_never_hold_past_it(
    etcd: Etcd,
) -> None:
    name = unique("election")  # TTL 1 s: a short wait for the loss

    async def scenario() -> None:
        async with EtcdClient([etcd.url], timeout=0.5) as client:
            election = EtcdElection(client, name, ttl=1, candidate="first")
            term = await election.campaign()
            lease = election.lease
            assert lease is not None
            etcd.kill()
            held_after_deadline = []
            ended = time.monotonic() + 1 + 5
            while not lease.lost.is_set() and time.monotonic() < ended:
                leading, now = election.is_leader, time.monotonic()
                if leading and now >= lease.deadline:
                    held_after_deadline.append(now - lease.deadline)
                await asyncio.sleep(0.01)
            assert lease.lost.is_set(), "the loss was never reported"
            assert held_after_deadline == []
            assert not election.is_leader
            assert "could not refresh" in (lease.reason or "")
            with pytest.raises(LeaseLost, match="no longer held"):
                lease.raise_if_lost()
            etcd.start()
            await election.resign()  # quiet; revokes the lease the restarted etcd restored
            heir = EtcdElection(client, name, ttl=1, candidate="heir")
            heir_term = await heir.campaign(timeout=0.5)  # no wait for the old lease's TTL
            assert heir_term > term
            await heir.resign()

    try:
        asyncio.run(scenario())
    finally:
        if not etcd.running:
            etcd.start()


def test_group_membership_is_pushed_by_the_watch_as_members_come_and_go(etcd: Etcd) -> None:
    name = unique("group")

    async def scenario() -> list[dict[str, bytes]]:
        async with EtcdClient([etcd.url]) as one, EtcdClient([etcd.url]) as two:
            watcher_group, a, b = EtcdGroup(one, name), EtcdGroup(one, name), EtcdGroup(two, name)
            seen: list[dict[str, bytes]] = []
            changed = asyncio.Event()

            async def watch() -> None:
                async for members in watcher_group.watch():
                    seen.append(members)
                    changed.set()

            async def step() -> None:
                await asyncio.wait_for(changed.wait(), 10)
                changed.clear()

            watcher = asyncio.create_task(watch())
            await step()
            await a.join("a", b"10.0.0.1")
            await step()
            await b.join("b", b"10.0.0.2")
            await step()
            assert await a.members() == {"a": b"10.0.0.1", "b": b"10.0.0.2"}
            await a.leave()
            await step()
            await b.leave()
            await step()
            watcher.cancel()
            return seen

    seen = asyncio.run(scenario())
    assert seen == [
        {},
        {"a": b"10.0.0.1"},
        {"a": b"10.0.0.1", "b": b"10.0.0.2"},
        {"b": b"10.0.0.2"},
        {},
    ]


def test_a_lease_that_etcd_drops_is_reported_lost(etcd: Etcd) -> None:
    async def scenario() -> None:
        async with EtcdClient([etcd.url]) as client:
            lock = EtcdLock(client, unique("lock"), ttl=TTL)
            await lock.acquire()
            lease = lock.lease
            assert lease is not None
            await client.revoke(lease.id)  # someone else (an operator) revoked it
            await asyncio.wait_for(lease.lost.wait(), TTL + 5)
            assert not lock.held
            assert lease.reason == "the lease expired or was revoked on etcd"
            await lock.release()

    asyncio.run(scenario())
