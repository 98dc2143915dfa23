"""develop.watch planning (pure): rules, matching and ignores, batch plans, the quiet period;
and the inotify tree watcher on a temp dir (no root needed)."""
from __future__ import annotations

import os
import select
import tarfile

import pytest

from compose.canonical import service_from
from compose.orchestrator import watch
from compose.orchestrator.inotify import TreeWatch
from compose.orchestrator.watch import (Action, Batcher, ExecHook, PathMapping, WatchError,
                                        descends, initial_paths, plan_batch, rules_for)
from compose.orchestrator.watcher import sync_tar, watch_roots

CTX = "/p/web"


def service_rules(name, config, ignore_text=None):
    """The rules of a service given as its canonical mapping, read through the model."""
    return watch.service_rules(service_from(name, config), ignore_text)


def bind_mounted(rule, volumes):
    return watch.bind_mounted(rule, service_from("web", {"volumes": volumes}).volumes)


def rules(*items, ignore_text=None, build=True, name="web"):
    config = {"develop": {"watch": list(items)}}
    if build:
        config["build"] = {"context": CTX, "dockerfile": "Dockerfile"}
    return service_rules(name, config, ignore_text)


def test_rule_parsing_and_target_mapping():
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app", "initial_sync": True})
    assert r.action is Action.SYNC and r.initial_sync
    assert r.matches("/p/web/app/x.py") and r.matches("/p/web/app")
    assert not r.matches("/p/web/application.py") and not r.matches("/p/web/x.py")
    assert r.container_path("/p/web/app/sub/x.py") == "/app/sub/x.py"
    assert r.container_path("/p/web/app") == "/app"
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "srv/app/"})
    assert r.container_path("/p/web/app/x.py") == "/srv/app/x.py"   # below "/", as Compose


@pytest.mark.parametrize("item, message", [
    ({"action": "sync", "path": "/p"}, "needs a target"),
    ({"action": "sync+restart", "path": "/p"}, "needs a target"),
    ({"path": "/p", "target": "/a"}, "needs an action"),
    ({"action": "jump", "path": "/p"}, "unknown action 'jump'"),
    ({"action": "sync", "target": "/a"}, "needs a path"),
    ({"action": "sync+exec", "path": "/p", "target": "/a"}, "needs exec.command"),
    ({"action": "sync", "path": "/p", "target": "/a", "ignore": "x"}, "list of patterns"),
])
def test_bad_rules_are_one_line_errors(item, message):
    with pytest.raises(WatchError, match=message) as e:
        rules(item)
    assert "'web'" in e.value.message and "\n" not in e.value.message


def test_rebuild_needs_build():
    with pytest.raises(WatchError, match="rebuild needs a build section"):
        rules({"action": "rebuild", "path": "/p"}, build=False)


def test_ignore_patterns_are_relative_to_the_rule_path():
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app",
                 "ignore": ["*.tmp", "node_modules/", "build/**/*.o"]})
    assert not r.matches("/p/web/app/a.tmp")
    assert r.matches("/p/web/app/sub/a.tmp")              # `*` stays in one component
    assert not r.matches("/p/web/app/node_modules/x/y.js")
    assert not r.matches("/p/web/app/build/a/b/c.o")
    assert r.matches("/p/web/app/build/a/b/c.c")


def test_dockerignore_is_relative_to_the_build_context():
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app"},
                ignore_text="app/secret.txt\n*.md\n!README.md\n")
    assert not r.matches("/p/web/app/secret.txt")
    assert r.matches("/p/web/app/notes.md")               # *.md: top level of the context only
    assert r.matches("/p/web/app/x.py")


def test_dockerignore_reinclusion():
    [r] = rules({"action": "sync", "path": "/p/web", "target": "/app"},
                ignore_text="*.md\n!README.md\n")
    assert not r.matches("/p/web/CHANGES.md")
    assert r.matches("/p/web/README.md")


def test_include_limits_what_triggers():
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app",
                 "include": ["*.py", "templates/**"]})
    assert r.matches("/p/web/app/a.py")
    assert r.matches("/p/web/app/templates/x/y.html")
    assert not r.matches("/p/web/app/a.txt")


