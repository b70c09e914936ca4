#!/bin/sh
# Header dependencies: touching one header rebuilds only the objects that include it (make's
# -W "what if this file were new" with -n, so nothing is rebuilt for real).
p=0; f=0
ok() { p=$((p + 1)); }
bad() { f=$((f + 1)); echo "FAIL: $1"; }
B=$(dirname "${GPTC:-build/gptc}")
unset MAKEFLAGS MFLAGS
out=$(make -n -W src/tokenizer/tokenizer_impl.h BUILD="$B" "$B/gptc" 2>&1)
echo "$out" | grep -q -- "-c src/tokenizer/bpe.c" && ok || bad "touching tokenizer_impl.h rebuilds bpe.o"
echo "$out" | grep -q -- "-c src/chat/jinja_eval.c" && bad "touching tokenizer_impl.h rebuilds jinja_eval.o" || ok
echo "$out" | grep -q -- "-c src/train/gemm.c" && bad "touching tokenizer_impl.h rebuilds gemm.o" || ok
out=$(make -n -W src/chat/jinja_impl.h BUILD="$B" "$B/gptc" 2>&1)
echo "$out" | grep -q -- "-c src/chat/jinja_eval.c" && ok || bad "touching jinja_impl.h rebuilds jinja_eval.o"
echo "$out" | grep -q -- "-c src/model/decode.c" && bad "touching jinja_impl.h rebuilds decode.o" || ok
out=$(make -n BUILD="$B" "$B/gptc" 2>&1)
echo "$out" | grep -q -- " -c " && bad "a second make rebuilds something: $(echo "$out" | grep -- ' -c ' | head -1)" || ok
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
