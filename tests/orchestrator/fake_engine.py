"""An in-memory engine with the API client's method names, for unit tests of the executor's
ordering, waiting and skip logic (never a claim that the real engine works: the integration
tests are for that). Time comes from trio's clock, so tests run on the autojump clock."""
from __future__ import annotations

import itertools

import trio

from engine.errors import Conflict, EngineError, NotFound


class FakeEngine:
    def __init__(self, networks: bool = True) -> None:
        self.containers_by_id: dict[str, dict] = {}
        self.networks_by_name: dict[str, dict] = {}
        self.volumes_by_name: dict[str, dict] = {}
        self.calls: list[tuple[float, str, str]] = []   # (time, method, container name/ref)
        self.health: dict[str, tuple[str, float]] = {}  # service -> (final status, after seconds)
        self.exit_codes: dict[str, int] = {}            # service -> exits at once with this code
        self.networks_supported = networks
        self._ids = itertools.count(1)

    # helpers
    def _now(self) -> float:
        try:
            return trio.current_time()
        except RuntimeError:
            return 0.0

    def _log(self, method: str, ref: str) -> None:
        self.calls.append((self._now(), method, ref))

    def _get(self, ref: str) -> dict:
        for c in self.containers_by_id.values():
            if c["Id"] == ref or c["Name"] == ref:
                return c
        raise NotFound(f"No such container: {ref}")

    def names(self, method: str) -> list[str]:
        return [ref for _, m, ref in self.calls if m == method]

    # containers
    def containers(self, all: bool = False, filters: dict | None = None) -> list[dict]:
        wanted = [f.split("=", 1) for f in (filters or {}).get("label", [])]
        out = []
        for c in self.containers_by_id.values():
            labels = c["Config"]["Labels"]
            if all is False and c["State"]["Status"] != "running":
                continue
            if not any(labels.get(k) != v for k, v in wanted):
                out.append({"Id": c["Id"], "Names": ["/" + c["Name"]], "Labels": labels,
                            "State": c["State"]["Status"], "Image": c["Config"]["Image"]})
        return out

    def create_container(self, config: dict, name: str | None = None) -> dict:
        if any(c["Name"] == name for c in self.containers_by_id.values()):
            raise Conflict(f"name {name} in use")
        if self.images is not None and config["Image"] not in self.images:
            raise NotFound(f"No such image: {config['Image']}")
        cid = f"{next(self._ids):064x}"
        self.containers_by_id[cid] = {"Id": cid, "Name": name, "Config": config,
                                      "State": {"Status": "created", "ExitCode": 0},
                                      "started_at": None}
        self._log("create", name or cid)
        return {"Id": cid, "Warnings": []}

    def start(self, ref: str) -> None:
        c = self._get(ref)
        self._log("start", c["Name"])
        service = c["Config"]["Labels"].get("com.docker.compose.service")
        if service in self.exit_codes:
            c["State"] = {"Status": "exited", "ExitCode": self.exit_codes[service]}
        else:
            c["State"] = {"Status": "running", "ExitCode": 0}
        c["started_at"] = self._now()

    def stop(self, ref: str, timeout: int | None = None) -> None:
        c = self._get(ref)
        self._log("stop", c["Name"])
        c["State"] = {"Status": "exited", "ExitCode": 137}

    def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self._get(ref)
        self._log("restart", c["Name"])
        c["State"] = {"Status": "running", "ExitCode": 0}

    def kill(self, ref: str, signal=None) -> None:
        self.stop(ref)

    def refuse_removal(self, name: str, message: str = "container is stuck") -> None:
        """From now on, removing container `name` fails with Conflict(message)."""
        from engine.errors import Conflict

        stuck = self._get(name)["Id"]
        original = self.remove_container

        def remove_container(ref, force=False, volumes=False):
            if ref == stuck:
                raise Conflict(message)
            return original(ref, force, volumes)

        self.remove_container = remove_container

    def remove_container(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self._get(ref)
        if c["State"]["Status"] == "running" and not force:
            raise Conflict("running")
        self._log("remove", c["Name"])
        del self.containers_by_id[c["Id"]]

    def rename(self, ref: str, name: str) -> None:
        c = self._get(ref)
        self._log("rename", name)
        c["Name"] = name

    def inspect_container(self, ref: str) -> dict:
        c = self._get(ref)
        state = dict(c["State"])
        service = c["Config"]["Labels"].get("com.docker.compose.service")
        if service in self.health and state["Status"] == "running":
            final, after = self.health[service]
            done = self._now() - (c["started_at"] or 0) >= after
            state["Health"] = {"Status": final if done else "starting"}
        return {"Id": c["Id"], "Name": "/" + c["Name"], "State": state, "Config": c["Config"]}

    # networks / volumes
    def _unsupported(self) -> None:
        if not self.networks_supported:
            err = EngineError("page not found")
            err.status = 404
            raise err

    def inspect_network(self, ref: str) -> dict:
        self._unsupported()
        if ref not in self.networks_by_name:
            raise NotFound(f"network {ref} not found")
        return self.networks_by_name[ref]

    def create_network(self, config: dict) -> dict:
        self._unsupported()
        self._log("create_network", config["Name"])
        self.networks_by_name[config["Name"]] = config
        return {"Id": config["Name"]}

    def networks(self, filters: dict | None = None) -> list[dict]:
        self._unsupported()
        wanted = [f.split("=", 1) for f in (filters or {}).get("label", [])]
        return [{"Name": n, "Labels": c.get("Labels", {})} for n, c in self.networks_by_name.items()
                if not any(c.get("Labels", {}).get(k) != v for k, v in wanted)]

    def remove_network(self, ref: str) -> None:
        self._unsupported()
        if ref not in self.networks_by_name:
            raise NotFound(ref)
        self._log("remove_network", ref)
        del self.networks_by_name[ref]

    def inspect_volume(self, name: str) -> dict:
        if name not in self.volumes_by_name:
            raise NotFound(f"volume {name} not found")
        return self.volumes_by_name[name]

    def create_volume(self, name=None, labels=None, driver="local", driver_opts=None) -> dict:
        self._log("create_volume", name)
        self.volumes_by_name[name] = {"Name": name, "Labels": labels}
        return self.volumes_by_name[name]

    def remove_volume(self, name: str, force: bool = False) -> None:
        if name not in self.volumes_by_name:
            raise NotFound(name)
        self._log("remove_volume", name)
        del self.volumes_by_name[name]

    images: dict[str, str] | None = None   # reference -> id; None: every image is present

    def inspect_image(self, ref: str) -> dict:
        if self.images is None:
            return {"Id": "sha256:" + ref}
        if ref not in self.images:
            raise NotFound(f"No such image: {ref}")
        return {"Id": self.images[ref]}

    registry: dict[str, str] = {}   # what pull_image can fetch: reference -> id

    def pull_image(self, ref: str, platform=None) -> list:
        self._log("pull", ref)
        if ref not in self.registry:
            raise NotFound(f"pull access denied for {ref}")
        self.images = dict(self.images or {}, **{ref: self.registry[ref]})
        return []

    def remove_image(self, ref: str, force: bool = False) -> list:
        self._log("remove_image", ref)
        return []

    # logs: the container "runs" its output, then exits with its service's exit code
    output: dict[str, bytes] = {}

    def request(self, method: str, path: str, params=None, **kw):
        """Only GET /containers/{id}/logs: multiplexed frames in odd-sized chunks."""
        import struct

        ref = path.split("/")[2]
        c = self._get(ref)
        service = c["Config"]["Labels"].get("com.docker.compose.service")
        data = self.output.get(service, b"")
        framed = b"".join(struct.pack(">BxxxL", 1, len(line)) + line
                          for line in data.splitlines(keepends=True))
        if (params or {}).get("follow"):
            c["State"] = {"Status": "exited", "ExitCode": self.exit_codes.get(service, 0)}
        return FakeResponse([framed[i:i + 7] for i in range(0, len(framed), 7)])

    def wait(self, ref: str, condition=None) -> dict:
        return {"StatusCode": self._get(ref)["State"].get("ExitCode", 0)}


class FakeResponse:
    headers = {"content-type": "application/vnd.docker.multiplexed-stream"}

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def iter_chunks(self):
        yield from self.chunks

    def close(self) -> None:
        pass
