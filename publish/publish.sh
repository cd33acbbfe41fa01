#!/usr/bin/env bash
# publish/publish.sh (`just publish`): pushes each variant's multi-arch
# manifest list (linux/amd64 + linux/arm64) to REGISTRY under the tags VARIANT
# and VERSION-VARIANT, signs every pushed manifest digest (each list and each
# per-architecture image, for each tag) with GPG simple signing and with
# cosign, attaches with `cosign attest` a SLSA v1 provenance (publish/
# provenance.sh) to every digest and the SPDX SBOM (publish/sbom.sh) to every
# per-architecture image, and prints every digest as REGISTRY@sha256:... .
#
# Environment:
#   REGISTRY        the repository to push to, e.g. registry.example.com/team/moscow-time
#   SIGN_BY         fingerprint of a GPG secret key in GNUPGHOME (default ~/.gnupg),
#                   or `none` to push unsigned
#   COSIGN_KEY      a cosign private key file (cosign generate-key-pair; its
#                   password in COSIGN_PASSWORD), or `none` for no cosign
#                   signatures and attestations. cosign (scripts/cosign.sh)
#                   signs offline: nothing goes to a transparency log.
#                   Unset where the CI gives an OIDC token (GitHub Actions
#                   with `id-token: write`, or SIGSTORE_ID_TOKEN): keyless,
#                   a Fulcio certificate for the workflow's identity and
#                   every signature in the Rekor transparency log
#                   (.github/workflows/release.yml; not tried here)
#   SIGNATURES_DIR  where the signatures go, laid out as containers/image reads a
#                   lookaside store (default target/signatures); serve it next to
#                   the registry
#   CERT_DIR        a directory of CA certificates (*.crt) that the registry's
#                   TLS certificate chains to; default: podman's own trust
#                   (/etc/containers/certs.d/HOST:PORT/ca.crt and the system roots)
#   IMAGE_REPO      the local images, VARIANT-multiarch (default localhost/moscow-time)
#   VARIANTS        default "alpine distroless scratch"
#
# It reads and writes no containers configuration (registries.d, policy.json):
# podman 4.3 finds registries.d only in /etc/containers or ~/.config/containers,
# and a second `podman manifest push --sign-by` of the same digests to another
# tag replaces the first tag's signatures. So podman pushes unsigned and
# `skopeo standalone-sign` signs the exact manifest bytes the registry then
# serves, one signature per digest and tag, appended to what is already there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
repo=${IMAGE_REPO:-localhost/moscow-time}
read -r -a variants <<<"${VARIANTS:-alpine distroless scratch}"
platforms=(linux/amd64 linux/arm64)
build_recipe="just images"
signatures_dir=${SIGNATURES_DIR:-$root/target/signatures}
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)

# die CODE MESSAGE: one line on stderr, exit CODE (2: bad configuration).
die() {
    echo "error: $2" >&2
    exit "$1"
}

# ------------------------------------------------------------ configuration

[[ -n ${REGISTRY:-} ]] ||
    die 2 "REGISTRY is not set: name the repository to push to, e.g. REGISTRY=registry.example.com/team/moscow-time"
