"""The container engine: every container and image operation of the checks
goes through one Engine, so that podman and Docker differ in one place.

Differences handled here:
- the hardening flags: scripts/lib.sh adds podman's --read-only-tmpfs=false;
- the healthcheck: podman runs it on demand (`podman healthcheck run`),
  Docker runs the image's HEALTHCHECK itself until the container is `healthy`;
- manifest lists, the OCI config handed to the runtime and `kube play` are
  podman's only here;
- `rm -t 0` (podman) vs `rm` (Docker), `save --format docker-archive` vs `save`.
"""

import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import http, proc
from .project import SECCOMP_PROFILE, hardening_flags
from .shell import CommandFailed, output, run

ENGINES = ("podman", "docker")
_names = itertools.count()


class StartFailed(AssertionError):
    """The container did not start, or did not answer /healthz in time."""


def unique_name(prefix: str) -> str:
    """A container name no other check, run or helper on this machine uses."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


class Engine:
    def __init__(self, name: str = "podman"):
        if name not in ENGINES:
            raise ValueError(f"ENGINE={name}: expected one of {', '.join(ENGINES)}")
        self.name = name

    @classmethod
    def from_env(cls) -> "Engine":
        return cls(os.environ.get("ENGINE", "podman"))

    def __repr__(self) -> str:
        return self.name

    def __call__(self, *args: str | Path, **kwargs):
        """Runs `ENGINE ARGS...` (see shell.run for the keywords)."""
        return run([self.name, *args], **kwargs)

    def out(self, *args: str | Path, **kwargs) -> str:
        return output([self.name, *args], **kwargs)

    # ------------------------------------------------------------ images

    def image_exists(self, ref: str) -> bool:
        return self("image", "inspect", ref, check=False).returncode == 0

    def image_info(self, ref: str) -> dict:
        """`image inspect REF` as a dict (its one element)."""
        return json.loads(self.out("image", "inspect", ref))[0]

    def image_id(self, ref: str) -> str:
        return self.image_info(ref)["Id"]

    @staticmethod
    def image_healthcheck(info: dict) -> dict:
        """The HEALTHCHECK of an image_info (podman puts it beside Config, Docker in it)."""
        return info.get("Healthcheck") or info["Config"].get("Healthcheck") or {}

    def labels(self, ref: str) -> dict[str, str]:
        return self.image_info(ref)["Config"].get("Labels") or {}

    def save(self, ref: str, tar: Path) -> None:
        """REF as a docker-archive (manifest.json, the config, one tar per layer)."""
        if self.name == "podman":
            self("save", "--quiet", "--format", "docker-archive", "-o", tar, ref)
        else:
            self("save", "-o", tar, ref)

    def remove_images(self, *refs: str) -> None:
        """Removes REFS if present (tags; layers a tagged image uses stay)."""
        for ref in refs:
            if self.image_exists(ref):
                self("rmi", "-f", ref, check=False)

    def manifest_platforms(self, ref: str) -> list[str]:
        """The sorted OS/ARCH entries of the local manifest list REF (podman only here)."""
        if self.name != "podman":
            raise NotImplementedError(
                "manifest lists are built by podman only (Docker 20.10 has no local manifest lists)"
            )
        lst = json.loads(self.out("manifest", "inspect", ref))
        return sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in lst["manifests"])

    # ------------------------------------------------------------ containers

    def run_flags(self, *, hardening: bool = True, seccomp: bool | Path = False) -> list[str]:
        """The `run` options: the hardening of scripts/lib.sh, and the
        project's seccomp profile (or the one given)."""
        flags = list(hardening_flags(self.name)) if hardening else []
        if seccomp:
            flags.append(f"--security-opt=seccomp={SECCOMP_PROFILE if seccomp is True else seccomp}")
        return flags

    def start(
        self,
        image: str,
        *,
        name: str,
        hardening: bool = True,
        seccomp: bool | Path = False,
        options: tuple[str, ...] = (),
        wait: float = 5,
    ) -> "Container":
        """Starts IMAGE detached as NAME, published on a free loopback port,
        with the hardening flags (and seccomp profile) unless told not to, plus
        OPTIONS; returns once /healthz answers 200. If it does not within WAIT
        seconds, removes the container and raises StartFailed with its logs."""
        argv = ["run", "-d", "--pull=never", "--name", name, "-p", "127.0.0.1::8080"]
        argv += self.run_flags(hardening=hardening, seccomp=seccomp) + list(options) + [image]
        container = Container(self, name)
        try:
            self(*argv, timeout=120)
            container.addr = self.out("port", name, "8080").splitlines()[0].replace("0.0.0.0", "127.0.0.1")
            if not http.wait_for(container.addr, "/healthz", wait):
                raise StartFailed(f"no answer on {container.addr}/healthz within {wait} s; logs:\n{container.logs()}")
        except CommandFailed as e:
            container.remove()
            raise StartFailed(str(e)) from e
        except StartFailed:
            container.remove()
            raise
        return container

    def run_once(self, image: str, *args: str, options: tuple[str, ...] = (), **kwargs):
        """`run --rm` IMAGE with ARGS in the foreground (its exit status is the caller's to judge)."""
        return self("run", "--rm", "--pull=never", *options, image, *args, check=False, **kwargs)


@dataclass
class Container:
    engine: Engine
    name: str
    addr: str = ""  # HOST:PORT of the published 8080

    def info(self) -> dict:
        return json.loads(self.engine.out("container", "inspect", self.name))[0]

    @property
    def pid(self) -> int:
        return self.info()["State"]["Pid"]

    def status(self) -> proc.Status:
        """Its main process as the kernel sees it."""
        return proc.status(self.pid)

    def get(self, path: str) -> http.Response:
        return http.get(self.addr, path)

    def logs(self) -> str:
        done = self.engine("logs", self.name, check=False)
        return done.stdout + done.stderr

    def healthcheck(self, timeout: float = 60) -> str:
        """Runs the image's HEALTHCHECK and returns the health status
        (`healthy` when it passed). podman runs it now; Docker runs it on its
        own schedule, so this waits up to TIMEOUT s for it to settle."""
        if self.engine.name == "podman":
            self.engine("healthcheck", "run", self.name, check=False, timeout=timeout)
            return self.info()["State"]["Health"]["Status"]
        deadline = time.monotonic() + timeout
        while (health := self.info()["State"].get("Health", {}).get("Status", "none")) == "starting":
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return health

    def stop(self, timeout: int = 10) -> tuple[int, int]:
        """Stops it (SIGTERM, SIGKILL after TIMEOUT s): (milliseconds taken, exit code)."""
        t0 = time.monotonic()
        self.engine("stop", "-t", str(timeout), self.name, timeout=timeout + 30)
        ms = round((time.monotonic() - t0) * 1000)
        return ms, self.info()["State"]["ExitCode"]

    def oci_config(self) -> dict:
        """The OCI runtime config the engine handed the runtime (podman only here)."""
        if self.engine.name != "podman":
            raise NotImplementedError("the OCI config path is read from podman inspect only")
        return json.loads(Path(self.info()["OCIConfigPath"]).read_text())

    def remove(self) -> None:
        if self.engine.name == "podman":
            self.engine("rm", "-f", "-t", "0", self.name, check=False)
        else:
            self.engine("rm", "-f", self.name, check=False)
