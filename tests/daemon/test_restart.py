"""Restart policies and back-off, driven on trio's autojump clock."""
from __future__ import annotations

import pytest
import trio
import trio.testing

from engine.containers.restart import RestartPolicy, RestartTracker
from engine.errors import BadParameter


def test_parse_policies():
    assert RestartPolicy.parse(None).name == "no"
    assert RestartPolicy.parse("on-failure:3") == RestartPolicy("on-failure", 3)
    assert RestartPolicy.parse({"Name": "unless-stopped"}).name == "unless-stopped"
    with pytest.raises(BadParameter):
        RestartPolicy.parse("sometimes")
    with pytest.raises(BadParameter):
        RestartPolicy.parse({"Name": "on-failure", "MaximumRetryCount": -1})


@pytest.mark.parametrize("policy, exit_code, stopped, count, expected", [
    (RestartPolicy("no"), 255, False, 0, False),
    (RestartPolicy("always"), 0, True, 0, True),          # the daemon restart clears the stop
    (RestartPolicy("always"), 137, False, 5, True),
    (RestartPolicy("unless-stopped"), 0, False, 0, True),
    (RestartPolicy("unless-stopped"), 143, True, 0, False),
    (RestartPolicy("on-failure"), 0, False, 0, False),   # a clean exit stays down
    (RestartPolicy("on-failure"), 255, False, 9, True),  # the daemon died under it
    (RestartPolicy("on-failure"), 143, True, 0, True),   # Docker: only exit code and count
    (RestartPolicy("on-failure", 2), 1, False, 1, True),
    (RestartPolicy("on-failure", 2), 1, False, 2, False),
])
def test_daemon_start_rules_match_dockers_restore(policy, exit_code, stopped, count, expected):
    assert policy.restarts_at_daemon_start(exit_code, stopped, count) is expected


async def _simulate(policy: RestartPolicy, runs: list[tuple[float, int]], stop_after: int | None = None):
    """A fake container: each run lasts `duration` then exits with `code`; returns the start times."""
    tracker = RestartTracker(policy)
    starts, restart_count = [], 0
    for i, (duration, code) in enumerate(runs):
        starts.append(trio.current_time())
        await trio.sleep(duration)
        decision = tracker.on_exit(code, duration, stopped_by_user=(stop_after == i),
                                   restart_count=restart_count)
        if not decision.restart:
            break
        await trio.sleep(decision.delay)
        restart_count += 1
    return starts


def _run(coro_fn, *args):
    clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(coro_fn, *args, clock=clock)


def test_always_backs_off_doubling_from_100ms():
    starts = _run(_simulate, RestartPolicy("always"), [(0.0, 0)] * 6)
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:])]
    assert gaps == [0.1, 0.2, 0.4, 0.8, 1.6]


def test_backoff_is_capped_at_one_minute():
    starts = _run(_simulate, RestartPolicy("always"), [(0.0, 1)] * 14)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert max(gaps) == 60.0 and gaps[-1] == 60.0


def test_backoff_resets_after_ten_seconds_of_running():
    starts = _run(_simulate, RestartPolicy("always"), [(0, 1), (0, 1), (0, 1), (12, 1), (0, 1)])
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:])]
    assert gaps == [0.1, 0.2, 0.4, 12.1]


def test_on_failure_stops_after_max_retries_and_on_success():
    starts = _run(_simulate, RestartPolicy("on-failure", 2), [(0, 1)] * 10)
    assert len(starts) == 3  # the first run + 2 restarts
    assert len(_run(_simulate, RestartPolicy("on-failure"), [(0, 1), (0, 0), (0, 1)])) == 2


def test_stop_is_never_undone():
    for name in ("always", "unless-stopped", "on-failure"):
        starts = _run(_simulate, RestartPolicy(name), [(1, 1)] * 5, 1)
        assert len(starts) == 2, name


def test_no_policy_never_restarts():
    assert len(_run(_simulate, RestartPolicy("no"), [(0, 1)] * 3)) == 1
