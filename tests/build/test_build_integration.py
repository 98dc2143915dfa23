"""Real builds: RUN steps in containers made by the runtime, layers in a temp image store."""
from __future__ import annotations

import hashlib
import io
import tarfile
import time

import pytest

from engine.build.builder import BuildError
from engine.errors import PycomposeError

pytestmark = pytest.mark.integration

APP = """FROM busybox
ENV GREETING=hello
WORKDIR /app
COPY hello.txt .
RUN echo "$GREETING from run" > made.txt && cat hello.txt
CMD ["sh", "-c", "cat /app/hello.txt /app/made.txt; echo cwd=$(pwd)"]
"""


def cached_steps(messages) -> int:
    return sum(1 for m in messages if m.get("stream") == " ---> Using cache\n")


def test_multi_step_build_makes_an_image_whose_container_sees_the_files(env):
    env.write({"hello.txt": "hi there\n"})
    result, messages = env.build(APP, tags=("app:1",))
    out = env.output()
    assert "Step 1/6 : FROM busybox" in out and "Step 5/6 : RUN" in out
    assert "hi there\n" in out                     # RUN output is streamed
    assert messages[-2:] == [{"stream": f"Successfully built {result.image_id[7:19]}\n"},
                             {"stream": "Successfully tagged app:1\n"}]
    assert {"aux": {"ID": result.image_id}} in messages
    image = env.store.get("app:1")
    assert image.id == result.image_id
    assert image.config["Env"] == ["GREETING=hello"] and image.config["WorkingDir"] == "/app"
    code, output = env.run_image("app:1")
    assert (code, output) == (0, "hi there\nhello from run\ncwd=/app\n")
    history = [h["CreatedBy"] for h in env.store.history("app:1")]
    assert history[0] == 'CMD ["sh", "-c", "cat /app/hello.txt /app/made.txt; echo cwd=$(pwd)"]'
    assert history[1].startswith("RUN /bin/sh -c echo")
    env.assert_clean()


def test_rebuild_with_nothing_changed_is_fully_cached_and_fast(env):
    env.write({"hello.txt": "hi\n"})
    first, _ = env.build(APP, tags=("app:1",))
    started = time.monotonic()
    second, messages = env.build(APP, tags=("app:1",))
    elapsed = time.monotonic() - started
    assert second.image_id == first.image_id
    assert cached_steps(messages) == 5 == second.cached        # every step after FROM
    assert "Running in" not in env.output()
    assert elapsed < 1.0
    nocache, messages = env.build(APP, no_cache=True)
    assert cached_steps(messages) == 0 and nocache.image_id != first.image_id
    env.assert_clean()


def test_changing_one_copied_file_reruns_from_that_step(env):
    dockerfile = ("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /a.copy\n"
                  "COPY b.txt /b.txt\nRUN cat /a.txt /b.txt > /both\nCMD [\"cat\", \"/both\"]\n")
    env.write({"a.txt": "A\n", "b.txt": "B1\n"})
    env.build(dockerfile, tags=("two:1",))
    env.write({"b.txt": "B2\n"})
    result, messages = env.build(dockerfile, tags=("two:1",))
    out = env.output()
    assert cached_steps(messages) == 2                    # COPY a.txt, RUN cat a.txt
    assert out.count("Running in") == 1                   # only the RUN after COPY b.txt
    assert env.run_image("two:1") == (0, "A\nB2\n")
    env.assert_clean()


def test_secret_is_readable_during_the_step_and_absent_from_layers_and_history(env, tmp_path):
    secret = tmp_path / "token"
    value = "s3cr3t-value-93817"
    secret.write_text(value)
    dockerfile = ("FROM busybox\nRUN --mount=type=secret,id=tok "
                  "md5sum /run/secrets/tok && echo made > /made\n")
    result, _ = env.build(dockerfile, tags=("sec:1",), secrets={"tok": str(secret)})
    assert hashlib.md5(value.encode()).hexdigest() + "  /run/secrets/tok" in env.output()
    blobs = env.layer_tars("sec:1")
    assert not any(value.encode() in blob for blob in blobs)
    top = blobs[-2]                                        # the RUN step's layer
    names = tarfile.open(fileobj=io.BytesIO(top)).getnames()
    assert "made" in names and not any(n.startswith("run") for n in names), names
    assert env.run_image("sec:1", ("sh", "-c", "ls /run/secrets 2>&1 || echo gone"))[1] \
        .strip().endswith("gone")
    env.assert_clean()


def test_cache_mount_persists_across_builds_and_stays_out_of_the_image(env):
    dockerfile = ("FROM busybox\nRUN --mount=type=cache,target=/cache "
                  "echo run >> /cache/log && echo count=$(wc -l < /cache/log)\n")
    env.build(dockerfile)
    assert "count=1" in env.output()
    env.build(dockerfile, no_cache=True, tags=("cm:1",))
    assert "count=2" in env.output()
    assert env.run_image("cm:1", ("sh", "-c", "ls -A /cache 2>&1 | wc -l"))[1].strip() in \
        ("0", "1")   # no log file in the image (an absent dir or an empty one)
    assert not any(b"run\nrun\n" in blob for blob in env.layer_tars("cm:1"))
    env.assert_clean()


