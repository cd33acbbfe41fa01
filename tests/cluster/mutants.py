"""Deliberately broken variants of the overlay, and the checks each must fail.

As a program (`just test-cluster` runs it after the checks) it deploys each
mutant in turn and runs the checks it names; it fails unless every one of
those checks fails on it. A check no mutant can break proves nothing.

    python3 tests/cluster/mutants.py [NAME...]
"""

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Mutant:
    why: str
    checks: tuple
    # JSON patches: {"target": {...}, "patch": [operations]}
    patches: list = field(default_factory=list)
    # An image tag in place of the imported one.
    tag: str = ""


def replace(kind, path, value):
    return {"target": {"kind": kind, "name": "moscow-time"}, "patch": [{"op": "replace", "path": path, "value": value}]}


def remove(kind, *paths):
    return {"target": {"kind": kind, "name": "moscow-time"}, "patch": [{"op": "remove", "path": p} for p in paths]}


CONTAINER = "/spec/template/spec/containers/0"

MUTANTS = {
    "image-never-imported": Mutant(
        "an image the node does not have, which it may not pull", ("apply",), tag="never-imported"
    ),
    "namespace-not-enforced": Mutant(
        "the namespace no longer enforces the restricted standard",
        ("pss",),
        [replace("Namespace", "/metadata/labels/pod-security.kubernetes.io~1enforce", "privileged")],
    ),
    "seccomp-runtime-default": Mutant(
        "the runtime's default filter instead of the measured profile",
        ("promises",),
        [replace("Deployment", "/spec/template/spec/securityContext/seccompProfile", {"type": "RuntimeDefault"})],
    ),
    "root-writable": Mutant(
        "a writable root filesystem",
        ("promises",),
        [replace("Deployment", f"{CONTAINER}/securityContext/readOnlyRootFilesystem", False)],
    ),
    "no-readiness-probe": Mutant(
        "no readiness probe: a hung pod stays in the endpoints",
        ("probes",),
        [remove("Deployment", f"{CONTAINER}/readinessProbe")],
    ),
    "all-at-once": Mutant(
        "both pods replaced at once, without the preStop wait",
        ("rollout",),
        [
            replace("Deployment", "/spec/strategy/rollingUpdate", {"maxSurge": 0, "maxUnavailable": 2}),
            remove("Deployment", f"{CONTAINER}/lifecycle"),
        ],
    ),
    "budget-allows-both": Mutant(
        "a PodDisruptionBudget that lets a drain take both pods",
        ("drain",),
        [
            {
                "target": {"kind": "PodDisruptionBudget"},
                "patch": [{"op": "replace", "path": "/spec/maxUnavailable", "value": 2}],
            }
        ],
    ),
    "network-policy-any-port": Mutant(
        "the NetworkPolicy allows all ingress on any port",
        ("netpol",),
        [remove("NetworkPolicy", "/spec/ingress/0/ports")],
    ),
}


def caught(name, mutant):
    """Run the mutant's checks on it; True if each one failed."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.xml"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(Path(__file__).parent),
                "-q",
                f"--mutant={name}",
                "-k",
                " or ".join(mutant.checks),
                f"--junitxml={report}",
            ],
            check=False,
        )
        cases = ElementTree.parse(report).getroot().iter("testcase") if report.exists() else []
        results = {case.get("name").removeprefix("test_"): case.find("failure") is not None for case in cases}
    survived = [check for check in mutant.checks if not results.get(check)]
    print(
        f"mutant {name} ({mutant.why}): "
        + (f"SURVIVED {', '.join(survived)}" if survived else "caught by " + ", ".join(mutant.checks))
    )
    return not survived


def main(names):
    unknown = set(names) - set(MUTANTS)
    if unknown:
        sys.exit(f"unknown mutant(s) {', '.join(sorted(unknown))}; known: {', '.join(MUTANTS)}")
    results = [caught(name, MUTANTS[name]) for name in names or MUTANTS]
    print(f"{sum(results)} of {len(results)} mutants caught")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
