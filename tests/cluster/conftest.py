"""Helpers for the checks on the local cluster of cluster/up.sh (`just cluster`).

The checks talk to the real API server with kubectl, and read the node the way
an administrator would: containerd's `ctr` and /proc of the containers' PIDs
(tests/harness/proc.py).
Each check first brings the Deployment to the state it needs (`App.ensure`),
so any one of them runs alone: `CHECK=drain just test-cluster`.

`--mutant NAME` deploys a deliberately broken variant from mutants.py
instead; tests/cluster/mutants.py runs each one against the checks it must
fail.
"""

import functools
import json
import os
import time
from pathlib import Path

import pytest
from mutants import MUTANTS

from harness.project import ROOT
from harness.shell import output, run

OVERLAY = ROOT / "cluster" / "overlay"
NAMESPACE = "moscow-time"
STATE = Path(os.environ.get("CLUSTER_STATE", "/var/lib/moscow-time-cluster"))


@functools.cache
def bin_dir() -> Path:
    """kubectl and ctr of the cluster's own build (a kubectl within the
    version skew); built on first use, not when the checks are collected."""
    return Path(output([ROOT / "cluster" / "build.sh"]))


# The image the overlay names, and a second name of it that a rollout moves to.
IMAGE = "localhost/moscow-time"
TAGS = ("scratch", "scratch-rollout")


def kubectl(*args, **kwargs):
    return run([bin_dir() / "kubectl", "--kubeconfig", STATE / "admin.kubeconfig", *args], **kwargs)


def get(*args):
    """`kubectl get ARGS -o json` in the namespace, parsed."""
    return json.loads(kubectl("get", "-n", NAMESPACE, *args, "-o", "json").stdout)


def ctr(*args, **kwargs):
    return run(
        [bin_dir() / "ctr", "--address", STATE / "containerd/containerd.sock", "--namespace", "k8s.io", *args], **kwargs
    )


def wait_until(what, predicate, timeout, interval=0.5):
    """Poll predicate until it returns a true value (returned); fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def pods(include_terminating=False):
    items = get("pods", "-l", "app.kubernetes.io/name=moscow-time")["items"]
    return [p for p in items if include_terminating or "deletionTimestamp" not in p["metadata"]]


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def container_pid(pod):
    """The host PID of the pod's moscow-time container, from containerd."""
    container_id = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("containerd://")
    for line in ctr("tasks", "ls").stdout.splitlines()[1:]:
        task, pid, _status = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"containerd has no task {container_id} for pod {pod['metadata']['name']}")


# Container states that no wait mends: fail at once, with the kubelet's reason.
STUCK = {
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
    "RunContainerError",
}


def settled():
    """The pods once the Deployment is rolled out and all its pods Ready; None before."""
    deployment = get("deployment", "moscow-time")
    status, now = deployment["status"], pods(include_terminating=True)
    for pod in now:
        for container in pod["status"].get("containerStatuses", []):
            waiting = container["state"].get("waiting", {})
            if waiting.get("reason") in STUCK:
                raise AssertionError(f"{pod['metadata']['name']}: {waiting['reason']}: {waiting.get('message', '')}")
    done = status.get("observedGeneration") == deployment["metadata"]["generation"] and all(
        status.get(key) == 2 for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    )
    return done and len(now) == 2 and all(map(ready, now)) and now


class App:
    """The Deployment as the checks need it: the overlay (or a mutant of it) applied, all pods Ready."""

    def __init__(self, mutant, folder):
        self.mutant = MUTANTS[mutant] if mutant else None
        self.tag = TAGS[0]
        self.folder = folder

    def kustomization(self, tag):
        """A kustomization of the overlay with IMAGE at tag, and the mutant's changes."""
        patches = self.mutant.patches if self.mutant else []
        if self.mutant and self.mutant.tag:
            tag = self.mutant.tag
        return {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(OVERLAY, self.folder)],
            "images": [{"name": IMAGE, "newTag": tag}],
            "patches": [{"patch": json.dumps(p["patch"]), "target": p["target"]} for p in patches],
        }

    def apply(self, tag):
        """Apply the kustomization with IMAGE at tag (JSON is YAML to kustomize)."""
        (self.folder / "kustomization.yaml").write_text(json.dumps(self.kustomization(tag), indent=1))
        kubectl("apply", "-k", str(self.folder))
        self.tag = tag

    def ensure(self, timeout=60):
        """Apply at the current tag; wait until the rollout is done and both pods are Ready."""
        self.apply(self.tag)
        return wait_until("the rollout: 2 Ready pods of the current template, none terminating", settled, timeout)

    def node_port(self):
        return get("service", "moscow-time")["spec"]["ports"][0]["nodePort"]


def pytest_addoption(parser):
    parser.addoption("--mutant", choices=sorted(MUTANTS), help="deploy this broken variant (tests/cluster/mutants.py)")


@pytest.fixture(scope="session")
def app(request, tmp_path_factory):
    """The app on a fresh namespace, the image imported into the cluster's containerd."""
    if not (STATE / "admin.kubeconfig").exists():
        pytest.exit(f"no cluster at {STATE}: start one with `just cluster`", returncode=2)
    # Nothing can be pulled: podman's image goes in under both tags.
    archive = tmp_path_factory.mktemp("image") / "image.tar"
    run(["podman", "save", "--format", "docker-archive", "-o", archive, f"{IMAGE}:{TAGS[0]}"])
    ctr("images", "import", archive)
    ctr("images", "tag", "--force", f"{IMAGE}:{TAGS[0]}", f"{IMAGE}:{TAGS[1]}")
    # No leftovers of an earlier run or mutant: a namespace of our own.
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    kubectl("delete", "pods", "-n", NAMESPACE, "--all", "--force", "--grace-period=0", check=False)
    wait_until(
        f"namespace {NAMESPACE} gone", lambda: kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 60
    )
    return App(request.config.getoption("--mutant"), tmp_path_factory.mktemp("kustomization"))
