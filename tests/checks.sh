# The PASS/FAIL harness every check script shares: one line per check, INFO
# lines for figures, then `summary`: `N passed, M failed`, non-zero if any
# failed. The sourcing script sets $work (a temporary folder) first.
# shellcheck shell=bash

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
# fail NAME [OUTPUT]: FAIL, with the last 40 lines of OUTPUT indented.
fail() {
    echo "FAIL $1"
    [[ -n ${2:-} ]] && tail -n 40 <<<"    ${2//$'\n'/$'\n    '}"
    failed=$((failed + 1))
}
# INFO lines go to fd 3, the real stdout, even from inside a check.
exec 3>&1
info() { echo "INFO $*" >&3; }
# check NAME COMMAND...: PASS if COMMAND succeeds; its output is shown on
# failure. COMMAND runs in this shell, so the variables it sets persist.
# shellcheck disable=SC2154 # $work is the sourcing script's
check() {
    local name=$1
    shift
    if "$@" >"$work/check.out" 2>&1; then pass "$name"; else fail "$name" "$(cat "$work/check.out")"; fi
}
# expect WHAT EXPECTED ACTUAL
expect() {
    [[ $2 == "$3" ]] || { echo "$1: expected '$2', got '$3'"; return 1; }
}
# summary: the totals; fails if any check failed.
summary() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}
