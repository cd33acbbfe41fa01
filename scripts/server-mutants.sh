#!/usr/bin/env bash
# The server's mutants: a copy of the crate with one line changed, on which
# the conformance test (tests/conformance.rs, against nginx) and any other
# test named must fail, and fail where named. A mutant that passes, or a
# line that is no longer in the source to change, fails this script.
#
#   scripts/server-mutants.sh              every mutant
#   scripts/server-mutants.sh host-check   one
#
# The copies build in target/server-mutants/, so the dependencies are built
# once and the real build in target/ is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/target/server-mutants

# NAME|FILE|LINE IN THE SOURCE|LINE IN THE MUTANT|TESTS|WHAT MUST FAIL
# What must fail: requests of the corpus or test functions, each of them;
# a,b,c: at least one of a, b and c. Which half-closing request a reverted
# half_close loses depends on when the client's FIN reaches the server, so
# the corpus's four are one item; tests/half_close.rs loses every one.
mutants=(
    "host-check|src/refusal.rs|    host_check(version, hosts, host)|    None::<StatusCode>|conformance|host-missing host-twice host-invalid host-empty absolute-form-without-host"
    "half-close|src/server.rs|        .half_close(true)|        .half_close(false)|conformance half_close|half-close-http-1.0,half-close-http-1.1,half-close-pipelined,half-close-keep-alive keepalive_connections_that_half_close_are_answered parked_connections_that_half_close_are_answered"
)

failed=0
for mutant in "${mutants[@]}"; do
    IFS='|' read -r name file from to tests must_fail <<<"$mutant"
    [[ $# -eq 0 || " $* " == *" $name "* ]] || continue
    found=$(grep -cxF -- "$from" "$root/$file" || true)
    if [[ $found != 1 ]]; then
        echo "server mutant $name: expected the line '$from' once in $file, found it $found times" >&2
        failed=1
        continue
    fi
    crate=$work/crate
    rm -rf "$crate"
    mkdir -p "$crate/tests"
    cp -r "$root"/{Cargo.toml,Cargo.lock,build.rs,src} "$crate/"
    cp -r "$root"/tests/{conformance,support} "$crate/tests/"
    targets=()
    for test in $tests; do
        cp "$root/tests/$test.rs" "$crate/tests/"
        targets+=(--test "$test")
    done
    awk -v from="$from" -v to="$to" '$0 == from { $0 = to } { print }' "$root/$file" >"$crate/$file"
    log=$work/$name.log
    echo "server mutant $name: $file: '${from#"${from%%[! ]*}"}' -> '${to#"${to%%[! ]*}"}'" >&2
    if CARGO_TARGET_DIR=$work/target cargo test --locked --no-fail-fast \
        --manifest-path "$crate/Cargo.toml" "${targets[@]}" >"$log" 2>&1; then
        echo "server mutant $name: $tests passed; they must fail (log: $log)" >&2
        failed=1
        continue
    fi
    for item in $must_fail; do
        # A request of the corpus, or a test function.
        names=${item//,/|}
        if ! grep -qE "^((DIFFERS|NO LONGER DIFFERS) ($names)[ :]|test ($names) \.\.\. FAILED)" "$log"; then
            echo "server mutant $name: ${item//,/ or } did not fail (log: $log)" >&2
            failed=1
        fi
    done
    echo "server mutant $name: caught: $(grep -cE '^(DIFFERS|NO LONGER DIFFERS) |^test .* FAILED$' "$log") failures" >&2
done
exit "$failed"
