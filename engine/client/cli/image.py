"""`pycompose image ...`: list, inspect, remove, import, load, tag and save images."""
from __future__ import annotations

import sys
import time
from typing import List, Optional

import typer

from engine.client.cli import format as fmt
from engine.client.cli import prune as pruning
from engine.client.cli.app import COMMAND_SETTINGS, Commands, get_client, make_app, print_inspected
from engine.errors import BadParameter, EngineError, PycomposeError

commands = Commands()
app = make_app("Manage images.", commands)


def split_ref(ref: str) -> tuple[str, str | None]:
    """`name[:tag]` -> (repo, tag); a port in the registry host is not a tag."""
    if "@" in ref:
        return ref, None
    head, sep, tail = ref.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return ref, None


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/:@")   # references stay readable in the path, as docker sends them


def _json(method: str, path: str, params: dict | None = None):
    import json

    data = get_client().request(method, path, params).read()
    try:
        return json.loads(data) if data else None
    except ValueError:
        raise EngineError(f"engine sent invalid JSON for {method} {path}") from None


def image_rows(images: list[dict], now: float, show_all_digests: bool = False) -> list[list[str]]:
    """`image ls` rows: REPOSITORY, TAG, IMAGE ID, CREATED, SIZE; untagged images as <none>."""
    rows = []
    for image in images:
        tags = [t for t in image.get("RepoTags") or () if t != "<none>:<none>"] or ["<none>:<none>"]
        for tag in tags:
            repo, _, name = tag.rpartition(":")
            rows.append([repo, name, fmt.short_id(image["Id"]),
                         fmt.ago(image.get("Created", 0), now), fmt.human_size(image.get("Size", 0))])
    rows.sort(key=lambda r: (r[0] == "<none>", r[0], r[1]))
    return rows


@commands.command("ls", context_settings=COMMAND_SETTINGS)
def ls(quiet: bool = typer.Option(False, "-q", "--quiet", help="Only ids."),
       all_: bool = typer.Option(False, "-a", "--all", help="Include intermediate images."),
       format_: Optional[str] = typer.Option(None, "--format", help="table or json.")) -> None:
    """List images."""
    import json

    images = get_client().images(all=all_)
    if quiet:
        for ident in dict.fromkeys(fmt.short_id(i["Id"]) for i in images):
            print(ident)
        return
    rows = image_rows(images, time.time())
    if format_ == "json":
        for r in rows:
            print(json.dumps({"Repository": r[0], "Tag": r[1], "ID": r[2], "CreatedSince": r[3],
                              "Size": r[4]}, separators=(",", ":")))
        return
    print(fmt.table(("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"), rows))


@commands.command("inspect", context_settings=COMMAND_SETTINGS)
def inspect_(names: List[str] = typer.Argument(..., help="Image references or ids."),
             format_: Optional[str] = typer.Option(None, "-f", "--format", help="Template.")) -> None:
    """Show low-level information on images (JSON)."""
    print_inspected(names, get_client().inspect_image, format_)


@commands.command("rm", context_settings=COMMAND_SETTINGS)
def rm(names: List[str] = typer.Argument(..., help="Image references or ids."),
       force: bool = typer.Option(False, "-f", "--force", help="Remove even if in use.")) -> None:
    """Remove images."""
    client = get_client()
    failed = False
    for name in names:
        try:
            for item in client.remove_image(name, force=force):
                for key in ("Untagged", "Deleted"):
                    if key in item:
                        print(f"{key}: {item[key]}")
        except PycomposeError as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    raise typer.Exit(1 if failed else 0)


@commands.command("import", context_settings=COMMAND_SETTINGS)
def import_(source: str = typer.Argument(..., help="Rootfs tarball, or - for stdin."),
            ref: Optional[str] = typer.Argument(None, help="REPOSITORY[:TAG] to tag it."),
            change: Optional[List[str]] = typer.Option(None, "-c", "--change",
                                                       help="Dockerfile instruction (CMD, ENV...)."),
            ) -> None:
    """Create an image from a root filesystem tarball; prints the image id."""
    repo, tag = split_ref(ref) if ref else (None, None)
    if source == "-":
        fileobj = sys.stdin.buffer
    else:
        try:
            fileobj = open(source, "rb")
        except OSError as e:
            raise BadParameter(f"cannot read {source}: {e.strerror}") from None
    try:
        messages = get_client().import_image(fileobj, repo, tag, list(change or ()))
    finally:
        if fileobj is not sys.stdin.buffer:
            fileobj.close()
    ids = [m["status"] for m in messages if str(m.get("status", "")).startswith("sha256:")]
    print(ids[-1] if ids else (messages[-1].get("status", "") if messages else ""))


