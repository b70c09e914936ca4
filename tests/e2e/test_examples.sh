#!/bin/sh
# The programs in examples/ (built beside gptc, from include/gptc.h alone) on the shared models:
# examples/simple's greedy text equals llama.cpp's on stories260K.
. "$(dirname "$0")/lib/common.sh"
E=$(dirname "$GPTC")/examples

# 1. greedy, 64 tokens after "Once upon a time": llama.cpp's text (trailing newlines aside)
"$E/simple" "$D/gguf/stories260K.gguf" -n 64 "Once upon a time" > "$T/out.txt" 2> "$T/err.txt"
check "$?" "0" "simple exits 0 ($(head -c 300 "$T/err.txt"))"
check "$(cat "$T/out.txt")" "$(cat "$D/gguf/reference/llamacpp_stories260K_t0_n64_once_upon_a_time.txt")" "simple = llama.cpp greedy"
# 2. usage and a missing file
"$E/simple" > /dev/null 2>&1; check "$?" "2" "no arguments: usage, exit 2"
"$E/simple" "$T/missing.gguf" > /dev/null 2> "$T/err.txt"; rc=$?
if [ $rc -eq 1 ] && grep -q '^simple: load: ' "$T/err.txt"; then ok; else bad "missing model: rc=$rc"; fi
summary
