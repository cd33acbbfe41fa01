#!/usr/bin/env bash
# tests/publish/run.sh (`just test-publish`): `just publish` to a real
# registry over verified TLS, then pulls as a consumer whose policy.json
# trusts only the test's key. One PASS/FAIL line per check, then
# `N passed, M failed`; exits non-zero if any check failed.
#
# The registry is Debian's docker-registry (distribution 2.8) on a free
# loopback port, with a CA and a server certificate made here; the consumer
# is a podman with HOME (so its policy.json and registries.d) and its image
# store in a temp folder: nothing outside that folder is read or changed,
# but the pushed-from images in the shared store.
#
# Environment:
#   IMAGE_REPO  the local images (default localhost/moscow-time): VARIANT-multiarch
#               lists of VARIANT-amd64 and VARIANT-arm64
# Needs: podman, skopeo, docker-registry, gpg, openssl, jq, just (.tools/).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
export PATH="$root/.tools/bin:$PATH"
repo=${IMAGE_REPO:-localhost/moscow-time}
variants=(alpine distroless scratch)
arches=(amd64 arm64)
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    [[ -d $work/gnupg ]] && GNUPGHOME=$work/gnupg gpgconf --kill gpg-agent
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/checks.sh
source "$(dirname "$0")/../checks.sh"
# refused NAME PATTERN COMMAND...: PASS if COMMAND fails with an error matching PATTERN.
refused() {
    local name=$1 pattern=$2
    shift 2
    if "$@" >"$work/check.out" 2>&1; then
        fail "$name" "it succeeded"
    elif grep -Eq "$pattern" "$work/check.out"; then
        pass "$name"
        line=$(grep -m 1 -oE ".{0,40}($pattern).{0,60}" "$work/check.out" | head -n 1)
        info "refused: …$line…"
    else
        fail "$name" "it failed, but not with /$pattern/: $(cat "$work/check.out")"
    fi
}

for v in "${variants[@]}"; do
    podman manifest inspect "$repo:$v-multiarch" >/dev/null 2>&1 || {
        echo "FAIL images: $repo:$v-multiarch not found (build it with \`just images\`)"
        exit 1
    }
done

# ------------------------------------------------------------ registry, TLS

# A CA, and a server certificate for 127.0.0.1 signed by it.
make_certs() {
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -days 1 -subj /CN=moscow-time-test-ca \
        -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null &&
        openssl req "${ec[@]}" -subj /CN=127.0.0.1 -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null &&
        openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
            -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') -out "$work/server.crt" 2>/dev/null
}
make_certs || { echo "FAIL setup: cannot make the test CA and certificate"; exit 1; }
mkdir "$work/certs" && cp "$work/ca.crt" "$work/certs/"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# start_registry NAME [READONLY]: a TLS registry in $work/NAME at HOST:PORT
# $address.
start_registry() {
    local dir=$work/$1 port
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  maintenance:
    readonly:
      enabled: ${2:-false}
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $work/server.crt
    key: $work/server.key
EOF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 3>&- &
    pids+=($!)
    address=127.0.0.1:$port
    for _ in $(seq 50); do
        curl -sf --cacert "$work/ca.crt" "https://$address/v2/" >/dev/null && return
        sleep 0.1
    done
    echo "FAIL setup: docker-registry did not start: $(cat "$dir/log")"
    exit 1
}
start_registry readonly true
readonly_registry=$address
start_registry main
registry=$address
info "registry https://$registry, read-only one https://$readonly_registry"

# ------------------------------------------------------------ keys

export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
# new_key NAME: a passphrase-less signing key; prints its fingerprint.
new_key() {
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
        --quick-gen-key "$1 <$1@example.invalid>" ed25519 sign 1d 2>/dev/null &&
        gpg --batch --with-colons --list-secret-keys "$1@example.invalid" 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }'
}
key=$(new_key publisher) || { echo "FAIL setup: cannot make a GPG key"; exit 1; }
other_key=$(new_key other) || { echo "FAIL setup: cannot make a GPG key"; exit 1; }
gpg --batch --armor --export "$key" >"$work/publisher.asc"

