from __future__ import annotations

from compose.orchestrator.plan import (Action, DesiredService, Observed, PlanOptions,
                                       RecreatePolicy, orphan_warning, plan_project, plan_service,
                                       plan_stop, removal_rounds)


def c(name, service, number, state="running", h="h1", oneoff=False):
    return Observed(id=name + "-id", name=name, service=service, state=state, config_hash=h,
                    number=number, oneoff=oneoff)


def actions(steps):
    return [(s.action, s.name) for s in steps]


def test_fresh_project_creates_every_replica():
    steps = plan_service("demo", DesiredService("web", "h1", replicas=2), [])
    assert actions(steps) == [(Action.CREATE, "demo-web-1"), (Action.CREATE, "demo-web-2")]


def test_second_up_is_noop():
    plan = plan_project("demo", [DesiredService("web", "h1")], [c("demo-web-1", "web", 1)],
                        ["web"])
    assert actions(plan.steps) == [(Action.NOOP, "demo-web-1")]
    assert not plan.changes()


def test_changed_hash_recreates_and_stopped_container_starts():
    existing = [c("demo-web-1", "web", 1, h="old"), c("demo-db-1", "db", 1, state="exited")]
    plan = plan_project("demo", [DesiredService("db", "h1"), DesiredService("web", "h1")],
                        existing, ["web", "db"])
    assert actions(plan.steps) == [(Action.START, "demo-db-1"), (Action.RECREATE, "demo-web-1")]


def test_no_start_leaves_stopped_containers():
    steps = plan_service("demo", DesiredService("db", "h1"), [c("demo-db-1", "db", 1, "exited")],
                         PlanOptions(start=False))
    assert actions(steps) == [(Action.NOOP, "demo-db-1")]


def test_force_recreate_applies_to_targets_only():
    existing = [c("demo-web-1", "web", 1), c("demo-db-1", "db", 1)]
    opts = PlanOptions(policy=RecreatePolicy.FORCE, force_services=frozenset({"web"}))
    plan = plan_project("demo", [DesiredService("db", "h1"), DesiredService("web", "h1")],
                        existing, ["web", "db"], opts)
    assert actions(plan.steps) == [(Action.NOOP, "demo-db-1"), (Action.RECREATE, "demo-web-1")]


def test_no_recreate_keeps_diverged_container():
    steps = plan_service("demo", DesiredService("web", "new"), [c("demo-web-1", "web", 1)],
                         PlanOptions(policy=RecreatePolicy.NEVER))
    assert actions(steps) == [(Action.NOOP, "demo-web-1")]


def test_recreated_namespace_parent_cascades_to_dependent():
    existing = [c("demo-vpn-1", "vpn", 1, h="old"), c("demo-app-1", "app", 1)]
    plan = plan_project("demo", [DesiredService("vpn", "h1"),
                                 DesiredService("app", "h1", namespace_parents=("vpn",))],
                        existing, ["vpn", "app"])
    assert actions(plan.steps) == [(Action.RECREATE, "demo-vpn-1"),
                                   (Action.RECREATE, "demo-app-1")]


def test_scale_up_numbers_after_highest_existing():
    existing = [c("demo-web-1", "web", 1), c("demo-web-3", "web", 3)]
    steps = plan_service("demo", DesiredService("web", "h1", replicas=3), existing)
    assert actions(steps) == [(Action.NOOP, "demo-web-1"), (Action.NOOP, "demo-web-3"),
                              (Action.CREATE, "demo-web-4")]


def test_scale_down_removes_stale_first_then_highest():
    existing = [c("demo-web-1", "web", 1), c("demo-web-2", "web", 2, h="old"),
                c("demo-web-3", "web", 3), c("demo-web-4", "web", 4)]
    steps = plan_service("demo", DesiredService("web", "h1", replicas=2), existing)
    assert actions(steps) == [(Action.NOOP, "demo-web-1"), (Action.REMOVE, "demo-web-2"),
                              (Action.NOOP, "demo-web-3"), (Action.REMOVE, "demo-web-4")]


