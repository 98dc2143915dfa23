from __future__ import annotations

import os
import time

import pytest

from tests import leaks

_before: dict[str, set[str]] | None = None


def pytest_collection_modifyitems(config, items):
    """Integration tests need root (real namespaces, mounts, cgroups). CI runs as root, so this
    never hides anything there; it only keeps a non-root developer's run meaningful."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="integration test: needs root")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    global _before
    # Opt-in (CI sets it): while several engineers test on one machine, another's run would
    # show up here as ours.
    if os.geteuid() == 0 and os.environ.get("PYCOMPOSE_LEAK_CHECK") == "1":
        _before = leaks.snapshot()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if it left anything of ours on the host (veth teardown is asynchronous,
    so give the kernel a moment before calling it a leak)."""
    if _before is None:
        return
    deadline = time.monotonic() + 5
    leaked = leaks.new_since(_before)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.25)
        leaked = leaks.new_since(_before)
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["", "LEAKS: the test run left these on the host:"]
        for kind, items in leaked.items():
            lines.append(f"- {kind}:")
            lines.extend(f"    {item}" for item in sorted(items)[:20])
        text = "\n".join(lines)
        if reporter is not None:
            reporter.write_line(text, red=True)
        else:
            print(text)
        session.exitstatus = 1
