#!/bin/sh
# End-to-end tests of `gptc tokenize` with byte-level BPE vocabularies: tiktoken encodings
# (rank files found through GPTC_TIKTOKEN_DIR or --vocab-file) and GGUF gpt2 vocabularies,
# against tiktoken's and llama.cpp's ids (../shared/data).
. "$(dirname "$0")/lib/common.sh"
TT="$D/tokenizers/tiktoken"
expect_err() { # description, then the command: one "gptc:" line on stderr, exit 1
    desc=$1; shift
    "$@" > "$T/o" 2> "$T/e"; rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l < "$T/e")" -eq 1 ] && grep -q '^gptc: ' "$T/e"; then ok; else
        bad "$desc: rc=$rc, stderr: $(head -c 300 "$T/e")"; fi
}
export GPTC_TIKTOKEN_DIR="$TT"

# 1. tiktoken encodings by name (rank file from GPTC_TIKTOKEN_DIR), ids as tiktoken gives them
check "$($GPTC tokenize --encoding cl100k_base 'hello world' --ids)" "15339 1917" "cl100k hello world"
check "$($GPTC tokenize --encoding o200k_base 'hello world' --ids)" "24912 2375" "o200k hello world"
check "$($GPTC tokenize --encoding gpt2 'Hello, World!' --ids)" "15496 11 2159 0" "gpt2 Hello, World!"
check "$($GPTC tokenize --encoding r50k_base "I'm can't" --ids)" "40 1101 460 470" "r50k contractions"
# 2. special tokens: text by default, ids with --special
check "$($GPTC tokenize --encoding cl100k_base 'hello<|endoftext|>world' --special --ids)" "15339 100257 14957" "cl100k --special"
n=$($GPTC tokenize --encoding cl100k_base 'hello<|endoftext|>world' --count)
[ "$n" -gt 3 ] && ok || bad "<|endoftext|> is ordinary text without --special ($n tokens)"
# 3. stdin, --file, --count, --vocab-file (the rank file given directly, no lookup)
check "$(printf 'hello world' | $GPTC tokenize --encoding cl100k_base --ids)" "15339 1917" "stdin"
printf 'hello world' > "$T/in.txt"
check "$($GPTC tokenize --encoding cl100k_base -f "$T/in.txt" --count)" "2" "--file --count"
check "$(GPTC_TIKTOKEN_DIR=/nonexistent $GPTC tokenize --encoding cl100k_base --vocab-file "$TT/cl100k_base.tiktoken" 'hello world' --ids)" "15339 1917" "--vocab-file"
# 4. pieces: bytes with escapes
out=$($GPTC tokenize --encoding cl100k_base "$(printf 'a\nb')")
check "$out" "$(printf "    64  'a'\n   198  '\\\\n'\n    65  'b'")" "pieces with escapes"
# 5. War and Peace round: count equals the ids printed
$GPTC tokenize --encoding o200k_base -f "$D/corpora/tinystories-excerpt/tinystories.txt" --ids > "$T/ids.txt"
check "$(wc -w < "$T/ids.txt" | tr -d ' ')" "$($GPTC tokenize --encoding o200k_base -f "$D/corpora/tinystories-excerpt/tinystories.txt" --count)" "--ids and --count agree"
# 6. GGUF gpt2 vocabularies: llama.cpp's ids for a few of its cases
check "$($GPTC tokenize "$D/gguf/ggml-vocab-gpt-2.gguf" ' Hello World!' --ids)" "$(sed -n 16p "$D/gguf/ggml-vocab-gpt-2.gguf.out" | sed 's/^ *//')" "gpt-2 gguf ' Hello World!'"
check "$($GPTC tokenize "$D/gguf/vocab/ggml-vocab-starcoder.gguf" 'w048 7tuijk dsdfhu' --ids)" "$(sed -n 20p "$D/gguf/vocab/ggml-vocab-starcoder.gguf.out" | sed 's/^ *//')" "starcoder digits"
check "$($GPTC tokenize "$D/gguf/vocab/ggml-vocab-deepseek-coder.gguf" 'Hello world' --ids --no-bos)" "$(sed -n 12p "$D/gguf/vocab/ggml-vocab-deepseek-coder.gguf.out" | sed 's/^ *//')" "deepseek-coder (no BOS)"
first=$($GPTC tokenize "$D/gguf/vocab/ggml-vocab-deepseek-coder.gguf" 'Hello world' --ids | cut -d' ' -f1)
check "$first" "32013" "deepseek-coder adds its BOS"
# 7. errors: one line, exit 1
expect_err "unknown encoding" $GPTC tokenize --encoding cl200k_base hi
# (o200k_base ships with gptc, beside the binary; llama3.tiktoken does not)
expect_err "missing rank file" env GPTC_TIKTOKEN_DIR=/nonexistent XDG_CACHE_HOME=/nonexistent $GPTC tokenize --encoding llama3 hi
expect_err "rank file is a directory" $GPTC tokenize --encoding o200k_base --vocab-file "$T" hi
printf 'not base64!! 0\n' > "$T/bad.tiktoken"
expect_err "malformed rank file" $GPTC tokenize --encoding cl100k_base --vocab-file "$T/bad.tiktoken" hi
expect_err "model and --encoding" $GPTC tokenize "$D/gguf/ggml-vocab-gpt-2.gguf" --encoding gpt2 hi x
expect_err "--vocab-file without --encoding" $GPTC tokenize "$D/gguf/ggml-vocab-gpt-2.gguf" --vocab-file x hi
check "$($GPTC tokenize "$D/gguf/vocab/ggml-vocab-bert-bge.gguf" "Hello world!" --ids)" "101 7592 2088 999 102" "bert (WordPiece) vocabulary: [CLS] hello world ! [SEP]"
$GPTC tokenize --help > /dev/null 2>&1 && ok || bad "tokenize --help"

summary
