"""The choice of bases (scripts/build-image.sh), checked by what the built
images' labels say and what the user reads. No check talks to a registry:
an unreachable one is a copy of Containerfile.scratch whose pins name
registry.invalid, which never resolves (RFC 2606). This machine's
architecture, scratch and distroless only: their build stage comes from the
cache of `just images`, so each build is a few seconds."""

import fnmatch
import os
import re
import time

import pytest

from harness import project

STAND_IN_BUILDER = project.lib_sh("stand_in_builder")[0]
STAND_IN_DISTROLESS = project.lib_sh("stand_in_distroless")[0]
LABELS = [project.lib_sh(k)[0] for k in ("bases_label", "builder_label", "base_label")]
UNREACHABLE_BUILDER = "registry.invalid/library/rust:1.95.0-alpine3.23"


@pytest.fixture
def repo() -> str:
    return f"localhost/moscow-time-bases-test-{os.getpid()}"


@pytest.fixture
def unreachable(tmp_path):
    """Containerfile.scratch whose pins cannot be pulled: the same digests, another registry."""
    f = tmp_path / "Containerfile.unreachable"
    text = (project.ROOT / "Containerfile.scratch").read_text()
    f.write_text(re.sub(r"^(ARG [A-Z_]*_IMAGE=)[^/]*/", r"\1registry.invalid/", text, flags=re.M))
    return str(f)


def labels(engine, ref: str) -> list[str]:
    """[bases, builder, base] from the image's labels ('' if absent)."""
    found = engine.labels(ref)
    return [found.get(k, "") for k in LABELS]


def announced(done, pattern: str) -> None:
    """Exactly one `bases: ` line, and it matches the glob PATTERN."""
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("bases: ")]
    assert len(lines) == 1 and fnmatch.fnmatchcase(lines[0], pattern), f"announcement: {lines}"


def test_forced_stand_in(builds, repo, host_arch):
    """BASES=stand-in: scratch and distroless are built on the stand-ins and labelled so."""
    done = builds.build("scratch", f"{repo}:scratch", BASES="stand-in")
    announced(done, "bases: BASES=stand-in: scratch is built on local stand-ins*")
    assert labels(builds.engine, f"{repo}:scratch-{host_arch}") == ["stand-in", STAND_IN_BUILDER, ""]
    builds.build("distroless", f"{repo}:distroless", BASES="stand-in")
    assert labels(builds.engine, f"{repo}:distroless-{host_arch}") == [
        "stand-in", STAND_IN_BUILDER, f"{STAND_IN_DISTROLESS}-{host_arch}"
    ]  # fmt: skip


def test_forced_upstream_fails(builds, repo, host_arch, unreachable):
    """No registry, BASES=upstream: fails within 15 s with one line, builds nothing."""
    t0 = time.monotonic()
    done = builds.build("scratch", f"{repo}:scratch", BASES="upstream", CONTAINERFILE=unreachable, check=False)
    seconds = time.monotonic() - t0
    out = (done.stdout + done.stderr).rstrip("\n")
    assert done.returncode != 0, "it succeeded"
    assert len(out.splitlines()) == 1, out
    assert fnmatch.fnmatchcase(
        out,
        f"error: BASES=upstream, but {UNREACHABLE_BUILDER} (pinned) is not here for linux/{host_arch} and cannot be "
        "pulled (*); *BASES unset to use the local stand-ins",
    ), out
    assert seconds <= 15, f"took {seconds:.0f} s"
    assert not builds.engine.image_exists(f"{repo}:scratch-{host_arch}"), "an image was built"


def test_automatic_falls_back(builds, repo, host_arch, unreachable):
    """No registry, BASES unset: the stand-ins, announced in one line, labelled stand-in."""
    done = builds.build("scratch", f"{repo}:scratch", CONTAINERFILE=unreachable)
    announced(
        done,
        f"bases: {UNREACHABLE_BUILDER} (registry.invalid: *) cannot be pulled, so scratch is built on local "
        "stand-ins*BASES=upstream*BASES=stand-in*",
    )
    assert labels(builds.engine, f"{repo}:scratch-{host_arch}") == ["stand-in", STAND_IN_BUILDER, ""]


def test_automatic_local_pin(builds, repo, host_arch, tmp_path):
    """BASES unset, the pin is in the store: the pin (upstream), no stand-in, labelled upstream."""
    pin = f"registry.invalid/moscow-time-test-{os.getpid()}/rust:pinned"
    builds.engine("tag", STAND_IN_BUILDER, pin)
    builds.tags.append(pin)
    f = tmp_path / "Containerfile.local-pin"
    text = (project.ROOT / "Containerfile.scratch").read_text()
    f.write_text(re.sub(r"^ARG BUILDER_IMAGE=.*$", f"ARG BUILDER_IMAGE={pin}", text, flags=re.M))
    done = builds.build("scratch", f"{repo}:scratch", CONTAINERFILE=str(f))
    assert "bases: " not in done.stdout + done.stderr
    assert labels(builds.engine, f"{repo}:scratch-{host_arch}") == ["upstream", pin, ""]


def test_named_wins(builds, repo, host_arch, unreachable):
    """BUILDER_IMAGE named: used as it is, even with BASES=upstream and no registry, labelled named."""
    builds.build(
        "scratch", f"{repo}:scratch", BASES="upstream", CONTAINERFILE=unreachable, BUILDER_IMAGE=STAND_IN_BUILDER
    )
    assert labels(builds.engine, f"{repo}:scratch-{host_arch}") == ["named", STAND_IN_BUILDER, ""]
