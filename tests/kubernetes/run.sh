#!/usr/bin/env bash
# Proves what the README says of the Kubernetes manifests (deploy/kubernetes
# and the Localhost-seccomp overlay deploy/seccomp): kustomize and plain
# apply give the same objects, they are valid for the oldest and newest
# Kubernetes we support, checkov finds nothing, the pod meets the restricted
# Pod Security Standard and more, the manifests agree with the code and the
# image, and podman runs the Deployment's pods as the pod spec says.
# One PASS/FAIL line per check, then `N passed, M failed`.
#
#   tests/kubernetes/run.sh [manifests|pods]
#
# `manifests` (in `just lint`) stops after the checks of the files alone;
# `pods` (in `just test`) runs only the drift and podman checks; no argument
# runs both.
#
# Environment:
#   IMAGE=localhost/moscow-time:scratch   the image the pods run (`just images`)
#   KUBE_VERSIONS="1.30.0 1.37.0"         schema versions: the oldest we
#                                         support (lifecycle.preStop.sleep)
#                                         and the newest kubernetes-validate has
# Needs: podman, jq, nsenter, curl, root (/proc of the pods), and .tools/
# (`just _tools`: kubectl, kubernetes-validate, checkov).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
export PATH="$root/.tools/bin:$PATH"
image=${IMAGE:-localhost/moscow-time:scratch}
read -r -a kube_versions <<<"${KUBE_VERSIONS:-1.30.0 1.37.0}"
manifest=deploy/kubernetes/moscow-time.yaml
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)

part=${1:-all}
case $part in
all | manifests | pods) ;;
*) echo "usage: $0 [manifests|pods]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
played=()
cleanup() {
    local file
    for file in "${played[@]}"; do podman kube down "$file" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/checks.sh
source "$(dirname "$0")/../checks.sh"

# yaml2json FILE: the YAML documents of FILE as one JSON array.
yaml2json() {
    python3 -c 'import json, sys, yaml
json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)' "$1"
}
# kind KIND: the object of that kind from $work/objects.json.
kind() {
    jq --arg k "$1" '.[] | select(.kind == $k)' "$work/objects.json"
}
pod_spec() {
    kind Deployment | jq '.spec.template.spec'
}
container() {
    pod_spec | jq '.containers[0]'
}

# overlay DIR RESOURCE EXTRA: a kustomization in DIR on top of RESOURCE
# (relative paths only, kustomize refuses absolute ones), with EXTRA appended.
overlay() {
    mkdir -p "$1"
    printf 'resources:\n  - %s\n%s\n' "$(realpath --relative-to="$1" "$2")" "$3" >"$1/kustomization.yaml"
}

# ---------------------------------------------------------------- manifests

for tool in kubectl kubernetes-validate checkov; do
    command -v "$tool" >/dev/null || { fail "tools: $tool is installed (just _tools)"; summary; exit 1; }
done
yaml2json "$manifest" >"$work/objects.json" || { fail "$manifest parses as YAML"; exit 1; }
if [[ $part != pods ]]; then

same_objects() {
    kubectl kustomize deploy/kubernetes >"$work/kustomized.yaml" || return 1
    yaml2json "$work/kustomized.yaml" >"$work/kustomized.json" || return 1
    # kustomize sorts objects and keys; compare as sets of objects.
    diff <(jq -S 'sort_by(.kind)' "$work/objects.json") <(jq -S 'sort_by(.kind)' "$work/kustomized.json")
}
check "kustomize: \`apply -k deploy/kubernetes\` and \`apply -f $manifest\` make the same objects" same_objects

one_image() {
    expect "image references in $manifest" 1 "$(grep -c '^ *image:' "$manifest")" || return 1
    # What a user writes to pin a build from \`just publish\` by digest.
    local digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    overlay "$work/pin" deploy/kubernetes "images:
  - name: registry.example.com/team/moscow-time
    newName: registry.internal:5000/moscow-time
    digest: $digest"
    kubectl kustomize "$work/pin" >"$work/pin.yaml" || return 1
    expect "pinned image" "registry.internal:5000/moscow-time@$digest" \
        "$(yaml2json "$work/pin.yaml" | jq -r '.[] | select(.kind == "Deployment") | .spec.template.spec.containers[].image')"
}
check "kustomize: the image is referenced once and kustomize \`images:\` pins it by digest" one_image

