"""Connection limits and the disconnect policy of the API server (pure decisions, no daemon)."""
from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from engine.api.connections import ConnectionTable, Limits, RateLimitedLog, plan_admission
from engine.api.disconnect import abandoned_on_disconnect
from engine.api.peer import Peer

A, B = Peer(100, 0), Peer(200, 1000)


def _plan(conns, peer, limits):
    """conns: (id, peer, idle_since or None), in any order."""
    idle = sorted((c for c in conns if c[2] is not None), key=lambda c: c[2])
    return plan_admission(peer, sum(c[1] == peer for c in conns), len(conns),
                          iter([c[0] for c in idle if c[1] == peer]),
                          iter([c[0] for c in idle]), limits)


def test_limits_keep_a_reserve_of_descriptors():
    small = Limits.for_fd_limit(1024)
    assert small.total == 1024 - 128 and small.per_peer == 448
    big = Limits.for_fd_limit(1 << 20)
    assert big.total == (1 << 20) - (1 << 17) and big.per_peer == 1024
    assert Limits.for_fd_limit(100).total == 36


def test_under_the_limits_nothing_is_closed():
    plan = _plan([(1, A, 5.0), (2, B, None)], A, Limits(total=10, per_peer=3))
    assert plan.evict == () and plan.refused is None


def test_over_its_own_limit_a_peer_loses_its_oldest_idle_connection():
    conns = [(1, A, 9.0), (2, A, 3.0), (3, A, None), (4, B, 1.0)]
    plan = _plan(conns, A, Limits(total=10, per_peer=3))
    assert plan.evict == (2,)  # A's oldest idle, not B's even older one


def test_a_peer_with_only_busy_connections_is_refused_and_named():
    conns = [(1, A, None), (2, A, None), (3, B, 1.0)]
    plan = _plan(conns, A, Limits(total=10, per_peer=2))
    assert plan.evict == () and "pid 100 (uid 0)" in plan.refused and "2 open" in plan.refused


def test_over_the_total_the_oldest_idle_of_anyone_goes():
    conns = [(1, A, 4.0), (2, B, 2.0), (3, B, None), (4, A, 3.0)]
    plan = _plan(conns, Peer(300, 0), Limits(total=3, per_peer=10))
    assert plan.evict == (2, 4)


def test_over_both_limits_the_peers_eviction_counts_for_the_total():
    conns = [(1, A, 4.0), (2, B, 2.0), (3, A, 1.0)]
    plan = _plan(conns, A, Limits(total=3, per_peer=2))
    assert plan.evict == (3,)


def test_all_busy_over_the_total_is_refused():
    conns = [(1, A, None), (2, B, None)]
    assert "too many API connections" in _plan(conns, Peer(3, 0),
                                               Limits(total=2, per_peer=5)).refused


def test_admission_reads_only_the_idle_connections_it_closes():
    def idle():
        yield from (1, 2)
        raise AssertionError("read further than needed")
    plan = plan_admission(A, 5, 5, idle(), iter(()), Limits(total=100, per_peer=4))
    assert plan.evict == (1, 2)


def test_table_evicts_idle_waiters_and_keeps_busy_ones():
    async def main():
        table = ConnectionTable(Limits(total=2, per_peer=2))
        received = {}

        async def client(conn, name, gate):
            async def receive():
                await gate.wait()
                return b"GET"
            received[name] = await conn.receive_idle(receive)
            table.release(conn)

        first, _ = table.admit(A)
        second, _ = table.admit(B)
        gates = {"first": trio.Event(), "second": trio.Event()}
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client, first, "first", gates["first"])
            await trio.sleep(1)
            nursery.start_soon(client, second, "second", gates["second"])
            await trio.sleep(1)
            third, plan = table.admit(Peer(3, 0))
            assert plan.refused is None and third is not None and plan.evict == (first.id,)
            await trio.sleep(1)
            assert received == {"first": b""}  # the oldest idle one was closed
            gates["second"].set()
        assert received["second"] == b"GET"
        assert len(table) == 1

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_an_evicted_connection_finishes_the_request_it_got_then_closes():
    async def main():
        table = ConnectionTable(Limits(total=1, per_peer=1))
        conn, _ = table.admit(A)

        async def receive():
            table.admit(B)  # evicts `conn` while its bytes are already here
            return b"GET"

        assert await conn.receive_idle(receive) == b"GET"
        assert await conn.receive_idle(receive) == b""

    trio.run(main)


