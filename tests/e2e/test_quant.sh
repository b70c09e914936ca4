#!/bin/sh
# End-to-end tests of gptc quantize / bench / perplexity on the reference data
# (../shared/data: stories260K and llama.cpp's quantized files with its outputs).
. "$(dirname "$0")/lib/common.sh"
S=$D/gguf/stories260K.gguf
if [ ! -f "$S" ]; then echo "(skipped: $S not found)"; echo "0 passed, 0 failed"; exit 0; fi

# 1. stories260K quantized to Q8_0 gives the same greedy 64 tokens as F32
$GPTC quantize "$S" "$T/q8.gguf" q8_0 -q 2>"$T/err.txt"; check "$?" "0" "quantize q8_0 ($(cat "$T/err.txt"))"
$GPTC run "$S" -p "Once upon a time" -n 64 --temp 0 -q > "$T/f32.txt" 2>&1
$GPTC run "$T/q8.gguf" -p "Once upon a time" -n 64 --temp 0 -q > "$T/q8.txt" 2>&1
check "$(cat "$T/q8.txt")" "$(cat "$T/f32.txt")" "Q8_0 greedy 64 tokens = F32's"
$GPTC run "$T/q8.gguf" -p "Lily and Ben went" -n 64 --temp 0 -q > "$T/q8b.txt" 2>&1
$GPTC run "$S" -p "Lily and Ben went" -n 64 --temp 0 -q > "$T/f32b.txt" 2>&1
check "$(cat "$T/q8b.txt")" "$(cat "$T/f32b.txt")" "Q8_0 greedy 64 tokens = F32's (second prompt)"

# 2. every type: our quantization's greedy 32 tokens = llama.cpp's on its own file (llama-simple)
strip_ref() { sed '1s/^<s>//' "$1" | tr -d '\n'; }
for ty in Q8_0 Q4_0 Q4_1 Q5_0 Q5_1; do
    lc=$(echo $ty | tr 'A-Z' 'a-z')
    $GPTC quantize "$S" "$T/$lc.gguf" $lc -q 2>"$T/err.txt" || bad "quantize $lc: $(cat "$T/err.txt")"
    got=$($GPTC run "$T/$lc.gguf" -p "Once upon a time" -n 32 --temp 0 -q 2>&1 | tr -d '\n')
    check "$got" "$(strip_ref "$D/gguf/quant/reference/stories260K-$ty.simple.txt")" "$ty: greedy 32 = llama.cpp's"
done
# K mixes on the 64-wide stories260K fall back per row (Q4_K -> Q5_0 ...) and still run
for mix in q4_k_s q4_k_m q5_k_m q6_k; do
    $GPTC quantize "$S" "$T/$mix.gguf" $mix -q 2>"$T/err.txt"; check "$?" "0" "quantize $mix ($(cat "$T/err.txt"))"
    out=$($GPTC run "$T/$mix.gguf" -p "Once upon a time" -n 16 --temp 0 -q 2>&1)
    case "$out" in " Once upon a time"*) ok;; *) bad "$mix model runs: $out";; esac
done
# the K types proper: requantize the d256 model (rows of 256); its tensors are llama.cpp's, so
# it generates exactly what llama.cpp's own file does in gptc
R=$D/gguf/quant/rand-llama-d256-Q8_0.gguf
for ty in Q4_K_S Q4_K_M; do
    lc=$(echo $ty | tr 'A-Z' 'a-z')
    $GPTC quantize "$R" "$T/r$lc.gguf" $lc -q 2>"$T/err.txt"; check "$?" "0" "quantize rand $lc"
    a=$($GPTC run "$T/r$lc.gguf" -p "Once upon a time" -n 24 --temp 0 -q 2>&1 | od -An -tx1)
    b=$($GPTC run "$D/gguf/quant/rand-llama-d256-$ty.gguf" -p "Once upon a time" -n 24 --temp 0 -q 2>&1 | od -An -tx1)
    check "$a" "$b" "rand $ty: our quantization runs exactly as llama.cpp's file"
done
# the low-bit and IQ4 mixes: on rand (rows of 256) and stories260K (rows of 64: Q2_K, Q3_K and
# IQ4_XS fall back to IQ4_NL, as in llama-quantize); the outputs load and generate
for mix in q2_k q3_k_s q3_k_m q3_k_l iq4_nl iq4_xs; do
    for src in "$R" "$S"; do
        $GPTC quantize "$src" "$T/low.gguf" $mix -q 2>"$T/err.txt"; check "$?" "0" "quantize $(basename "$src") $mix ($(cat "$T/err.txt"))"
        out=$($GPTC run "$T/low.gguf" -p "Once upon a time" -n 16 --temp 0 -q 2>&1)
        case "$out" in " Once upon a time"*) ok;; *) bad "$mix of $(basename "$src") runs: $out";; esac
    done
