"""Restart policies and Docker's back-off (pure: times are passed in, nothing sleeps here).

Docker semantics: `no`; `always` (also after a clean exit); `on-failure[:N]` (non-zero exit,
at most N restarts when N > 0); `unless-stopped` (like always, but a user's stop sticks across
daemon restarts). While the daemon runs, a stop by the user is never undone by any policy; a
daemon start applies `restarts_at_daemon_start` and, as any start, clears the user's stop.
The delay before a restart starts at 100 ms and doubles per consecutive restart, capped at
1 minute; a run that lasted at least 10 s resets it.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import BadParameter

POLICIES = ("no", "always", "on-failure", "unless-stopped")
INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def parse(cls, value: object) -> RestartPolicy:
        """From Docker's HostConfig.RestartPolicy {"Name", "MaximumRetryCount"} or "on-failure:3"."""
        if value is None or value == {} or value == "":
            return cls()
        if isinstance(value, str):
            name, _, count = value.partition(":")
            raw = {"Name": name, "MaximumRetryCount": count or 0}
        elif isinstance(value, dict):
            raw = value
        else:
            raise BadParameter(f"HostConfig.RestartPolicy: invalid value {value!r}")
        name = raw.get("Name") or "no"
        if name not in POLICIES:
            raise BadParameter(f"HostConfig.RestartPolicy: invalid restart policy {name!r}")
        try:
            count = int(raw.get("MaximumRetryCount") or 0)
        except (TypeError, ValueError):
            raise BadParameter("HostConfig.RestartPolicy.MaximumRetryCount: not a number: "
                               f"{raw.get('MaximumRetryCount')!r}") from None
        if count < 0:
            raise BadParameter("HostConfig.RestartPolicy.MaximumRetryCount: must be >= 0")
        if count and name != "on-failure":
            raise BadParameter(f"HostConfig.RestartPolicy: maximum retry count cannot be used "
                               f"with restart policy {name!r}")
        return cls(name, count)

    def to_docker(self) -> dict:
        return {"Name": "" if self.name == "no" else self.name,
                "MaximumRetryCount": self.maximum_retry_count}

    def restarts_at_daemon_start(self, exit_code: int, stopped_by_user: bool,
                                 restart_count: int) -> bool:
        """Whether a container that has run before and is not running is started again when
        the daemon starts (Docker's restore: its restart rule on the recorded exit, with a fresh
        back-off). `always` comes back even after a user's stop — the daemon restart clears
        that flag —, `unless-stopped` only if the user did not stop it, `on-failure[:N]` after a
        non-zero exit (a user's stop included: Docker's rule there looks only at the exit code
        and the count; a crash of the daemon reads as exit 255) while fewer than N restarts
        were made."""
        if self.name == "always":
            return True
        if self.name == "unless-stopped":
            return not stopped_by_user
        if self.name == "on-failure":
            return exit_code != 0 and (not self.maximum_retry_count
                                       or restart_count < self.maximum_retry_count)
        return False


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay: float = 0.0


class RestartTracker:
    """Per-container back-off state; one `on_exit` call per exit of PID 1."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._delay = 0.0
        self.failures = 0  # restarts counted against on-failure's maximum

    def on_exit(self, exit_code: int, ran_for: float, stopped_by_user: bool,
                restart_count: int) -> Decision:
        """`restart_count` is the container's RestartCount so far (Docker counts it for :N)."""
        if stopped_by_user or self.policy.name == "no":
            return Decision(False)
        if self.policy.name == "on-failure":
            if exit_code == 0:
                return Decision(False)
            if self.policy.maximum_retry_count and restart_count >= self.policy.maximum_retry_count:
                return Decision(False)
        if ran_for >= RESET_AFTER or self._delay == 0.0:
            self._delay = INITIAL_DELAY
        else:
            self._delay = min(self._delay * 2, MAX_DELAY)
        return Decision(True, self._delay)

    def reset(self) -> None:
        self._delay = 0.0
