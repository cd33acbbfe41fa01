"""The Kubernetes manifests agree with the code and the image: probe paths
are routes, the port and grace period are the binary's own defaults (from
`--help` of the image), the user is the images' USER, the tag the version."""

import re

import pytest

from harness import kube, project

CONTAINERFILES = project.CONTAINERFILES


@pytest.fixture(scope="module")
def objects():
    return kube.objects()


@pytest.fixture(scope="module")
def container(objects):
    return kube.pod_spec(objects)["containers"][0]


@pytest.fixture(scope="module")
def help_defaults(engine, scratch_image) -> dict[str, str]:
    """The settings' defaults as the binary in the image states them (`--help`)."""
    done = engine.run_once(scratch_image, "--help", options=("--network=none",))
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"^\s*(\w+)\s.*\(default ([^)]*)\)", done.stdout + done.stderr, re.M))


def containerfile_values(instruction: str) -> list[str]:
    return [
        line.split()[1] for f in CONTAINERFILES for line in f.read_text().splitlines() if line.startswith(instruction)
    ]


def env(container: dict, name: str) -> str | None:
    return next((e["value"] for e in container.get("env", []) if e["name"] == name), None)


def test_probe_paths(container):
    """The probe paths are the server's routes; liveness asks what the image's healthcheck asks."""
    routes = (project.ROOT / "src/route.rs").read_text()
    probes = [container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    for path in probes:
        assert f'"{path}" => Route::' in routes, f"{path} is not a route in src/route.rs"
    healthcheck = re.search(r'"GET (/[a-z]*) HTTP', (project.ROOT / "src/healthcheck.rs").read_text())
    assert healthcheck and probes[1] == healthcheck[1]
    assert probes[2] == "/readyz"


def test_ports(container, help_defaults, engine, scratch_image):
    """containerPort is the binary's PORT default and the images' EXPOSE; the probes use it."""
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert help_defaults.get("PORT") == str(port)
    assert list(engine.image_info(scratch_image)["Config"]["ExposedPorts"]) == [f"{port}/tcp"]
    assert containerfile_values("EXPOSE ") == [str(port)] * 3
    assert env(container, "PORT") is None
    assert [container[p]["httpGet"]["port"] for p in ("startupProbe", "livenessProbe", "readinessProbe")] == [
        "http"
    ] * 3


def test_user(objects, engine, scratch_image):
    """runAsUser/runAsGroup are the images' USER."""
    ctx = kube.pod_spec(objects)["securityContext"]
    ids = f"{ctx['runAsUser']}:{ctx['runAsGroup']}"
    assert engine.image_info(scratch_image)["Config"]["User"] == ids
    assert containerfile_values("USER ") == [ids] * 3


def test_grace(objects, container, help_defaults):
    """terminationGracePeriodSeconds covers preStop sleep + SHUTDOWN_GRACE_MS
    (the binary's default) + 1 s for the exit itself."""
    grace_ms = env(container, "SHUTDOWN_GRACE_MS")
    assert help_defaults.get("SHUTDOWN_GRACE_MS") == grace_ms
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    kill_at = kube.pod_spec(objects)["terminationGracePeriodSeconds"]
    assert sleep * 1000 + int(grace_ms) + 1000 <= kill_at * 1000, (
        f"preStop {sleep} s + drain {grace_ms} ms, SIGKILL at {kill_at} s"
    )


def test_image_settings(container, engine, scratch_image):
    """The image tag is Cargo.toml's version; the pod runs the image's own ENTRYPOINT."""
    assert container["image"].rsplit(":", 1)[1] == f"{project.version()}-scratch"
    assert (container.get("command"), container.get("args")) == (None, None)
    assert engine.image_info(scratch_image)["Config"]["Entrypoint"] == [f"/{project.BINARY_PATH}"]
