"""Fixtures of the publish tests: a loopback TLS registry, GPG and cosign keys,
one `publish/publish.sh` of every variant, and the consumer's podman.

Everything a fixture makes lives in pytest's temp folders and is removed by
the fixture that made it: registry processes by PID, gpg-agent, keys.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
from publishing import ROOT, VARIANTS, kept, run, succeeded


@pytest.fixture(scope="session", autouse=True)
def images(image_repo):
    for v in VARIANTS:
        if run("podman", "manifest", "inspect", f"{image_repo}:{v}-multiarch").returncode:
            pytest.exit(f"{image_repo}:{v}-multiarch not found: build it with `just images`", returncode=1)


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("publish")


@pytest.fixture(scope="session", autouse=True)
def sbom_cache(work):
    """One SBOM per image for the whole run, the mutants' pytests included
    (they inherit the variable): the checks publish the same images a few
    dozen times, and syft takes seconds for each."""
    if "SBOM_CACHE" in os.environ:
        yield
        return
    os.environ["SBOM_CACHE"] = str(work / "sbom-cache")
    yield
    del os.environ["SBOM_CACHE"]


@pytest.fixture(scope="session")
def certs(work):
    """A CA and a server certificate for 127.0.0.1 signed by it; CERT_DIR holds the CA."""
    return kept(work, "certs", lambda: make_certs(work))


def make_certs(work):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ext = work / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    for cmd in (
        [
            "openssl",
            "req",
            "-x509",
            *ec,
            "-days",
            "1",
            "-subj",
            "/CN=moscow-time-test-ca",
            "-keyout",
            work / "ca.key",
            "-out",
            work / "ca.crt",
        ],
        ["openssl", "req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", work / "server.key", "-out", work / "server.csr"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            work / "server.csr",
            "-CA",
            work / "ca.crt",
            "-CAkey",
            work / "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            ext,
            "-out",
            work / "server.crt",
        ],
    ):
        succeeded(run(*cmd))
    (work / "certs").mkdir()
    shutil.copy(work / "ca.crt", work / "certs")
    return work


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def registries(certs):
    """start(NAME, readonly=False) -> HOST:PORT: Debian's docker-registry with TLS."""
    procs = []

    def start(name, readonly=False):
        folder, port = certs / name, free_port()
        folder.mkdir()
        (folder / "config.yml").write_text(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {folder}/data
  maintenance:
    readonly:
      enabled: {str(readonly).lower()}
http:
  addr: 127.0.0.1:{port}
  tls:
    certificate: {certs}/server.crt
    key: {certs}/server.key
""")
        with open(folder / "log", "w") as log:  # the child keeps its own copy of the descriptor
            procs.append(subprocess.Popen(["docker-registry", "serve", folder / "config.yml"], stdout=log, stderr=log))
        address = f"127.0.0.1:{port}"
        # A minute: `just test` runs this at the lowest priority beside the cluster's checks.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if run("curl", "-sf", "--cacert", certs / "ca.crt", f"https://{address}/v2/").returncode == 0:
                return address
            time.sleep(0.1)
        pytest.fail(f"docker-registry did not start: {(folder / 'log').read_text()}")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def registry(registries, work):
    return kept(work, "registry", lambda: registries("main"))


@pytest.fixture(scope="session")
def gpg(work):
    """GNUPGHOME with two passphrase-less keys: {"home", "publisher", "other", "publisher_asc"}."""
    keys = kept(work, "gpg", lambda: make_gpg_keys(work))
    yield keys
    run("gpgconf", "--kill", "gpg-agent", env={"GNUPGHOME": str(keys["home"])})


def make_gpg_keys(work):
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home)}
    keys = {"home": home}
    for name in ("publisher", "other"):
        succeeded(
            run(
                "gpg",
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                f"{name} <{name}@example.invalid>",
                "ed25519",
                "sign",
                "1d",
                env=env,
            )
        )
        listing = succeeded(
            run("gpg", "--batch", "--with-colons", "--list-secret-keys", f"{name}@example.invalid", env=env)
        )
        keys[name] = next(row.split(":")[9] for row in listing.splitlines() if row.startswith("fpr:"))
    keys["publisher_asc"] = work / "publisher.asc"
    keys["publisher_asc"].write_text(
        succeeded(run("gpg", "--batch", "--armor", "--export", keys["publisher"], env=env))
    )
    return keys


@pytest.fixture(scope="session")
def cosign():
    return succeeded(run(ROOT / "scripts/cosign.sh", timeout=3600)).strip()


@pytest.fixture(scope="session")
def cosign_keys(work, cosign):
    """Two cosign key pairs (empty password): {"publisher": (key, pub), "other": (key, pub)}."""
    return kept(work, "cosign_keys", lambda: make_cosign_keys(work, cosign))


def make_cosign_keys(work, cosign):
    keys = {}
    for name in ("publisher", "other"):
        succeeded(run(cosign, "generate-key-pair", "--output-key-prefix", work / name, env={"COSIGN_PASSWORD": ""}))
        keys[name] = (work / f"{name}.key", work / f"{name}.pub")
    return keys


@pytest.fixture(scope="session")
def publish(certs, gpg, cosign_keys, image_repo):
    """publish(REPOSITORY, sign_by, cosign_key, variants=VARIANTS, **env) -> CompletedProcess."""

    def publish(repository, sign_by, cosign_key, variants=VARIANTS, **env):
        return run(
            ROOT / "publish/publish.sh",
            env={
                "REGISTRY": repository,
                "SIGN_BY": sign_by,
                "COSIGN_KEY": str(cosign_key),
                "COSIGN_PASSWORD": "",
                "VARIANTS": " ".join(variants),
                "CERT_DIR": str(certs / "certs"),
                "IMAGE_REPO": image_repo,
                "SIGNATURES_DIR": str(certs / "signatures"),
                "GNUPGHOME": str(gpg["home"]),
                **env,
            },
        )

    return publish


@pytest.fixture(scope="session")
def published(registry, publish, gpg, cosign_keys, work):
    """Every variant published to REGISTRY/moscow-time, GPG- and cosign-signed:
    {"output", "seconds", "digests": {(variant, "manifest list"|"linux/ARCH"): REF}}."""
    return kept(work, "published", lambda: publish_all(registry, publish, gpg, cosign_keys))


def publish_all(registry, publish, gpg, cosign_keys):
    start = time.monotonic()
    result = publish(f"{registry}/moscow-time", gpg["publisher"], cosign_keys["publisher"][0])
    seconds = time.monotonic() - start
    digests = {}
    for line in result.stdout.splitlines():
        m = re.fullmatch(
            rf"([a-z]+) +(manifest list|linux/[a-z0-9]+) +({re.escape(registry)}/moscow-time@sha256:[0-9a-f]{{64}})",
            line,
        )
        if m:
            digests[(m[1], m[2])] = m[3]
    return {"result": result, "seconds": seconds, "digests": digests}


@pytest.fixture(scope="session")
def verify(certs, cosign_keys):
    """verify(REF, key="publisher") -> CompletedProcess of publish/verify.sh."""

    def verify(ref, key="publisher"):
        return run(
            ROOT / "publish/verify.sh",
            ref,
            env={"COSIGN_PUB": str(cosign_keys[key][1]), "CERT_DIR": str(certs / "certs")},
        )

    return verify


@pytest.fixture(scope="session")
def skopeo_copy(certs):
    """skopeo_copy(SRC, DEST, *options): a copy between registry references, as
    someone with push access but no signing key does it."""
    policy = certs / "accept.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')

    def copy(src, dest, *options):
        return succeeded(
            run(
                "skopeo",
                "copy",
                "--quiet",
                "--policy",
                policy,
                "--src-cert-dir",
                certs / "certs",
                "--dest-cert-dir",
                certs / "certs",
                *options,
                f"docker://{src}",
                f"docker://{dest}",
            )
        )

    return copy


@pytest.fixture(scope="session")
def consumer(certs, registry, gpg, published):
    """pull(*args) as a consumer whose policy trusts only the publisher's GPG key
    for REGISTRY (docs/publishing.md, "Publish"), with an image store of its own;
    .read(*args) runs podman on that store with a policy that accepts anything."""
    home = certs / "consumer"
    (home / ".config/containers/registries.d").mkdir(parents=True)
    (home / ".config/containers/registries.d/moscow-time.yaml").write_text(
        f"docker:\n  {registry}:\n    lookaside: file://{certs}/signatures\n"
    )
    (home / ".config/containers/policy.json").write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {
                        registry: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(gpg["publisher_asc"])}]
                    }
                },
            }
        )
    )
    reader = certs / "reader"
    (reader / ".config/containers").mkdir(parents=True)
    (reader / ".config/containers/policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    store = ["--root", certs / "store", "--runroot", certs / "run", "--storage-driver", "vfs"]

    class Consumer:
        @staticmethod
        def pull(*args):
            return run(
                "podman", *store, "pull", "--quiet", "--cert-dir", certs / "certs", *args, env={"HOME": str(home)}
            )

        @staticmethod
        def read(*args):
            return run("podman", *store, *args, env={"HOME": str(reader)})

    yield Consumer
    # The store's files belong to root inside a user namespace on some hosts: podman removes them.
    run("podman", *store, "rmi", "--all", "--force", env={"HOME": str(reader)})
