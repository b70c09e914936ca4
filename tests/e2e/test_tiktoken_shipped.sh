#!/bin/sh
# The tiktoken encodings work out of the box: with an empty HOME and no GPTC_TIKTOKEN_DIR, the
# build tree's gptc finds the rank files the repository ships (share/gptc/tiktoken), and so does
# the gptc that `make install PREFIX=...` installs; a file found by name that is not OpenAI's
# (sha256) is refused, while --vocab-file takes the file it is given.
. "$(dirname "$0")/lib/common.sh"
mkdir -p "$T/home"
unset GPTC_TIKTOKEN_DIR XDG_CACHE_HOME
export HOME="$T/home"

# 1. the build tree's binary
check "$($GPTC tokenize --encoding o200k_base 'hello world' --ids 2>&1)" "24912 2375" "o200k from the build tree"
check "$($GPTC tokenize --encoding cl100k_base 'hello world' --ids 2>&1)" "15339 1917" "cl100k from the build tree"
check "$($GPTC tokenize --encoding gpt2 'Hello, World!' --ids 2>&1)" "15496 11 2159 0" "gpt2 (r50k) from the build tree"
check "$($GPTC tokenize --encoding p50k_base 'hello world' --ids 2>&1)" "31373 995" "p50k from the build tree"

# 2. make install into an empty prefix; the installed binary finds PREFIX/share/gptc/tiktoken
P="$T/prefix"
BUILD_DIR=$(dirname "$GPTC")
# (-o: install what this build made, never rebuild it here)
if env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory install BUILD="$BUILD_DIR" \
        PREFIX="$P" -o "$BUILD_DIR/gptc" -o "$BUILD_DIR/libgptc.a" -o "$BUILD_DIR/libgptc.so" > "$T/install.log" 2>&1; then ok; else bad "make install: $(tail -n 5 "$T/install.log")"; fi
check "$(cd "$P/share/gptc/tiktoken" 2>/dev/null && sha256sum -c --quiet SHA256SUMS 2>&1 && echo ok)" "ok" "installed rank files match SHA256SUMS"
[ -f "$P/share/gptc/tiktoken/LICENSE" ] && ok || bad "the licence is installed"
check "$(cd "$T" && "$P/bin/gptc" tokenize --encoding o200k_base 'hello world' --ids 2>&1)" "24912 2375" "o200k from the installed binary"
check "$(cd "$T" && "$P/bin/gptc" tokenize --encoding cl100k_base 'hello world' --ids 2>&1)" "15339 1917" "cl100k from the installed binary"

# 3. a rank file found by name must be OpenAI's: change one rank, keep the format valid
mkdir -p "$T/tt"
awk 'NR==3{ $2 = 7 } NR==8{ $2 = 2 } { print }' share/gptc/tiktoken/r50k_base.tiktoken > "$T/tt/r50k_base.tiktoken"
out=$(GPTC_TIKTOKEN_DIR="$T/tt" $GPTC tokenize --encoding r50k_base 'hello' --ids 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "^gptc: .*not OpenAI's r50k_base.tiktoken: sha256"; then ok; else bad "tampered rank file by name: rc=$rc $out"; fi
# ... while --vocab-file is taken as it is (ranks 2 and 7 swapped: '#' is 2, '(' is 7)
check "$($GPTC tokenize --encoding r50k_base --vocab-file "$T/tt/r50k_base.tiktoken" '#' --ids 2>&1)" "7" "--vocab-file is not checked"
# GPTC_TIKTOKEN_DIR still comes first: an empty directory there falls through to the shipped file
mkdir -p "$T/empty"
check "$(GPTC_TIKTOKEN_DIR="$T/empty" $GPTC tokenize --encoding o200k_base 'hello world' --ids 2>&1)" "24912 2375" "empty GPTC_TIKTOKEN_DIR falls through"
summary