def test_failing_run_shows_output_and_code_and_leaves_nothing(env):
    dockerfile = "FROM busybox\nRUN echo partial > /x\nRUN echo about-to-fail && exit 3\n"
    with pytest.raises(BuildError) as err:
        env.build(dockerfile, tags=("broken:1",))
    assert str(err.value) == ("The command '/bin/sh -c echo about-to-fail && exit 3' "
                              "returned a non-zero code: 3")
    assert "about-to-fail" in env.output()
    with pytest.raises(PycomposeError, match="No such image"):
        env.store.get("broken:1")
    env.assert_clean()


def test_missing_command_is_a_one_line_error_and_leaves_nothing(env):
    with pytest.raises(PycomposeError) as err:
        env.build("FROM busybox\nRUN [\"/no/such/binary\"]\n", tags=("nocmd:1",))
    assert "\n" not in str(err.value)
    env.assert_clean()


def test_target_and_copy_from_stage(env):
    dockerfile = """FROM busybox AS builder
RUN mkdir /out && echo built > /out/artifact
FROM busybox AS unused
RUN echo never-runs
FROM busybox
COPY --from=builder /out/artifact /artifact
CMD ["cat", "/artifact"]
"""
    result, _ = env.build(dockerfile, tags=("final:1",))
    assert "never-runs" not in env.output()       # only needed stages are built
    assert env.run_image("final:1") == (0, "built\n")
    target, _ = env.build(dockerfile, tags=("builder:1",), target="builder")
    out = env.output()
    assert "Step 2/2 : RUN mkdir" in out and "COPY" not in out
    assert env.run_image("builder:1", ("cat", "/out/artifact")) == (0, "built\n")
    assert env.run_image("builder:1", ("sh", "-c", "test -e /artifact || echo no"))[1] == "no\n"
    with pytest.raises(PycomposeError, match="failed to reach build target nope"):
        env.build(dockerfile, target="nope")
    env.assert_clean()


def test_deleting_a_file_in_run_is_a_whiteout(env):
    result, _ = env.build("FROM busybox\nRUN rm /var/www/index.html\n", tags=("del:1",))
    top = env.layer_tars("del:1")[-2]
    assert "var/www/.wh.index.html" in tarfile.open(fileobj=io.BytesIO(top)).getnames()
    assert env.run_image("del:1", ("sh", "-c", "test -e /var/www/index.html || echo gone"))[1] \
        == "gone\n"
    # a directory removed and made again hides everything below it: an opaque directory
    env.build("FROM busybox\nRUN rm -rf /var/www && mkdir /var/www && echo n > /var/www/new\n",
              tags=("opq:1",))
    top = env.layer_tars("opq:1")[-2]
    assert "var/www/.wh..wh..opq" in tarfile.open(fileobj=io.BytesIO(top)).getnames()
    assert env.run_image("opq:1", ("ls", "/var/www")) == (0, "new\n")
    env.assert_clean()


def test_add_extracts_local_archives_and_chown_applies(env):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"from the archive\n"
        info = tarfile.TarInfo("pkg/inside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    env.write({"bundle.tar.gz": buf.getvalue(), "plain.txt": "p\n"})
    dockerfile = ("FROM busybox\nADD bundle.tar.gz /opt/\n"
                  "COPY --chown=app:app plain.txt /home/app/\nARG WHO=nobody\nUSER ${WHO}\n")
    env.build(dockerfile, tags=("add:1",), build_args={"WHO": "app", "UNUSED": "1"})
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in env.output()
    assert env.run_image("add:1", ("cat", "/opt/pkg/inside.txt")) == (0, "from the archive\n")
    assert env.run_image("add:1", ("stat", "-c", "%u:%g", "/home/app/plain.txt")) == \
        (0, "1000:1000\n")
    assert env.store.get("add:1").config["User"] == "app"
    env.build("FROM add:1\nRUN echo home=$HOME user=$(id -u)\n")
    assert "home=/home/app user=1000" in env.output()
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: ADD from a URL is not supported"):
        env.build("FROM busybox\nADD http://example.invalid/x /x\n")
    env.assert_clean()


def test_copy_errors_name_the_line(env):
    env.write({".dockerignore": "secret.txt\n", "secret.txt": "x", "a": "1", "b": "2"})
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: COPY failed: file not found in "
                                             r"build context or excluded by \.dockerignore"):
        env.build("FROM busybox\nCOPY secret.txt /\n")
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: When using COPY with more than "
                                             r"one source file"):
        env.build("FROM busybox\nCOPY a b /dest\n")
    with pytest.raises(PycomposeError, match=r"Dockerfile:3: COPY failed: forbidden path"):
        env.build("FROM busybox\n\nCOPY ../x /\n")
    env.assert_clean()