@pytest.mark.parametrize("name", [".a.py.swp", "4913", "a.py~", ".#a.py", "#a.py#",
                                  ".git/index", "sub/.git/HEAD", "a.py___jb_tmp___"])
def test_editor_files_and_git_never_trigger(name):
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app"})
    assert not r.matches("/p/web/app/" + name)


def actions(rs, service, path):
    return [r.action for r in rules_for(rs, service, path)]


def test_every_rule_a_path_triggers_counts():
    rs = rules({"action": "sync+restart", "path": "/p/web/app/app.py", "target": "/app/app.py"},
               {"action": "sync", "path": "/p/web/app", "target": "/app"},
               {"action": "rebuild", "path": "/p/web/requirements.txt"})
    assert actions(rs, "web", "/p/web/app/app.py") == [Action.SYNC_RESTART, Action.SYNC]
    assert actions(rs, "web", "/p/web/app/x.py") == [Action.SYNC]
    assert actions(rs, "web", "/p/web/requirements.txt") == [Action.REBUILD]
    assert actions(rs, "web", "/p/web/other") == []
    assert actions(rs, "db", "/p/web/app/x.py") == []


def test_plan_sync_copies_deletes_and_restart():
    rs = rules({"action": "sync+restart", "path": "/p/web/app/app.py", "target": "/app/app.py"},
               {"action": "sync", "path": "/p/web/app", "target": "/app"})
    batch = ["/p/web/app/x.py", "/p/web/app/gone.py", "/p/web/app/app.py", "/elsewhere"]
    exists = {"/p/web/app/x.py": True, "/p/web/app/app.py": True}
    [plan] = plan_batch(rs, batch, exists)
    assert plan.service == "web" and not plan.rebuild and plan.restart
    assert plan.copies == (PathMapping("/p/web/app/app.py", "/app/app.py"),
                           PathMapping("/p/web/app/x.py", "/app/x.py"))
    assert plan.deletes == ("/app/gone.py",)
    assert plan.changed == 3


def test_plan_sync_only_does_not_restart():
    rs = rules({"action": "sync", "path": "/p/web/app", "target": "/app"})
    [plan] = plan_batch(rs, ["/p/web/app/x.py"], {"/p/web/app/x.py": True})
    assert not plan.restart and not plan.hooks and plan.copies


def test_plan_a_new_directory_covers_its_files():
    rs = rules({"action": "sync", "path": "/p/web/app", "target": "/app"})
    batch = ["/p/web/app/pkg", "/p/web/app/pkg/a.py", "/p/web/app/pkg/b.py", "/p/web/app/z.py"]
    [plan] = plan_batch(rs, batch, dict.fromkeys(batch, True))
    assert [m.container for m in plan.copies] == ["/app/pkg", "/app/z.py"]


def test_plan_rebuild_and_sync_together():
    rs = rules({"action": "sync", "path": "/p/web/app", "target": "/app"},
               {"action": "rebuild", "path": "/p/web/requirements.txt"})
    batch = ["/p/web/app/x.py", "/p/web/requirements.txt"]
    [plan] = plan_batch(rs, batch, dict.fromkeys(batch, True))
    assert plan.rebuild and plan.copies == (PathMapping("/p/web/app/x.py", "/app/x.py"),)
    assert not plan.restart and plan.changed == 2
    [plan] = plan_batch(rs, batch[1:], dict.fromkeys(batch, True))
    assert plan.rebuild and not plan.copies


def test_plan_restart_action_syncs_nothing():
    rs = rules({"action": "restart", "path": "/p/web/conf"})
    [plan] = plan_batch(rs, ["/p/web/conf/a.ini"], {"/p/web/conf/a.ini": True})
    assert plan.restart and not plan.copies and not plan.deletes


