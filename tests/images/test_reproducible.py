"""Reproducible images (slow: SLOW=0 or -m 'not slow' leaves them out): a
build of one commit in a clean store of its own gives the images the cached
build gave. `just test` runs this beside the checks that mostly wait (niced:
parts.sh beside), so the builds here take the CPU they leave idle."""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from harness import project
from harness.image import BASE_LABEL
from harness.project import build_arch
from harness.report import info
from harness.shell import output, run

pytestmark = pytest.mark.slow

VARIANTS = ("alpine", "distroless", "scratch")
# The architectures of test_reproducible: this machine's in `just test`;
# `just reproducible` sets both (two more compiles a round).
REPRO_ARCHS = os.environ.get("REPRO_ARCHS") or build_arch()


# Run beside other parts (scripts/parts.sh beside), the builds' containers
# join its cgroup of the least CPU share: a container's cgroup of its own
# would not keep the priority of the process that started it.
BUILD_PRIORITY = ["--cgroup-parent", cgroup] if (cgroup := os.environ.get("BESIDE_CGROUP")) else []


class Built(NamedTuple):
    """One image of a clean build."""

    id: str
    layers: list[str]
    pushed: str  # the manifest digest `just publish` would push


class Store:
    """A podman store: the default one, or with ENV one of its own."""

    def __init__(self, folder: Path, env: dict | None = None):
        self.folder = folder
        self.env = env or dict(os.environ)

    def image(self, ref: str, name: str) -> Built:
        """What REF is, and the digest it gets pushed as NAME."""
        image = json.loads(output(["podman", "image", "inspect", ref], env=self.env))[0]
        return Built(image["Id"], image["RootFS"]["Layers"], self.push(ref, name))

    def push(self, image: str, name: str) -> str:
        """The digest IMAGE gets when pushed as `just publish` pushes it
        (Docker v2s2, gzip layers): the sha256 of the manifest written to a
        dir: layout, the bytes a registry would serve."""
        layout = self.folder / "pushed" / name
        layout.parent.mkdir(parents=True, exist_ok=True)
        output(["podman", "push", "--quiet", "--format", "v2s2", "--compress", image, f"dir:{layout}"], env=self.env)
        return "sha256:" + hashlib.sha256((layout / "manifest.json").read_bytes()).hexdigest()


class CleanStore(Store):
    """A podman store of its own in FOLDER, empty; with BASES it reads the
    images of the store whose graph root that is (one that holds the bases
    alone, as a pull would bring them): a build in it shares no cache with
    any other build."""

    def __init__(self, folder: Path, bases: Path | None = None):
        folder.mkdir(parents=True)
        conf = folder / "storage.conf"
        conf.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{folder}/graph"\nrunroot = "{folder}/run"\n'
            + (f'[storage.options]\nadditionalimagestores = ["{bases}"]\n' if bases else "")
        )
        super().__init__(folder, {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)})

    def build(self, variants, archs: str, **env: str) -> dict[str, Built]:
        """VARIANTS for ARCHS, as scripts/build-image.sh builds them (with
        ENV), by "VARIANT-ARCH"."""
        images = {}
        for variant in variants:
            t0 = time.monotonic()
            tag = f"localhost/moscow-time-repro:{variant}"
            script = [project.ROOT / "scripts/build-image.sh", variant, *BUILD_PRIORITY]
            run(script, env={**self.env, "ARCHS": archs, "TAG": tag, **env})
            info(f"clean build of {variant} ({archs}): {time.monotonic() - t0:.0f} s")
            for arch in archs.split():
                images[f"{variant}-{arch}"] = self.image(f"{tag}-{arch}", f"{variant}-{arch}")
        return images

    def remove(self) -> None:
        remove_store(self.folder)


def remove_store(folder: Path) -> None:
    """The store of FOLDER/storage.conf emptied, then FOLDER. Not `podman
    system reset`: that also removes podman's run directory (/run/libpod),
    which every store shares, under the feet of a podman running beside."""
    conf = {**os.environ, "CONTAINERS_STORAGE_CONF": str(folder / "storage.conf")}
    run(["podman", "rmi", "--all", "--force"], env=conf, check=False)
    # What a failed build may have left mounted, innermost first.
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{folder}/")), reverse=True):
        run(["umount", mount], check=False)
    shutil.rmtree(folder, ignore_errors=True)


def clean_build(bases: Path, folder: Path, variants, archs: str, **env: str) -> dict[str, Built]:
    """The images of one build of this checkout in a clean store."""
    store = CleanStore(folder, bases)
    try:
        return store.build(variants, archs, **env)
    finally:
        store.remove()


def two_clean_builds(bases: Path, folder: Path, variants, archs: str, **env: str) -> tuple[dict, dict]:
    """The images of two builds of this checkout, each in a clean store."""
    first, second = (clean_build(bases, folder / f"round-{i}", variants, archs, **env) for i in (1, 2))
    pushed = (f"  {image}: {first[image].pushed} {second[image].pushed}" for image in first)
    info("pushed digests of two clean builds:\n" + "\n".join(pushed))
    return first, second


def differences(first: dict, second: dict) -> list[str]:
    """What differs between two builds' images: "IMAGE: layers", "IMAGE:
    config" when only the image IDs do, or "IMAGE: pushed digest" when only
    the compressed push does."""
    found = []
    for image in first:
        a, b = first[image], second[image]
        if a.layers != b.layers:
            found.append(f"{image}: layers")
        elif a.id != b.id:
            found.append(f"{image}: config")
        elif a.pushed != b.pushed:
            found.append(f"{image}: pushed digest")
    return found


