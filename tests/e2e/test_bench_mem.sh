#!/bin/sh
# End-to-end tests of gptc bench --depth / --ctx-pos / --compare, the bandwidth probe's spread, and
# gptc info --mem on small models (values of speed are never checked: speed lives in bench/).
# The MoE model's bytes read per token are checked against its tensor table: every tensor, less
# the experts a token does not use and all but one row of the embedding.
. "$(dirname "$0")/lib/common.sh"
expect_err() { # NAME CMD...: exits 1 with one "gptc: " line
    what=$1; shift
    "$@" > "$T/e.out" 2> "$T/e.err"; rc=$?
    check "$rc" "1" "$what: exit status"
    grep -q "^gptc: " "$T/e.err" && ok || bad "$what: no 'gptc:' message ($(cat "$T/e.err"))"
}
S="$D/gguf/stories260K.gguf"
MOE="$D/gguf/arch/rand-qwen3moe-d128-F32.gguf"

# 1. bench --depth: the JSON says the depth; the text says where it measured
json=$($GPTC bench "$S" -p 8 -n 4 -d 40 -r 2 -t 1 --bw 10 --json 2>&1)
echo "$json" | grep -q '"depth": 40,' && ok || bad "bench --json has the depth: $json"
echo "$json" | grep -q '"decode_tok_s": [1-9]' && ok || bad "bench at depth decodes: $json"
echo "$json" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null && ok || bad "bench --json at depth is JSON: $json"
txt=$($GPTC bench "$S" -p 8 -n 4 --depth 40 -r 1 -t 2 --bw 10 2>&1)
echo "$txt" | grep -q "^prefill .*8-token prompt at depth 40" && ok || bad "bench text names the depth (prefill): $txt"
echo "$txt" | grep -q "^decode .*4 tokens at depth 40" && ok || bad "bench text names the depth (decode): $txt"
json=$($GPTC bench "$S" -p 8 -n 4 -r 1 -t 1 --bw 10 --json 2>&1)
echo "$json" | grep -q '"depth": 0,' && ok || bad "bench --json without -d has depth 0: $json"
# decode only and prefill only at depth (the cache is cut back between runs)
$GPTC bench "$S" -p 0 -n 4 -d 100 -r 3 -t 1 --bw 10 > "$T/b.txt" 2>&1; check "$?" "0" "decode-only bench at depth 100"
$GPTC bench "$S" -p 16 -n 0 -d 100 -r 3 -t 1 --bw 10 > "$T/b.txt" 2>&1; check "$?" "0" "prefill-only bench at depth 100"
# an MoE and a sliding-window model at depth
$GPTC bench "$MOE" -p 4 -n 4 -d 64 -r 2 -t 2 --bw 10 > "$T/b.txt" 2>&1; check "$?" "0" "MoE bench at depth 64"
$GPTC bench "$D/gguf/arch/rand-gemma3-d128-F32.gguf" -p 4 -n 4 -d 64 -r 2 -t 1 --bw 10 > "$T/b.txt" 2>&1; check "$?" "0" "gemma3 (sliding window) bench at depth 64"
# a hybrid (recurrent state): the state at the depth is checkpointed and restored between runs
$GPTC bench "$D/gguf/arch/rand-qwen35-d128-F32.gguf" -p 4 -n 4 -d 64 -r 3 -t 1 --bw 10 > "$T/b.txt" 2>&1; check "$?" "0" "qwen35 (hybrid) bench at depth 64"
expect_err "bench -d -1" $GPTC bench "$S" -d -1
expect_err "bench -d x" $GPTC bench "$S" --depth x
expect_err "bench -d without a value" $GPTC bench "$S" -d

