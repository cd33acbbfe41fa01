"""Seccomp profiles as data: the project's (deploy/seccomp), the engines'
default, and an OCI config's filter, compared by what they allow."""

import json
from pathlib import Path

from .project import SECCOMP_PROFILE

# The containers' default profile (podman's; the same policy as Docker's built-in one).
ENGINE_DEFAULT = Path("/usr/share/containers/seccomp.json")


def load(path: Path = SECCOMP_PROFILE) -> dict:
    return json.loads(Path(path).read_text())


def allowed(profile: dict) -> set[str]:
    """The syscall names PROFILE (or an OCI config's linux.seccomp) allows."""
    return {n for s in profile["syscalls"] if s["action"] == "SCMP_ACT_ALLOW" for n in s["names"]}
