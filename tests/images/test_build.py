"""Builds (slow: SLOW=0 or -m 'not slow' leaves them out): the layer cache
after a change to src/ only, and two --no-cache builds of one commit giving
a bit-identical binary and identical layers. Under test tags of this run,
removed afterwards with the layers they made."""

import hashlib
import os
import re
import time

import pytest

from harness import project
from harness.build import Builds, copy_context
from harness.image import Unpacked
from harness.report import info

pytestmark = pytest.mark.slow


def step_cached(log: str, pattern: str) -> bool:
    """Whether the build step whose line holds PATTERN came from the cache:
    buildah's `STEP n/m: ...` then `--> Using cache`; BuildKit's
    `#N [stage n/m] ...` then `#N CACHED`."""
    lines = log.splitlines()
    for i, line in enumerate(lines[:-1]):
        if re.search(r"STEP \d+/\d+: ", line) and pattern in line:
            return lines[i + 1].startswith("--> Using cache")
        if (step := re.match(r"#(\d+) \[[^]]*\d+/\d+\] ", line)) and pattern in line:
            return f"#{step.group(1)} CACHED" in lines
    raise AssertionError(f"no build step with {pattern!r} in the log")


@pytest.fixture(scope="module")
def src_change(engine, tmp_path_factory, host_arch):
    """scratch rebuilt from a copy of the context whose src/main.rs changed
    (the checkout is not touched): (the context, the build log, Builds)."""
    context = copy_context(tmp_path_factory.mktemp("context"))
    with open(context / "src/main.rs", "a") as f:
        f.write(f"// cache probe {time.time_ns()}\n")
    builds = Builds(engine)
    t0 = time.monotonic()
    done = builds.build("scratch", f"localhost/moscow-time-cache-probe-{os.getpid()}:scratch", CONTEXT=str(context))
    info(f"rebuild of scratch ({host_arch}) after a src/ change: {time.monotonic() - t0:.1f} s")
    yield context, done.stdout + done.stderr, builds
    builds.remove()


def test_cache_src_change(src_change):
    """After a src/ change the dependency layer is reused and only moscow-time recompiles."""
    _, log, _ = src_change
    assert step_cached(log, "rm -r target/"), "the dependency build step was not cached"
    compiled = re.findall(r"^(?:#\d+ [\d.]+ )?\s*Compiling (\S+) ", log, re.M)  # BuildKit: "#N SECONDS "
    assert compiled == ["moscow-time"], f"cargo compiled {compiled}"


def test_cache_shared_stage(src_change):
    """alpine and distroless reuse the build stage scratch just built."""
    context, _, builds = src_change
    for variant in ("alpine", "distroless"):
        done = builds.build(variant, f"localhost/moscow-time-cache-probe-{os.getpid()}:{variant}", CONTEXT=str(context))
        assert step_cached(done.stdout + done.stderr, "install -D -m 0755"), f"{variant} rebuilt the build stage"


def config_differences(a: dict, b: dict, path: str = "") -> list[str]:
    """The paths of the scalar fields that differ between two image configs."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a.keys() | b.keys() for d in config_differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return sorted({d for x, y in zip(a, b, strict=True) for d in config_differences(x, y, f"{path}[]")})
    return [path.lstrip(".")] if a != b else []


@pytest.mark.parametrize("variant", os.environ.get("REPRO_VARIANTS", "scratch").split())
def test_reproducible(engine, variant, tmp_path, host_arch, image_repo):
    """Two --no-cache builds of one commit: a bit-identical binary, identical
    layers and the same image ID (scripts/build-image.sh drops the random IDs
    buildah 1.28 writes into the docker-format config), so the same digests.
    Docker: the binary only (no --timestamp in Docker 20.10)."""
    builds = Builds(engine)
    try:
        unpacked = []
        for i in (1, 2):
            tag = f"localhost/moscow-time-repro-{os.getpid()}-{i}:{variant}"
            t0 = time.monotonic()
            builds.build(variant, tag, "--no-cache")
            info(f"clean (--no-cache) build {i} of {variant}: {time.monotonic() - t0:.0f} s")
            unpacked.append(Unpacked(engine, tag, tmp_path / f"repro-{i}"))
        a, b = unpacked
        sums = {hashlib.sha256(u.binary.read_bytes()).hexdigest() for u in unpacked}
        info(f"{variant} binary sha256: {' '.join(sums)}")
        assert len(sums) == 1, "the binaries differ"
        same_layers = a.config["rootfs"]["diff_ids"] == b.config["rootfs"]["diff_ids"]
        if engine.name == "docker":
            # Docker 20.10 cannot set file times (no --timestamp, no
            # SOURCE_DATE_EPOCH): the binary's layer carries the build's.
            info(f"{variant}: the two Docker builds' layers are {'the same' if same_layers else 'not the same'}")
        else:
            assert same_layers, "the layers differ"
        compare_shipped(engine, f"{image_repo}:{variant}-{host_arch}", a, sums.pop())
        if engine.name == "podman":
            ids = {engine.image_id(t) for t in builds.tags if t.endswith(f":{variant}")}
            info(f"{variant} image IDs of the two clean builds: {' '.join(ids)}")
            assert len(ids) == 1, f"the image IDs differ in {', '.join(sorted(config_differences(a.config, b.config)))}"
    finally:
        builds.remove()


def compare_shipped(engine, ref: str, clean: Unpacked, binary_sum: str):
    """The shipped image too, if it was built from this commit: the same
    binary, and the same layers unless they came from an older commit's cache
    (buildah's cache ignores --timestamp: such a layer keeps its file times)."""
    if (
        not engine.image_exists(ref)
        or engine.labels(ref).get("org.opencontainers.image.revision") != project.revision()
    ):
        info(f"{ref} is missing or from another commit: not compared")
        return
    shipped = Unpacked(engine, ref, clean.dir.parent / "shipped")
    assert hashlib.sha256(shipped.binary.read_bytes()).hexdigest() == binary_sum, (
        f"{ref} (cached build) has another binary"
    )
    same = shipped.config["rootfs"]["diff_ids"] == clean.config["rootfs"]["diff_ids"]
    info(f"{ref} (cached build) has {'the same' if same else 'other'} layers than the clean builds")
