"""HostConfig fields this engine accepts and does not apply, as Docker does on a kernel that
lacks them: the create answers with Docker's warning for each (the docker CLI prints them as
`WARNING: …`), rather than saying nothing. Pure.

Only fields Docker itself discards this way are here; what Docker would honour and we cannot
is refused instead (engine/containers/unsupported.py).
"""
from __future__ import annotations

# field -> Docker's warning when it discards it (the engine has no blkio controller, and does
# not disable the OOM killer)
WARNINGS: dict[str, str] = {
    "BlkioWeight": "Your kernel does not support Block I/O weight or the cgroup is not "
                   "mounted. Weight discarded.",
    "BlkioWeightDevice": "Your kernel does not support Block I/O weight_device or the cgroup "
                         "is not mounted. Weight-device discarded.",
    "BlkioDeviceReadBps": "Your kernel does not support BPS Block I/O read limit or the cgroup "
                          "is not mounted. Block I/O BPS read limit discarded.",
    "BlkioDeviceWriteBps": "Your kernel does not support BPS Block I/O write limit or the "
                           "cgroup is not mounted. Block I/O BPS write limit discarded.",
    "BlkioDeviceReadIOps": "Your kernel does not support IOPS Block read limit or the cgroup "
                           "is not mounted. Block I/O IOPS read limit discarded.",
    "BlkioDeviceWriteIOps": "Your kernel does not support IOPS Block write limit or the cgroup "
                            "is not mounted. Block I/O IOPS write limit discarded.",
    "OomKillDisable": "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
}


def warnings(host: object) -> list[str]:
    """Docker's warnings for the discarded fields `host` (a HostConfig) sets; empty values are
    what clients send by default and say nothing."""
    if not isinstance(host, dict):
        return []
    return [text for key, text in WARNINGS.items() if host.get(key)]
