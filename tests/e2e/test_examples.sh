#!/bin/sh
# The programs in examples/ (built beside gptc, from include/gptc.h alone) on the shared models:
# examples/simple's greedy text equals llama.cpp's on stories260K.
GPTC=${GPTC:-build/gptc}
D=${GPTC_DATA:-../shared/data}
E=$(dirname "$GPTC")/examples
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if [ "$1" = "$2" ]; then ok; else bad "$3"; printf '  got:      %s\n  expected: %s\n' "$1" "$2" | head -c 2000; fi; }

# 1. greedy, 64 tokens after "Once upon a time": llama.cpp's text (trailing newlines aside)
"$E/simple" "$D/gguf/stories260K.gguf" -n 64 "Once upon a time" > "$T/out.txt" 2> "$T/err.txt"
check "$?" "0" "simple exits 0 ($(head -c 300 "$T/err.txt"))"
check "$(cat "$T/out.txt")" "$(cat "$D/gguf/reference/llamacpp_stories260K_t0_n64_once_upon_a_time.txt")" "simple = llama.cpp greedy"
# 2. usage and a missing file
"$E/simple" > /dev/null 2>&1; check "$?" "2" "no arguments: usage, exit 2"
"$E/simple" "$T/missing.gguf" > /dev/null 2> "$T/err.txt"; rc=$?
if [ $rc -eq 1 ] && grep -q '^simple: load: ' "$T/err.txt"; then ok; else bad "missing model: rc=$rc"; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