def bases_store(engine, names) -> Path:
    """The graph root of a podman store that holds the images NAMES and
    nothing else, for clean stores to read as an additional image store.
    Copying the bases (the builder is over 1.5 GiB) takes a minute or more,
    so the store is kept in ~/.cache/moscow-time/ for as long as the bases
    keep their IDs: one set at a time, the last one asked for."""
    ids = [engine.image_id(name) for name in sorted(names)]
    key = hashlib.sha256(" ".join(sorted(names) + ids).encode()).hexdigest()[:16]
    cache = project.cache_dir() / "clean-bases"
    folder = cache / key
    if not (folder / "complete").exists():
        for old in cache.glob("*") if cache.exists() else ():
            remove_store(old)
        store = CleanStore(folder)
        archive = folder / "bases.tar"
        engine("save", "--multi-image-archive", "--output", archive, *sorted(names))
        output(["podman", "load", "--quiet", "--input", archive], env=store.env)
        archive.unlink()
        (folder / "complete").touch()
    return folder / "graph"


@pytest.fixture(scope="module")
def bases(engine, image_repo) -> dict[str, str]:
    """The bases the images here were built on, as their labels name them
    (the stand-ins, or the pinned upstream ones): {"builder" or
    "VARIANT-ARCH": name}."""
    if engine.name != "podman":
        pytest.skip("podman only: Docker 20.10 cannot set file times (docs/docker.md)")
    found = {}
    for variant in VARIANTS:
        for arch in REPRO_ARCHS.split():
            labels = engine.labels(f"{image_repo}:{variant}-{arch}")
            found["builder"] = labels[project.lib_sh("builder_label")[0]]
            if BASE_LABEL in labels:
                found[f"{variant}-{arch}"] = labels[BASE_LABEL]
    return found


def test_reproducible(engine, image_repo, bases, tmp_path):
    """A build of one commit in a clean store of its own (no layer cache at
    all) gives every image the same layers, the same ID and, pushed as `just
    publish` pushes, the same digest as the build `just images` made with its
    cache: scripts/build-image.sh stamps the inputs' commit time on every file
    and drops the random IDs buildah 1.28 writes into the config. Where the
    two differ (the cache holds layers of other inputs, or the build is not
    reproducible), a second clean build decides; `just reproducible` always
    compares two clean builds and records them."""
    bases_graph = bases_store(engine, set(bases.values()))
    if results := os.environ.get("REPRO_RESULTS"):
        first, second = two_clean_builds(bases_graph, tmp_path, VARIANTS, REPRO_ARCHS)
        write_results(Path(results), first, second)
        assert differences(first, second) == []
        return
    clean = clean_build(bases_graph, tmp_path / "clean", VARIANTS, REPRO_ARCHS)
    local = Store(tmp_path / "local")
    here = {image: local.image(f"{image_repo}:{image}", image) for image in clean}
    if (found := differences(clean, here)) == []:
        info(f"a clean build gives the images of {image_repo} here: same layers, IDs and pushed digests")
        return
    info(f"{image_repo}'s images differ from a clean build ({', '.join(found)}); a second clean build decides")
    second = clean_build(bases_graph, tmp_path / "clean-2", VARIANTS, REPRO_ARCHS)
    assert differences(clean, second) == []


def test_reproducible_mutant(engine, bases, tmp_path):
    """The check above fails on a build that is not reproducible: a
    Containerfile whose layer records the time of the build."""
    base = bases[f"alpine-{build_arch()}"]
    containerfile = tmp_path / "Containerfile.build-time"
    containerfile.write_text("ARG ALPINE_IMAGE\nFROM ${ALPINE_IMAGE}\nRUN date +%s%N > /etc/built-at\n")
    first, second = two_clean_builds(
        bases_store(engine, set(bases.values())),
        tmp_path,
        ["alpine"],
        build_arch(),
        CONTAINERFILE=str(containerfile),
        BUILDER_IMAGE=base,
        ALPINE_IMAGE=base,
    )
    assert differences(first, second) == [f"alpine-{build_arch()}: layers"]


def write_results(path: Path, first: dict, second: dict) -> None:
    """The two builds' image IDs and pushed digests, as `just reproducible`
    records them (the first 16 hex digits of each)."""

    def both(image: str, field: str) -> str:
        a, b = (getattr(build[image], field).removeprefix("sha256:")[:16] for build in (first, second))
        return f"`{a}`" if a == b else f"`{a}` / `{b}`"

    rows = "\n".join(
        f"| {image} | {both(image, 'id')} | {both(image, 'pushed')} | {same} |"
        for image in first
        for same in ["yes" if first[image] == second[image] else "**no**"]
    )
    path.write_text(
        "# Reproducible images\n\n"
        "Written by `just reproducible` (tests/images/test_reproducible.py::test_reproducible\n"
        "with both architectures): each image built twice from one commit, each\n"
        "time in a clean podman store that holds only the bases, then pushed as\n"
        "`just publish` pushes it (Docker v2s2, gzip layers) to a `dir:` layout.\n"
        "The pushed digest is the sha256 of that manifest: the one a registry\n"
        "serves. One value in a cell means both builds gave it.\n\n"
        f"Commit `{project.revision()[:12]}`, built {time.strftime('%d %b %Y', time.gmtime())} on "
        f"{output([project.ROOT / 'scripts/machine.sh'])}, podman {output(['podman', '--version']).split()[-1]}.\n\n"
        "| image | image ID | pushed digest | same layers, ID and digest |\n| --- | --- | --- | --- |\n"
        f"{rows}\n"
    )