def test_plan_hooks_once_each_and_per_service():
    web = rules({"action": "sync+exec", "path": "/p/web/app", "target": "/app",
                 "exec": {"command": "kill -HUP 1", "user": "app",
                          "environment": ["A=1"]}})
    other = service_rules("worker", {"develop": {"watch": [
        {"action": "sync", "path": "/p/web/app", "target": "/srv"}]}})
    batch = ["/p/web/app/a.py", "/p/web/app/b.py"]
    plans = plan_batch(web + other, batch, dict.fromkeys(batch, True))
    assert [p.service for p in plans] == ["web", "worker"]
    assert plans[0].hooks == (ExecHook(("kill", "-HUP", "1"), "app", False, None,
                                       (("A", "1"),)),)
    assert [m.container for m in plans[1].copies] == ["/srv/a.py", "/srv/b.py"]


def test_plan_nothing_for_ignored_paths():
    rs = rules({"action": "sync", "path": "/p/web/app", "target": "/app", "ignore": ["*.log"]})
    assert plan_batch(rs, ["/p/web/app/x.log", "/p/web/app/.x.swp"], {}) == []


def test_initial_paths_filter_by_the_rule_and_leave_out_recipes():
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app", "ignore": ["*.pyc"],
                 "initial_sync": True})
    walked = ["/p/web/app/a.py", "/p/web/app/a.pyc", "/p/web/app/.git/config",
              "/p/web/app/Dockerfile", "/p/web/app/compose.yaml", "/p/web/app/web.Dockerfile"]
    assert initial_paths(r, walked) == ["/p/web/app/a.py", "/p/web/app/web.Dockerfile"]
    assert initial_paths(r, walked, "web.Dockerfile") == ["/p/web/app/a.py"]


def test_bind_mounted_paths():
    [r] = rules({"action": "sync", "path": "/p/web/app", "target": "/app"})
    assert bind_mounted(r, [{"type": "bind", "source": "/p/web", "target": "/x"}])
    assert bind_mounted(r, [{"type": "bind", "source": "/p/web/app", "target": "/x"}])
    assert not bind_mounted(r, [{"type": "bind", "source": "/p/web/app/sub", "target": "/x"},
                                {"type": "volume", "source": "data", "target": "/p"}])


def test_batcher_waits_for_the_quiet_period():
    b = Batcher(quiet=0.5, max_delay=5)
    assert b.deadline() is None and b.take(10) == []
    b.add(["/a"], 0.0)
    b.add(["/b", "/a"], 0.3)
    assert b.deadline() == pytest.approx(0.8)
    assert b.take(0.7) == []
    assert b.take(0.8) == ["/a", "/b"]
    assert not b.pending and b.deadline() is None


def test_batcher_flushes_a_steady_stream_after_max_delay():
    b = Batcher(quiet=0.5, max_delay=2)
    t = 0.0
    while t < 1.9:
        b.add([f"/f{t}"], t)
        assert b.take(t) == []
        t += 0.2
    b.add(["/last"], 2.0)
    assert len(b.take(2.0)) == 11


def test_tree_watch_sees_edits_new_dirs_and_deletes(tmp_path):
    (tmp_path / "a.py").write_text("1")
    (tmp_path / "sub").mkdir()
    with TreeWatch([str(tmp_path)]) as tw:
        assert tw.read() == []
        (tmp_path / "a.py").write_text("2")
        (tmp_path / "sub" / "b.py").write_text("b")
        (tmp_path / "new" / "deep").mkdir(parents=True)
        (tmp_path / "new" / "deep" / "c.py").write_text("c")
        seen = _drain(tw)
        (tmp_path / "new" / "deep" / "d.py").write_text("d")   # watched now: the new dir's watch
        os.unlink(tmp_path / "a.py")
        seen |= _drain(tw)
    for p in ("a.py", "sub/b.py", "new", "new/deep/c.py", "new/deep/d.py"):
        assert str(tmp_path / p) in seen, p


def _drain(tw: TreeWatch) -> set[str]:
    out: set[str] = set()
    while select.select([tw], [], [], 0.2)[0]:
        out |= set(tw.read())
    return out


