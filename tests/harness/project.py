"""The checkout: where it is, what it is called, and the facts the images
are labelled with. Everything is read from the files, never retyped."""

import functools
import os
import platform
import tomllib
from pathlib import Path

from .shell import output

ROOT = Path(__file__).resolve().parents[2]
BIN = "moscow-time"
# Where every image keeps the binary (no leading slash: as in a layer tar).
BINARY_PATH = "usr/local/bin/moscow-time"
SECCOMP_PROFILE = ROOT / "deploy/seccomp/moscow-time.json"
VARIANTS = ("alpine", "distroless", "scratch")
ARCHS = ("amd64", "arm64")
CONTAINERFILES = tuple(ROOT / f"Containerfile.{v}" for v in VARIANTS)


@functools.cache
def version() -> str:
    """The package version in Cargo.toml (the images' version label and tags)."""
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


@functools.cache
def revision() -> str:
    return output(["git", "-C", ROOT, "rev-parse", "HEAD"])


@functools.cache
def created() -> str:
    """The time of the last commit that changed what a build reads
    (lib.sh: source_commit): the images' created label and file times."""
    return output(["git", "-C", ROOT, "log", "-1", "--format=%cI", lib_sh("source_commit")[0]])


def build_arch() -> str:
    """This machine's architecture, as images name it."""
    return {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]


def other_arch(arch: str) -> str:
    return "arm64" if arch == "amd64" else "amd64"


@functools.cache
def lib_sh(name: str, engine: str = "podman") -> tuple[str, ...]:
    """The value of variable (or array) NAME of scripts/lib.sh, which the
    shell scripts share, as ENGINE sees it: one source for both sides."""
    value = output(
        ["bash", "-c", f'source scripts/lib.sh && printf "%s\\n" "${{{name}[@]}}"'],
        cwd=ROOT,
        env={**os.environ, "ENGINE": engine},
    )
    return tuple(value.splitlines())


def hardening_flags(engine: str) -> tuple[str, ...]:
    """The run options every container of the image gets (read-only root, no
    capabilities, no privilege gain), for ENGINE. They are defined once, in
    scripts/lib.sh, which `just run` and the shell scripts use too."""
    return lib_sh("hardening_flags", engine)


def tools_path() -> str:
    """PATH with the project's .tools/bin (hadolint, dive, kubectl, ...) first,
    or TOOLS_BIN, the rootless user's copy (scripts/rootless-user.sh)."""
    return f"{os.environ.get('TOOLS_BIN') or ROOT / '.tools/bin'}:{os.environ.get('PATH', '')}"


def cache_dir() -> Path:
    """~/.cache/moscow-time (XDG_CACHE_HOME): what outlives a clone, as the
    scripts keep it (scripts/cosign.sh, cluster/lib.sh)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "moscow-time"