def test_rate_limited_log_says_once_and_counts_the_rest(caplog):
    now = [0.0]
    logger = logging.getLogger("test.pressure")
    pressure = RateLimitedLog(logger, interval=60)
    import engine.api.connections as mod
    real = mod.time.monotonic
    mod.time.monotonic = lambda: now[0]
    try:
        with caplog.at_level(logging.WARNING, "test.pressure"):
            for _ in range(500):
                pressure.warning("accept", "out of fds")
            now[0] = 61.0
            pressure.warning("accept", "out of fds")
    finally:
        mod.time.monotonic = real
    assert [r.getMessage() for r in caplog.records] == [
        "out of fds", "out of fds (499 more since the last report)"]


@pytest.mark.parametrize("method, path, abandoned", [
    ("GET", "/containers/json", True),
    ("HEAD", "/_ping", True),
    ("POST", "/containers/abc/restart", True),
    ("POST", "/v1.41/containers/abc/stop", True),
    ("POST", "/containers/abc/kill", True),
    ("POST", "/containers/abc/start", True),
    ("POST", "/containers/create", False),
    ("DELETE", "/containers/abc", False),
    ("POST", "/containers/abc/pause", False),
    ("POST", "/volumes/create", False),
    ("POST", "/containers/abc/restart/x", False),
])
def test_which_requests_are_abandoned_when_the_client_leaves(method, path, abandoned):
    assert abandoned_on_disconnect(method, path) is abandoned


def test_monitor_cancels_requests_whose_client_hung_up_not_half_closed_ones():
    import socket

    from engine.api.disconnect import DisconnectMonitor

    async def main():
        monitor = DisconnectMonitor()
        pairs = {name: socket.socketpair() for name in ("gone", "half", "short")}
        outcome = {}

        async def request(name, started):
            with monitor.watching(pairs[name][0].fileno()) as scope:
                started.set()
                await trio.sleep_forever()
            outcome[name] = scope.cancelled_caught

        async with trio.open_nursery() as nursery:
            for name in ("gone", "half"):
                started = trio.Event()
                nursery.start_soon(request, name, started)
                await started.wait()
            assert monitor.check() == 0       # first seen: too young to look at
            pairs["gone"][1].close()
            pairs["half"][1].shutdown(socket.SHUT_WR)  # still waiting for its answer
            started = trio.Event()
            nursery.start_soon(request, "short", started)
            await started.wait()
            pairs["short"][1].close()         # gone, but only seen for the first time
            assert monitor.check() == 1
            await trio.sleep(0.01)
            assert outcome == {"gone": True}
            assert monitor.check() == 1       # "short", one round later
            await trio.sleep(0.01)
            assert monitor.check() == 0       # "half" is still served
            assert outcome == {"gone": True, "short": True}
            nursery.cancel_scope.cancel()
        for a, b in pairs.values():
            a.close()
            b.close()

    trio.run(main)


def test_out_of_descriptors_in_a_handler_is_a_503_without_traceback(caplog):
    import errno
    import json

    from engine.api.http import error_response

    with caplog.at_level(logging.WARNING, "engine.api"):
        resp = error_response(OSError(errno.EMFILE, "Too many open files"))
        again = error_response(OSError(errno.EMFILE, "Too many open files"))
    assert (resp.status, again.status) == (503, 503)
    assert json.loads(resp.body) == {"message": "engine busy: Too many open files"}
    assert "Traceback" not in caplog.text
    assert len([r for r in caplog.records if "request failed" in r.getMessage()]) <= 1


def test_admission_says_which_limit_made_room():
    assert _plan([(1, A, 1.0), (2, A, 2.0)], A, Limits(total=10, per_peer=2)).per_peer
    total = _plan([(1, A, 1.0), (2, B, 2.0)], Peer(3, 0), Limits(total=2, per_peer=2))
    assert total.evict == (1,) and not total.per_peer
