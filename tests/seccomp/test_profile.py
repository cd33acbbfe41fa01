"""The seccomp profile deploy/seccomp/moscow-time.json as data: an
allow-list whose default is an error, not a kill; names libseccomp knows; no
way into a namespace; smaller than the engine's default; and still covering
every syscall the binary in the image makes (traced again)."""

import ctypes
import ctypes.util
import os

from harness import project
from harness.report import info
from harness.seccomp import ENGINE_DEFAULT, allowed, load
from harness.shell import run

# libseccomp's architecture tokens (AUDIT_ARCH_*).
ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Flags of clone(2) that make a namespace: the filter's mask (CLONE_NEWNS ... NEWCGROUP).
NAMESPACE_FLAGS = 2114060288


def test_errno_not_kill():
    """Anything not listed fails with ENOSYS (SCMP_ACT_ERRNO); no rule kills, traps or traces."""
    p = load()
    assert (p["defaultAction"], p["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 38)
    assert not [s for s in p["syscalls"] if any(w in s["action"] for w in ("KILL", "TRAP", "TRACE"))]


def test_known_syscalls():
    """Every allowed name is a syscall libseccomp (as runc and crun use it)
    knows on x86_64 or aarch64 (a name only one has is skipped on the other)."""
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp"))
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    unknown = [
        n
        for n in sorted(allowed(load()))
        if all(lib.seccomp_syscall_resolve_name_arch(a, n.encode()) < 0 for a in ARCHES.values())
    ]
    assert not unknown, f"unknown syscalls: {unknown}"


def test_no_namespaces():
    """clone only without namespace flags, clone3 (its flags out of the
    filter's sight) refused, and no other way into a namespace allowed."""
    p = load()
    clone = [s.get("args") for s in p["syscalls"] if s["names"] == ["clone"]]
    assert clone == [[{"index": 0, "value": NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]]
    assert [s["action"] for s in p["syscalls"] if s["names"] == ["clone3"]] == ["SCMP_ACT_ERRNO"]
    escapes = {"unshare", "setns", "mount", "pivot_root", "chroot", "ptrace", "bpf", "keyctl", "add_key", "userfaultfd"}
    assert not allowed(p) & escapes


def test_fewer_than_engine_default():
    ours, theirs = len(allowed(load())), len(allowed(load(ENGINE_DEFAULT)))
    info(f"allowed syscalls: {ours} in {project.SECCOMP_PROFILE.name}, {theirs} in the default {ENGINE_DEFAULT}")
    assert ours < theirs


def test_covers_binary(scratch_image):
    """The binary traced again through its whole workload (generate.sh --check):
    a new syscall in the code fails here until `just seccomp` regenerates the profile."""
    run([project.ROOT / "deploy/seccomp/generate.sh", "--check"], env={**os.environ, "IMAGE": scratch_image})
