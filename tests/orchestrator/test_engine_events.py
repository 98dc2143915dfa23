"""Event wake-ups for up's waits (engine_events.py, waiting.poll): a waiter re-inspects as soon as
the engine reports a change of its container; without a stream it polls as before."""
from __future__ import annotations

import json
import socket
import threading

import pytest
import trio
import trio.testing

from compose.orchestrator.engine_events import ContainerChanges
from compose.orchestrator.waiting import Check, Verdict, poll

CID = "a" * 64


class SocketResponse:
    """A response over one end of a socketpair, shaped like engine.client.http.Response (the
    parts ContainerChanges uses): iter_lines, close, conn.sock."""

    def __init__(self, sock: socket.socket) -> None:
        self.conn = self
        self.sock = sock
        self.closed = threading.Event()

    def iter_lines(self):
        pending = b""
        while data := self.sock.recv(4096):
            pending += data
            *lines, pending = pending.split(b"\n")
            yield from lines

    def close(self) -> None:
        self.sock.close()
        self.closed.set()


def event_line(cid: str, action: str) -> bytes:
    return json.dumps({"Type": "container", "Action": action,
                       "Actor": {"ID": cid, "Attributes": {}}}).encode() + b"\n"


async def until_live(changes: ContainerChanges) -> None:
    with trio.fail_after(10):
        while not changes.live:
            await trio.sleep(0.001)


def test_an_event_wakes_the_waiter_of_that_container_only():
    ours, engine_side = socket.socketpair()
    response = SocketResponse(ours)
    changes = ContainerChanges(lambda: response)

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(changes.run)
            await until_live(changes)
            mine, other = changes.arm(CID), changes.arm("b" * 64)
            assert changes.arm(CID) is mine          # one wake-up per container at a time
            engine_side.sendall(event_line(CID, "die") + b"\n" + b"not json\n")
            with trio.fail_after(10):
                await mine.wait()
            assert not other.is_set()
            assert changes.arm(CID) is not mine       # the next change needs a new one
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
        # cancelled: the socket was shut down, so the reading thread ended and closed it
        assert response.closed.wait(10)
    finally:
        engine_side.close()


def test_stream_end_wakes_everyone_and_falls_back_to_polling():
    ours, engine_side = socket.socketpair()
    changes = ContainerChanges(lambda: SocketResponse(ours))

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(changes.run)
            await until_live(changes)
            armed = changes.arm(CID)
            engine_side.close()                      # the engine dropped the subscription
            with trio.fail_after(10):
                await armed.wait()
            assert not changes.live and changes.arm(CID) is None

    trio.run(main)


def test_no_stream_means_no_wake_ups():
    def refuse():
        raise ConnectionRefusedError("no engine")

    changes = ContainerChanges(refuse)

    async def main():
        await changes.run()
        assert changes.arm(CID) is None

    trio.run(main)


def test_poll_follows_a_wake_up_instead_of_its_timer():
    """A change reported at t=1 is judged at t=1, though the poll delay is 30 s."""
    states = iter(["running", "running", "exited"])
    woken = trio.Event()
    seen: list[float] = []

    async def inspect():
        seen.append(trio.current_time())
        return {"State": {"Status": next(states)}}

    def judge(data):
        return Check(Verdict.MET if data["State"]["Status"] == "exited" else Verdict.WAIT)

    async def main():
        async with trio.open_nursery() as nursery:
            async def change_at_1s():
                await trio.sleep(1)
                woken.set()
            nursery.start_soon(change_at_1s)
            # the first wake-up is the one set at 1 s; the next arm gets a fresh one that
            # nobody sets, so the third inspect comes from the timer
            events = iter([woken, trio.Event(), trio.Event()])
            await poll(inspect, judge, first=30, interval=30, arm=lambda: next(events))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == [0, 1, 31]


def test_poll_without_wake_ups_backs_off_as_before():
    seen: list[float] = []

    async def inspect():
        seen.append(trio.current_time())
        return {}

    def judge(data):
        return Check(Verdict.MET if len(seen) == 5 else Verdict.WAIT)

    trio.run(lambda: poll(inspect, judge, first=0.02, interval=0.05, arm=lambda: None),
             clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == pytest.approx([0, 0.02, 0.06, 0.11, 0.16])


def test_the_subscription_asks_only_for_this_projects_containers_from_now_on():
    """No `since` would let an engine replay its event history (1000 events: a burst of stale
    wake-ups at the start of every `up`)."""
    import time

    asked = []

    class Client:
        def request(self, method, path, params=None, **kw):
            asked.append((method, path, params))
            raise ConnectionRefusedError("enough")

    before = time.time()
    changes = ContainerChanges.for_project(Client, "demo")
    trio.run(changes.run)
    (method, path, params), = asked
    assert (method, path) == ("GET", "/events")
    assert params["filters"] == {"type": ["container"],
                                 "label": ["com.docker.compose.project=demo"]}
    assert before <= float(params["since"]) <= time.time()