# HOST[:PORT]/PATH, no tag or digest: the script adds the tags.
[[ $REGISTRY =~ ^[a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$ ]] ||
    die 2 "REGISTRY '$REGISTRY' is not HOST[:PORT]/REPOSITORY without a tag, e.g. registry.example.com/team/moscow-time"
host=${REGISTRY%%/*}
repo_path=${REGISTRY#*/}

[[ -n ${SIGN_BY:-} ]] ||
    die 2 "SIGN_BY is not set: give the fingerprint of a GPG secret key in GNUPGHOME, or SIGN_BY=none to publish unsigned"
if [[ $SIGN_BY != none ]]; then
    [[ $SIGN_BY =~ ^[0-9A-Fa-f]{40}$ ]] ||
        die 2 "SIGN_BY '$SIGN_BY' is not a 40-hex-digit GPG fingerprint (gpg --list-secret-keys --with-fingerprint), or none"
    gpg --batch --list-secret-keys "$SIGN_BY" >/dev/null 2>&1 ||
        die 2 "SIGN_BY: no secret key $SIGN_BY in ${GNUPGHOME:-~/.gnupg} (GNUPGHOME)"
fi

# Keyless only where an OIDC token says who signs; otherwise a key, or none, said.
keyless=false
if [[ -z ${COSIGN_KEY:-} && ( -n ${ACTIONS_ID_TOKEN_REQUEST_URL:-} || -n ${SIGSTORE_ID_TOKEN:-} ) ]]; then
    keyless=true
    COSIGN_KEY=keyless
    cosign=$("$root/scripts/cosign.sh") || die 1 "cannot build cosign (scripts/cosign.sh)"
fi
[[ -n ${COSIGN_KEY:-} ]] ||
    die 2 "COSIGN_KEY is not set: give a cosign private key file (cosign generate-key-pair), or COSIGN_KEY=none to publish without cosign"
if [[ $COSIGN_KEY != none && $keyless == false ]]; then
    grep -qs -- '-----BEGIN ENCRYPTED [A-Z]* *PRIVATE KEY-----' "$COSIGN_KEY" ||
        die 2 "COSIGN_KEY '$COSIGN_KEY' is not a cosign private key file (cosign generate-key-pair writes cosign.key)"
    cosign=$("$root/scripts/cosign.sh") || die 1 "cannot build cosign (scripts/cosign.sh)"
fi

cert_args=()
if [[ -n ${CERT_DIR:-} ]]; then
    compgen -G "$CERT_DIR/*.crt" >/dev/null || die 2 "CERT_DIR '$CERT_DIR' holds no *.crt file"
    cert_args=(--cert-dir "$CERT_DIR")
    # cosign (Go) reads extra CA certificates from SSL_CERT_DIR, beside the system's.
    export SSL_CERT_DIR=$CERT_DIR
fi

# ------------------------------------------------------------ local images

# The local manifest list of each variant must hold every platform.
for v in "${variants[@]}"; do
    list=$(podman manifest inspect "$repo:$v-multiarch" 2>/dev/null) ||
        die 1 "$repo:$v-multiarch not found: build the multi-arch images with \`$build_recipe\`"
    for p in "${platforms[@]}"; do
        jq -e --arg os "${p%/*}" --arg arch "${p#*/}" \
            'any(.manifests[].platform; .os == $os and .architecture == $arch)' <<<"$list" >/dev/null ||
            die 1 "$repo:$v-multiarch has no $p image: build the multi-arch images with \`$build_recipe\`"
    done
done

# ------------------------------------------------------------ push

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# push VARIANT TAG: pushes the list and its images, prints the list's digest.
push() {
    if ! podman manifest push --quiet --all --format v2s2 "${cert_args[@]}" \
        --digestfile "$work/digest" "$repo:$1-multiarch" "docker://$REGISTRY:$2" 2>"$work/push.err"; then
        die 1 "the push of $repo:$1-multiarch to $REGISTRY:$2 failed: $(grep -m 1 . "$work/push.err" | sed 's/^Error: //')"
    fi
    cat "$work/digest"
}

# fetch DIGEST FILE: the manifest as the registry serves it, checked against DIGEST.
fetch() {
    skopeo inspect --raw "${cert_args[@]}" "docker://$REGISTRY@$1" >"$2" 2>"$work/fetch.err" ||
        die 1 "cannot read back $REGISTRY@$1: $(grep -m 1 . "$work/fetch.err")"
    [[ sha256:$(sha256sum <"$2" | cut -d' ' -f1) == "$1" ]] || die 1 "$REGISTRY@$1 served a manifest with another digest"
}

# sign FILE DIGEST TAG: a simple signing signature that FILE (the manifest of
# DIGEST) is REGISTRY:TAG, written to the next free signature-N of DIGEST.
sign() {
    local dir n=1
    dir=$signatures_dir/$repo_path@sha256=${2#sha256:}
    mkdir -p "$dir"
    while [[ -e $dir/signature-$n ]]; do n=$((n + 1)); done
    skopeo standalone-sign "$1" "$REGISTRY:$3" "$SIGN_BY" -o "$dir/signature-$n" 2>"$work/sign.err" ||
        die 1 "signing $REGISTRY@$2 failed: $(grep -m 1 . "$work/sign.err")"
}

# How cosign signs: with the key and no transparency log, or keylessly
# (cosign asks Fulcio for a certificate with the CI's OIDC token, and
# records the signature in Rekor).
if $keyless; then
    signing=()
else
    signing=(--key "$COSIGN_KEY" --tlog-upload=false)
fi
# cosign_sign DIGEST TAG: a cosign signature of REGISTRY@DIGEST that names
# TAG (annotation tag=TAG), so `just verify` can tell a moved tag.
cosign_sign() {
    "$cosign" sign --yes "${signing[@]}" -a "tag=$2" "$REGISTRY@$1" >"$work/cosign.out" 2>&1 ||
        die 1 "cosign sign of $REGISTRY@$1 failed: $(grep -m 1 -i error "$work/cosign.out" || tail -n 1 "$work/cosign.out")"
}
# attest DIGEST TYPE PREDICATE_FILE: attach a signed in-toto statement about DIGEST.
attest() {
    "$cosign" attest --yes "${signing[@]}" --type "$2" --predicate "$3" "$REGISTRY@$1" \
        >"$work/cosign.out" 2>&1 ||
        die 1 "cosign attest --type $2 of $REGISTRY@$1 failed: $(grep -m 1 -i error "$work/cosign.out" || tail -n 1 "$work/cosign.out")"
}

if [[ $COSIGN_KEY != none ]]; then
    # The SBOMs of exactly the local images pushed below.
    SBOM_DIR=$work/sbom VARIANTS="${variants[*]}" "$root/publish/sbom.sh" >"$work/sbom.out" 2>&1 ||
        die 1 "publish/sbom.sh failed: $(grep -m 1 error "$work/sbom.out" || tail -n 1 "$work/sbom.out")"
fi

start=$SECONDS
for v in "${variants[@]}"; do
    tags=("$v" "$version-$v")
    list_digest=$(push "$v" "${tags[0]}")
    second_digest=$(push "$v" "${tags[1]}")
    [[ $second_digest == "$list_digest" ]] ||
        die 1 "$REGISTRY:${tags[0]} and $REGISTRY:${tags[1]} got different digests; push again"
    fetch "$list_digest" "$work/$list_digest.json"
    printf '%-10s %-13s %s\n' "$v" "manifest list" "$REGISTRY@$list_digest"
    digests=("$list_digest")
    declare -A arch_of=()
    while read -r digest platform; do
        fetch "$digest" "$work/$digest.json"
        digests+=("$digest")
        arch_of[$digest]=${platform#*/}
        printf '%-10s %-13s %s\n' "$v" "$platform" "$REGISTRY@$digest"
    done < <(jq -r '.manifests[] | "\(.digest) \(.platform.os)/\(.platform.architecture)"' "$work/$list_digest.json")
    if [[ $SIGN_BY != none ]]; then
        for tag in "${tags[@]}"; do
            for digest in "${digests[@]}"; do sign "$work/$digest.json" "$digest" "$tag"; done
        done
    fi
    if [[ $COSIGN_KEY != none ]]; then
        for tag in "${tags[@]}"; do
            for digest in "${digests[@]}"; do cosign_sign "$digest" "$tag"; done
        done
        for digest in "${digests[@]}"; do
            if [[ $digest == "$list_digest" ]]; then
                images=()
                for p in "${platforms[@]}"; do images+=("$repo:$v-${p#*/}"); done
            else
                images=("$repo:$v-${arch_of[$digest]}")
                attest "$digest" spdxjson "$work/sbom/moscow-time-$v-${arch_of[$digest]}.spdx.json"
            fi
            "$root/publish/provenance.sh" "$v" "${images[@]}" >"$work/provenance.json" 2>"$work/provenance.err" ||
                die 1 "publish/provenance.sh failed: $(tail -n 1 "$work/provenance.err")"
            attest "$digest" slsaprovenance1 "$work/provenance.json"
        done
    fi
done

signed=()
[[ $SIGN_BY == none ]] || signed+=("GPG key $SIGN_BY (signatures in $signatures_dir: serve it as the lookaside of $host)")
if $keyless; then
    signed+=("cosign keylessly, as this CI's OIDC identity (signatures, SBOM and provenance in the registry, in Rekor)")
elif [[ $COSIGN_KEY != none ]]; then
    signed+=("cosign key $COSIGN_KEY (signatures, SBOM and provenance in the registry)")
fi
if ((${#signed[@]} == 0)); then
    echo "pushed UNSIGNED (SIGN_BY=none COSIGN_KEY=none) to $host in $((SECONDS - start)) s; tags: VARIANT, $version-VARIANT"
else
    echo "pushed to $host in $((SECONDS - start)) s; tags: VARIANT, $version-VARIANT; signed by $(printf '%s and ' "${signed[@]}" | sed 's/ and $//')"
fi