localhost_overlay() {
    kubectl kustomize deploy/seccomp >"$work/localhost.yaml" || return 1
    yaml2json "$work/localhost.yaml" >"$work/localhost.json" || return 1
    expect "seccompProfile" '{"localhostProfile":"moscow-time.json","type":"Localhost"}' \
        "$(jq -c '.[] | select(.kind == "Deployment") | .spec.template.spec.securityContext.seccompProfile' "$work/localhost.json")" || return 1
    # Nothing else changes.
    diff <(jq -S 'sort_by(.kind) | del(.[] | select(.kind == "Deployment") | .spec.template.spec.securityContext.seccompProfile)' "$work/kustomized.json") \
        <(jq -S 'sort_by(.kind) | del(.[] | select(.kind == "Deployment") | .spec.template.spec.securityContext.seccompProfile)' "$work/localhost.json")
}
check "kustomize: \`apply -k deploy/seccomp\` switches the pod to the Localhost profile and changes nothing else" localhost_overlay

for v in "${kube_versions[@]}"; do
    check "schema: every object, both ways, is valid for Kubernetes $v (strict: no unknown fields)" \
        kubernetes-validate --strict --quiet -k "$v" "$manifest" "$work/localhost.yaml"
done

checkov_clean() {
    local skips=(
        # Image by digest: the manifest cannot know the digest of your build;
        # pin it with kustomize `images:` (README "Kubernetes"; checked above).
        CKV_K8S_43
        # imagePullPolicy Always: a digest-pinned image cannot change under
        # its name; Always would only make every pod start wait on the registry.
        CKV_K8S_15
    )
    checkov --framework kubernetes --skip-download --compact --quiet \
        --skip-check "$(IFS=,; echo "${skips[*]}")" -f "$manifest" || return 1
    # The overlay too. CKV_K8S_31 wants RuntimeDefault, and the overlay's
    # whole point is the stronger Localhost profile.
    checkov --framework kubernetes --skip-download --compact --quiet \
        --skip-check "$(IFS=,; echo "${skips[*]}"),CKV_K8S_31" -f "$work/localhost.yaml"
}
check "checkov: no failed Kubernetes check (skips: CKV_K8S_43, CKV_K8S_15; CKV_K8S_31 for Localhost; reasons in the script)" checkov_clean