def test_metadata_instructions_change_the_config_without_layers(env):
    dockerfile = """FROM busybox
LABEL a=1 "b c"=2
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/echo"]
CMD ["x"]
ONBUILD RUN echo later
USER 1000:1000
"""
    result, _ = env.build(dockerfile, tags=("meta:1",), labels={"extra": "yes"})
    image = env.store.get("meta:1")
    base = env.store.get("busybox:latest")
    assert image.diff_ids == base.diff_ids
    cfg = image.config
    assert cfg["Labels"] == {"a": "1", "b c": "2", "extra": "yes"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000,
                                  "Retries": 2}
    assert cfg["Shell"] == ["/bin/sh", "-ec"] and cfg["Entrypoint"] == ["/bin/echo"]
    assert cfg["Cmd"] == ["x"] and cfg["OnBuild"] == ["RUN echo later"]
    assert cfg["User"] == "1000:1000"
    env.assert_clean()


def test_scratch_base_with_a_static_shell_and_global_args(env):
    import shutil
    shutil.copy("/bin/busybox", env.ctx / "busybox")
    env.write({"data/keep.txt": "k\n", "data/skip.log": "s\n"})
    dockerfile = """ARG BASE=127.0.0.1:9/nonexistent
FROM ${BASE} AS tools
FROM scratch
COPY busybox /bin/busybox
COPY --exclude=*.log data/ /data/
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir /made && /bin/busybox ls /data > /made/list"]
CMD ["/bin/busybox", "cat", "/made/list"]
"""
    env.build(dockerfile, tags=("scratchy:1",), build_args={"BASE": "busybox"})
    assert env.run_image("scratchy:1") == (0, "keep.txt\n")
    assert len(env.store.get("scratchy:1").diff_ids) == 3
    # the unused `tools` stage was skipped; as the target its base must be found (or pulled)
    started = time.monotonic()
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: FROM 127\.0\.0\.1:9/nonexistent: "):
        env.build(dockerfile, target="tools")
    assert time.monotonic() - started < 60
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: RUN --security=insecure"):
        env.build("FROM busybox\nRUN --security=insecure true\n")
    env.assert_clean()


def test_chown_chmod_flags_expand_and_bad_values_name_the_line(env):
    env.write({"f.txt": "f\n"})
    env.build("FROM busybox\nARG OWNER=app\nCOPY --chown=${OWNER} --chmod=0640 f.txt /f.txt\n",
              tags=("own:1",))
    assert env.run_image("own:1", ("stat", "-c", "%U %a", "/f.txt")) == (0, "app 640\n")
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: COPY --chown=ghost: "):
        env.build("FROM busybox\nCOPY --chown=ghost f.txt /f.txt\n")
    with pytest.raises(PycomposeError, match=r"Dockerfile:2: invalid chmod parameter"):
        env.build("FROM busybox\nCOPY --chmod=abc f.txt /f.txt\n")
    with pytest.raises(PycomposeError, match=r"Dockerfile:3: USER nobody2: "):
        env.build("FROM busybox\nUSER nobody2\nRUN true\n")
    env.assert_clean()


def test_cancelled_build_kills_the_step_and_leaves_nothing(env):
    import trio

    from engine.build.builder import BuildOptions
    from engine.build.context import BuildContext
    env.write({"Dockerfile": "FROM busybox\nRUN echo started && sleep 60\n"})
    seen: list[str] = []

    async def go():
        running = trio.Event()

        def emit(msg):
            seen.append(msg.get("stream", ""))
            if msg.get("stream") == "started\n":
                running.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(env.builder.build, BuildContext(env.ctx), BuildOptions(), emit)
            with trio.fail_after(20):
                await running.wait()
            nursery.cancel_scope.cancel()

    started = time.monotonic()
    env.run_trio(go)
    assert time.monotonic() - started < 15
    assert "started\n" in seen
    env.assert_clean()


def test_leftovers_of_a_crashed_build_are_cleaned_at_start_of_the_next_engine(env):
    from engine.build.sandbox import Sandbox, cgroup_prefix
    from engine.runtime.spec import Resources
    lowers = env.store.layer_paths(env.store.get("busybox:latest"))
    stale = Sandbox(lowers, env.builder.work).__enter__()     # as if the process died here
    cgroup = env.driver.create(cgroup_prefix(env.builder.scope) + "deadbeef0000", Resources())
    other = env.driver.create(cgroup_prefix("otherroot") + "deadbeef0000", Resources())
    try:
        env.builder.cleanup_stale()
        assert not stale.dir.exists()
        assert not any(d.exists() for d in cgroup.dirs)
        assert all(d.exists() for d in other.dirs)          # another engine's build: untouched
    finally:
        other.remove()
    env.assert_clean()
