"""OCI image layouts written by hand (stdlib only), for skopeo to turn into archives or push."""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass
class Layout:
    path: Path
    index: list[dict] = field(default_factory=list)

    def blob(self, data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path / "blobs" / "sha256" / digest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    def image(self, layers: list[bytes], config: dict | None = None, *, arch: str = "amd64",
              compress: bool = True) -> dict:
        """Store an image (layers are plain tars); returns its manifest descriptor."""
        diff_ids = [f"sha256:{hashlib.sha256(t).hexdigest()}" for t in layers]
        layer_descs = []
        for tar in layers:
            data = gzip.compress(tar, mtime=0) if compress else tar
            media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
            layer_descs.append({"mediaType": media, **self.blob(data)})
        config_doc = {"architecture": arch, "os": "linux", "created": "2024-01-02T03:04:05Z",
                      "config": config or {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                       **self.blob(json.dumps(config_doc, sort_keys=True).encode())}
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                    "layers": layer_descs}
        desc = {"mediaType": OCI_MANIFEST,
                **self.blob(json.dumps(manifest, sort_keys=True).encode())}
        return desc | {"platform": {"architecture": arch, "os": "linux"}}

    def multi(self, manifests: list[dict]) -> dict:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return {"mediaType": OCI_INDEX,
                **self.blob(json.dumps(index, sort_keys=True).encode())}

    def add(self, descriptor: dict, tag: str) -> None:
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(entry)
        self.write()

    def write(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        (self.path / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "manifests": self.index}))
