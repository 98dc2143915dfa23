"""`pycompose image ...`: list, inspect, remove, import, load, tag and save images."""
from __future__ import annotations

import sys
import time
from typing import List, Optional

import typer

from engine.cli import format as fmt
from engine.cli.app import COMMAND_SETTINGS, Commands, get_client, make_app
from engine.errors import BadParameter, NotFound, PycomposeError

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
    client = get_client()
    found, failed = [], False
    for name in names:
        try:
            found.append(client.inspect_image(name))
        except NotFound as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    if format_:
        for item in found:
            print(fmt.render_template(format_, item))
    else:
        print(fmt.inspect_json(found))
    raise typer.Exit(1 if failed else 0)


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
    messages = get_client().pull_image(ref, platform)
    if quiet:
        print(ref)
        return
    for m in messages:
        if m.get("status"):
            print(m["status"])


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
