"""The request shapes of every endpoint we serve, as the Docker Engine API (v1.41) documents
them: the Go type of each body field we read and the kind of each query parameter.

Go type names are Docker's own, so a 400 reads like dockerd's. Where our model deliberately
takes more than Docker (sizes as "32m" besides bytes), the shape says so with a OneOf.
Checked by engine.api.validate before the handler runs.
"""
from __future__ import annotations

from engine.api.validate import (ANY, BOOL, EMPTY, INT, Q_BOOL, Q_FILTERS, Q_INT, Q_JSON_MAP,
                                 Q_STR, Q_TIME, STR_SLICE, STRING, STRING_MAP, STRINGS, UINT16,
                                 UINT32, Endpoint, ListOf, MapOf, Obj, OneOf, Query)
from engine.jsonshape import HEALTHCHECK   # an image config holds one too (images/configcheck)

# sizes: bytes, or a string with a unit (our model's parse_bytes)
SIZE = OneOf((INT, STRING), "int64")
TERM_SIZE = Query("int", 0, 0xFFFF)      # resize h/w: a winsize field is 16 bits

# -- containers -----------------------------------------------------------------------------

ENDPOINT_SETTINGS = Obj("network.EndpointSettings", {
    "IPAMConfig": Obj("network.EndpointIPAMConfig", {
        "IPv4Address": STRING, "IPv6Address": STRING, "LinkLocalIPs": STRINGS}),
    "Links": STRINGS, "Aliases": STRINGS, "NetworkID": STRING, "EndpointID": STRING,
    "Gateway": STRING, "IPAddress": STRING, "IPPrefixLen": INT, "IPv6Gateway": STRING,
    "GlobalIPv6Address": STRING, "GlobalIPv6PrefixLen": INT, "MacAddress": STRING,
    "DriverOpts": STRING_MAP,
})

MOUNT = Obj("mount.Mount", {
    "Type": STRING, "Source": STRING, "Target": STRING, "ReadOnly": BOOL,
    "Consistency": STRING,
    "BindOptions": Obj("mount.BindOptions", {"Propagation": STRING, "NonRecursive": BOOL}),
    "VolumeOptions": Obj("mount.VolumeOptions", {
        "NoCopy": BOOL, "Labels": STRING_MAP,
        "DriverConfig": Obj("mount.Driver", {"Name": STRING, "Options": STRING_MAP})}),
    "TmpfsOptions": Obj("mount.TmpfsOptions", {"SizeBytes": SIZE, "Mode": UINT32}),
})

HOST_CONFIG = Obj("container.HostConfig", {
    "Binds": STRINGS,
    "ContainerIDFile": STRING,
    "LogConfig": Obj("container.LogConfig", {"Type": STRING, "Config": STRING_MAP}),
    "NetworkMode": STRING,
    "PortBindings": MapOf(ListOf(Obj("nat.PortBinding", {"HostIp": STRING,
                                                          "HostPort": STRING}))),
    "RestartPolicy": Obj("container.RestartPolicy", {"Name": STRING,
                                                     "MaximumRetryCount": INT}),
    "AutoRemove": BOOL,
    "VolumeDriver": STRING,
    "VolumesFrom": STRINGS,
    "ConsoleSize": ListOf(UINT16, "[2]uint"),
    "CapAdd": STR_SLICE,
    "CapDrop": STR_SLICE,
    "CgroupnsMode": STRING,
    "Dns": STRINGS, "DnsOptions": STRINGS, "DnsSearch": STRINGS,
    "ExtraHosts": STRINGS,
    "GroupAdd": STRINGS,
    "IpcMode": STRING, "Cgroup": STRING, "Links": STRINGS, "OomScoreAdj": INT,
    "PidMode": STRING, "Privileged": BOOL, "PublishAllPorts": BOOL, "ReadonlyRootfs": BOOL,
    "SecurityOpt": STRINGS, "StorageOpt": STRING_MAP, "Tmpfs": STRING_MAP, "UTSMode": STRING,
    "UsernsMode": STRING, "ShmSize": SIZE, "Sysctls": STRING_MAP, "Runtime": STRING,
    "Isolation": STRING,
    "CpuShares": INT, "Memory": SIZE, "NanoCpus": INT, "CgroupParent": STRING,
    "BlkioWeight": UINT16, "CpuPeriod": INT, "CpuQuota": INT, "CpusetCpus": STRING,
    "CpusetMems": STRING,
    "Devices": ListOf(Obj("container.DeviceMapping", {
        "PathOnHost": STRING, "PathInContainer": STRING, "CgroupPermissions": STRING})),
    "DeviceCgroupRules": STRINGS,
    "MemoryReservation": SIZE, "MemorySwap": SIZE, "MemorySwappiness": INT,
    "OomKillDisable": BOOL, "PidsLimit": INT,
    "Ulimits": ListOf(Obj("units.Ulimit", {"Name": STRING, "Hard": INT, "Soft": INT})),
    "Mounts": ListOf(MOUNT),
    "MaskedPaths": STRINGS, "ReadonlyPaths": STRINGS,
    "Init": BOOL,
})

