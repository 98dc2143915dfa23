"""Real builds with Docker's classic-builder options: extrahosts, cachefrom, the red stderr."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.build.builder import Builder
from engine.build.stepnet import NONE, StepNetwork

pytestmark = pytest.mark.integration

EXTRA = (("hello.world.test", "127.0.0.1"), ("extrahost.local.test", "10.11.12.13"))

APP = """FROM busybox
ENV FOO=bar
COPY msg.txt /msg.txt
RUN cp /msg.txt /made.txt && touch /baz
RUN touch /bax
CMD ["cat", "/made.txt"]
"""


def cached_steps(messages) -> int:
    return sum(1 for m in messages if m.get("stream") == " ---> Using cache\n")


@pytest.mark.parametrize("network", [StepNetwork(), StepNetwork(NONE)])
def test_extra_hosts_are_in_run_steps_etc_hosts_and_not_in_the_layer(env, network):
    result, _ = env.build("FROM busybox\nRUN cp /etc/hosts /hosts-file && "
                          "ping -c1 -W2 hello.world.test\n",
                          tags=("eh:1",), extra_hosts=EXTRA, network=network)
    code, hosts = env.run_image("eh:1", ("cat", "/hosts-file"))
    assert code == 0
    assert "127.0.0.1\thello.world.test\n" in hosts
    assert "10.11.12.13\textrahost.local.test\n" in hosts
    if network.kind == NONE:
        assert hosts.startswith("127.0.0.1\tlocalhost\n")
    else:   # the host's own entries come first
        assert hosts.startswith(Path("/etc/hosts").read_text().rstrip("\n") + "\n")
    # the image's /etc/hosts is its own: the step's file was a mount
    code, own = env.run_image("eh:1", ("cat", "/etc/hosts"))
    assert "extrahost.local.test" not in own
    changed = [line for line in _layer_names(env, "eh:1")]
    assert "etc/hosts" not in changed and "hosts-file" in changed
    env.assert_clean()


def _layer_names(env, ref: str) -> list[str]:
    import tarfile
    image = env.store.get(ref)
    last = env.store.layer_refs(image)[-1]
    with tarfile.open(env.store.blob_path(last.blob)) as tar:
        return [m.name.lstrip("./") for m in tar.getmembers()]


def test_stderr_of_a_run_step_is_wrapped_in_red_and_stdout_is_not(env):
    snippet = "Ancient Temple (Mystic Oriental Dream ~ Ancient Temple)"
    env.build(f"FROM busybox\nRUN echo out && sh -c \">&2 echo '{snippet}'\"\n",
              no_cache=True)
    streams = [m.get("stream") for m in env.messages]
    assert f"\x1b[91m{snippet}\n\x1b[0m" in streams
    assert "out\n" in streams
    env.assert_clean()


def test_cachefrom_reuses_every_step_of_a_saved_and_loaded_image_on_a_fresh_store(
        env, tmp_path):
    from engine.build.context import BuildContext
    from engine.build.builder import BuildOptions
    from engine.images.store import ImageStore
    env.write({"msg.txt": "from the cache source\n"})
    first, _ = env.build(APP, tags=("app:1",))
    archive = io.BytesIO()
    env.store.save(["app:1", "busybox:latest"], archive)

    # another engine: nothing but the archive (no intermediate images, no step cache)
    fresh = ImageStore(tmp_path / "fresh" / "images")
    archive.seek(0)
    fresh.load(archive)
    builder = Builder(fresh, env.runtime, env.driver, tmp_path / "fresh" / "build")

    def build(**options):
        messages: list[dict] = []
        result = env.run_trio(lambda: builder.build(BuildContext(env.ctx),
                                                    BuildOptions(**options), messages.append))
        return result, messages

    second, messages = build(tags=("app:2",), cache_from=("app:1",))
    text = "".join(m.get("stream", "") for m in messages)
    assert cached_steps(messages) == 5 == second.cached      # every step after FROM
    assert "Running in" not in text
    # each step made again as it was made: the very same image
    assert second.image_id == first.image_id
    assert [h["Id"] for h in fresh.history("app:2")] == [h["Id"] for h in
                                                          env.store.history("app:1")]

    # a changed file: the COPY and what follows run; ENV before it still comes from the source
    env.write({"msg.txt": "changed\n"})
    third, messages = build(cache_from=("app:1",))
    assert cached_steps(messages) == 1 and third.image_id != first.image_id
    env.write({"msg.txt": "from the cache source\n"})

    # Docker's rule: with cachefrom the sources are the only cache
    fourth, messages = build(cache_from=("nosuchtag",))
    assert cached_steps(messages) == 0 and "Running in" in "".join(
        m.get("stream", "") for m in messages)
    # and without it the local step cache answers: the last build made each step anew
    fifth, messages = build()
    assert cached_steps(messages) == 5 and fifth.image_id == fourth.image_id
    env.assert_clean()
    assert not [p for p in (tmp_path / "fresh" / "build" / "work").iterdir()]


def test_cachefrom_after_the_intermediate_images_and_step_cache_are_gone(env):
    from engine.api.routes_images import clear_build_cache
    env.write({"msg.txt": "x\n"})
    first, _ = env.build(APP, tags=("app:1",))
    archive = io.BytesIO()
    env.store.save(["app:1"], archive)
    clear_build_cache(env.builder.cache)
    env.store.remove("app:1", False, prune=True)      # its untagged parents go with it
    archive.seek(0)
    env.store.load(archive)                           # back, alone
    assert len(env.store.list()) == 2                  # busybox and app:1
    _, messages = env.build(APP)
    assert cached_steps(messages) == 0                 # without cachefrom: all made again
    env.store.remove("app:1", False, prune=True)
    archive.seek(0)
    env.store.load(archive)
    clear_build_cache(env.builder.cache)
    result, messages = env.build(APP, cache_from=("app:1",))
    assert cached_steps(messages) == 5 and result.image_id == first.image_id
    env.assert_clean()


def test_steps_that_change_nothing_share_a_layer_and_the_image_still_mounts(env):
    # two RUNs with identical (empty) layers: the image lists that layer twice
    result, _ = env.build("FROM busybox\nRUN true\nRUN true\nRUN echo made > /f\n",
                          tags=("same:1",))
    image = env.store.get("same:1")
    assert len(image.diff_ids) == 4 and image.diff_ids[1] == image.diff_ids[2]
    assert env.run_image("same:1", ("cat", "/f")) == (0, "made\n")
    env.assert_clean()
