"""`just publish` to a real registry over verified TLS, then the consumer's side:
podman pulls under a policy that trusts only the publisher's GPG key, and
`publish/verify.sh` (`just verify`) checks the cosign signatures, the SPDX SBOM
and the SLSA provenance attached to each digest. Every refusal a consumer
relies on is a test of its own (and tests/publish/test_publish_mutants.py breaks the
scripts to prove each can fail).
"""

import hashlib
import json
import re
import subprocess

import pytest
from publishing import ARCHS, ROOT, VARIANTS, VERSION, kept, one_error, refused, run, succeeded

from harness import report
from harness.project import ROOT as REPO

KINDS = ("manifest list", *(f"linux/{a}" for a in ARCHS))


# ------------------------------------------------------------ configuration


def test_publish_recipe_names_registry(certs):
    """`just publish` runs publish/publish.sh: without REGISTRY, one error line, exit 2."""
    result = run("just", "--justfile", REPO / "justfile", "publish", env={"REGISTRY": None, "CERT_DIR": None})
    one_error(result, 2, "REGISTRY")


def test_publish_no_sign_by(publish, registry, cosign_keys):
    one_error(publish(f"{registry}/moscow-time", "", cosign_keys["publisher"][0]), 2, "SIGN_BY")


def test_publish_unknown_gpg_key(publish, registry, cosign_keys):
    one_error(
        publish(f"{registry}/moscow-time", "0123456789ABCDEF0123456789ABCDEF01234567", cosign_keys["publisher"][0]),
        2,
        "no secret key",
    )


def test_publish_no_cosign_key(publish, registry, gpg):
    one_error(publish(f"{registry}/moscow-time", gpg["publisher"], ""), 2, "COSIGN_KEY")


def test_publish_cosign_key_not_a_key(publish, registry, gpg, cosign_keys):
    """The public key where the private one belongs is one error line, exit 2."""
    one_error(
        publish(f"{registry}/moscow-time", gpg["publisher"], cosign_keys["publisher"][1]), 2, "not a cosign private key"
    )


def test_publish_missing_images(publish, registry, gpg):
    one_error(
        publish(f"{registry}/moscow-time", gpg["publisher"], "none", IMAGE_REPO="localhost/moscow-time-missing"),
        1,
        "just images",
    )


def test_publish_refused_push(publish, registries, gpg):
    readonly = registries("readonly", readonly=True)
    one_error(publish(f"{readonly}/moscow-time", gpg["publisher"], "none", variants=["scratch"]), 1, "failed")


def test_publish_tls_verified(publish, registry, gpg):
    """Without CERT_DIR the test CA is not trusted."""
    one_error(
        publish(f"{registry}/moscow-time", gpg["publisher"], "none", variants=["scratch"], CERT_DIR=None),
        1,
        "certificate",
    )


# ------------------------------------------------------------ publish


def test_publish_pushes_and_signs(published):
    result = published["result"]
    assert result.returncode == 0, result.stdout
    report.info(
        f"push, GPG- and cosign-sign, attest {len(VARIANTS)} manifest lists and {2 * len(VARIANTS)} images, "
        f"2 tags each: {published['seconds']:.1f} s"
    )


def test_publish_prints_every_digest(published):
    expected = {(v, k) for v in VARIANTS for k in KINDS}
    assert set(published["digests"]) == expected
    assert len(set(published["digests"].values())) == len(expected)


def digest_ids():
    return [f"{v}-{k.replace(' ', '-').replace('linux/', '')}" for v in VARIANTS for k in KINDS]


@pytest.fixture(params=[(v, k) for v in VARIANTS for k in KINDS], ids=digest_ids())
def published_ref(request, published):
    ref = published["digests"].get(request.param)
    assert ref, f"no digest printed for {request.param}"
    return ref


# ------------------------------------------------------------ consumer: GPG, podman's policy


@pytest.mark.parametrize("tag", [t for v in VARIANTS for t in (v, f"{VERSION}-{v}")])
def test_gpg_pull_tag(consumer, registry, tag):
    succeeded(consumer.pull(f"{registry}/moscow-time:{tag}"))


def test_gpg_pull_digest(consumer, published_ref):
    succeeded(consumer.pull(published_ref))