CONTAINER_CREATE = Obj("container.Config", {
    "Hostname": STRING, "Domainname": STRING, "User": STRING,
    "AttachStdin": BOOL, "AttachStdout": BOOL, "AttachStderr": BOOL,
    "ExposedPorts": MapOf(EMPTY), "Tty": BOOL, "OpenStdin": BOOL, "StdinOnce": BOOL,
    "Env": STRINGS, "Cmd": STR_SLICE, "Healthcheck": HEALTHCHECK, "ArgsEscaped": BOOL,
    "Image": STRING, "Volumes": MapOf(EMPTY), "WorkingDir": STRING, "Entrypoint": STR_SLICE,
    "NetworkDisabled": BOOL, "MacAddress": STRING, "OnBuild": STRINGS, "Labels": STRING_MAP,
    "StopSignal": STRING, "StopTimeout": INT, "Shell": STR_SLICE,
    "HostConfig": HOST_CONFIG,
    "NetworkingConfig": Obj("network.NetworkingConfig", {
        "EndpointsConfig": MapOf(ENDPOINT_SETTINGS)}),
})

EXEC_CREATE = Obj("container.ExecOptions", {
    "User": STRING, "Privileged": BOOL, "Tty": BOOL, "ConsoleSize": ListOf(UINT16, "*[2]uint"),
    "AttachStdin": BOOL, "AttachStderr": BOOL, "AttachStdout": BOOL, "Detach": BOOL,
    "DetachKeys": STRING, "Env": STRINGS, "WorkingDir": STRING, "Cmd": STR_SLICE,
})

EXEC_START = Obj("container.ExecStartOptions", {
    "Detach": BOOL, "Tty": BOOL, "ConsoleSize": ListOf(UINT16, "*[2]uint"),
})

CONTAINER_UPDATE = Obj("container.UpdateConfig", {
    "Memory": SIZE, "MemorySwap": SIZE, "NanoCpus": INT, "CpuShares": INT, "PidsLimit": INT,
    "RestartPolicy": Obj("container.RestartPolicy", {"Name": STRING, "MaximumRetryCount": INT}),
    "BlkioWeight": UINT16, "CpuPeriod": INT, "CpuQuota": INT, "CpusetCpus": STRING,
    "CpusetMems": STRING, "MemoryReservation": SIZE, "KernelMemory": INT,
})

# -- images, volumes, networks --------------------------------------------------------------

AUTH = Obj("registry.AuthConfig", {
    "username": STRING, "password": STRING, "auth": STRING, "email": STRING,
    "serveraddress": STRING, "identitytoken": STRING, "registrytoken": STRING,
})

VOLUME_CREATE = Obj("volume.CreateOptions", {
    "Name": STRING, "Driver": STRING, "DriverOpts": STRING_MAP, "Labels": STRING_MAP,
    "ClusterVolumeSpec": ANY,
})

