#!/usr/bin/env bash
# publish/verify.sh IMAGE@sha256:HEX (`just verify`): what a consumer checks
# before running an image `just publish` pushed, with cosign and the
# publisher's public key, and nothing else trusted:
#   - the registry serves, for the digest, a manifest with that digest;
#   - a cosign signature by the key on the digest (with IMAGE:TAG or
#     IMAGE:TAG@DIGEST: one that names TAG, and TAG points at DIGEST now);
#   - a signed SLSA v1 provenance whose subject is the digest, and, for an
#     image, a signed SPDX SBOM whose subject is the digest (cosign's claim
#     check, asked for explicitly);
#   - for a manifest list: exactly linux/amd64 and linux/arm64, and each of
#     its images passes all of the above.
# Prints one line per digest verified; refuses with one `refused:` line and
# exit 1 at the first check that fails (exit 2: bad usage).
#
# Environment:
#   COSIGN_PUB  the publisher's cosign public key (cosign.pub); or, for
#               images signed keylessly (.github/workflows/release.yml):
#   COSIGN_IDENTITY, COSIGN_OIDC_ISSUER
#               the signer's identity in its Fulcio certificate and the OIDC
#               issuer that vouched for it, e.g.
#               https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/v0.1.0
#               and https://token.actions.githubusercontent.com; the
#               signatures must then be in the Rekor transparency log
#               (docs/verify.md; not tried here)
#   CERT_DIR    a folder of CA certificates (*.crt) for a registry with a
#               private CA, as for `just publish`
# Needs: cosign (scripts/cosign.sh builds it), skopeo, jq.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: just verify REGISTRY/REPOSITORY@sha256:HEX (or :TAG, or :TAG@sha256:HEX); COSIGN_PUB=cosign.pub, or COSIGN_IDENTITY and COSIGN_OIDC_ISSUER"

die() {
    echo "$2" >&2
    exit "$1"
}
refuse() { die 1 "refused: $1"; }

