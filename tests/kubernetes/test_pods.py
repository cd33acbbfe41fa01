"""The Deployment's pods under `podman kube play` (podman only): both
replicas start from the image, hardened as the pod spec says, answer on
their own loopback, get the limits and env, stop cleanly, and leave nothing
behind; the Localhost-seccomp overlay runs under the measured profile.

podman 4.3 publishes every containerPort on the host at the same port on
all addresses, which Kubernetes never does: the overlay removes `ports`
and each pod gets only its own loopback (--network none). podman reads the
Localhost profile from the old seccomp annotation, not from seccompProfile."""

import os
import time

import pytest

from harness import kube, proc, project
from harness.engine import Container
from harness.report import info
from harness.seccomp import allowed, load
from harness.shell import output

STRIP_PORTS = """patches:
  - target:
      kind: Deployment
    patch: |-
      - op: remove
        path: /spec/template/spec/containers/0/ports"""
ANNOTATE_LOCALHOST = """
      - op: add
        path: /spec/template/metadata/annotations
        value:
          container.seccomp.security.alpha.kubernetes.io/moscow-time: localhost/moscow-time.json"""
BASES = {"default": project.ROOT / "deploy/kubernetes", "localhost": project.ROOT / "deploy/seccomp"}


@pytest.fixture(scope="module", autouse=True)
def podman_only(engine):
    if engine.name != "podman":
        pytest.skip("kube play is podman's")


class Played:
    """The Deployment (default or localhost) played under a name prefix of this run."""

    def __init__(self, engine, image: str, flavour: str, folder):
        self.engine, self.prefix = engine, f"mt-k8s-{flavour}-{os.getpid()}-"
        name, tag = image.rsplit(":", 1)
        extra = f"namePrefix: {self.prefix}\nimages:\n  - name: registry.example.com/team/moscow-time\n"
        extra += f"    newName: {name}\n    newTag: {tag}\n{STRIP_PORTS}"
        extra += ANNOTATE_LOCALHOST if flavour == "localhost" else ""
        self.yaml = folder / "play.yaml"
        self.yaml.write_text(kube.kustomize(kube.overlay(folder, BASES[flavour], extra)))

    def pod(self, n: int) -> str:
        return f"{self.prefix}moscow-time-pod-{n}"

    def container(self, n: int) -> Container:
        """podman names a pod's container POD-CONTAINER."""
        return Container(self.engine, f"{self.pod(n)}-moscow-time")

    def play(self) -> None:
        t0 = time.monotonic()
        self.engine.kube_play(self.yaml, "--network", "none", "--seccomp-profile-root", project.SECCOMP_PROFILE.parent)
        for n in (0, 1):
            c = self.container(n)
            assert in_pod(c, "/healthz", wait=5) == 200, f"{c.name}: no 200 from /healthz within 5 s\n{c.logs()}"
        info(f"{self.prefix}: kube play to both pods answering /healthz: {time.monotonic() - t0:.2f} s")

    def leftovers(self) -> list[str]:
        pods = self.engine.out("pod", "ps", "--format", "{{.Name}}").split()
        ctrs = self.engine.out("ps", "-a", "--format", "{{.Names}}").split()
        return [n for n in pods + ctrs if n.startswith(self.prefix)]

    def down(self) -> None:
        self.engine.kube_down(self.yaml)


def in_pod(container: Container, path: str, wait: float = 0) -> int:
    """GET PATH on the pod's own loopback, from inside its network namespace:
    the status code (0: no answer), retried for up to WAIT seconds."""
    deadline = time.monotonic() + wait
    while True:
        code = output(
            ["nsenter", "-t", str(container.pid), "-n", "curl", "-sS", "-o", "/dev/null",
             "-w", "%{http_code}", "--max-time", "2", f"http://127.0.0.1:8080{path}"],
            check=False,
        )  # fmt: skip
        if code == "200" or time.monotonic() >= deadline:
            return int(code or 0)
        time.sleep(0.1)


def play_fixture(flavour: str):
    @pytest.fixture(scope="module")
    def played(engine, scratch_image, tmp_path_factory):
        p = Played(engine, scratch_image, flavour, tmp_path_factory.mktemp(flavour))
        try:
            p.play()
            yield p
        except AssertionError as e:
            yield e
        finally:
            engine("kube", "down", p.yaml, check=False)

    return played


