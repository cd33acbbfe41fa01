"""`just doctor` (scripts/doctor.sh): one line per prerequisite, found or
missing with how to install it; and a recipe's `--need` check says only that."""

import os
import re

from harness import project
from harness.shell import run

DOCTOR = project.ROOT / "scripts/doctor.sh"
# The table's entries: "NAME|needed by|Debian/Ubuntu|Fedora|what for".
ENTRIES = len(re.findall(r'^    "[^"|]*(?:\|[^"|]*){4}"$', DOCTOR.read_text(), re.M))


def lines_ok(out: str) -> None:
    lines = out.splitlines()
    assert len(lines) == ENTRIES, f"{len(lines)} lines for {ENTRIES} prerequisites"
    assert [line for line in lines if not re.match(r"(ok|missing) +[^ ]", line)] == []


def test_doctor_complete():
    """One line per prerequisite, exit 0 on this machine."""
    lines_ok(run([DOCTOR]).stdout)


def path_without(tmp_path, program: str) -> str:
    """A PATH of links to every program on PATH but PROGRAM."""
    folder = tmp_path / "path"
    folder.mkdir()
    for d in os.environ["PATH"].split(":"):
        if os.path.isdir(d):
            for entry in os.scandir(d):
                link = folder / entry.name
                if entry.name != program and os.access(entry.path, os.X_OK) and not link.exists():
                    link.symlink_to(entry.path)
    return str(folder)


def test_doctor_missing(tmp_path):
    """Without jq on PATH its line says missing and how to install it, exit 1;
    a recipe's `--need jq curl` says only that, in one line."""
    env = {**os.environ, "PATH": path_without(tmp_path, "jq")}
    done = run([DOCTOR], env=env, check=False)
    assert done.returncode != 0, "exit 0 without jq"
    lines_ok(done.stdout)
    assert re.search(
        r"^missing +jq +test +Debian/Ubuntu: apt-get install jq; Fedora: dnf install jq$", done.stdout, re.M
    ), done.stdout
    need = run([DOCTOR, "--need", "jq", "curl"], env=env, check=False)
    assert need.returncode != 0, "--need jq: exit 0 without jq"
    assert (need.stdout + need.stderr).strip() == (
        "error: jq not found; install it (Debian/Ubuntu: apt-get install jq; Fedora: dnf install jq), "
        "or see `just doctor`"
    )


def test_doctor_rootless_user():
    """As a user with no subuid range and no runtime directory (nobody), the
    rootless entries name both with their fix and decide the exit status."""
    done = run(["runuser", "-u", "nobody", "--", "env", "-u", "XDG_RUNTIME_DIR", DOCTOR], check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    lines_ok(done.stdout)
    for name in ("subuid-range", "runtime-dir"):
        assert re.search(rf"^missing +{name} +rootless +Debian/Ubuntu: as root", done.stdout, re.M), done.stdout
    assert "prerequisite(s) of rootless podman" in done.stderr, done.stderr
