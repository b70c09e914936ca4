# common.sh — the preamble of the tests/e2e/*.sh scripts, sourced first:
#   . "$(dirname "$0")/lib/common.sh"
# GPTC: the binary under test; D: the shared reference data; T: a temporary directory, removed
# on exit; pass/fail counters with ok, bad MESSAGE, check GOT EXPECTED MESSAGE; and summary, the
# last line ("N passed, N failed") and the script's exit status.
GPTC=${GPTC:-build/gptc}
D=${GPTC_DATA:-../shared/data}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*"
}
check() {
    if [ "$1" = "$2" ]; then ok; else
        bad "$3"
        printf '  got:      %s\n  expected: %s\n' "$1" "$2" | head -c 2000
    fi
}
summary() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