played_default = play_fixture("default")
played_localhost = play_fixture("localhost")


def require(played) -> Played:
    if isinstance(played, AssertionError):
        pytest.skip("kube play failed (its test_kube_play check fails with the reason)")
    return played


@pytest.mark.parametrize("flavour", ["default", "localhost"])
def test_kube_play(flavour, request):
    """kube play starts both replicas of the Deployment (as shipped, and with the Localhost profile)."""
    played = request.getfixturevalue(f"played_{flavour}")
    if isinstance(played, AssertionError):
        raise played


def hardening(container: Container) -> list[str]:
    """What the pod spec asks, as the kernel sees the process: uid/gid 65532
    and no other group (runc adds the primary one), no capabilities in any
    set, no_new_privs, seccomp filtering, read-only root."""
    s = container.status()
    problems = proc.hardening_problems(s, 65532)
    extra = {
        "Groups": ((), tuple(g for g in s.groups if g != 65532)),
        "CapBnd CapAmb": ((proc.NO_CAPS,) * 2, (s.cap_bnd, s.cap_amb)),
        "Seccomp (2 = filtering)": (2, s.seccomp),
    }
    return problems + [f"{k}: expected {e}, got {g}" for k, (e, g) in extra.items() if e != g]


@pytest.mark.parametrize("pod", [0, 1])
def test_pod_hardened(played_default, pod):
    """uid/gid 65532, no other group, no capabilities, no_new_privs, seccomp filtering, read-only root."""
    p = require(played_default)
    assert hardening(p.container(pod)) == []


@pytest.mark.parametrize("pod", [0, 1])
def test_pod_answers(played_default, pod):
    """/healthz, /readyz and /api/time answer 200 on the pod's loopback."""
    p = require(played_default)
    assert {path: in_pod(p.container(pod), path) for path in ("/healthz", "/readyz", "/api/time")} == {
        "/healthz": 200, "/readyz": 200, "/api/time": 200
    }  # fmt: skip


def test_pod_applied(played_default):
    """podman applied the limits (64Mi, 1 core), the env and the liveness probe's timings."""
    p = require(played_default)
    i = p.container(0).info()
    hc = i["Config"]["Healthcheck"]
    assert i["HostConfig"]["Memory"] == 67108864
    assert (i["HostConfig"]["CpuQuota"], i["HostConfig"]["CpuPeriod"]) == (100000, 100000)
    assert "SHUTDOWN_GRACE_MS=5000" in i["Config"]["Env"]
    assert (hc["Interval"], hc["Timeout"], hc["Retries"]) == (10_000_000_000, 2_000_000_000, 3)
    info(f"podman made the liveness probe {hc['Test']} (a shell and curl; no systemd timer runs it here)")


def test_localhost_pod_profile(played_localhost):
    """The localhost pod's filter is exactly deploy/seccomp/moscow-time.json's allow-list, default ERRNO."""
    p = require(played_localhost)
    seccomp = p.container(0).oci_config()["linux"]["seccomp"]
    assert allowed(seccomp) == allowed(load())
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"


def test_localhost_pod_hardened(played_localhost):
    p = require(played_localhost)
    assert hardening(p.container(0)) == []


def test_localhost_pod_answers(played_localhost):
    p = require(played_localhost)
    assert [in_pod(p.container(0), path) for path in ("/healthz", "/readyz", "/api/time")] == [200] * 3


@pytest.fixture
def own_play(engine, scratch_image, tmp_path):
    """A Deployment played for one check alone (it stops or removes it)."""
    p = Played(engine, scratch_image, "own", tmp_path)
    p.play()
    yield p
    engine("kube", "down", p.yaml, check=False)


def test_pod_stops_clean(own_play):
    """podman stops a pod with SIGTERM and the server exits 0."""
    t0 = time.monotonic()
    own_play.engine("pod", "stop", own_play.pod(0))
    info(f"podman pod stop: {(time.monotonic() - t0) * 1000:.0f} ms")
    assert own_play.container(0).info()["State"]["ExitCode"] == 0


def test_kube_down(own_play):
    """kube down removes every pod and container kube play made."""
    own_play.down()
    assert own_play.leftovers() == []
