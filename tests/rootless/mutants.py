"""Rootless podman broken on purpose, and the rootless checks each must fail.

As a program (`just test-rootless` runs it, as root, after the checks) it runs
the checks of tests/rootless under each mutant and fails unless every check
it names fails there. A check no mutant can break proves nothing.

    python3 tests/rootless/mutants.py [NAME...]
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@dataclass
class Mutant:
    why: str
    checks: tuple
    # The checks run as root (rootful podman) instead of as the user.
    as_root: bool = False


MUTANTS = {
    "rootful": Mutant(
        "the same checks run as root: rootful podman, no user namespace",
        ("podman_is_rootless", "uid_map", "process_owner_on_host", "layer_owner_on_host", "slirp4netns"),
        as_root=True,
    ),
    # conftest.py's MUTANT_OPTIONS hold the run options of the others.
    "keep-id": Mutant(
        "--userns=keep-id: the user's uid is itself inside, so the container's root is a subordinate uid",
        ("uid_map", "layer_owner_on_host"),
    ),
    "seccomp-unconfined": Mutant("no seccomp filter in the user namespace", ("profile_enforced",)),
}


def caught(name, mutant):
    """Run the mutant's checks on it; True if each one failed."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o777)  # the user writes the report
        report = Path(folder) / "report.xml"
        args = [str(HERE), "-q", "--tb=line", "-k", " or ".join(mutant.checks), f"--junitxml={report}"]
        env = {"ROOTLESS_USER": "mt-rootless", **os.environ, "ROOTLESS_MUTANT": name}
        if mutant.as_root:
            argv = [sys.executable, "-m", "pytest", *args]
        else:
            # The user's pytest: scripts/rootless-user.sh --run puts it first on PATH.
            argv = [str(ROOT / "scripts/rootless-user.sh"), "--run", "pytest", *args]
        subprocess.run(argv, env=env, check=False)
        cases = ElementTree.parse(report).getroot().iter("testcase") if report.exists() else []
        results = {}
        for case in cases:
            check = case.get("name").removeprefix("test_").split("[")[0]
            results[check] = results.get(check, True) and case.find("failure") is not None
    survived = [check for check in mutant.checks if not results.get(check)]
    print(
        f"mutant {name} ({mutant.why}): "
        + (f"SURVIVED {', '.join(survived)}" if survived else "caught by " + ", ".join(mutant.checks))
    )
    return not survived


def main(names):
    if os.geteuid() != 0:
        sys.exit("tests/rootless/mutants.py runs the checks as root and as the rootless user: run it as root")
    unknown = set(names) - set(MUTANTS)
    if unknown:
        sys.exit(f"unknown mutant(s) {', '.join(sorted(unknown))}; known: {', '.join(MUTANTS)}")
    results = [caught(name, MUTANTS[name]) for name in names or MUTANTS]
    print(f"{sum(results)} of {len(results)} mutants caught")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