# ------------------------------------------------------------ publish

export CERT_DIR=$work/certs SIGNATURES_DIR=$work/signatures IMAGE_REPO=$repo
# publish REPOSITORY SIGN_BY [VARIANTS]: `just publish`, output in $work/publish.out.
publish() {
    REGISTRY=$1 SIGN_BY=$2 VARIANTS=${3:-${variants[*]}} just publish >"$work/publish.out" 2>&1
}
# one_error CODE PATTERN COMMAND...: COMMAND exits CODE, printing one line
# that starts with `error:` and matches PATTERN.
one_error() {
    local code=$1 pattern=$2 rc=0
    shift 2
    "$@" || rc=$?
    cat "$work/publish.out"
    [[ $rc == "$code" ]] || { echo "exit code $rc, expected $code"; return 1; }
    [[ $(wc -l <"$work/publish.out") == 1 ]] || { echo "expected one line"; return 1; }
    grep -Eq "^error: .*($pattern)" "$work/publish.out"
}

check "publish: no REGISTRY is one error line naming it, exit 2" one_error 2 REGISTRY publish "" "$key"
check "publish: no SIGN_BY is one error line naming it, exit 2" one_error 2 SIGN_BY publish "$registry/moscow-time" ""
check "publish: an unknown SIGN_BY key is one error line, exit 2" \
    one_error 2 "no secret key" publish "$registry/moscow-time" 0123456789ABCDEF0123456789ABCDEF01234567
missing_images() {
    IMAGE_REPO=localhost/moscow-time-missing one_error 1 "just images" publish "$registry/moscow-time" "$key"
}
check "publish: missing images are one error line naming \`just images\`, exit 1" missing_images
check "publish: a registry that refuses the push is one error line, exit 1" \
    one_error 1 "failed" publish "$readonly_registry/moscow-time" "$key" scratch
untrusted_ca() { CERT_DIR='' one_error 1 "certificate" publish "$registry/moscow-time" "$key" scratch; }
check "publish: TLS is verified: without CERT_DIR the test CA is not trusted" untrusted_ca

start=$(date +%s%3N)
if publish "$registry/moscow-time" "$key"; then
    pass "publish: pushes and signs the three multi-arch images"
    info "push and sign, 3 manifest lists and 6 images, 2 tags each: $(($(date +%s%3N) - start)) ms"
else
    fail "publish: pushes and signs the three multi-arch images" "$(cat "$work/publish.out")"
fi
# The printed lines: "VARIANT manifest list|OS/ARCH REGISTRY@sha256:...".
cp "$work/publish.out" "$work/published.out"
declare -A what
while read -r line; do
    [[ $line =~ ^([a-z]+)\ +(manifest\ list|linux/[a-z0-9]+)\ +($registry/moscow-time@sha256:[0-9a-f]{64})$ ]] &&
        what[${BASH_REMATCH[3]}]="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