NETWORK_CREATE = Obj("types.NetworkCreateRequest", {
    "Name": STRING, "CheckDuplicate": BOOL, "Driver": STRING, "Scope": STRING,
    "EnableIPv6": BOOL,
    "IPAM": Obj("network.IPAM", {
        "Driver": STRING, "Options": STRING_MAP,
        "Config": ListOf(Obj("network.IPAMConfig", {
            "Subnet": STRING, "IPRange": STRING, "Gateway": STRING,
            "AuxiliaryAddresses": STRING_MAP}))}),
    "Internal": BOOL, "Attachable": BOOL, "Ingress": BOOL, "ConfigOnly": BOOL,
    "ConfigFrom": Obj("network.ConfigReference", {"Network": STRING}),
    "Options": STRING_MAP, "Labels": STRING_MAP,
})

NETWORK_CONNECT = Obj("types.NetworkConnect", {
    "Container": STRING, "EndpointConfig": ENDPOINT_SETTINGS})

NETWORK_DISCONNECT = Obj("types.NetworkDisconnect", {"Container": STRING, "Force": BOOL})

# -- the table ------------------------------------------------------------------------------

_F = {"filters": Q_FILTERS}
_STOP = {"t": Q_INT, "signal": Q_STR}
_LOGS = {"follow": Q_BOOL, "stdout": Q_BOOL, "stderr": Q_BOOL, "timestamps": Q_BOOL,
         "since": Q_TIME, "until": Q_TIME, "tail": Q_STR}
_ATTACH = {"detachKeys": Q_STR, "logs": Q_BOOL, "stream": Q_BOOL, "stdin": Q_BOOL,
           "stdout": Q_BOOL, "stderr": Q_BOOL}
_RESIZE = {"h": TERM_SIZE, "w": TERM_SIZE}
_BUILD = {"dockerfile": Q_STR, "t": Q_STR, "target": Q_STR, "networkmode": Q_STR,
          "nocache": Q_BOOL, "pull": Q_BOOL, "q": Q_BOOL, "rm": Q_BOOL, "forcerm": Q_BOOL,
          "buildargs": Q_JSON_MAP, "labels": Q_JSON_MAP}


