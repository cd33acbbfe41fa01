"""The images as a registry sees them (saved and unpacked, nothing run):
structure, user, healthcheck, labels, the files the runtime stage adds, and
the binary in it (owner, static-pie musl, architecture), size and waste."""

import os
import re
import tarfile

import pytest

from harness import project
from harness.report import info
from harness.shell import output, run

HERE = project.ROOT / "tests/images"
ELF_MACHINE = {"amd64": "x86-64", "arm64": "ARM aarch64"}
# What the runtime stage may add on top of its base.
ADDED_FILES = {
    "alpine": ["etc/group", "etc/passwd", "etc/shadow", project.BINARY_PATH],
    "distroless": [project.BINARY_PATH],
    "scratch": [project.BINARY_PATH],
}
# The added layers may hold the binary and at most this many bytes more.
SIZE_BUDGET = 16384


def test_image_exists(image):
    assert image.exists, f"{image.ref} not found: build it with `just images`"


def test_tag_is_build_arch(variant_target, host_arch, request):
    """VARIANT (no arch) is the build machine's VARIANT-ARCH, the same image."""
    if host_arch not in request.config.getoption("--archs"):
        pytest.skip(f"{host_arch} not among the architectures checked")
    engine, ref = variant_target.engine, variant_target.ref
    assert engine.image_id(ref) == engine.image_id(f"{ref}-{host_arch}")


def test_manifest_platforms(variant_target, request):
    """The manifest list VARIANT-multiarch holds exactly linux/amd64 and linux/arm64."""
    if set(request.config.getoption("--archs").split()) != set(project.ARCHS):
        pytest.skip("only with both architectures")
    if variant_target.engine.name != "podman":
        pytest.skip("manifest lists are podman's only here")
    assert variant_target.engine.manifest_platforms(f"{variant_target.ref}-multiarch") == ["linux/amd64", "linux/arm64"]


def test_structure(image, target):
    """container-structure-test: entrypoint, port 8080, labels, files present and absent."""
    structure = HERE / "structure"
    # The tar driver unpacks the image once per check: in memory, not on disk,
    # where its writes make distroless's checks several times slower.
    tmp = {"TMPDIR": "/dev/shm"} if os.access("/dev/shm", os.W_OK) else {}
    done = run(
        ["container-structure-test", "test", "--driver", "tar", "--image", image.unpacked.tar,
         "--config", structure / "common.yaml", "--config", structure / f"{target.variant}.yaml"],
        check=False, env={**os.environ, **tmp},
    )  # fmt: skip
    failed = [
        line for line in done.stdout.splitlines() if line.startswith(("--- FAIL", "Error", "Passes:", "Failures:"))
    ]
    assert done.returncode == 0, "\n".join(failed) or done.stdout + done.stderr


def test_config_user(image):
    """USER is numeric 65532:65532, not root."""
    assert image.info["Config"]["User"] == "65532:65532"


def test_healthcheck_config(image):
    """HEALTHCHECK runs `moscow-time healthcheck` every 30 s, 3 s timeout."""
    hc = image.engine.image_healthcheck(image.info)
    want = {
        "Test": ["CMD", f"/{project.BINARY_PATH}", "healthcheck"],
        "Interval": 30_000_000_000,
        "Timeout": 3_000_000_000,
    }
    assert {k: hc.get(k) for k in want} == want


def test_labels_match_checkout(image):
    """version, revision and created labels are those of this checkout."""
    labels = image.labels
    got = {k: labels.get(f"org.opencontainers.image.{k}") for k in ("version", "revision", "created")}
    assert got == {"version": project.version(), "revision": project.revision(), "created": project.created()}


def names(members: list[tarfile.TarInfo], files_only: bool = True) -> set[str]:
    return {m.name.lstrip("./") + ("/" if m.isdir() else "") for m in members if not (files_only and m.isdir())}


