#!/bin/sh
# Header dependencies (-MMD -MP): touching one header rebuilds only the objects and programs that
# include it. A dry run (make -n -W HEADER: "as if HEADER were new") over this build's tree, so
# nothing is rebuilt for real.
. "$(dirname "$0")/lib/common.sh"
B=$(dirname "$GPTC")
unset MAKEFLAGS MFLAGS MAKELEVEL
dry() { make --no-print-directory -n "$@" BUILD="$B" "$B/gptc" "$B/tests/test_core" 2>&1; }
has() { printf '%s\n' "$1" | grep -q -- "$2"; }

out=$(dry -W src/tokenizer/tokenizer_impl.h)
has "$out" "-c src/tokenizer/bpe.c" && ok || bad "touching tokenizer_impl.h does not rebuild bpe.o"
has "$out" "-c src/tokenizer/tiktoken.c" && ok || bad "touching tokenizer_impl.h does not rebuild tiktoken.o"
has "$out" "-c src/chat/jinja_eval.c" && bad "touching tokenizer_impl.h rebuilds jinja_eval.o" || ok
has "$out" "-c src/train/gemm.c" && bad "touching tokenizer_impl.h rebuilds gemm.o" || ok
has "$out" "-c src/cli/" && bad "touching tokenizer_impl.h rebuilds a CLI object" || ok
check "$(printf '%s\n' "$out" | grep -c -- ' -c src/')" \
    "$(grep -l '"tokenizer/tokenizer_impl.h"' src/*/*.c | wc -l)" \
    "touching tokenizer_impl.h rebuilds exactly the files that include it"

out=$(dry -W src/chat/jinja_impl.h)
has "$out" "-c src/chat/jinja_eval.c" && ok || bad "touching jinja_impl.h does not rebuild jinja_eval.o"
has "$out" "-c src/model/decode.c" && bad "touching jinja_impl.h rebuilds decode.o" || ok

out=$(dry -W tests/test.h)
has "$out" " -c src/" && bad "touching tests/test.h rebuilds a library object" || ok
has "$out" "-o $B/tests/test_core tests/test_core.c" && ok || bad "touching tests/test.h does not rebuild test_core"

out=$(dry -W include/gptc.h)
has "$out" "-c src/model/decode.c" && ok || bad "touching gptc.h does not rebuild decode.o"

out=$(dry)
has "$out" " -c " && bad "a second make rebuilds something: $(printf '%s\n' "$out" | grep -- ' -c ' | head -n 1)" || ok
summary