# 2. info --mem: resident = the file's size, read per token, KV per token
out=$($GPTC info --mem "$S" 2>&1); check "$?" "0" "info --mem exits 0"
size=$(wc -c < "$S" | tr -d ' ')
check "$(echo "$out" | awk '/^resident:/ {print $2}')" "$size" "info --mem: resident bytes are the file's size"
# stories260K: 5 layers x 4 KV heads x head dim 8 x (K + V) x 2 bytes (f16)
check "$(echo "$out" | awk '/^KV per token:/ {print $4}')" "640" "info --mem: KV bytes per token (f16)"
echo "$out" | grep -q "f32: 1280 bytes" && ok || bad "info --mem: KV bytes per token (f32): $out"
# the MoE: read per token from its tensor table (8 experts, 2 used; vocab 512)
$GPTC info "$MOE" > "$T/info.txt" 2>&1
want=$(awk '$NF == "bytes" && NF >= 5 { b = $(NF-1); all += b; if ($1 ~ /_exps\.weight$/) exps += b; if ($1 == "token_embd.weight") emb = b }
            END { printf "%d", all - exps * 6 / 8 - emb * 511 / 512 }' "$T/info.txt")
out=$($GPTC info --mem "$MOE" 2>&1)
check "$(echo "$out" | awk '/^read per token:/ {print $4}')" "$want" "info --mem: MoE bytes read per token (2 of 8 experts)"
msize=$(wc -c < "$MOE" | tr -d ' ')
check "$(echo "$out" | awk '/^resident:/ {print $2}')" "$msize" "info --mem: MoE resident bytes"
# bench's bound uses the same bytes
json=$($GPTC bench "$MOE" -p 0 -n 2 -r 1 -t 1 --bw 10 --json 2>&1)
echo "$json" | grep -q "\"weight_bytes\": $want," && ok || bad "bench's bound counts the active bytes ($want): $json"
# the recurrent state of a hybrid model; none for a transformer
$GPTC info --mem "$D/gguf/arch/rand-qwen35-d128-F32.gguf" > "$T/q35.txt" 2>&1
grep -q "^state: *[1-9][0-9]* bytes" "$T/q35.txt" && ok || bad "info --mem: qwen35 state bytes: $(cat "$T/q35.txt")"
$GPTC info --mem "$S" | grep -q "^state:" && bad "info --mem: stories260K has no recurrent state" || ok
expect_err "info --mem of a missing file" $GPTC info --mem "$T/missing.gguf"

# 3. --ctx-pos is -d; --compare prints each row next to the reference rows that match it
json=$($GPTC bench "$S" -p 8 -n 4 --ctx-pos 40 -r 1 -t 1 --bw 10 --json 2>&1)
echo "$json" | grep -q '"depth": 40,' && ok || bad "bench --ctx-pos 40 sets the depth: $json"
expect_err "bench --ctx-pos x" $GPTC bench "$S" --ctx-pos x
cat > "$T/ref.json" <<'JSON'
[{"model": "stories260K", "threads": 1, "depth": 0, "prefill_tok_s": 100, "decode_tok_s": 50, "source": "unit"},
 {"model": "stories260K", "threads": 2, "depth": 0, "decode_tok_s": 7, "source": "other threads"},
 {"type": "Q4_K_M", "threads": 1, "decode_tok_s": 9, "source": "other type"}]
JSON
txt=$($GPTC bench "$S" -p 8 -n 4 -r 1 -t 1 --bw 10 --compare "$T/ref.json" 2>&1); check "$?" "0" "bench --compare exits 0"
echo "$txt" | grep -q "^  prefill .* vs *100.0 *= .*x  unit, stories260K (entry 1)" && ok || bad "compare: prefill row: $txt"
echo "$txt" | grep -q "^  decode .* vs *50.0 *= .*x  unit, stories260K (entry 1)" && ok || bad "compare: decode row: $txt"
echo "$txt" | grep -q "other" && bad "compare: rows of other threads / types shown: $txt" || ok
json=$($GPTC bench "$S" -p 8 -n 4 -r 1 -t 1 --bw 10 --json --compare "$T/ref.json" 2>&1)
echo "$json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
c = j["compare"]
assert [r["test"] for r in c] == ["prefill", "decode"], c
assert abs(c[1]["ratio"] - j["decode_tok_s"] / 50) < 1e-2 * c[1]["ratio"], c
' && ok || bad "bench --json --compare: $json"
# llama-bench's -o json rows (pp and tg tests; only the fields gptc reads, plus one it ignores)
cat > "$T/lb.json" <<'JSON'
[{"build_commit": "82bb485", "model_filename": "/models/stories260K.gguf", "model_type": "llama ?B all F32",
  "n_threads": 1, "n_prompt": 8, "n_gen": 0, "n_depth": 0, "avg_ts": 200.5, "stddev_ts": 1.0},
 {"build_commit": "82bb485", "model_filename": "/models/stories260K.gguf", "model_type": "llama ?B all F32",
  "n_threads": 1, "n_prompt": 0, "n_gen": 4, "n_depth": 0, "avg_ts": 40.25, "stddev_ts": 1.0},
 {"build_commit": "82bb485", "model_filename": "/models/stories260K.gguf", "n_threads": 1,
  "n_prompt": 0, "n_gen": 64, "n_depth": 0, "avg_ts": 1.0}]
JSON
txt=$($GPTC bench "$S" -p 8 -n 4 -r 1 -t 1 --bw 10 --compare "$T/lb.json" 2>&1); check "$?" "0" "bench --compare llama-bench json exits 0"
echo "$txt" | grep -q "^  prefill .* vs *200.5 .*llama-bench 82bb485, stories260K.gguf (entry 1)" && ok || bad "compare llama-bench: prefill: $txt"
echo "$txt" | grep -q "^  decode .* vs *40.2 .*(entry 2)" && ok || bad "compare llama-bench: decode: $txt"
echo "$txt" | grep -q "(entry 3)" && bad "compare: a tg64 row matched -n 4: $txt" || ok
# the same rows as JSON Lines (llama-bench -o jsonl)
python3 -c 'import json; [print(json.dumps(r)) for r in json.load(open("'"$T"'/lb.json"))]' > "$T/lb.jsonl"
$GPTC bench "$S" -p 8 -n 4 -r 1 -t 1 --bw 10 --compare "$T/lb.jsonl" 2>&1 | grep -q "(entry 2)" && ok || bad "compare reads JSON Lines"
# bad files: one gptc: line, exit 1, before the model is even loaded
printf '[{"threads": 1, "decode_tok_s": 5,}]' > "$T/bad1.json"
expect_err "compare: not JSON" $GPTC bench "$S" --compare "$T/bad1.json"
check "$(wc -l < "$T/e.err" | tr -d ' ')" "1" "compare: not JSON: one line"
grep -q "bad1.json: not JSON at line 1" "$T/e.err" && ok || bad "compare: the message names the file and line: $(cat "$T/e.err")"
printf '[{"threads": 1, "decode_toks": 5}]' > "$T/bad2.json"
expect_err "compare: unknown key" $GPTC bench "$S" --compare "$T/bad2.json"
grep -q 'unknown key "decode_toks"' "$T/e.err" && ok || bad "compare: names the unknown key: $(cat "$T/e.err")"
expect_err "compare: missing file" $GPTC bench "$S" --compare "$T/none.json"
expect_err "compare: no value" $GPTC bench "$S" --compare

# 4. the bandwidth probe's spread: min <= median <= best, and the reader it came from
json=$($GPTC bench "$S" -p 0 -n 2 -r 1 -t 1 --bw-passes 2 --json 2>&1)
echo "$json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert 0 < j["bandwidth_gb_s_min"] <= j["bandwidth_gb_s_median"] <= j["bandwidth_gb_s"], j
assert j["bandwidth_reader"] in j["bandwidth_readers_gb_s"], j
assert max(j["bandwidth_readers_gb_s"].values()) == j["bandwidth_gb_s"], j
' && ok || bad "bench --json: the probe's spread: $json"
txt=$($GPTC bench "$S" -p 0 -n 2 -r 1 -t 1 --bw-passes 1 2>&1)
echo "$txt" | grep -q "^memory .* GB/s read (best of 1 passes over 1024 MiB, .* reader; its passes min .*, median " && ok || bad "bench text: the probe's spread: $txt"
expect_err "bench --bw-passes 0" $GPTC bench "$S" --bw-passes 0

summary
