#!/bin/sh
# Run every unit test binary in BUILD/tests and every tests/e2e/*.sh (or only the tests named
# after BUILD); sum their "N passed, N failed" lines; print the total last; fail if anything
# failed.
BUILD=${1:-build}
[ $# -gt 0 ] && shift
export GPTC="$BUILD/gptc"
[ $# -eq 0 ] && set -- "$BUILD"/tests/test_* tests/e2e/*.sh
total_p=0; total_f=0; bad=""
for t in "$@"; do
    [ -e "$t" ] || continue
    case "$t" in *.d) continue ;; esac # a program's header dependencies (-MMD), not a test
    case "$t" in *.sh) cmd="sh $t";; *) cmd="$t";; esac
    out=$($cmd 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); p=${p:-0}
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); f=${f:-0}
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        [ "$f" -eq 0 ] && f=1
        bad="$bad $t"
        printf '%s\n' "$out" | tail -n 40
    fi
    printf '%-40s %s\n' "$t" "${line:-no summary line (rc=$rc)}"
    total_p=$((total_p + p)); total_f=$((total_f + f))
done
[ -n "$bad" ] && echo "failed:$bad"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