def layer_digests(archive, folder):
    folder.mkdir()
    subprocess.run(["tar", "-xf", archive, "-C", folder], check=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    return [succeeded(run("sha256sum", folder / layer)).split()[0] for layer in manifest[0]["Layers"]]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_gpg_pull_platform_same_image(consumer, registry, image_repo, tmp_path, variant, arch):
    """pull --platform gives the local image: its config digest and layer digests."""
    pulled = succeeded(consumer.pull("--platform", f"linux/{arch}", f"{registry}/moscow-time:{variant}")).strip()
    local = succeeded(
        run("podman", "image", "inspect", "--format", "{{.Id}}", f"{image_repo}:{variant}-{arch}")
    ).strip()
    assert pulled == local, "config digests differ"
    succeeded(consumer.read("save", "--quiet", "--format", "docker-archive", "-o", tmp_path / "pulled.tar", pulled))
    succeeded(run("podman", "save", "--quiet", "--format", "docker-archive", "-o", tmp_path / "local.tar", local))
    assert layer_digests(tmp_path / "pulled.tar", tmp_path / "p") == layer_digests(
        tmp_path / "local.tar", tmp_path / "l"
    )


@pytest.fixture(scope="session")
def unsigned(publish, registry, work):
    """scratch pushed with neither GPG nor cosign signatures."""
    return kept(
        work, "unsigned", lambda: succeeded(publish(f"{registry}/unsigned", "none", "none", variants=["scratch"]))
    )


@pytest.fixture(scope="session")
def other_key(publish, registry, gpg, cosign_keys, work):
    """scratch pushed and signed, GPG and cosign, with the other keys."""

    def make():
        output = succeeded(
            publish(f"{registry}/other-key", gpg["other"], cosign_keys["other"][0], variants=["scratch"])
        )
        return re.search(r"manifest list +(\S+)", output)[1]

    return kept(work, "other_key", make)


@pytest.fixture(scope="session")
def moved_tag(published, registry, skopeo_copy, work):
    """Someone with push access but no key points a new tag, :stable, at the signed alpine list."""
    if "alpine" not in VARIANTS:
        pytest.skip("needs the alpine variant")
    return kept(work, "moved_tag", lambda: move_tag(published, registry, skopeo_copy))


def move_tag(published, registry, skopeo_copy):
    skopeo_copy(
        published["digests"][("alpine", "manifest list")],
        f"{registry}/moscow-time:stable",
        "--all",
        "--preserve-digests",
        "--remove-signatures",
    )
    return f"{registry}/moscow-time:stable"


def test_gpg_refuses_unsigned(consumer, registry, unsigned):
    refused(consumer.pull(f"{registry}/unsigned:scratch"), "no signature exists")


def test_gpg_refuses_other_key(consumer, registry, other_key):
    refused(consumer.pull(f"{registry}/other-key:scratch"), "Invalid GPG signature")


def test_gpg_refuses_moved_tag(consumer, moved_tag):
    """A tag moved to another signed image: its signatures name another tag."""
    refused(consumer.pull(moved_tag), r"Signature for identity [^ ]+:alpine is not accepted")


# ------------------------------------------------------------ consumer: cosign, just verify


def test_verify_recipe(published):
    """`just verify` runs publish/verify.sh: a tag-less, digest-less reference is bad usage, exit 2."""
    result = run("just", "--justfile", REPO / "justfile", "verify", "registry.example/moscow-time")
    assert result.returncode == 2 and "names neither a tag nor a digest" in result.stdout, result.stdout


def test_verify_accepts(verify, published_ref):
    """Signature, provenance and (for an image) SBOM, each for exactly this digest;
    a list also holds exactly linux/amd64 and linux/arm64, each verified."""
    output = succeeded(verify(published_ref))
    digest = published_ref.split("@")[1]
    assert re.search(rf"verified \S+@{digest}: (manifest list|linux/\w+|image), signature, provenance", output)
    if "manifest list" in output.splitlines()[0]:
        assert len(re.findall(r"verified .*, SPDX SBOM", output)) == len(ARCHS)
    assert output.splitlines()[-1].startswith("OK: ")


@pytest.mark.parametrize("tag", [t for v in VARIANTS for t in (v, f"{VERSION}-{v}")])
def test_verify_accepts_tag(verify, registry, published, tag):
    """By tag: the tag's digest, with a signature that names the tag."""
    output = succeeded(verify(f"{registry}/moscow-time:{tag}"))
    variant = tag.rsplit("-", 1)[-1]
    assert published["digests"][(variant, "manifest list")].split("@")[1] in output.splitlines()[-1]


def test_verify_refuses_unsigned(verify, registry, unsigned):
    digest = re.search(r"manifest list +\S+@(\S+)", unsigned)[1]
    line = refused(verify(f"{registry}/unsigned@{digest}"), r"^refused: ")
    assert "has no cosign signature" in line, line


def test_verify_refuses_other_key(verify, other_key):
    line = refused(verify(other_key), r"^refused: ")
    assert "no signature by" in line, line


def test_verify_refuses_wrong_public_key(verify, published):
    """Our image, checked against another publisher's key."""
    line = refused(verify(published["digests"][(VARIANTS[-1], "manifest list")], key="other"), r"^refused: ")
    assert "no signature by" in line, line


@pytest.fixture(scope="session")
def replayed(publish, registry, published, skopeo_copy, cosign_keys, gpg, work):
    """scratch published to REGISTRY/replayed, then its amd64 image's attestations
    replaced by those of another image (validly signed, about another digest)."""
    return kept(work, "replayed", lambda: replay(publish, registry, published, skopeo_copy, cosign_keys))


def replay(publish, registry, published, skopeo_copy, cosign_keys):
    output = succeeded(publish(f"{registry}/replayed", "none", cosign_keys["publisher"][0], variants=["scratch"]))
    target = re.search(r"linux/amd64 +(\S+)", output)[1]
    donor = published["digests"][(VARIANTS[0], "linux/arm64")]
    skopeo_copy(
        f"{registry}/moscow-time:sha256-{donor.split(':')[-1]}.att",
        f"{registry}/replayed:sha256-{target.split(':')[-1]}.att",
    )
    return target, donor


def test_verify_refuses_attestation_for_another_digest(verify, replayed):
    target, donor = replayed
    line = refused(verify(target), r"^refused: ")
    assert "attestation signed by the key is about another image" in line and donor.split("@")[1] in line, line


def test_verify_refuses_moved_tag(verify, moved_tag):
    """A tag moved to another image we signed: no signature names this tag."""
    line = refused(verify(moved_tag), r"^refused: ")
    assert "not as tag stable" in line, line


def test_verify_refuses_tag_not_at_digest(verify, registry, published, moved_tag):
    """TAG@DIGEST: the tag must point at the digest now."""
    scratch = published["digests"][(VARIANTS[-1], "manifest list")].split("@")[1]
    line = refused(verify(f"{moved_tag}@{scratch}"), r"^refused: ")
    assert "tag stable was moved" in line, line


def raw_manifest(certs, ref) -> dict:
    """The manifest (or list) the registry serves for REF, as JSON."""
    return json.loads(succeeded(run("skopeo", "inspect", "--raw", "--cert-dir", certs / "certs", f"docker://{ref}")))


def test_attached_sizes(published, certs, registry):
    """What a consumer downloads beside the image: the bytes of each signature
    and attestation layer (cosign's .sig and .att images), printed as figures."""
    ref = published["digests"][(VARIANTS[-1], "linux/amd64")]
    hexdigest = ref.split(":")[-1]
    sizes = {}
    for kind in ("sig", "att"):
        manifest = raw_manifest(certs, f"{registry}/moscow-time:sha256-{hexdigest}.{kind}")
        sizes[kind] = {
            layer.get("annotations", {}).get("predicateType", layer["mediaType"]): layer["size"]
            for layer in manifest["layers"]
        }
        sizes[kind + " layers"] = len(manifest["layers"])
    report.info(f"attached to {ref}: {json.dumps(sizes)}")
    assert sizes["sig layers"] == 2, "one cosign signature per tag"
    assert set(sizes["att"]) == {"https://spdx.dev/Document", "https://slsa.dev/provenance/v1"}


def sign_and_attest(cosign, cosign_keys, certs, ref, kind, predicate):
    """What `just publish` does for REF, by hand with the publisher's key: a
    cosign signature and one attestation of KIND (the PREDICATE file)."""
    env = {"COSIGN_PASSWORD": "", "SSL_CERT_DIR": str(certs / "certs")}
    key = cosign_keys["publisher"][0]
    succeeded(run(cosign, "sign", "--yes", "--key", key, "--tlog-upload=false", ref, env=env))
    attest = ["attest", "--yes", "--key", key, "--tlog-upload=false", "--type", kind, "--predicate", predicate, ref]
    succeeded(run(cosign, *attest, env=env))


@pytest.fixture(scope="session", params=["sbom", "provenance"])
def half_attested(request, publish, registry, cosign, cosign_keys, certs, image_repo, tmp_path_factory, work):
    """scratch amd64 pushed unsigned, then signed and given one of the two
    attestations by hand with the publisher's key: the other is missing."""
    missing = request.param

    def make():
        return half_attest(missing, publish, registry, cosign, cosign_keys, certs, image_repo, tmp_path_factory)

    return kept(work, f"half_attested-{missing}", make)


def half_attest(missing, publish, registry, cosign, cosign_keys, certs, image_repo, tmp_path_factory):
    output = succeeded(publish(f"{registry}/no-{missing}", "none", "none", variants=["scratch"]))
    ref = re.search(r"linux/amd64 +(\S+)", output)[1]
    predicate = tmp_path_factory.mktemp(f"no-{missing}") / "predicate.json"
    if missing == "sbom":
        predicate.write_text(succeeded(run(ROOT / "publish/provenance.sh", "scratch", f"{image_repo}:scratch-amd64")))
        kind = "slsaprovenance1"
    else:
        predicate.write_text('{"spdxVersion": "SPDX-2.3", "packages": []}')
        kind = "spdxjson"
    sign_and_attest(cosign, cosign_keys, certs, ref, kind, predicate)
    return missing, ref


def test_verify_refuses_missing_attestation(verify, half_attested):
    missing, ref = half_attested
    line = refused(verify(ref), r"^refused: ")
    assert f"has no {'SBOM' if missing == 'sbom' else 'provenance'} attestation" in line, line


def test_publish_lists_hold_both_platforms(published, certs):
    """The pushed manifest lists hold exactly linux/amd64 and linux/arm64."""
    for v in VARIANTS:
        manifest = raw_manifest(certs, published["digests"][(v, "manifest list")])
        assert sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in manifest["manifests"]) == [
            f"linux/{a}" for a in ARCHS
        ]


