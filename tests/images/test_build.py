"""The layer cache (slow: SLOW=0 or -m 'not slow' leaves it out): after a
change to src/ only, under test tags of this run, removed afterwards with the
layers they made. The clean builds are test_reproducible.py's."""

import os
import re
import time

import pytest

from harness.build import Builds, copy_context
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
