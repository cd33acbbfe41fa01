"""`just sbom` for the six images: syft must find every crate of the binary,
with its exact version, as Cargo.lock resolves it, and the base's OS packages.

Two closures of Cargo.lock's normal (non-dev, non-build) dependencies, without
proc-macros (they run in the compiler and are not in the binary):
  compiled  `cargo tree -e normal,no-proc-macro --target T`: what the release
            build compiles, features resolved as that build resolves them;
  recorded  the same walk over `cargo metadata --filter-platform T`, which
            resolves features with the dev-dependencies' too, as
            cargo-auditable records them.
The SBOM must hold every compiled crate and be exactly the recorded set.
"""

import json
import re
import tarfile

import pytest
from publishing import ARCHS, run, succeeded

from harness import report
from harness.image import extract_all
from harness.project import BINARY_PATH as BINARY
from harness.project import ROOT as REPO
from harness.project import VARIANTS

# Upstream builds musl binaries, CI's stand-in builder static glibc ones; the
# closures must agree for both, so the check holds whichever the image has.
TARGETS = {
    "amd64": ("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"),
    "arm64": ("aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"),
}
DEPENDENCY_LIST_LIMIT = 2048


@pytest.fixture(scope="session")
def sboms(tmp_path_factory, image_repo):
    folder = tmp_path_factory.mktemp("sbom")
    result = run(
        "just", "--justfile", REPO / "justfile", "sbom", env={"SBOM_DIR": str(folder), "IMAGE_REPO": image_repo}
    )
    return folder, result


def test_sbom_writes_all(sboms):
    """just sbom writes SPDX and CycloneDX SBOMs of the six images."""
    folder, result = sboms
    for line in succeeded(result).splitlines()[:-1]:
        report.info(line)
    for v in VARIANTS:
        for a in ARCHS:
            for kind in ("spdx", "cdx"):
                assert (folder / f"moscow-time-{v}-{a}.{kind}.json").stat().st_size > 0


def compiled(target):
    out = succeeded(
        run(
            "cargo",
            "tree",
            "-q",
            "--locked",
            "-e",
            "normal,no-proc-macro",
            "--target",
            target,
            "--prefix",
            "none",
            "--format",
            "{p}",
            cwd=REPO,
        )
    )
    return {re.sub(r" \(.*", "", line).replace(" v", "@", 1) for line in out.splitlines() if line}


def recorded(target):
    meta = json.loads(
        succeeded(
            run("cargo", "metadata", "-q", "--locked", "--format-version", "1", "--filter-platform", target, cwd=REPO)
        )
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}

    def proc_macro(pid):
        return any("proc-macro" in t["kind"] for t in packages[pid]["targets"])

    seen, todo = set(), [meta["resolve"]["root"]]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += [
            d["pkg"]
            for d in nodes[pid]["deps"]
            if any(k["kind"] is None for k in d["dep_kinds"]) and not proc_macro(d["pkg"])
        ]
    return {f"{packages[p]['name']}@{packages[p]['version']}" for p in seen}


@pytest.fixture(scope="session")
def closures():
    return {}


@pytest.mark.parametrize("arch", ARCHS)
def test_sbom_closures_agree(closures, arch):
    """Cargo.lock resolves to the same crates for the musl and the gnu target."""
    found = {t: (compiled(t), recorded(t)) for t in TARGETS[arch]}
    first = next(iter(found.values()))
    for target, pair in found.items():
        assert pair == first, f"the closures for {TARGETS[arch][0]} and {target} differ"
    closures[arch] = first
    report.info(
        f"linux/{arch}: {len(first[0])} crates compiled into the binary; cargo-auditable also records "
        f"{' '.join(sorted(first[1] - first[0]))} (features the dev-dependencies enable)"
    )


def cdx_crates(path):
    return {
        c["purl"].removeprefix("pkg:cargo/")
        for c in json.loads(path.read_text()).get("components", [])
        if c.get("purl", "").startswith("pkg:cargo/")
    }


def spdx_crates(path):
    return {
        r["referenceLocator"].removeprefix("pkg:cargo/")
        for p in json.loads(path.read_text())["packages"]
        for r in p.get("externalRefs", [])
        if r["referenceType"] == "purl" and r["referenceLocator"].startswith("pkg:cargo/")
    }


def binary_of(image, folder):
    """The binary from the topmost layer of IMAGE (podman save) that holds it."""
    succeeded(run("podman", "save", "--quiet", "--format", "docker-archive", "-o", folder / "image.tar", image))
    extract_all(folder / "image.tar", folder)
    for layer in reversed(json.loads((folder / "manifest.json").read_text())[0]["Layers"]):
        with tarfile.open(folder / layer) as tar:
            try:
                return tar.extractfile(BINARY).read()
            except KeyError:
                continue
    pytest.fail(f"{image} has no {BINARY}")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_sbom_dependency_list(tmp_path, image_repo, variant, arch):
    """The binary carries cargo-auditable's dependency list (.dep-v0), at most 2 KiB."""
    (tmp_path / "binary").write_bytes(binary_of(f"{image_repo}:{variant}-{arch}", tmp_path))
    sections = succeeded(run("readelf", "-S", "-W", tmp_path / "binary"))
    size = next(
        (
            int(line.split()[5], 16)
            for line in sections.splitlines()
            if len(line.split()) > 5 and line.split()[1] == ".dep-v0"
        ),
        None,
    )
    assert size is not None, "the binary has no .dep-v0 section: not built with cargo auditable"
    report.info(f"{variant} linux/{arch}: the dependency list takes {size} bytes")
    assert size <= DEPENDENCY_LIST_LIMIT


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_sbom_crates_match(sboms, closures, variant, arch):
    """Both SBOMs list every compiled crate and exactly the recorded ones, exact versions."""
    if arch not in closures:
        closures[arch] = (compiled(TARGETS[arch][0]), recorded(TARGETS[arch][0]))
    compiled_set, recorded_set = closures[arch]
    base = f"moscow-time-{variant}-{arch}"
    cdx, spdx = cdx_crates(sboms[0] / f"{base}.cdx.json"), spdx_crates(sboms[0] / f"{base}.spdx.json")
    assert not compiled_set - cdx, f"compiled into the binary but not in the SBOM: {sorted(compiled_set - cdx)}"
    assert cdx == recorded_set, f"CycloneDX: crates differ from Cargo.lock's: {sorted(cdx ^ recorded_set)}"
    assert spdx == cdx, f"SPDX and CycloneDX list other crates: {sorted(spdx ^ cdx)}"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("variant", ("alpine", "distroless"))
def test_sbom_os_packages(sboms, variant, arch):
    """The base's OS packages, from its package database (the stand-ins have one too)."""
    cdx = json.loads((sboms[0] / f"moscow-time-{variant}-{arch}.cdx.json").read_text())
    assert any(re.match(r"pkg:(apk|deb)/", c.get("purl", "")) for c in cdx.get("components", []))
