"""A process's hardening as the kernel reports it, from /proc/PID: what
the container engine or Kubernetes asked for is proven here, not in their
own inspect output."""

from dataclasses import dataclass
from pathlib import Path

NO_CAPS = "0000000000000000"


@dataclass(frozen=True)
class Status:
    uids: tuple[int, ...]  # real, effective, saved, filesystem, as the container sees them
    gids: tuple[int, ...]
    host_uid: int  # the real uid on the host: a subordinate uid under rootless podman
    groups: tuple[int, ...]  # supplementary
    cap_eff: str
    cap_prm: str
    cap_bnd: str
    cap_amb: str
    no_new_privs: int
    seccomp: int  # 0 off, 1 strict, 2 filter
    root_read_only: bool  # the mount at / is ro


def status(pid: int) -> Status:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    uid_map, gid_map = id_map(pid, "uid"), id_map(pid, "gid")
    return Status(
        uids=tuple(inside(int(u), uid_map) for u in fields["Uid"]),
        gids=tuple(inside(int(g), gid_map) for g in fields["Gid"]),
        host_uid=int(fields["Uid"][0]),
        groups=tuple(map(int, fields.get("Groups", []))),
        cap_eff=fields["CapEff"][0],
        cap_prm=fields["CapPrm"][0],
        cap_bnd=fields["CapBnd"][0],
        cap_amb=fields["CapAmb"][0],
        no_new_privs=int(fields["NoNewPrivs"][0]),
        seccomp=int(fields["Seccomp"][0]),
        root_read_only=root_read_only(pid),
    )


def id_map(pid: int, kind: str) -> list[tuple[int, int, int]]:
    """/proc/PID/uid_map (KIND uid) or gid_map as (inside, outside, count)
    lines. Read from the host, outside is a host id; a container without a
    user namespace has the identity map."""
    text = Path(f"/proc/{pid}/{kind}_map").read_text()
    return [(int(i), int(o), int(n)) for i, o, n in (line.split() for line in text.splitlines())]


def inside(host_id: int, mapping: list[tuple[int, int, int]]) -> int:
    """HOST_ID (as /proc/PID/status shows it to the host) as the process's own
    user namespace sees it: the container's uid, rootful or rootless."""
    for first_inside, first_outside, count in mapping:
        if first_outside <= host_id < first_outside + count:
            return first_inside + host_id - first_outside
    raise AssertionError(f"id {host_id} is outside the process's map {mapping}")


def root_read_only(pid: int) -> bool:
    """Whether the process's / is mounted read-only (its mountinfo; field 5
    is the mount point, field 6 the per-mount options)."""
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return "ro" in fields[5].split(",")
    raise AssertionError(f"/proc/{pid}/mountinfo has no mount at /")


def hardening_problems(s: Status, uid: int, gid: int | None = None) -> list[str]:
    """What is wrong with S for a process that must run as UID:GID with no
    capabilities, no_new_privs and a read-only root; empty if nothing."""
    gid = uid if gid is None else gid
    want = {
        "Uid": ((uid,) * 4, s.uids),
        "Gid": ((gid,) * 4, s.gids),
        "CapEff": (NO_CAPS, s.cap_eff),
        "CapPrm": (NO_CAPS, s.cap_prm),
        "NoNewPrivs": (1, s.no_new_privs),
        "read-only root": (True, s.root_read_only),
    }
    return [f"{k}: expected {e}, got {g}" for k, (e, g) in want.items() if e != g]