def test_scale_zero_removes_all():
    steps = plan_service("demo", DesiredService("web", "h1", replicas=0),
                         [c("demo-web-1", "web", 1)])
    assert actions(steps) == [(Action.REMOVE, "demo-web-1")]


def test_custom_container_name():
    steps = plan_service("demo", DesiredService("web", "h1", container_name="myweb"), [])
    assert actions(steps) == [(Action.CREATE, "myweb")]


def test_orphans_are_unknown_services_and_finished_oneoffs():
    existing = [c("demo-old-1", "old", 1), c("demo-web-1", "web", 1),
                c("demo-web-run-aaaaaaaaaaaa", "web", None, "exited", oneoff=True),
                c("demo-web-run-bbbbbbbbbbbb", "web", None, "running", oneoff=True)]
    plan = plan_project("demo", [DesiredService("web", "h1")], existing, ["web"])
    assert [o.name for o in plan.orphans] == ["demo-old-1", "demo-web-run-aaaaaaaaaaaa"]
    assert "demo-old-1" in orphan_warning(plan.orphans)
    assert "--remove-orphans" in orphan_warning(plan.orphans)


def test_printable_plan():
    plan = plan_project("demo", [DesiredService("web", "h1")], [c("demo-x-1", "x", 1)], ["web"])
    assert plan.describe() == ["create   demo-web-1", "orphan   demo-x-1"]


def test_stop_plan_orders_dependents_first_and_keeps_orphans_optional():
    existing = [c("demo-db-1", "db", 1), c("demo-web-1", "web", 1), c("demo-old-1", "old", 1),
                c("demo-web-run-a", "web", None, oneoff=True)]
    sp = plan_stop(existing, [["web"], ["db"]], include_orphans=False)
    assert [[x.name for x in g] for g in sp.generations] == [["demo-web-1"], ["demo-db-1"]]
    assert [x.name for x in sp.leftovers] == ["demo-web-run-a"]
    sp = plan_stop(existing, [["web"], ["db"]], include_orphans=True)
    assert [x.name for x in sp.leftovers] == ["demo-old-1", "demo-web-run-a"]


def test_removal_rounds_one_per_generation_or_all_at_once_without_grace_period():
    existing = [c("demo-db-1", "db", 1), c("demo-web-1", "web", 1), c("demo-old-1", "old", 1)]
    sp = plan_stop(existing, [["web"], ["db"]], include_orphans=True)
    names = lambda rounds: [[x.name for x in r] for r in rounds]   # noqa: E731
    assert names(removal_rounds(sp, None)) == [["demo-web-1"], ["demo-db-1"], ["demo-old-1"]]
    assert names(removal_rounds(sp, 5)) == names(removal_rounds(sp, None))
    assert names(removal_rounds(sp, 0)) == [["demo-web-1", "demo-db-1", "demo-old-1"]]
    sp = plan_stop(existing[:2], [["web"], ["db"]], include_orphans=False)
    assert names(removal_rounds(sp, None)) == [["demo-web-1"], ["demo-db-1"]]   # no empty round


def test_changed_image_behind_the_reference_recreates():
    current = Observed("x", "demo-web-1", "web", "running", "h1", 1, image="sha256:old")
    steps = plan_service("demo", DesiredService("web", "h1", image_id="sha256:new"), [current])
    assert actions(steps) == [(Action.RECREATE, "demo-web-1")]
    steps = plan_service("demo", DesiredService("web", "h1", image_id="sha256:old"), [current])
    assert actions(steps) == [(Action.NOOP, "demo-web-1")]
    legacy = Observed("x", "demo-web-1", "web", "running", "h1", 1, image="busybox")
    steps = plan_service("demo", DesiredService("web", "h1", image_id="sha256:new"), [legacy])
    assert actions(steps) == [(Action.NOOP, "demo-web-1")]
