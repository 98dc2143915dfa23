"""Healthcheck timing and State.Health transitions on trio's autojump clock."""
from __future__ import annotations

import trio
import trio.testing

from engine.containers.health import probe_args, run_healthcheck
from engine.containers.model import Healthcheck


def _run(hc: Healthcheck, results: list[int], until: float, hang: bool = False):
    history: list[tuple[float, dict]] = []

    async def main():
        calls = iter(results)

        async def probe(timeout):
            if hang:
                await trio.sleep(1000)
            return next(calls, 0), "out"

        with trio.move_on_after(until):
            await run_healthcheck(hc, probe, lambda h: history.append((trio.current_time(), h)))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return history


def test_becomes_healthy_after_first_success_at_interval():
    hist = _run(Healthcheck(("CMD", "true"), interval=2, timeout=1, retries=3), [0], 3)
    assert hist[0][1]["Status"] == "starting"
    t, h = hist[1]
    assert t == 2 and h["Status"] == "healthy" and h["Log"][0]["ExitCode"] == 0


def test_unhealthy_after_retries_failures_and_log_is_capped():
    hist = _run(Healthcheck(("CMD", "false"), interval=1, timeout=1, retries=3), [1] * 10, 7.5)
    statuses = [h["Status"] for _, h in hist]
    assert statuses[:4] == ["starting", "starting", "starting", "unhealthy"]
    assert hist[-1][1]["FailingStreak"] == 7 and len(hist[-1][1]["Log"]) == 5


def test_failures_in_start_period_do_not_count_and_use_start_interval():
    hc = Healthcheck(("CMD", "false"), interval=10, timeout=1, start_period=5, start_interval=1,
                     retries=1)
    hist = _run(hc, [1, 1, 1, 1, 0], 5.5)
    times = [t for t, _ in hist[1:]]
    assert times == [1, 2, 3, 4, 5]
    assert [h["FailingStreak"] for _, h in hist[1:5]] == [0, 0, 0, 0]
    assert hist[-1][1]["Status"] == "healthy"


def test_timeout_is_a_failure_with_docker_message():
    hist = _run(Healthcheck(("CMD", "x"), interval=1, timeout=0.5, retries=1), [], 1.6, hang=True)
    h = hist[-1][1]
    assert h["Status"] == "unhealthy" and h["Log"][0]["ExitCode"] == -1
    assert "exceeded timeout" in h["Log"][0]["Output"]


def test_probe_args():
    assert probe_args(Healthcheck(("CMD-SHELL", "exit 0"))) == ("/bin/sh", "-c", "exit 0")
    assert probe_args(Healthcheck(("CMD", "true", "x"))) == ("true", "x")
