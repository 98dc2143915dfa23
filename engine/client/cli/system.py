"""`pycompose system df`: disk use of images, containers, volumes and the build cache."""
from __future__ import annotations

import json
from typing import Optional

import typer

from engine.client.cli.app import COMMAND_SETTINGS, Commands, get_client, make_app
from engine.client.cli.format import human_size, table

commands = Commands()
app = make_app("Manage the engine.", commands)


def _reclaim(size: int, total: int) -> str:
    pct = (size * 100 // total) if total else 0
    return f"{human_size(size)} ({pct}%)"


def df_rows(doc: dict) -> list[dict]:
    """Docker's four summary rows (pure): TOTAL, ACTIVE, SIZE, RECLAIMABLE."""
    images = doc.get("Images") or []
    containers = doc.get("Containers") or []
    volumes = doc.get("Volumes") or []
    cache = doc.get("BuildCache") or []
    used_images = [i for i in images if (i.get("Containers") or 0) > 0]
    img_size = doc.get("LayersSize") or sum(i.get("Size", 0) for i in images)
    img_used = sum(i.get("Size", 0) for i in used_images)
    running = [c for c in containers if c.get("State") == "running"]
    c_size = sum(c.get("SizeRw") or 0 for c in containers)
    c_reclaim = sum(c.get("SizeRw") or 0 for c in containers if c.get("State") != "running")
    v_sizes = [(v.get("UsageData") or {}) for v in volumes]
    v_size = sum(max(0, u.get("Size", 0)) for u in v_sizes)
    v_reclaim = sum(max(0, u.get("Size", 0)) for u in v_sizes if not u.get("RefCount"))
    b_size = sum(b.get("Size", 0) for b in cache)
    b_reclaim = sum(b.get("Size", 0) for b in cache if not b.get("InUse"))
    return [
        {"Type": "Images", "TotalCount": len(images), "Active": len(used_images),
         "Size": human_size(img_size), "Reclaimable": _reclaim(max(0, img_size - img_used),
                                                                 img_size)},
        {"Type": "Containers", "TotalCount": len(containers), "Active": len(running),
         "Size": human_size(c_size), "Reclaimable": _reclaim(c_reclaim, c_size)},
        {"Type": "Local Volumes", "TotalCount": len(volumes),
         "Active": sum(1 for u in v_sizes if u.get("RefCount")),
         "Size": human_size(v_size), "Reclaimable": _reclaim(v_reclaim, v_size)},
        {"Type": "Build Cache", "TotalCount": len(cache),
         "Active": sum(1 for b in cache if b.get("InUse")),
         "Size": human_size(b_size), "Reclaimable": _reclaim(b_reclaim, b_size)},
    ]


@commands.command("df", context_settings=COMMAND_SETTINGS)
def df(format_: Optional[str] = typer.Option(None, "--format", help="json or table.")) -> None:
    """Show how much disk the engine's objects use."""
    client = get_client()
    doc = json.loads(client.request("GET", "/system/df").read())
    rows = df_rows(doc)
    if format_ == "json":
        for row in rows:
            print(json.dumps(row))
        return
    print(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                [[r["Type"], str(r["TotalCount"]), str(r["Active"]), r["Size"],
                  r["Reclaimable"]] for r in rows]))