def test_only_expected_files(image, target):
    """The runtime stage adds only the binary (and alpine's user files). Not
    counted: the empty /etc/hosts, hostname and resolv.conf buildah leaves in
    a RUN layer when the base lacks them (the engine mounts its own)."""
    u = image.unpacked
    added = {
        m.name.lstrip("./")
        for layer in u.added_layers()
        for m in u.members[layer]
        if not m.isdir()
        and not (m.size == 0 and re.fullmatch(r"etc/(hosts|hostname|resolv\.conf)", m.name.lstrip("./")))
    }
    assert sorted(added) == ADDED_FILES[target.variant]
    if target.variant == "scratch":
        # The whole image: the binary and its three parent directories.
        whole = set().union(*(names(ms, files_only=False) for ms in u.members.values()))
        assert sorted(whole) == ["usr/", "usr/local/", "usr/local/bin/", project.BINARY_PATH]


def test_binary_root_owned(image):
    """The binary is -rwxr-xr-x 0/0: the process cannot rewrite it."""
    found = image.unpacked.binary_member()
    assert found, "binary not found"
    m = found[1]
    assert (oct(m.mode & 0o7777), m.uid, m.gid, m.isfile()) == ("0o755", 0, 0, True)


def test_binary_static(image):
    """`file` says statically linked."""
    desc = output(["file", "-b", image.unpacked.binary])
    assert re.search("statically linked|static-pie linked", desc), desc


def test_binary_static_pie_musl(image):
    """musl (its strerror table; glibc leaves GLIBC_ versions), static PIE (ASLR
    without a loader), no ELF interpreter, no NEEDED/RPATH/RUNPATH."""
    binary = image.unpacked.binary
    assert "static-pie linked" in output(["file", "-b", binary])
    headers = output(["readelf", "-lW", binary])
    assert "INTERP" not in headers and "program interpreter" not in headers, "has an ELF interpreter"
    dynamic = re.findall(r"\((NEEDED|RPATH|RUNPATH)\)", output(["readelf", "-dW", binary]))
    assert not dynamic, f"dynamic entries that need a loader: {dynamic}"
    data = binary.read_bytes()
    assert b"No error information" in data, "no musl strerror table"
    assert b"GLIBC_" not in data, "has glibc symbol versions"


# musl's x86-64 memcpy copy loop, `shr $3,%rcx; rep movsq`: src/memcpy.rs
# takes the names memcpy and memmove, so the static link leaves it out.
MUSL_COPY_LOOP = bytes.fromhex("48c1e903f348a5")


def test_binary_own_memcpy(image, target):
    """x86-64: the binary copies with src/memcpy.rs, not musl's `rep movsq` loop."""
    if target.arch != "amd64":
        pytest.skip("musl's slow copy loop is x86-64's")
    assert MUSL_COPY_LOOP not in image.unpacked.binary.read_bytes(), "musl's memcpy (rep movsq) is in the binary"


def test_binary_arch(image, target):
    """The image config's architecture is the target's, and so is the binary's ELF machine."""
    assert image.info["Architecture"] == target.arch
    desc = output(["file", "-b", image.unpacked.binary])
    assert ELF_MACHINE[target.arch] in desc, f"binary is {desc}, the config says {target.arch}"


def test_size_budget(image, target):
    """The added layers are at most the binary + 16 KiB."""
    u = image.unpacked
    added = sum(layer.stat().st_size for layer in u.added_layers())
    binary = u.binary.stat().st_size
    info(f"{target.id}: added layers {added} B = binary {binary} B + {added - binary} B")
    assert added - binary <= SIZE_BUDGET, f"{added - binary} B over the binary, budget {SIZE_BUDGET} B"


def test_dive_efficiency(image, target):
    """dive --ci: at least 99 % of the image's bytes are in use."""
    done = run(
        ["dive", "--ci", "--ci-config", HERE / "dive-ci.yaml", "--source", "docker-archive", image.unpacked.tar],
        check=False,
    )
    summary = [line.strip() for line in done.stdout.splitlines() if re.search("efficiency|wasted|FAIL|PASS", line)]
    info(f"{target.id}: dive {next((s for s in summary if s.startswith('efficiency')), '?')}")
    assert done.returncode == 0, "\n".join(summary) or done.stdout + done.stderr