def test_watch_roots_and_missing_paths(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "req.txt").write_text("")
    rs = service_rules("web", {"build": {"context": str(tmp_path)}, "develop": {"watch": [
        {"action": "sync", "path": str(tmp_path / "app"), "target": "/app"},
        {"action": "rebuild", "path": str(tmp_path / "req.txt")}]}})
    assert watch_roots(rs) == [str(tmp_path / "app"), str(tmp_path)]
    missing = service_rules("web", {"develop": {"watch": [
        {"action": "sync", "path": str(tmp_path / "nope"), "target": "/app"}]}})
    with pytest.raises(WatchError, match="does not exist"):
        watch_roots(missing)


def test_sync_tar_names_members_by_container_path(tmp_path):
    (tmp_path / "x.py").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "y.py").write_text("y")
    out = tmp_path / "out.tar"
    with open(out, "wb") as f:
        sync_tar([PathMapping(str(tmp_path / "x.py"), "/app/x.py"),
                  PathMapping(str(tmp_path / "d"), "/app/d"),
                  PathMapping(str(tmp_path / "gone"), "/app/gone")], f)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"app/x.py", "app/d", "app/d/y.py"}
    me = os.stat(tmp_path / "x.py")
    assert all(m.uid == me.st_uid and m.gid == me.st_gid and m.uname == "" for m in
               members.values())                                  # as on the host (Compose)


def test_the_webapp_example_syncs_and_restarts_web_for_its_python_code():
    from pathlib import Path
    from types import SimpleNamespace

    from compose.orchestrator.session import load_spec
    from compose.orchestrator.watcher import load_rules

    example = Path(__file__).resolve().parents[2] / "examples" / "webapp"
    spec = load_spec(SimpleNamespace(files=[str(example / "compose.yaml")],
                                     project_directory=None, project_name=None, profiles=(),
                                     env_files=()), environ={})
    rs = load_rules(spec, ["web"])
    app = str(example / "web" / "app")
    for name in ("app.py", "dbconn.py", "index.html"):
        [rule] = rules_for(rs, "web", f"{app}/{name}")
        assert rule.action is Action.SYNC_RESTART
        assert rule.container_path(f"{app}/{name}") == f"/app/{name}"
    for name in ("migrations/003_new.sql", "migrate.sh", "__pycache__/app.cpython-311.pyc"):
        assert actions(rs, "web", f"{app}/{name}") == [], name
    assert actions(rs, "web", str(example / "web" / "Dockerfile")) == [Action.REBUILD]
    assert actions(rs, "web", str(example / "src" / "message.js")) == []   # webpack's


def test_descends_only_where_a_rule_can_match():
    rs = rules({"action": "sync", "path": "/p/web/app", "target": "/app",
                "ignore": ["node_modules/", "build/", "!build/keep.txt"]},
               {"action": "rebuild", "path": "/p/web/requirements.txt"},
               ignore_text="app/vendor\n")
    assert descends(rs, "/p/web/app/src")
    assert descends(rs, "/p/web/app/build")               # a `!` pattern re-includes below
    assert descends(rs, "/p/web")                         # on the way to a rule's path
    for d in ("/p/web/app/node_modules", "/p/web/app/.git", "/p/web/app/vendor",
              "/p/web/other", "/p/elsewhere"):
        assert not descends(rs, d), d


def test_tree_watch_skips_what_it_need_not_descend(tmp_path):
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "src").mkdir()
    skip = str(tmp_path / "node_modules")
    with TreeWatch([str(tmp_path)], lambda d: not d.startswith(skip)) as tw:
        assert sorted(tw._dirs.values()) == [str(tmp_path), str(tmp_path / "src")]
        (tmp_path / "node_modules" / "x" / "a.js").write_text("")
        (tmp_path / "src" / "a.py").write_text("")
        (tmp_path / "node_modules.new").mkdir()          # reported, not watched
        seen = _drain(tw)
        (tmp_path / "node_modules.new" / "b.js").write_text("")
        seen |= _drain(tw)
    assert str(tmp_path / "src" / "a.py") in seen
    assert str(tmp_path / "node_modules.new") in seen
    assert not [p for p in seen if p.startswith(skip + "/") or p.startswith(skip + ".new/")]