done <"$work/published.out"
printed_all() {
    local v p
    for v in "${variants[@]}"; do
        for p in "manifest list" linux/amd64 linux/arm64; do
            [[ " ${what[*]} " == *" $v $p "* ]] || { echo "no digest printed for $v $p"; return 1; }
        done
    done
    [[ ${#what[@]} == 9 ]] || { echo "expected 9 digests, got ${#what[@]}"; return 1; }
}
check "publish: prints all 9 digests (3 manifest lists, 6 images) as REGISTRY@sha256:..." printed_all

# ------------------------------------------------------------ consumer

# What a consumer configures (the README shows the same two files): a
# lookaside for this registry and a policy that rejects all but our key.
consumer=$work/consumer
mkdir -p "$consumer/.config/containers/registries.d"
cat >"$consumer/.config/containers/registries.d/moscow-time.yaml" <<EOF
docker:
  $registry:
    lookaside: file://$SIGNATURES_DIR
EOF
cat >"$consumer/.config/containers/policy.json" <<EOF
{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "$registry": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$work/publisher.asc"}]
    }
  }
}
EOF
# cpodman ARGS...: podman as the consumer, with a store of its own.
cpodman() {
    HOME=$consumer podman --root "$work/store" --runroot "$work/run" --storage-driver vfs "$@"
}
pull() { cpodman pull --quiet --cert-dir "$CERT_DIR" "$@"; }
# The test reads the consumer's store with a policy of its own (the
# consumer's rejects everything but the registry, local stores included).
mkdir -p "$work/reader/.config/containers"
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$work/reader/.config/containers/policy.json"
read_store() {
    HOME=$work/reader podman --root "$work/store" --runroot "$work/run" --storage-driver vfs "$@"
}

for v in "${variants[@]}"; do
    for tag in "$v" "$version-$v"; do
        check "verify: pull $tag (signed tag) succeeds" pull "$registry/moscow-time:$tag"
    done
done
while read -r ref; do
    hex=${ref#*@sha256:}
    check "verify: pull @sha256:${hex:0:12}… (${what[$ref]}) succeeds" pull "$ref"
done < <(for ref in "${!what[@]}"; do echo "${what[$ref]} $ref"; done | sort | awk '{ print $NF }')

# same_image VARIANT ARCH: the pulled image's config digest and layers (as
# podman save writes them from each store) equal the local ones.
same_image() {
    local id local_id
    id=$(pull --platform "linux/$2" "$registry/moscow-time:$1") || return 1
    local_id=$(podman image inspect --format '{{.Id}}' "$repo:$1-$2") || return 1
    [[ $id == "$local_id" ]] || { echo "config digest: pulled $id, local $local_id"; return 1; }
    rm -f "$work/pulled.tar" "$work/local.tar"
    read_store save --quiet --format docker-archive -o "$work/pulled.tar" "$id" &&
        podman save --quiet --format docker-archive -o "$work/local.tar" "$local_id" || return 1
    diff <(layer_digests "$work/pulled.tar") <(layer_digests "$work/local.tar")
}
# layer_digests ARCHIVE: the sha256 of each layer tar in a docker-archive.
layer_digests() {
    rm -rf "$1.d" && mkdir "$1.d" && tar -xf "$1" -C "$1.d" &&
        jq -r '.[0].Layers[]' "$1.d/manifest.json" | while read -r layer; do
            sha256sum <"$1.d/$layer" | cut -d' ' -f1
        done
}
for v in "${variants[@]}"; do
    for a in "${arches[@]}"; do
        check "verify: pull --platform linux/$a $v succeeds and equals $repo:$v-$a (config and layer digests)" \
            same_image "$v" "$a"
    done
done

# ------------------------------------------------------------ what must fail

if publish "$registry/unsigned" none scratch; then
    refused "verify: pull of an image pushed unsigned is refused" "no signature exists" pull "$registry/unsigned:scratch"
else
    fail "verify: pull of an image pushed unsigned is refused" "SIGN_BY=none just publish failed: $(cat "$work/publish.out")"
fi
if publish "$registry/other-key" "$other_key" scratch; then
    refused "verify: pull of an image signed by another key is refused" "Invalid GPG signature" pull "$registry/other-key:scratch"
else
    fail "verify: pull of an image signed by another key is refused" "just publish failed: $(cat "$work/publish.out")"
fi
# Someone with push access but not the key points the scratch tag at the
# alpine list: a real, signed image of ours, but signed as :alpine.
for ref in "${!what[@]}"; do [[ ${what[$ref]} == "alpine manifest list" ]] && alpine_list=$ref; done
if skopeo copy --quiet --all --preserve-digests --remove-signatures \
    --policy "$work/reader/.config/containers/policy.json" \
    --src-cert-dir "$CERT_DIR" --dest-cert-dir "$CERT_DIR" "docker://$alpine_list" "docker://$registry/moscow-time:scratch" \
    >"$work/move.out" 2>&1; then
    refused "verify: pull of a tag moved to another image without the key is refused" \
        "Signature for identity [^ ]+:alpine is not accepted" pull "$registry/moscow-time:scratch"
else
    fail "verify: pull of a tag moved to another image without the key is refused" "moving the tag failed: $(cat "$work/move.out")"
fi

summary