ref=${1:-}
[[ $ref =~ ^([a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+)(:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(sha256:[0-9a-f]{64}))?$ ]] ||
    die 2 "error: '$ref' is not an image reference; $usage"
name=${BASH_REMATCH[1]} tag=${BASH_REMATCH[6]} digest=${BASH_REMATCH[8]}
[[ -n $tag || -n $digest ]] || die 2 "error: '$ref' names neither a tag nor a digest; $usage"
# Whom to trust: a key (and no transparency log, as `just publish` signs with
# a key), or an identity certified by Fulcio and logged in Rekor.
if [[ -z ${COSIGN_PUB:-} && -n ${COSIGN_IDENTITY:-} ]]; then
    [[ -n ${COSIGN_OIDC_ISSUER:-} ]] || die 2 "error: COSIGN_IDENTITY is set but COSIGN_OIDC_ISSUER is not; $usage"
    trust=(--certificate-identity "$COSIGN_IDENTITY" --certificate-oidc-issuer "$COSIGN_OIDC_ISSUER")
    COSIGN_PUB="identity $COSIGN_IDENTITY" # how the messages below name the signer
else
    [[ -n ${COSIGN_PUB:-} ]] || die 2 "error: COSIGN_PUB is not set: give the publisher's cosign public key file; $usage"
    grep -qs -- '-----BEGIN PUBLIC KEY-----' "$COSIGN_PUB" || die 2 "error: COSIGN_PUB '$COSIGN_PUB' is not a public key file"
    trust=(--key "$COSIGN_PUB" --insecure-ignore-tlog=true)
fi
cosign=$("$root/scripts/cosign.sh")

cert_args=()
if [[ -n ${CERT_DIR:-} ]]; then
    compgen -G "$CERT_DIR/*.crt" >/dev/null || die 2 "error: CERT_DIR '$CERT_DIR' holds no *.crt file"
    cert_args=(--cert-dir "$CERT_DIR")
    export SSL_CERT_DIR=$CERT_DIR # cosign's (Go's) extra CAs
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# first_error FILE: the line of a failed command's output that says why.
first_error() {
    grep -v '^WARNING' "$1" | grep -m 1 -E -i 'error|no matching|not found|denied' || grep -m 1 . "$1" || echo "(no output)"
}

# The tag, if named, must point at the digest now; without a digest, it gives it.
if [[ -n $tag ]]; then
    skopeo inspect --raw "${cert_args[@]}" "docker://$name:$tag" >"$work/tagged" 2>"$work/err" ||
        refuse "$name:$tag cannot be read: $(first_error "$work/err")"
    now=sha256:$(sha256sum <"$work/tagged" | cut -d' ' -f1)
    if [[ -z $digest ]]; then
        digest=$now
    elif [[ $now != "$digest" ]]; then
        refuse "tag $tag was moved: $name:$tag is $now now, not $digest"
    fi
fi

# manifest DIGEST FILE: the manifest the registry serves for DIGEST, checked.
manifest() {
    skopeo inspect --raw "${cert_args[@]}" "docker://$name@$1" >"$2" 2>"$work/err" ||
        refuse "$name@$1 cannot be read: $(first_error "$work/err")"
    [[ sha256:$(sha256sum <"$2" | cut -d' ' -f1) == "$1" ]] || refuse "$name@$1: the registry served other bytes for this digest"
}

# signed DIGEST: a signature by the key on DIGEST (naming the tag, if given).
signed() {
    local annotations=()
    [[ -z $tag ]] || annotations=(-a "tag=$tag")
    if ! "$cosign" verify "${trust[@]}" "${annotations[@]}" --output json \
        "$name@$1" >"$work/sig.json" 2>"$work/err"; then
        if grep -q 'no signatures found' "$work/err"; then
            refuse "$name@$1 has no cosign signature"
        elif [[ -n $tag ]] && grep -q 'missing or incorrect annotation' "$work/err"; then
            refuse "$name@$1 is signed, but not as tag $tag: the tag was moved to another image"
        fi
        refuse "$name@$1: no signature by $COSIGN_PUB: $(first_error "$work/err")"
    fi
    jq -e --arg d "$1" 'all(.[]; .critical.image["docker-manifest-digest"] == $d)' "$work/sig.json" >/dev/null ||
        refuse "$name@$1: a signature is for another digest"
}

# attested DIGEST TYPE WHAT: a statement of TYPE signed by the key whose
# subject is DIGEST (cosign's claim check: a statement copied from another
# image, validly signed, must not pass). When none matches, a look without
# the claim check tells a replayed statement from a missing one.
attested() {
    local check=(verify-attestation "${trust[@]}" --type "$2" "$name@$1")
    "$cosign" "${check[@]}" --check-claims=true >/dev/null 2>"$work/err" && return
    if "$cosign" "${check[@]}" --check-claims=false >"$work/att.json" 2>/dev/null; then
        refuse "$name@$1: the $3 attestation signed by the key is about another image ($(jq -r \
            '.payload | @base64d | fromjson | .subject[].digest.sha256 | "sha256:" + .' "$work/att.json" | sort -u | paste -sd ' '))"
    elif grep -q -E 'no matching attestations|none of the attestations matched' "$work/err"; then
        refuse "$name@$1 has no $3 attestation ($2) signed by $COSIGN_PUB"
    fi
    refuse "$name@$1: no $3 attestation signed by $COSIGN_PUB: $(first_error "$work/err")"
}

# verify DIGEST [WHAT]: every check of one manifest, recursing into a list.
verify() {
    local file=$work/${1#sha256:}.json children
    manifest "$1" "$file"
    signed "$1"
    attested "$1" slsaprovenance1 provenance
    case $(jq -r '.mediaType // empty' "$file") in
    application/vnd.docker.distribution.manifest.list.v2+json | application/vnd.oci.image.index.v1+json)
        children=$(jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture)"] | sort | join(" ")' "$file")
        [[ $children == "linux/amd64 linux/arm64" ]] ||
            refuse "$name@$1: the manifest list holds $children, not exactly linux/amd64 and linux/arm64"
        echo "verified $name@$1: manifest list, signature, provenance"
        while read -r child platform; do
            verify "$child" "$platform"
        done < <(jq -r '.manifests[] | "\(.digest) \(.platform.os)/\(.platform.architecture)"' "$file")
        ;;
    *)
        attested "$1" spdxjson SBOM
        echo "verified $name@$1: ${2:-image}, signature, provenance, SPDX SBOM"
        ;;
    esac
}

verify "$digest"
echo "OK: $name${tag:+:$tag}@$digest is signed by $COSIGN_PUB, with SBOM and provenance for exactly its digest"
