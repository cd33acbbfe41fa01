"""What only rootless podman promises, read from the host: podman runs
rootless, the container's user namespace maps its uids onto the user's
subordinate range (root onto the user itself), so neither the service nor
the files of its layers belong to any host uid that matters; and the profile
and no_new_privs hold there too. tests/rootless/mutants.py breaks each."""

import json
import os
from pathlib import Path

from harness import proc
from harness.engine import Engine
from harness.project import BINARY_PATH

IMAGE_UID = 65532


def test_podman_is_rootless():
    """`podman info` says rootless, and it runs as an ordinary user."""
    info = json.loads(Engine("podman").out("info", "--format", "json"))
    assert info["host"]["security"]["rootless"] is True, "podman runs rootful"
    assert os.geteuid() != 0, "running as root"


def test_uid_map(rootless_pid, rootless_user, subuids):
    """The container's uid_map: uid 0 is the user, 1.. its subordinate uids in /etc/subuid."""
    want, next_inside = [(0, rootless_user.pw_uid, 1)], 1
    for start, count in subuids:
        want.append((next_inside, start, count))
        next_inside += count
    assert proc.id_map(rootless_pid, "uid") == want


def test_process_owner_on_host(rootless_pid, subuids):
    """The service's process belongs on the host to the subordinate uid its 65532 maps to: not root, not the user."""
    start, count = subuids[0]
    assert count >= IMAGE_UID, f"the first range ({count} ids) does not reach uid {IMAGE_UID}"
    assert proc.status(rootless_pid).host_uid == start + IMAGE_UID - 1


def test_layer_owner_on_host(rootless_pid, rootless_user):
    """The binary, root-owned in the image, belongs on the host to the user: the container's root is the user."""
    st = (Path(f"/proc/{rootless_pid}/root") / BINARY_PATH).stat()
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)) == (rootless_user.pw_uid, rootless_user.pw_gid, "0o755")


def test_slirp4netns(rootless_service):
    """Published through slirp4netns, the rootless network (podman 4.3 has no pasta)."""
    c = rootless_service.require()
    assert c.info()["HostConfig"]["NetworkMode"] == "slirp4netns"


def test_profile_enforced(rootless_pid):
    """The measured seccomp profile (Seccomp: 2) and no_new_privs hold in the user namespace."""
    s = proc.status(rootless_pid)
    assert (s.seccomp, s.no_new_privs, s.cap_eff) == (2, 1, proc.NO_CAPS)
