"""The Kubernetes manifests (deploy/kubernetes and the Localhost-seccomp
overlay deploy/seccomp) as files, in `just lint`: kustomize and plain apply
give the same objects, valid for the oldest and newest Kubernetes we
support, checkov finds nothing, and the pod meets the restricted Pod
Security Standard and more."""

import json
import os

import pytest

from harness import kube, project
from harness.shell import run

# Schema versions: the oldest we support (lifecycle.preStop.sleep) and the newest kubernetes-validate has.
KUBE_VERSIONS = os.environ.get("KUBE_VERSIONS", "1.30.0 1.37.0").split()
LOCALHOST_PROFILE = {"type": "Localhost", "localhostProfile": "moscow-time.json"}
# checkov's checks skipped, with the reason.
CHECKOV_SKIPS = {
    # Image by digest: the manifest cannot know the digest of your build; pin it with kustomize `images:`.
    "CKV_K8S_43": "test_image_pinned_by_overlay",
    # imagePullPolicy Always: a digest-pinned image cannot change under its name; Always would only make
    # every pod start wait on the registry.
    "CKV_K8S_15": "digest-pinned",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"
}  # fmt: skip


@pytest.fixture(scope="module")
def objects():
    return kube.objects()


@pytest.fixture(scope="module")
def localhost_yaml(tmp_path_factory):
    """The Localhost overlay's objects, as a file (kustomize's output)."""
    out = tmp_path_factory.mktemp("kube") / "localhost.yaml"
    out.write_text(kube.kustomize(project.ROOT / "deploy/seccomp"))
    return out


def canonical(objs: list[dict]) -> list[str]:
    """Objects compared as a set: kustomize sorts objects and keys."""
    return sorted(json.dumps(o, sort_keys=True) for o in objs)


def test_kustomize_same_objects(objects):
    """`apply -k deploy/kubernetes` and `apply -f moscow-time.yaml` make the same objects."""
    assert canonical(kube.documents(kube.kustomize(project.ROOT / "deploy/kubernetes"))) == canonical(objects)


def test_image_pinned_by_overlay(tmp_path):
    """The image is referenced once, and kustomize `images:` pins it by digest (what a user writes)."""
    assert kube.MANIFEST.read_text().count("image:") == 1
    digest = "sha256:" + "0123456789abcdef" * 4
    pin = kube.overlay(
        tmp_path,
        project.ROOT / "deploy/kubernetes",
        "images:\n  - name: registry.example.com/team/moscow-time\n"
        f"    newName: registry.internal:5000/moscow-time\n    digest: {digest}",
    )
    pinned = kube.pod_spec(kube.documents(kube.kustomize(pin)))["containers"][0]["image"]
    assert pinned == f"registry.internal:5000/moscow-time@{digest}"


def test_localhost_overlay(objects, localhost_yaml):
    """`apply -k deploy/seccomp` switches the pod to the Localhost profile and changes nothing else."""
    localhost = kube.documents(localhost_yaml.read_text())
    context = kube.pod_spec(localhost)["securityContext"]
    assert context.pop("seccompProfile") == LOCALHOST_PROFILE
    shipped = json.loads(json.dumps(objects))  # a copy: the fixture is shared
    del kube.pod_spec(shipped)["securityContext"]["seccompProfile"]
    assert canonical(localhost) == canonical(shipped)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_schema(version, localhost_yaml):
    """Every object, both ways, is valid for that Kubernetes (strict: no unknown fields)."""
    run(["kubernetes-validate", "--strict", "--quiet", "-k", version, kube.MANIFEST, localhost_yaml])


def test_checkov(localhost_yaml):
    """No failed checkov Kubernetes check (skips and reasons in CHECKOV_SKIPS); the
    overlay also skips CKV_K8S_31 (RuntimeDefault): its point is the stronger Localhost."""
    base = ["checkov", "--framework", "kubernetes", "--skip-download", "--compact", "--quiet"]
    run([*base, "--skip-check", ",".join(CHECKOV_SKIPS), "-f", kube.MANIFEST])
    run([*base, "--skip-check", ",".join([*CHECKOV_SKIPS, "CKV_K8S_31"]), "-f", localhost_yaml])


