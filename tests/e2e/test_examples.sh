#!/bin/sh
# The programs in examples/ (built beside gptc, from include/gptc.h alone) on the shared models:
# examples/simple's greedy text equals llama.cpp's on stories260K; examples/chat's replies equal
# `gptc chat --temp 0`'s (the same chat session, through the public API).
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
# 3. chat: three turns (the cache reused), then a context so small that old turns are dropped
printf 'Hello there\nOnce upon a time\nTell me more\n' > "$T/in.txt"
"$E/chat" "$D/gguf/stories260K.gguf" -n 24 -c 2048 < "$T/in.txt" > "$T/ex.txt" 2> "$T/err.txt"
check "$?" "0" "chat exits 0 ($(head -c 300 "$T/err.txt"))"
$GPTC chat "$D/gguf/stories260K.gguf" --temp 0 -n 24 --ctx 2048 -t 1 < "$T/in.txt" > "$T/cli.txt" 2> /dev/null
check "$(cat "$T/ex.txt")" "$(cat "$T/cli.txt")" "examples/chat = gptc chat --temp 0"
printf 'one\ntwo\nthree\nfour\nfive\n' > "$T/in5.txt"
"$E/chat" "$D/gguf/stories260K.gguf" -n 40 -c 128 < "$T/in5.txt" > "$T/ex5.txt" 2> "$T/err.txt"
check "$?" "0" "chat in a small context exits 0 ($(head -c 300 "$T/err.txt"))"
$GPTC chat "$D/gguf/stories260K.gguf" --temp 0 -n 40 --ctx 128 -t 1 < "$T/in5.txt" > "$T/cli5.txt" 2> "$T/err.txt"
if grep -q "dropped the" "$T/err.txt"; then ok; else bad "gptc chat --ctx 128 drops old turns"; fi
check "$(cat "$T/ex5.txt")" "$(cat "$T/cli5.txt")" "examples/chat = gptc chat when turns are dropped"
"$E/chat" > /dev/null 2>&1; check "$?" "2" "chat without a model: usage, exit 2"
summary