@pytest.fixture(scope="session")
def one_platform(published, registry, cosign, cosign_keys, certs, image_repo, tmp_path_factory, work):
    """Someone with the key publishes a list of the signed scratch
    linux/amd64 image alone: signed, with a provenance about its digest,
    everything `just verify` asks of a list but the two platforms."""

    def make():
        return publish_one_platform(published, registry, cosign, cosign_keys, certs, image_repo, tmp_path_factory)

    return kept(work, "one_platform", make)


def publish_one_platform(published, registry, cosign, cosign_keys, certs, image_repo, tmp_path_factory):
    manifest = raw_manifest(certs, published["digests"][("scratch", "manifest list")])
    manifest["manifests"] = [m for m in manifest["manifests"] if m["platform"]["architecture"] == "amd64"]
    folder = tmp_path_factory.mktemp("one-platform")
    body = folder / "list.json"
    body.write_text(json.dumps(manifest))
    url = f"https://{registry}/v2/moscow-time/manifests/one-platform"
    put = ["curl", "-sSf", "--cacert", certs / "ca.crt", "-X", "PUT", "-H", f"Content-Type: {manifest['mediaType']}"]
    succeeded(run(*put, "--data-binary", f"@{body}", url))
    ref = f"{registry}/moscow-time@sha256:{hashlib.sha256(body.read_bytes()).hexdigest()}"
    predicate = folder / "provenance.json"
    predicate.write_text(succeeded(run(ROOT / "publish/provenance.sh", "scratch", f"{image_repo}:scratch-amd64")))
    sign_and_attest(cosign, cosign_keys, certs, ref, "slsaprovenance1", predicate)
    return ref


def test_verify_refuses_one_platform_list(verify, one_platform):
    line = refused(verify(one_platform), r"^refused: ")
    assert "the manifest list holds linux/amd64, not exactly linux/amd64 and linux/arm64" in line, line
