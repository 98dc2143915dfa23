"""cachefrom's matching and the image document it makes again, as data."""
from __future__ import annotations

from engine.build.cache import step_fingerprint, step_key
from engine.build.cachefrom import Chain, match, restored_doc, step_comment

BASE = ({"created": "t0", "created_by": "import"},)
RUN = {"created": "t1", "created_by": "RUN touch a", "comment": step_comment("f1")}
ENV = {"created": "t2", "created_by": "ENV A=1", "empty_layer": True,
       "comment": step_comment("f2")}
SOURCE = Chain("sha256:src", (*BASE, RUN, ENV), ("sha256:l0", "sha256:l1"))
PARENT = Chain("sha256:base", BASE, ("sha256:l0",))


def test_the_next_entry_of_a_source_that_continues_the_parent_matches():
    assert match(PARENT, SOURCE, step_comment("f1")) == 1
    after_run = Chain("sha256:p1", (*BASE, RUN), ("sha256:l0", "sha256:l1"))
    assert match(after_run, SOURCE, step_comment("f2")) == 2


def test_another_step_or_another_parent_does_not():
    assert match(PARENT, SOURCE, step_comment("other")) is None
    other_base = Chain("sha256:b2", ({"created": "t9", "created_by": "import"},),
                       ("sha256:l0",))
    assert match(other_base, SOURCE, step_comment("f1")) is None
    other_layer = Chain("sha256:b3", BASE, ("sha256:lX",))
    assert match(other_layer, SOURCE, step_comment("f1")) is None
    whole = Chain("sha256:src", SOURCE.history, SOURCE.diff_ids)
    assert match(whole, SOURCE, step_comment("f1")) is None      # nothing after it


def test_a_source_missing_the_layer_of_its_entry_does_not_match():
    short = Chain("sha256:s2", (*BASE, RUN), ("sha256:l0",))
    assert match(PARENT, short, step_comment("f1")) is None


def test_from_scratch():
    src = Chain("sha256:s", (RUN,), ("sha256:l1",))
    assert match(None, src, step_comment("f1")) == 0


def test_restored_doc_is_the_parent_plus_the_entry_and_its_layer():
    parent_doc = {"architecture": "amd64", "os": "linux", "created": "t0", "container": "x",
                  "config": {"Cmd": ["sh"]}, "history": list(BASE),
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:l0"]}}
    doc = restored_doc(parent_doc, SOURCE, 1, {"Cmd": ["sh"], "Env": ["A=1"]})
    assert doc == {"architecture": "amd64", "os": "linux", "created": "t1",
                   "config": {"Cmd": ["sh"], "Env": ["A=1"]}, "history": [*BASE, RUN],
                   "rootfs": {"type": "layers", "diff_ids": ["sha256:l0", "sha256:l1"]}}
    assert parent_doc["history"] == list(BASE) and "container" in parent_doc  # not changed
    meta = restored_doc(doc, SOURCE, 2, {"Cmd": ["sh"]})
    assert meta["rootfs"]["diff_ids"] == ["sha256:l0", "sha256:l1"]
    assert meta["history"][-1] == ENV and meta["created"] == "t2"


def test_the_fingerprint_leaves_the_parent_out_and_the_key_keeps_it():
    assert step_fingerprint("RUN x", build_args={"A": "1"}) == \
        step_fingerprint("RUN x", build_args={"A": "1"})
    assert step_fingerprint("RUN x", build_args={"A": "1"}) != step_fingerprint("RUN x")
    assert step_fingerprint("COPY a b", content="h1") != step_fingerprint("COPY a b",
                                                                          content="h2")
    assert step_key("p1", "RUN x") != step_key("p2", "RUN x")