def restricted_violations(pod: dict) -> list[str]:
    """The controls of the restricted Pod Security Standard (baseline ones
    included, https://kubernetes.io/docs/concepts/security/pod-security-standards/)
    that POD breaks, for every container of it."""
    cs = [c for key in ("containers", "initContainers", "ephemeralContainers") for c in pod.get(key, [])]
    ctx = [c.get("securityContext", {}) for c in cs]
    pod_ctx = pod.get("securityContext", {})

    def effective(key, sub=None):
        """Each container's own setting, else the pod's."""
        vals = [c.get(key, pod_ctx.get(key)) for c in ctx]
        return [(v or {}).get(sub) for v in vals] if sub else vals

    volumes = pod.get("volumes", [])
    controls = {
        "host namespaces": not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")),
        "no privileged containers": not any(c.get("privileged") for c in ctx),
        "no hostProcess": not any(c.get("windowsOptions", {}).get("hostProcess") for c in ctx),
        "no hostPath volumes": not any("hostPath" in v for v in volumes),
        "no host ports": all(p.get("hostPort", 0) == 0 for c in cs for p in c.get("ports", [])),
        "procMount Default": all(c.get("procMount", "Default") == "Default" for c in ctx),
        "only safe sysctls": all(s["name"] in SAFE_SYSCTLS for s in pod_ctx.get("sysctls", [])),
        "no SELinux user or role": not any(
            (c.get("seLinuxOptions") or {}).get(k) for c in ctx for k in ("user", "role")
        ),
        "volume types": all((set(v) - {"name"}) <= VOLUME_TYPES for v in volumes),
        "allowPrivilegeEscalation false": all(c.get("allowPrivilegeEscalation") is False for c in ctx),
        "runAsNonRoot": all(v is True for v in effective("runAsNonRoot")),
        "runAsUser not 0": pod_ctx.get("runAsUser", 1) != 0 and all(c.get("runAsUser", 1) != 0 for c in ctx),
        "seccomp RuntimeDefault or Localhost": all(
            t in ("RuntimeDefault", "Localhost") for t in effective("seccompProfile", "type")
        ),
        "capabilities drop ALL, add at most NET_BIND_SERVICE": all(
            "ALL" in c.get("capabilities", {}).get("drop", [])
            and set(c.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}
            for c in ctx
        ),
    }
    return [f"violates: {name}" for name, ok in controls.items() if not ok]


def test_restricted(objects):
    """The pod meets every control of the restricted Pod Security Standard."""
    assert restricted_violations(kube.pod_spec(objects)) == []


def test_beyond_restricted(objects):
    """65532:65532, no capabilities at all, read-only root, no token, no
    volumes, and the namespace enforces restricted."""
    spec = kube.pod_spec(objects)
    ctx = spec["containers"][0]["securityContext"]
    got = {
        "runAsUser:runAsGroup": f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}",
        "capabilities.add": ctx.get("capabilities", {}).get("add"),
        "readOnlyRootFilesystem": ctx.get("readOnlyRootFilesystem"),
        "automountServiceAccountToken": spec.get("automountServiceAccountToken"),
        "enableServiceLinks": spec.get("enableServiceLinks"),
        "volumes": spec.get("volumes"),
        "namespace enforces": kube.kind(objects, "Namespace")["metadata"]["labels"].get(
            "pod-security.kubernetes.io/enforce"
        ),
    }
    assert got == {
        "runAsUser:runAsGroup": "65532:65532",
        "capabilities.add": None,
        "readOnlyRootFilesystem": True,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "volumes": None,
        "namespace enforces": "restricted",
    }


def test_spread(objects):
    """2+ replicas, at most 1 apart per node, rollouts never below replicas."""
    d = kube.kind(objects, "Deployment")["spec"]
    assert d["replicas"] >= 2
    spread = [
        c["whenUnsatisfiable"]
        for c in d["template"]["spec"].get("topologySpreadConstraints", [])
        if c["topologyKey"] == "kubernetes.io/hostname" and c["maxSkew"] == 1
    ]
    assert spread == ["DoNotSchedule"]
    rolling = d["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)


def test_selectors(objects):
    """The Service, PodDisruptionBudget and NetworkPolicy select exactly the Deployment's pods; the PDB lets one go."""
    deployment = kube.kind(objects, "Deployment")["spec"]
    labels = deployment["template"]["metadata"]["labels"]
    pdb = kube.kind(objects, "PodDisruptionBudget")["spec"]
    assert deployment["selector"]["matchLabels"] == labels
    assert kube.kind(objects, "Service")["spec"]["selector"] == labels
    assert pdb["selector"]["matchLabels"] == labels
    assert kube.kind(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == labels
    assert pdb["maxUnavailable"] == 1


def test_network_policy(objects):
    """The NetworkPolicy admits TCP to the Service's target port only and lets nothing out."""
    np = kube.kind(objects, "NetworkPolicy")["spec"]
    ports = kube.kind(objects, "Service")["spec"]["ports"]
    assert len(ports) == 1
    assert np["policyTypes"] == ["Ingress", "Egress"]
    assert np["ingress"] == [{"ports": [{"port": ports[0]["targetPort"], "protocol": "TCP"}]}]
    assert np.get("egress") is None
