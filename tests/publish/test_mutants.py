"""Checks the checks: each mutant is publish/publish.sh or publish/verify.sh
with one practice broken (one text replacement), run under the publish tests
it must make FAIL, by test ID. A check that cannot fail proves nothing.

Each mutant runs in a copy of the repository's top level (symlinks, and a
copy of publish/ with the one change) through PUBLISH_ROOT, in a pytest of
its own with its own registry and keys, on the scratch variant (and alpine,
where a check moves a tag to it).
"""

import os
import shutil
import sys
import xml.etree.ElementTree as ET

import pytest
from publishing import VERSION, run

from harness.project import ROOT as REPO

P = "tests/publish/test_publish.py::"
# name: (file, text, replacement, test IDs that must fail)
MUTANTS = {
    "publish-no-cosign-list-signature": (
        "publish.sh",
        'for digest in "${digests[@]}"; do cosign_sign',
        'for digest in "${digests[@]:1}"; do cosign_sign',
        [P + "test_verify_accepts[scratch-manifest-list]", P + "test_verify_accepts_tag[scratch]"],
    ),
    "publish-no-cosign-image-signature": (
        "publish.sh",
        'for digest in "${digests[@]}"; do cosign_sign',
        'for digest in "${digests[@]:0:1}"; do cosign_sign',
        [P + "test_verify_accepts[scratch-amd64]", P + "test_verify_accepts[scratch-arm64]"],
    ),
    "publish-cosign-signs-one-tag": (
        "publish.sh",
        '        for tag in "${tags[@]}"; do\n            for digest in "${digests[@]}"; do cosign_sign',
        '        for tag in "${tags[@]:0:1}"; do\n            for digest in "${digests[@]}"; do cosign_sign',
        [P + f"test_verify_accepts_tag[{VERSION}-scratch]"],
    ),
    "publish-no-sbom-attestation": (
        "publish.sh",
        'attest "$digest" spdxjson',
        'true "$digest" spdxjson',
        [P + "test_verify_accepts[scratch-amd64]", P + "test_attached_sizes"],
    ),
    "publish-no-provenance-attestation": (
        "publish.sh",
        'attest "$digest" slsaprovenance1',
        'true "$digest" slsaprovenance1',
        [P + "test_verify_accepts[scratch-manifest-list]", P + "test_verify_accepts[scratch-amd64]"],
    ),
    "verify-skips-subject": (
        "verify.sh",
        "any(.subject[]; .digest.sha256 == $d)",
        "true",
        [P + "test_verify_refuses_attestation_for_another_digest"],
    ),
    "verify-ignores-tag-annotation": (
        "verify.sh",
        '[[ -z $tag ]] || annotations=(-a "tag=$tag")',
        "annotations=()",
        [P + "test_verify_refuses_moved_tag"],
    ),
    "verify-ignores-tag-digest": (
        "verify.sh",
        'elif [[ $now != "$digest" ]]; then',
        "elif false; then",
        [P + "test_verify_refuses_tag_not_at_digest"],
    ),
    "verify-skips-sbom": (
        "verify.sh",
        'attested "$1" spdxjson',
        'true "$1" spdxjson',
        [P + "test_verify_refuses_missing_attestation[sbom]"],
    ),
    "verify-skips-provenance": (
        "verify.sh",
        'attested "$1" slsaprovenance1',
        'true "$1" slsaprovenance1',
        [P + "test_verify_refuses_missing_attestation[provenance]"],
    ),
    "verify-skips-signature": (
        "verify.sh",
        '    signed "$1"\n',
        "",
        [
            P + "test_verify_refuses_unsigned",
            P + "test_verify_refuses_other_key",
            P + "test_verify_refuses_wrong_public_key",
        ],
    ),
}


def mutant_root(tmp_path, file, text, replacement):
    """A copy of the repository's top level with publish/FILE mutated."""
    root = tmp_path / "root"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name != "publish":
            (root / entry.name).symlink_to(entry)
    shutil.copytree(REPO / "publish", root / "publish")
    source = (root / "publish" / file).read_text()
    assert source.count(text) == 1, f"publish/{file} holds {source.count(text)} copies of the text to break, not 1"
    (root / "publish" / file).write_text(source.replace(text, replacement))
    return root


@pytest.mark.skipif(os.environ.get("PUBLISH_ROOT") is not None, reason="no mutants of mutants")
@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_caught(tmp_path, name):
    file, text, replacement, must_fail = MUTANTS[name]
    variants = "alpine scratch" if any("moved_tag" in t or "tag_not_at" in t for t in must_fail) else "scratch"
    root = mutant_root(tmp_path, file, text, replacement)
    report = tmp_path / "report.xml"
    result = run(
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={report}",
        "--rootdir",
        REPO,
        *[str(REPO / t) for t in must_fail],
        env={"PUBLISH_ROOT": str(root), "VARIANTS": variants},
        cwd=REPO,
        timeout=1800,
    )
    assert report.exists(), f"the mutant's pytest wrote no report:\n{result.stdout}"
    outcome = {}
    for case in ET.parse(report).iter("testcase"):
        test_id = f"{case.get('classname').replace('.', '/')}.py::{case.get('name')}"
        outcome[test_id] = (
            "failed"
            if case.find("failure") is not None or case.find("error") is not None
            else ("skipped" if case.find("skipped") is not None else "passed")
        )
    missed = [t for t in must_fail if outcome.get(t) != "failed"]
    assert not missed, (
        f"{name}: these checks did not fail: "
        + ", ".join(f"{t} ({outcome.get(t, 'not run')})" for t in missed)
        + f"\n{result.stdout[-3000:]}"
    )
