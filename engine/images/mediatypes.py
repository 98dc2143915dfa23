"""OCI and Docker media types, and what each means to us (pure)."""
from __future__ import annotations

from engine.images.tarpath import Compression, detect_compression

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
)

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
FOREIGN_LAYER_TYPES = frozenset({DOCKER_FOREIGN, *OCI_NONDISTRIBUTABLE})
# What a registry client accepts, best first (a registry downgrades to schema1 without it).
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])


def layer_type_for(head: bytes) -> str:
    """The OCI layer media type matching a blob's compression (from its first bytes)."""
    return {
        Compression.GZIP: OCI_LAYER_GZIP,
        Compression.ZSTD: OCI_LAYER_ZSTD,
    }.get(detect_compression(head), OCI_LAYER)


def docker_layer_type(oci_type: str) -> str:
    """Docker schema2 manifests only know gzip layers by their own name."""
    return DOCKER_LAYER_GZIP if oci_type == OCI_LAYER_GZIP else oci_type