done
$GPTC info "$T/low.gguf" 2>&1 | grep -q "iq4_nl" && ok || bad "info lists iq4_nl tensors"
$GPTC info "$T/rq4_k_m.gguf" > "$T/info.txt" 2>&1
grep -q "q6_K" "$T/info.txt" && grep -q "q4_K" "$T/info.txt" && ok || bad "info lists q4_K and q6_K tensors"

# 3. bench: the JSON fields the issue names (values are not checked: speed lives in bench/)
json=$($GPTC bench "$T/q4_0.gguf" -p 16 -n 8 -r 1 -t 1 --bw 10 --json 2>&1)
for f in prefill_tok_s decode_tok_s bandwidth_gb_s kv_read_bytes decode_bound_tok_s decode_pct_of_bound; do
    echo "$json" | grep -q "\"$f\": [0-9]" && ok || bad "bench --json has $f: $json"
done
if command -v python3 >/dev/null 2>&1; then
    echo "$json" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null && ok || bad "bench --json is valid JSON: $json"
fi
txt=$($GPTC bench "$T/q4_0.gguf" -p 8 -n 4 -r 1 -t 1 --bw 10 2>&1)
echo "$txt" | grep -q "^prefill .*tok/s" && echo "$txt" | grep -q "^bound .*% reached" && ok || bad "bench text: $txt"

# 4. perplexity with the KL divergence from the F32 model
TXT=$D/corpora/tinystories-excerpt/tinystories.txt
ppl=$($GPTC perplexity "$T/q8.gguf" "$TXT" --chunks 4 --kl-base "$S" 2>&1)
echo "$ppl" | grep -q "^perplexity  [0-9]" && echo "$ppl" | grep -q "^KL  " && ok || bad "perplexity output: $ppl"
kl=$(echo "$ppl" | sed -n 's/^KL *\([0-9.]*\) mean.*/\1/p')
awk -v k="$kl" 'BEGIN { exit !(k != "" && k < 0.01) }' && ok || bad "Q8_0 mean KL from F32 is small: $kl"
same=$($GPTC perplexity "$S" "$TXT" --chunks 2 --kl-base "$S" 2>&1 | sed -n 's/^KL *\([0-9.]*\) mean.*/\1/p')
check "$same" "0.000000" "KL of a model from itself"

# 5. bad input: one line on stderr, exit 1, nothing written
$GPTC quantize "$S" "$T/x.gguf" q3_xl > "$T/out.txt" 2>&1; rc=$?
check "$rc" "1" "unknown type exits 1"
grep -q "^gptc: quantize: unknown type 'q3_xl'" "$T/out.txt" && [ ! -e "$T/x.gguf" ] && ok || bad "unknown type message: $(cat "$T/out.txt")"
$GPTC quantize "$T/missing.gguf" "$T/x.gguf" q8_0 > "$T/out.txt" 2>&1; check "$?" "1" "missing input exits 1"
head -c 100000 "$D/gguf/quant/stories260K-Q8_0.gguf" > "$T/trunc.gguf"
$GPTC quantize "$T/trunc.gguf" "$T/x.gguf" q4_0 > "$T/out.txt" 2>&1; rc=$?
check "$rc" "1" "truncated input exits 1"
grep -q "^gptc: .*past the end\|^gptc: .*truncated\|^gptc: .*beyond" "$T/out.txt" && [ ! -e "$T/x.gguf" ] && ok || bad "truncated input message: $(cat "$T/out.txt")"
$GPTC run "$T/trunc.gguf" -p hi -n 1 > "$T/out.txt" 2>&1; check "$?" "1" "truncated quantized model exits 1 in run"
$GPTC bench "$T/missing.gguf" > "$T/out.txt" 2>&1; check "$?" "1" "bench of a missing model exits 1"
$GPTC perplexity "$S" "$T/missing.txt" > "$T/out.txt" 2>&1; check "$?" "1" "perplexity of a missing text exits 1"
$GPTC quantize --help | grep -q "q4_k_m" && ok || bad "quantize --help"

summary
