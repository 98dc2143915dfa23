"""Image references, parsed and normalized the way Docker does it (pure).

`busybox` and `docker.io/library/busybox:latest` name the same image: the store keys tags by
the normalized form and shows the familiar (short) form, as `docker images` does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import BadParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = ("index.docker.io", "registry-1.docker.io")
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

# One path component: lowercase alphanumerics joined by ".", "_", "__" or runs of "-".
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
# A registry host: DNS labels (any case), an optional port; or a bracketed IPv6 literal.
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_HEX64 = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class Reference:
    domain: str          # "docker.io", "localhost:5000"
    path: str            # "library/busybox", "a/b"
    tag: str | None = None
    digest: str | None = None   # "sha256:<hex>"

    @property
    def repository(self) -> str:
        """Normalized name without tag or digest: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def familiar_name(self) -> str:
        """The repository as Docker shows it: `busybox`, `user/app`, `localhost:5000/a/b`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
            return self.path[len(OFFICIAL_PREFIX):]
        first = self.path.split("/", 1)[0]
        if "." in first or first == "localhost":
            # "docker.io/a.b/c" shortened to "a.b/c" would name registry a.b: keep the host.
            return self.repository
        return self.path

    def familiar(self) -> str:
        """`busybox:latest`, `busybox@sha256:...`."""
        text = self.familiar_name()
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    # Docker's rule: the first component is a registry only if it looks like a host.
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain = first
    else:
        domain, rest = DEFAULT_DOMAIN, name
    if domain in LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse a user-given reference; add `:latest` when it has neither tag nor digest."""
    original = text
    if not text or text != text.strip():
        raise BadParameter(f"invalid reference format: {original!r}")
    digest = None
    if "@" in text:
        text, digest = text.rsplit("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise BadParameter(f"invalid reference format: bad digest in {original!r}")
        algo, _, hexpart = digest.partition(":")
        if algo == "sha256" and not _HEX64.fullmatch(hexpart):
            raise BadParameter(f"invalid reference format: bad sha256 digest in {original!r}")
    tag = None
    # A ":" after the last "/" is a tag separator; earlier ones belong to a registry port.
    colon = text.rfind(":")
    if colon > text.rfind("/"):
        text, tag = text[:colon], text[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise BadParameter(f"invalid reference format: bad tag {tag!r} in {original!r}")
    if not text:
        raise BadParameter(f"invalid reference format: {original!r}")
    domain, path = _split_domain(text)
    if not _DOMAIN.fullmatch(domain):
        raise BadParameter(f"invalid reference format: bad registry host {domain!r} in {original!r}")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            if component.lower() != component and _COMPONENT.fullmatch(component.lower()):
                raise BadParameter(
                    f"invalid reference format: repository name must be lowercase: {original!r}")
            raise BadParameter(f"invalid reference format: {original!r}")
    if len(f"{domain}/{path}") > MAX_NAME_LENGTH:
        raise BadParameter(f"invalid reference format: repository name longer than "
                           f"{MAX_NAME_LENGTH} characters: {original!r}")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def normalize(text: str) -> str:
    """`busybox` -> `docker.io/library/busybox:latest`."""
    return str(parse(text))


def familiar(text: str) -> str:
    """`docker.io/library/busybox:latest` -> `busybox:latest`."""
    return parse(text, default_tag=False).familiar()


def is_digest(text: str) -> bool:
    return text.startswith("sha256:") and bool(_HEX64.fullmatch(text[7:]))


def looks_like_id_prefix(text: str) -> bool:
    """Could `text` be (a prefix of) an image id, as `docker rmi 3f57` accepts?"""
    if text.startswith("sha256:"):
        text = text[7:]
    return 0 < len(text) <= 64 and all(c in "0123456789abcdef" for c in text)