# The restricted Pod Security Standard, control by control
# (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
# baseline controls included, for every container of the pod.
restricted() {
    local violations
    violations=$(pod_spec | jq -r '
        ([(.containers // []), (.initContainers // []), (.ephemeralContainers // [])] | add) as $cs
        | . as $pod
        | def each(f): all($cs[]; f);
          # What each container gets: its own setting, else the pod'"'"'s.
          def effective(f): ($pod.securityContext | f) as $p | [$cs[] | (.securityContext | f) // $p];
        [
          ["host namespaces", (((.hostNetwork // false) or (.hostPID // false) or (.hostIPC // false)) | not)],
          ["no privileged containers", (each((.securityContext.privileged // false) | not))],
          ["no hostProcess", (each((.securityContext.windowsOptions.hostProcess // false) | not))],
          ["no hostPath volumes", (all(.volumes[]?; has("hostPath") | not))],
          ["no host ports", (each(all(.ports[]?; (.hostPort // 0) == 0)))],
          ["procMount Default", (each((.securityContext.procMount // "Default") == "Default"))],
          ["only safe sysctls", (all(.securityContext.sysctls[]?.name; IN("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")))],
          ["no SELinux user or role", (each(.securityContext.seLinuxOptions | (.user // null) == null and (.role // null) == null))],
          ["volume types", (all(.volumes[]?; keys - ["name"] | .[0] | IN("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret")))],
          ["allowPrivilegeEscalation false", (each(.securityContext.allowPrivilegeEscalation == false))],
          ["runAsNonRoot", (effective(.runAsNonRoot) | all(. == true))],
          ["runAsUser not 0", (((.securityContext.runAsUser // 1) != 0) and each((.securityContext.runAsUser // 1) != 0))],
          ["seccomp RuntimeDefault or Localhost", (effective(.seccompProfile.type) | all(IN("RuntimeDefault", "Localhost")))],
          ["capabilities drop ALL, add at most NET_BIND_SERVICE", (each((.securityContext.capabilities.drop // []) | index("ALL")) and each(all(.securityContext.capabilities.add[]?; . == "NET_BIND_SERVICE")))]
        ][] | select(.[1] | not) | "violates: \(.[0])"') || return 1
    [[ -z $violations ]] || { echo "$violations"; return 1; }
}
check "pod: meets every control of the restricted Pod Security Standard" restricted

beyond() {
    local spec ctr
    spec=$(pod_spec)
    ctr=$(container)
    expect "runAsUser:runAsGroup" 65532:65532 "$(jq -r '.securityContext | "\(.runAsUser):\(.runAsGroup)"' <<<"$spec")" &&
        expect "capabilities.add" null "$(jq -c '.securityContext.capabilities.add' <<<"$ctr")" &&
        expect readOnlyRootFilesystem true "$(jq -r '.securityContext.readOnlyRootFilesystem' <<<"$ctr")" &&
        expect automountServiceAccountToken false "$(jq -r '.automountServiceAccountToken' <<<"$spec")" &&
        expect enableServiceLinks false "$(jq -r '.enableServiceLinks' <<<"$spec")" &&
        expect "volumes" null "$(jq -c '.volumes' <<<"$spec")" &&
        expect "namespace enforces" restricted \
            "$(kind Namespace | jq -r '.metadata.labels["pod-security.kubernetes.io/enforce"]')"
}
check "pod: beyond restricted: 65532:65532, no capabilities at all, read-only root, no token, no volumes, namespace enforces restricted" beyond

spread() {
    local d
    d=$(kind Deployment)
    jq -e '.spec.replicas >= 2' <<<"$d" >/dev/null || { echo "replicas: $(jq .spec.replicas <<<"$d")"; return 1; }
    expect "node spread" DoNotSchedule "$(jq -r '.spec.template.spec.topologySpreadConstraints[]
        | select(.topologyKey == "kubernetes.io/hostname" and .maxSkew == 1) | .whenUnsatisfiable' <<<"$d")" &&
        expect "rollout" "1 0" "$(jq -r '.spec.strategy.rollingUpdate | "\(.maxSurge) \(.maxUnavailable)"' <<<"$d")"
}
check "deployment: 2+ replicas, at most 1 apart per node, rollouts never below replicas" spread

selectors() {
    local labels
    labels=$(kind Deployment | jq -c '.spec.template.metadata.labels')
    expect "Deployment selector" "$labels" "$(kind Deployment | jq -c '.spec.selector.matchLabels')" &&
        expect "Service selector" "$labels" "$(kind Service | jq -c '.spec.selector')" &&
        expect "PodDisruptionBudget selector" "$labels" "$(kind PodDisruptionBudget | jq -c '.spec.selector.matchLabels')" &&
        expect "NetworkPolicy selector" "$labels" "$(kind NetworkPolicy | jq -c '.spec.podSelector.matchLabels')" &&
        expect "PodDisruptionBudget" 1 "$(kind PodDisruptionBudget | jq -r '.spec.maxUnavailable')"
}
check "objects: the Service, PodDisruptionBudget and NetworkPolicy select exactly the Deployment's pods" selectors

network_policy() {
    local np target
    np=$(kind NetworkPolicy)
    target=$(kind Service | jq -r '.spec.ports[0].targetPort')
    expect "policyTypes" '["Ingress","Egress"]' "$(jq -c '.spec.policyTypes' <<<"$np")" &&
        expect "ingress rules" "[{\"ports\":[{\"port\":\"$target\",\"protocol\":\"TCP\"}]}]" "$(jq -cS '.spec.ingress' <<<"$np")" &&
        expect "egress rules" null "$(jq -c '.spec.egress' <<<"$np")" &&
        expect "Service ports" 1 "$(kind Service | jq '.spec.ports | length')"
}
check "objects: the NetworkPolicy admits TCP to the service's target port only and lets nothing out" network_policy
fi
if [[ $part == manifests ]]; then
    summary
    exit
fi

# ---------------------------------------------------------------- drift

if ! podman image exists "$image"; then
    fail "image $image exists (build it with \`just images\`)"
    summary
    exit 1
fi
podman image inspect "$image" >"$work/image.json"
# The defaults as the binary in the image states them.
podman run --rm --pull=never --network none "$image" --help >"$work/help" 2>&1
default_of() {
    awk -v name="$1" '$1 == name { if (match($0, /\(default [^)]*\)/)) print substr($0, RSTART + 9, RLENGTH - 10) }' "$work/help"
}

probe_paths() {
    local path
    for path in $(container | jq -r '.startupProbe.httpGet.path, .livenessProbe.httpGet.path, .readinessProbe.httpGet.path'); do
        grep -q "\"$path\" => Route::" src/route.rs || { echo "$path is not a route in src/route.rs"; return 1; }
    done
    # Liveness asks what the image's HEALTHCHECK asks.
    expect "liveness = healthcheck path" "$(container | jq -r '.livenessProbe.httpGet.path')" \
        "$(sed -n 's/.*"GET \(\/[a-z]*\) HTTP.*/\1/p' src/healthcheck.rs)" &&
        expect "readiness" /readyz "$(container | jq -r '.readinessProbe.httpGet.path')"
}
check "drift: the probe paths are the server's routes; liveness is what the image's healthcheck asks" probe_paths

ports() {
    local port
    port=$(container | jq -r '.ports[] | select(.name == "http") | .containerPort')
    expect "PORT default (--help)" "$port" "$(default_of PORT)" &&
        expect "image ExposedPorts" "[\"$port/tcp\"]" "$(jq -c '.[0].Config.ExposedPorts | keys' "$work/image.json")" &&
        expect "Containerfiles EXPOSE" "$port $port $port" "$(awk '$1 == "EXPOSE" { print $2 }' Containerfile.alpine Containerfile.distroless Containerfile.scratch | paste -sd ' ')" &&
        expect "PORT in env" "" "$(container | jq -r '.env[]? | select(.name == "PORT") | .value')" &&
        expect "probe ports" "http http http" "$(container | jq -r '.startupProbe, .livenessProbe, .readinessProbe | .httpGet.port' | paste -sd ' ')"
}
check "drift: containerPort is the binary's PORT default and the images' EXPOSE; probes use it" ports

user() {
    local ids
    ids=$(pod_spec | jq -r '.securityContext | "\(.runAsUser):\(.runAsGroup)"')
    expect "image User" "$ids" "$(jq -r '.[0].Config.User' "$work/image.json")" &&
        expect "Containerfiles USER" "$ids $ids $ids" "$(awk '$1 == "USER" { print $2 }' Containerfile.alpine Containerfile.distroless Containerfile.scratch | paste -sd ' ')"
}
check "drift: runAsUser/runAsGroup are the images' USER" user

grace() {
    local grace_ms tgps sleep
    grace_ms=$(container | jq -r '.env[] | select(.name == "SHUTDOWN_GRACE_MS") | .value')
    tgps=$(pod_spec | jq -r '.terminationGracePeriodSeconds')
    sleep=$(container | jq -r '.lifecycle.preStop.sleep.seconds')
    expect "SHUTDOWN_GRACE_MS default (--help)" "$grace_ms" "$(default_of SHUTDOWN_GRACE_MS)" || return 1
    echo "preStop ${sleep} s + drain ${grace_ms} ms, SIGKILL at ${tgps} s"
    # Whole seconds, and a margin of at least one for the exit itself.
    ((sleep * 1000 + grace_ms + 1000 <= tgps * 1000))
}
check "drift: terminationGracePeriodSeconds covers preStop sleep + SHUTDOWN_GRACE_MS (the binary's default) + 1 s" grace

image_settings() {
    expect "image tag" "$version-scratch" "$(container | jq -r '.image | sub(".*:"; "")')" &&
        expect "command/args" "null null" "$(container | jq -r '"\(.command) \(.args)"')" &&
        expect "image Entrypoint" '["/usr/local/bin/moscow-time"]' "$(jq -c '.[0].Config.Entrypoint' "$work/image.json")"
}
check "drift: the image tag is Cargo.toml's version; the pod runs the image's own ENTRYPOINT" image_settings

# ---------------------------------------------------------------- podman kube play

# podman 4.3 publishes every containerPort on the host at the same port on
# all addresses, which Kubernetes never does: the test removes `ports` and
# gives each pod only its own loopback (--network none). The Deployment is
# played twice: as shipped (RuntimeDefault) and with the Localhost profile,
# which podman reads from the old seccomp annotation, not from seccompProfile.
strip_ports='patches:
  - target:
      kind: Deployment
    patch: |-
      - op: remove
        path: /spec/template/spec/containers/0/ports'
images="images:
  - name: registry.example.com/team/moscow-time
    newName: ${image%:*}
    newTag: ${image##*:}"
overlay "$work/play-default" deploy/kubernetes "namePrefix: mt-k8s-
$images
$strip_ports"
overlay "$work/play-localhost" deploy/seccomp "namePrefix: mt-k8s-lh-
$images
$strip_ports
      - op: add
        path: /spec/template/metadata/annotations
        value:
          container.seccomp.security.alpha.kubernetes.io/moscow-time: localhost/moscow-time.json"

play() {
    local variant=$1 t0 i
    kubectl kustomize "$work/play-$variant" >"$work/play-$variant.yaml" || return 1
    played+=("$work/play-$variant.yaml")
    t0=$(date +%s%3N)
    podman kube play --network none --seccomp-profile-root "$root/deploy/seccomp" "$work/play-$variant.yaml" \
        >"$work/play.out" 2>&1 || { grep -v 'level=error msg=".*systemd' "$work/play.out"; return 1; }
    for i in 0 1; do
        wait_healthy "$(pod_ctr "$variant" "$i")" || return 1
    done
    info "$variant: kube play to both pods answering /healthz: $(($(date +%s%3N) - t0)) ms"
}
# pod_ctr VARIANT N: the container of pod N (podman names it POD-CONTAINER).
pod_ctr() {
    local prefix=mt-k8s-
    [[ $1 == localhost ]] && prefix=mt-k8s-lh-
    echo "${prefix}moscow-time-pod-$2-moscow-time"
}
# in_pod CONTAINER PATH: GET PATH on the pod's own loopback, from inside its
# network namespace; prints the status code.
in_pod() {
    local pid
    pid=$(podman inspect --format '{{.State.Pid}}' "$1") || return 1
    nsenter -t "$pid" -n curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:8080$2"
}
wait_healthy() {
    local i
    for i in $(seq 50); do
        [[ $(in_pod "$1" /healthz 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    echo "$1: no 200 from /healthz within 5 s"
    podman logs "$1"
    return 1
}

# hardened CONTAINER: what the pod spec asks, as the kernel sees the process.
hardened() {
    local pid status
    pid=$(podman inspect --format '{{.State.Pid}}' "$1") || return 1
    status=$(cat "/proc/$pid/status") || return 1
    expect Uid "65532 65532 65532 65532" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$status")" &&
        expect Gid "65532 65532 65532 65532" "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' <<<"$status")" &&
        # runc adds the primary group as a supplementary one: nothing else.
        expect Groups "" "$(awk '/^Groups:/ { $1 = ""; gsub(/ 65532/, ""); print }' <<<"$status" | tr -d ' ')" &&
        expect "CapEff CapPrm CapBnd CapAmb" "0000000000000000 0000000000000000 0000000000000000 0000000000000000" \
            "$(awk '/^Cap(Eff|Prm|Bnd|Amb):/ { printf "%s%s", sep, $2; sep = " " }' <<<"$status")" &&
        expect NoNewPrivs 1 "$(awk '/^NoNewPrivs:/ { print $2 }' <<<"$status")" &&
        expect "Seccomp (2 = filtering)" 2 "$(awk '/^Seccomp:/ { print $2 }' <<<"$status")" &&
        expect ReadonlyRootfs true "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$1")"
}

answers() {
    expect "/healthz" 200 "$(in_pod "$1" /healthz)" &&
        expect "/readyz" 200 "$(in_pod "$1" /readyz)" &&
        expect "/api/time" 200 "$(in_pod "$1" /api/time)"
}

# applied CONTAINER: the settings podman 4.3 does carry over from the pod spec.
applied() {
    local c=$1
    expect "memory limit (64Mi)" 67108864 "$(podman inspect --format '{{.HostConfig.Memory}}' "$c")" &&
        expect "CPU quota/period (1 core)" "100000/100000" "$(podman inspect --format '{{.HostConfig.CpuQuota}}/{{.HostConfig.CpuPeriod}}' "$c")" &&
        expect "SHUTDOWN_GRACE_MS" 1 "$(podman inspect --format '{{json .Config.Env}}' "$c" | jq '[.[] | select(. == "SHUTDOWN_GRACE_MS=5000")] | length')" &&
        expect "liveness as healthcheck interval/timeout/retries" "10000000000 2000000000 3" \
            "$(podman inspect --format '{{json .Config.Healthcheck}}' "$c" | jq -r '"\(.Interval) \(.Timeout) \(.Retries)"')"
    info "$c: podman made the liveness probe $(podman inspect --format '{{json .Config.Healthcheck.Test}}' "$c") (a shell and curl; no systemd timer runs it here)"
}

# seccomp_profile CONTAINER: the filter the runtime was given is exactly
# the allow-list of deploy/seccomp/moscow-time.json.
seccomp_profile() {
    local config
    config=$(podman inspect --format '{{.OCIConfigPath}}' "$1") || return 1
    diff <(jq -r '[.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique[]' deploy/seccomp/moscow-time.json) \
        <(jq -r '[.linux.seccomp.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique[]' "$config") &&
        expect "default action" SCMP_ACT_ERRNO "$(jq -r '.linux.seccomp.defaultAction' "$config")"
}

stops_clean() {
    local pod=$1 c=$2 t0
    t0=$(date +%s%3N)
    podman pod stop "$pod" >/dev/null || return 1
    info "$pod: podman pod stop took $(($(date +%s%3N) - t0)) ms"
    expect "exit code after SIGTERM" 0 "$(podman inspect --format '{{.State.ExitCode}}' "$c")"
}

kube_down() {
    local file left
    for file in "${played[@]}"; do podman kube down "$file" >/dev/null 2>&1 || { echo "podman kube down $file failed"; return 1; }; done
    played=()
    left=$(podman pod ps --format '{{.Name}}' | grep -E '^mt-k8s-(lh-)?moscow-time-pod-'; podman ps -a --format '{{.Names}}' | grep -E '^mt-k8s-(lh-)?moscow-time-pod-')
    [[ -z $left ]] || { echo "left behind: $left"; return 1; }
}

own_profile=$(jq '[.syscalls[] | select(.action == "SCMP_ACT_ALLOW") | .names[]] | unique | length' deploy/seccomp/moscow-time.json)
if check "podman: kube play starts both replicas of the Deployment from $image" play default; then
    for i in 0 1; do
        c=$(pod_ctr default "$i")
        check "pod $i: uid/gid 65532, no other group, no capabilities, no_new_privs, seccomp filtering, read-only root" hardened "$c"
        check "pod $i: /healthz, /readyz and /api/time answer 200 on the pod's loopback" answers "$c"
    done
    check "pod 0: podman applied the limits, the env and the liveness timings" applied "$(pod_ctr default 0)"
    check "pod 0: podman stops it with SIGTERM and it exits 0" stops_clean mt-k8s-moscow-time-pod-0 "$(pod_ctr default 0)"
fi
if check "podman: kube play starts the Localhost-seccomp Deployment" play localhost; then
    c=$(pod_ctr localhost 0)
    check "localhost pod: runs under deploy/seccomp/moscow-time.json ($own_profile syscalls)" seccomp_profile "$c"
    check "localhost pod: uid/gid 65532, no capabilities, no_new_privs, seccomp filtering, read-only root" hardened "$c"
    check "localhost pod: /healthz, /readyz and /api/time answer 200 on the pod's loopback" answers "$c"
fi
check "podman: kube down removes every pod and container kube play made" kube_down

summary