@commands.command("pull", context_settings=COMMAND_SETTINGS)
def pull(ref: str = typer.Argument(..., help="Image reference, e.g. 127.0.0.1:5000/app:1."),
         platform: Optional[str] = typer.Option(None, "--platform", help="os/arch[/variant]."),
         quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the reference.")) -> None:
    """Pull an image from a registry."""
    from engine.client.cli.progress import show_all
    from engine.client.streams import json_messages

    response = get_client().request("POST", "/images/create",
                                    {"fromImage": ref, "platform": platform})
    show_all(json_messages(response), quiet=quiet)
    if quiet:
        print(ref)


@commands.command("push", context_settings=COMMAND_SETTINGS)
def push(ref: str = typer.Argument(..., help="REPOSITORY[:TAG] to push."),
         quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the reference.")) -> None:
    """Push an image to its registry (with the login stored by `pycompose login`)."""
    from engine.client.cli.progress import show_all
    from engine.client.streams import json_messages

    repo, tag_ = split_ref(ref)
    response = get_client().request("POST", f"/images/{_quote(repo)}/push", {"tag": tag_})
    show_all(json_messages(response), quiet=quiet)
    if quiet:
        print(ref)


def history_rows(entries: list[dict], now: float, no_trunc: bool = False) -> list[list[str]]:
    """`image history` rows: IMAGE, CREATED, CREATED BY, SIZE, COMMENT (newest first)."""
    rows = []
    for entry in entries:
        ident = entry.get("Id") or "<missing>"
        if ident != "<missing>" and not no_trunc:
            ident = fmt.short_id(ident)
        created_by = " ".join(str(entry.get("CreatedBy") or "").split())
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "\u2026"
        rows.append([ident, fmt.ago(entry.get("Created", 0), now), created_by,
                     fmt.human_size(entry.get("Size", 0)), str(entry.get("Comment") or "")])
    return rows


@commands.command("history", context_settings=COMMAND_SETTINGS)
def history(ref: str = typer.Argument(..., help="Image reference or id."),
            no_trunc: bool = typer.Option(False, "--no-trunc", help="Full ids and commands."),
            quiet: bool = typer.Option(False, "-q", "--quiet", help="Only ids.")) -> None:
    """Show the layers of an image, newest first."""
    entries = _json("GET", f"/images/{_quote(ref)}/history") or []
    rows = history_rows(entries, time.time(), no_trunc)
    if quiet:
        for row in rows:
            print(row[0])
        return
    print(fmt.table(("IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"), rows))


@commands.command("prune", context_settings=COMMAND_SETTINGS)
def prune(all_: bool = typer.Option(False, "-a", "--all", help="All unused images, not only "
                                    "dangling ones."),
          force: bool = typer.Option(False, "-f", "--force", help="Do not ask.")) -> None:
    """Remove unused images (untagged ones, or every image no container uses with -a)."""
    what = "all images without at least one container associated to them" if all_ \
        else "all dangling images"
    if not pruning.confirmed("image", what, force):
        return
    result = _json("POST", "/images/prune",
                                {"filters": {"dangling": ["false" if all_ else "true"]}}) or {}
    pruning.report("Images", (f"{key.lower()}: {item[key]}"
                              for item in result.get("ImagesDeleted") or []
                              for key in ("Untagged", "Deleted") if key in item),
                   result.get("SpaceReclaimed", 0))


@commands.command("load", context_settings=COMMAND_SETTINGS)
def load(input_: Optional[str] = typer.Option(None, "-i", "--input", help="Tar archive (else stdin)."),
         quiet: bool = typer.Option(False, "-q", "--quiet", help="No output.")) -> None:
    """Load images from a docker-archive or OCI-archive tarball."""
    try:
        fileobj = open(input_, "rb") if input_ else sys.stdin.buffer
    except OSError as e:
        raise BadParameter(f"cannot read {input_}: {e.strerror}") from None
    try:
        messages = get_client().load_images(fileobj)
    finally:
        if input_:
            fileobj.close()
    if not quiet:
        for m in messages:
            text = m.get("stream") or m.get("status") or ""
            if text.strip():
                print(text.rstrip("\n"))


@commands.command("tag", context_settings=COMMAND_SETTINGS)
def tag(source: str = typer.Argument(..., help="Existing image."),
        target: str = typer.Argument(..., help="New REPOSITORY[:TAG].")) -> None:
    """Give an image another name."""
    repo, tag_ = split_ref(target)
    get_client().tag_image(source, repo, tag_)


@commands.command("save", context_settings=COMMAND_SETTINGS)
def save(names: List[str] = typer.Argument(..., help="Images to save."),
         output: Optional[str] = typer.Option(None, "-o", "--output", help="File (else stdout).")) -> None:
    """Write images as a docker-archive tarball."""
    import os

    if output is None and sys.stdout.isatty():
        raise BadParameter("refusing to write a tarball to a terminal; use -o FILE or redirect")
    client = get_client()
    if output:
        tmp = f"{output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                for data in client.save_images(list(names)):
                    f.write(data)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        out = sys.stdout.buffer
        for data in client.save_images(list(names)):
            out.write(data)
        out.flush()


class BuildFailed(PycomposeError):
    """A build that ran and failed: docker build exits 1 (not the engine's 125)."""


def build_args(values: list[str], environ: dict[str, str]) -> dict[str, str]:
    """`--build-arg K=V` pairs; a bare `K` takes the client's environment as docker does (and is
    left out, so the Dockerfile's default applies, when the variable is not set)."""
    args: dict[str, str] = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not key:
            raise BadParameter(f"invalid --build-arg {value!r} (expected KEY=VALUE)")
        if eq:
            args[key] = val
        elif key in environ:
            args[key] = environ[key]
    return args


@commands.command("build", context_settings={**COMMAND_SETTINGS,
                                              "allow_interspersed_args": True})
def build(context: str = typer.Argument(..., help="Build context directory."),
          tags: Optional[List[str]] = typer.Option(None, "-t", "--tag", help="NAME[:TAG]."),
          file: Optional[str] = typer.Option(None, "-f", "--file", help="Dockerfile path."),
          build_arg: Optional[List[str]] = typer.Option(None, "--build-arg", help="KEY=VALUE."),
          target: Optional[str] = typer.Option(None, "--target", help="Stage to build."),
          no_cache: bool = typer.Option(False, "--no-cache", help="Run every step again."),
          secret: Optional[List[str]] = typer.Option(None, "--secret",
                                                     help="id=ID,src=FILE or id=ID,env=VAR."),
          label: Optional[List[str]] = typer.Option(None, "--label", help="KEY=VALUE label."),
          pull: bool = typer.Option(False, "--pull", help="Pull newer base images."),
          add_host: Optional[List[str]] = typer.Option(None, "--add-host",
                                                       help="HOST:IP in RUN steps' /etc/hosts."),
          network: Optional[str] = typer.Option(None, "--network",
                                                help="RUN steps' network: default, host, none "
                                                     "or a network."),
          cache_from: Optional[List[str]] = typer.Option(None, "--cache-from",
                                                         help="Image whose steps may be reused."),
          quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the image id.")) -> None:
    """Build an image from a Dockerfile; the output streams as the steps run."""
    import os

    from engine.client import build as bc
    from engine.client.cli.parse import parse_add_host, parse_labels
    from engine.client.cli.progress import show_all

    secrets = dict(bc.parse_secret(s, os.environ) for s in secret or ())
    messages = bc.build(get_client(), context, dockerfile=file, tags=list(tags or ()),
                        build_args=build_args(list(build_arg or ()), dict(os.environ)),
                        target=target, no_cache=no_cache, pull=pull,
                        labels=parse_labels(list(label or ())), secrets=secrets,
                        extra_hosts=[parse_add_host(h) for h in add_host or ()],
                        network_mode=network, cache_from=list(cache_from or ()))
    log: list[str] = []

    def kept(stream):
        for message in stream:
            if quiet and "stream" in message:
                log.append(bc.unwrap_stderr(str(message["stream"]))[0])
            yield message

    try:
        aux = show_all(kept(messages), quiet=quiet)
    except EngineError as e:
        if quiet:   # as docker: the log of a failed quiet build goes to stderr
            sys.stderr.write("".join(log))
        raise BuildFailed(e.message) from None
    if quiet:
        ids = [a["ID"] for a in aux if "ID" in a]
        print(ids[-1] if ids else "")


def bootstrap_options(ref: str, suite: str | None, mirror: str | None, include: list[str],
                      variant: str, force: bool) -> dict:
    """The `image bootstrap` flags, checked on the client (clear errors before the request).
    The variant is the engine's to check: it knows which ones its mmdebstrap makes."""
    from engine.images import reference

    parsed = reference.parse(ref)
    if parsed.digest:
        raise BadParameter(f"cannot bootstrap into a digest reference: {ref!r}")
    if mirror is not None and not mirror.startswith(("http://", "https://", "file://")):
        raise BadParameter(f"invalid mirror {mirror!r} (an http:// URL)")
    packages = [p.strip() for item in include for p in item.split(",") if p.strip()]
    return {"ref": ref, "suite": suite, "mirror": mirror, "include": packages,
            "variant": variant, "force": force}


@commands.command("bootstrap", context_settings={**COMMAND_SETTINGS,
                                                  "allow_interspersed_args": True})
def bootstrap(ref: str = typer.Argument("debian:bookworm", help="Image to create."),
              suite: Optional[str] = typer.Option(None, "--suite",
                                                  help="Debian suite (default: the tag)."),
              mirror: Optional[str] = typer.Option(None, "--mirror",
                                                   help="Debian mirror (default: the host's)."),
              include: Optional[List[str]] = typer.Option(None, "--include",
                                                          help="Extra packages, pkg,pkg."),
              variant: str = typer.Option("minbase", "--variant", help="mmdebstrap variant."),
              force: bool = typer.Option(False, "--force", help="Replace an existing image.")
              ) -> None:
    """Make a Debian base image with mmdebstrap on the engine (no registry needed)."""
    from engine.client import build as bc
    from engine.client.cli.progress import show_all

    options = bootstrap_options(ref, suite, mirror, list(include or ()), variant, force)
    options["client"] = get_client()
    show_all(bc.bootstrap(**options))