def test_sync_tar_keeps_the_rules_ignores_inside_a_directory(tmp_path):
    (tmp_path / "d" / "node_modules").mkdir(parents=True)
    (tmp_path / "d" / "node_modules" / "m.js").write_text("")
    (tmp_path / "d" / "ok.py").write_text("")
    (tmp_path / "d" / "x.tmp").write_text("")
    [r] = service_rules("web", {"develop": {"watch": [
        {"action": "sync", "path": str(tmp_path), "target": "/app",
         "ignore": ["**/*.tmp", "**/node_modules"]}]}})
    out = tmp_path / "out.tar"
    with open(out, "wb") as f:
        sync_tar([PathMapping(str(tmp_path / "d"), "/app/d")], f,
                 lambda p, is_dir: descends([r], p) if is_dir else r.matches(p))
    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == ["app/d", "app/d/ok.py"]


def test_tree_watch_forgets_a_directory_moved_out(tmp_path):
    (tmp_path / "w" / "d").mkdir(parents=True)
    with TreeWatch([str(tmp_path / "w")]) as tw:
        os.rename(tmp_path / "w" / "d", tmp_path / "out")
        seen = _drain(tw)
        (tmp_path / "out" / "late.txt").write_text("")       # outside the tree now
        seen |= _drain(tw)
        assert sorted(tw._dirs.values()) == [str(tmp_path / "w")]
    assert seen == {str(tmp_path / "w" / "d")}


class _FakeTree:
    """A TreeWatch stand-in: a pipe for readiness, scripted event lists."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.fd = self.r
        self.pending: list[str] = []

    def push(self, *paths: str) -> None:
        self.pending += paths
        os.write(self.w, b"x")

    def read(self) -> list[str]:
        try:
            os.read(self.r, 100)
        except BlockingIOError:
            pass
        out, self.pending = self.pending, []
        return out

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


class _FakeClient:
    def __init__(self, clock) -> None:
        self.calls: list[tuple] = []
        self.clock = clock

    def containers(self, all=False, filters=None):
        return [{"Id": "c1" * 32, "Names": ["/p-web-1"], "State": "running"}]

    def request(self, method, path, params=None, body=None, headers=None):
        names = tarfile.open(fileobj=body).getnames()
        self.calls.append(("put", params["path"], tuple(sorted(names)), self.clock()))

        class R:
            def read(self):
                return b""
        return R()

    def restart(self, cid, timeout=None):
        self.calls.append(("restart", cid[:2], self.clock()))


def test_watcher_loop_batches_after_the_quiet_period(tmp_path):
    import trio
    import trio.testing

    from compose.orchestrator.gateway import Gateway
    from compose.orchestrator.progress import Progress
    from compose.orchestrator.project_view import ProjectSpec
    from compose.orchestrator.watcher import Watcher

    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text(name)
    rs = service_rules("web", {"develop": {"watch": [
        {"action": "sync+restart", "path": str(tmp_path), "target": "/app"}]}})
    client = _FakeClient(trio.current_time)
    gw = Gateway(lambda: client, threaded=False)
    watcher = Watcher(ProjectSpec("p", {}), gw, Progress(colour=False, quiet=True), lambda: None,
                      rs)
    tree = _FakeTree()

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher._loop, tree)
            tree.push(str(tmp_path / "a.py"))
            await trio.sleep(0.3)
            tree.push(str(tmp_path / "b.py"), str(tmp_path / ".b.py.swp"))
            await trio.sleep(0.7)          # 0.5 s after the last event: one batch
            tree.push(str(tmp_path / "c.py"))
            await trio.sleep(1)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        tree.close()
    assert client.calls == [
        ("put", "/", ("app/a.py", "app/b.py"), pytest.approx(0.8)),
        ("restart", "c1", pytest.approx(0.8)),
        ("put", "/", ("app/c.py",), pytest.approx(1.5)),
        ("restart", "c1", pytest.approx(1.5)),
    ]
