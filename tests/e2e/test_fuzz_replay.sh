#!/bin/sh
# Every fuzz target over its seeds (fuzz/seeds/<target>/) and every input that once crashed it
# (fuzz/crashes/<target>/), through the replay driver built beside gptc (BUILD/fuzz/replay_*):
# in `make san` under ASan/UBSan. A target must have seeds; each input must return.
. "$(dirname "$0")/lib/common.sh"
B=$(dirname "$GPTC")/fuzz
for src in fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    if [ ! -x "$B/replay_$t" ]; then fail=$((fail + 1)); echo "FAIL: $B/replay_$t was not built"; continue; fi
    n=$(ls fuzz/seeds/"$t" 2>/dev/null | wc -l)
    if [ "$n" -eq 0 ]; then fail=$((fail + 1)); echo "FAIL: $t has no seeds in fuzz/seeds/$t"; continue; fi
    out=$("$B/replay_$t" "fuzz/seeds/$t" "fuzz/crashes/$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ $rc -eq 0 ] && [ -n "$p" ] && [ "${f:-1}" -eq 0 ] && [ "$p" -ge "$n" ]; then
        pass=$((pass + p))
    else
        ff=${f:-0}; [ "$ff" -eq 0 ] && ff=1; fail=$((fail + ff))
        echo "FAIL: $t (rc=$rc):"; printf '%s\n' "$out" | tail -n 20
    fi
    echo "  $t: $line"
done
summary