def _e(body=None, **query: Query) -> Endpoint:
    return Endpoint(body=body, query=query)


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # system
    ("GET", "/_ping"): _e(),
    ("GET", "/version"): _e(),
    ("GET", "/info"): _e(),
    ("POST", "/pycompose/shutdown"): _e(),
    ("POST", "/swarm/leave"): _e(force=Q_BOOL),
    ("POST", "/build/prune"): _e(all=Q_BOOL, **{"keep-storage": Q_INT}, **_F),
    # containers
    ("POST", "/containers/create"): _e(CONTAINER_CREATE, name=Q_STR, platform=Q_STR),
    ("GET", "/containers/json"): _e(all=Q_BOOL, limit=Q_INT, size=Q_BOOL, **_F),
    ("POST", "/containers/prune"): _e(**_F),
    ("POST", "/containers/{id}/rename"): _e(name=Q_STR),
    ("GET", "/events"): _e(since=Q_TIME, until=Q_TIME, **_F),
    ("GET", "/containers/{id}/json"): _e(size=Q_BOOL),
    ("POST", "/containers/{id}/start"): _e(detachKeys=Q_STR),
    ("POST", "/containers/{id}/stop"): _e(**_STOP),
    ("POST", "/containers/{id}/kill"): _e(signal=Q_STR),
    ("POST", "/containers/{id}/restart"): _e(**_STOP),
    ("POST", "/containers/{id}/wait"): _e(condition=Q_STR),
    ("DELETE", "/containers/{id}"): _e(v=Q_BOOL, force=Q_BOOL, link=Q_BOOL),
    # link removal: the SDK leaves the "/" of `<linker>/<alias>` unescaped (routes_networks)
    ("DELETE", "/containers/{parent}/{alias}"): _e(link=Q_BOOL),
    ("GET", "/containers/{id}/logs"): _e(**_LOGS),
    ("POST", "/containers/{id}/attach"): _e(**_ATTACH),
    ("POST", "/containers/{id}/resize"): _e(**_RESIZE),
    ("GET", "/containers/{id}/top"): _e(ps_args=Q_STR),
    ("GET", "/containers/{id}/stats"): _e(stream=Q_BOOL, **{"one-shot": Q_BOOL}),
    ("POST", "/containers/{id}/pause"): _e(),
    ("POST", "/containers/{id}/unpause"): _e(),
    ("POST", "/containers/{id}/exec"): _e(EXEC_CREATE),
    ("POST", "/exec/{id}/start"): _e(EXEC_START),
    ("GET", "/exec/{id}/json"): _e(),
    ("POST", "/exec/{id}/resize"): _e(**_RESIZE),
    # images (load/import bodies are tarballs: checked by the archive code, not here)
    ("POST", "/auth"): _e(AUTH),
    ("DELETE", "/pycompose/auth"): _e(serveraddress=Q_STR),
    ("POST", "/images/prune"): _e(**_F),
    ("GET", "/images/{name:path}/history"): _e(),
    ("POST", "/images/{name:path}/push"): _e(tag=Q_STR),
    ("GET", "/images/json"): _e(all=Q_BOOL, digests=Q_BOOL, **_F),
    ("POST", "/images/load"): _e(quiet=Q_BOOL),
    ("POST", "/images/create"): _e(fromImage=Q_STR, fromSrc=Q_STR, repo=Q_STR, tag=Q_STR,
                                   message=Q_STR, platform=Q_STR, changes=Q_STR),
    ("GET", "/images/get"): _e(names=Q_STR),
    ("GET", "/images/{name:path}/json"): _e(),
    ("GET", "/images/{name:path}/get"): _e(),
    ("POST", "/images/{name:path}/tag"): _e(repo=Q_STR, tag=Q_STR),
    ("DELETE", "/images/{name:path}"): _e(force=Q_BOOL, noprune=Q_BOOL),
    # volumes
    ("POST", "/volumes/create"): _e(VOLUME_CREATE),
    ("POST", "/volumes/prune"): _e(**_F),
    ("GET", "/volumes"): _e(**_F),
    ("GET", "/volumes/{name}"): _e(),
    ("DELETE", "/volumes/{name}"): _e(force=Q_BOOL),
    # networks
    ("POST", "/networks/create"): _e(NETWORK_CREATE),
    ("POST", "/networks/prune"): _e(**_F),
    ("GET", "/networks"): _e(**_F),
    ("GET", "/networks/{id}"): _e(verbose=Q_BOOL, scope=Q_STR),
    ("DELETE", "/networks/{id}"): _e(),
    ("POST", "/networks/{id}/connect"): _e(NETWORK_CONNECT),
    ("POST", "/networks/{id}/disconnect"): _e(NETWORK_DISCONNECT),
    # files: archive bodies are tarballs (checked by engine.containers.archive)
    ("GET", "/containers/{id}/archive"): _e(path=Q_STR),
    ("PUT", "/containers/{id}/archive"): _e(path=Q_STR, noOverwriteDirNonDir=Q_BOOL,
                                            copyUIDGID=Q_BOOL),
    ("GET", "/containers/{id}/changes"): _e(),
    ("GET", "/containers/{id}/export"): _e(),
    ("POST", "/commit"): _e(CONTAINER_CREATE, container=Q_STR, repo=Q_STR, tag=Q_STR,
                            comment=Q_STR, author=Q_STR, pause=Q_BOOL, changes=Q_STR),
    ("POST", "/containers/{id}/update"): _e(CONTAINER_UPDATE),
    ("GET", "/system/df"): _e(type=Q_STR),
    ("GET", "/distribution/{name:path}/json"): _e(),
    ("GET", "/pycompose/containers/{id}/explain"): _e(),
    # builds (the body is the context tarball)
    ("POST", "/build"): _e(**_BUILD),
    ("POST", "/pycompose/images/bootstrap"): _e(ref=Q_STR, suite=Q_STR, mirror=Q_STR,
                                                 include=Q_STR, variant=Q_STR, force=Q_BOOL),
}

