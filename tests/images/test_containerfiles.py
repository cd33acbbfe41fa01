"""The three Containerfiles as files: one shared build stage that runs on the
build platform, pinned bases, the lab's WORKDIR practice, an allow-list
build context, and hadolint's rules."""

import re
import shutil

import pytest

from harness import project
from harness.shell import run

BUILD_FROM = "FROM --platform=${BUILDPLATFORM} ${BUILDER_IMAGE} AS build"
PINNED = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+/[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}")


def build_stage(variant: str) -> str:
    """From the builder ARG to the last line before the runtime stage."""
    lines = (project.ROOT / f"Containerfile.{variant}").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ARG BUILDER_IMAGE="))
    end = next(i for i, line in enumerate(lines) if line.startswith("# Runtime stage"))
    return "\n".join(lines[start:end]).rstrip()


def test_same_build_stage():
    """The build stage is byte-identical in all three (built once per architecture)."""
    scratch = build_stage("scratch")
    assert BUILD_FROM in scratch, "no build stage found in Containerfile.scratch"
    for variant in ("alpine", "distroless"):
        assert build_stage(variant) == scratch, f"Containerfile.{variant}'s build stage differs from scratch's"


def test_workdir_before_copy():
    """The build stage sets an absolute WORKDIR before its first COPY (the
    lab's practice; hadolint's DL3003 rejects a `cd` in RUN instead)."""
    for line in build_stage("scratch").splitlines():
        words = line.split()
        if words[:1] == ["WORKDIR"] and words[1].startswith("/"):
            return
        if words[:1] == ["COPY"]:
            break
    pytest.fail("no absolute WORKDIR before the first COPY of the build stage")


def test_build_platform():
    """The build stage runs on the build platform and cross-compiles (nothing emulated)."""
    assert BUILD_FROM in build_stage("scratch").splitlines()


@pytest.mark.parametrize("variant", project.VARIANTS)
def test_pinned_bases(variant):
    """Every FROM is scratch, the build stage, or a base ARG whose default is
    a fully qualified registry/name:tag@sha256:digest."""
    text = (project.ROOT / f"Containerfile.{variant}").read_text()
    for words in (line.split() for line in text.splitlines() if line.startswith("FROM ")):
        ref = words[2] if words[1].startswith("--platform=") else words[1]
        if ref in ("scratch", "build"):
            continue
        name = re.fullmatch(r"\$\{(\w+)\}", ref)
        assert name, f"FROM {ref} is not a base ARG, scratch or the build stage"
        default = re.search(rf"^ARG {name[1]}=(.*)$", text, re.M)
        assert default and PINNED.fullmatch(default[1]), f"{name[1]}={default and default[1]!r} is not pinned"


def test_containerignore_allow_list():
    """.containerignore ignores everything, then allows back exactly what the build compiles."""
    rules = [
        line
        for line in (project.ROOT / ".containerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules == ["**", "!Cargo.toml", "!Cargo.lock", "!src/", "!musl/target-spec.sh"]


def test_dockerignore_same():
    """.dockerignore is the same allow-list (Docker reads that name)."""
    assert (project.ROOT / ".dockerignore").read_bytes() == (project.ROOT / ".containerignore").read_bytes()


def test_hadolint():
    run(["hadolint", *project.CONTAINERFILES])


def test_checkov(tmp_path):
    """checkov (offline) finds nothing in the Containerfiles. It reads only files
    named Dockerfile*, so each is copied as Dockerfile.VARIANT. A skip is a
    `# checkov:skip=CHECK_ID: reason` comment beside the line it excuses."""
    for f in project.CONTAINERFILES:
        shutil.copy(f, tmp_path / f"Dockerfile.{f.suffix[1:]}")
    run(["checkov", "--quiet", "--compact", "--skip-download", "--framework", "dockerfile", "--directory", tmp_path])
