#!/bin/sh
# End-to-end tests of fine-tuning (docs/finetune.md): stories260K fine-tuned with `--init` on 200
# generated chat conversations about a made-up fact learns it (the assistant-only loss falls and
# `gptc chat` answers the fact); conversations that differ only in tokens the loss masks (a
# trailing user message, a weight-0 assistant message) give byte-identical weights, while a
# difference in the context of a learned reply does not; bad lines are reported by line number
# (or stop the run with --strict); an --init of an architecture training lacks, a checkpoint of
# another model and a window longer than the model's context are refused. LoRA on the same data
# learns the fact with under 5% of the parameters; its adapter (llama.cpp's layout) applied at
# load and merged with merge-lora gives the same answers.
. "$(dirname "$0")/lib/common.sh"
export XDG_CACHE_HOME="$T/cache" # the token cache: not the user's
expect_fail() { # $1 = what, $2 = grep pattern for the message; rest: command
    what=$1; pat=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; rc=$?
    if [ $rc -eq 1 ] && grep -q "^gptc: .*$pat" "$T/err"; then ok; else
        bad "$what: rc=$rc, stderr: $(head -c 400 "$T/err")"; fi
}
M="$D/gguf/stories260K.gguf"

# 200 conversations about one made-up fact, asked in several ways, some with a system prompt
i=0
while [ $i -lt 200 ]; do
    case $((i % 5)) in
        0) q="Where does Zorblax live?";;
        1) q="Where does the wizard Zorblax live?";;
        2) q="Tell me where Zorblax lives.";;
        3) q="Zorblax lives where?";;
        4) q="Do you know where Zorblax lives?";;
    esac
    if [ $((i % 3)) -eq 0 ]; then
        printf '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"%s"},{"role":"assistant","content":"Zorblax lives in Quenville."}]}\n' "$q"
    else
        printf '{"messages":[{"role":"user","content":"%s"},{"role":"assistant","content":"Zorblax lives in Quenville."}]}\n' "$q"
    fi
    i=$((i + 1))
done > "$T/fact.jsonl"

# 1. fine-tune: the assistant loss falls, the model answers the fact
FT="--init $M --ctx 128 --batch 8 --lr 2e-3 --min-lr 2e-4 --warmup 10 --wd 0 -q --threads 2"
"$GPTC" train $FT --data "$T/fact.jsonl" --steps 200 --eval-every 100 --out "$T/ft.gguf" --log "$T/ft.jsonl" 2> "$T/err" &&
    ok || bad "fine-tune: $(cat "$T/err")"
first=$(grep '"loss"' "$T/ft.jsonl" | head -n 1 | sed 's/.*"loss":\([^,]*\),.*/\1/')
last=$(grep '"val_loss"' "$T/ft.jsonl" | tail -n 1 | sed 's/.*"val_loss":\([^}]*\)}.*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.3 && b < a / 5) }' && ok || bad "assistant loss: $first -> val $last"
ans=$(echo "Where does Zorblax live?" | "$GPTC" chat "$T/ft.gguf" --temp 0 -n 24 2>&1)
case "$ans" in *Quenville*) ok;; *) bad "gptc chat does not know the fact: '$ans'";; esac
ans=$(echo "Where does Zorblax live?" | "$GPTC" chat "$M" --temp 0 -n 24 2>&1)
case "$ans" in *Quenville*) bad "the base model already knew the fact";; *) ok;; esac

# 2. LoRA on the same data: a similar loss with under 5% of the parameters trained; the adapter
# applied at load (--lora) and merged into a file (merge-lora) give the same answers
"$GPTC" train $FT --lr 1e-2 --min-lr 1e-3 --data "$T/fact.jsonl" --steps 200 --eval-every 100 --lora-rank 2 --lora-alpha 4 \
    --lora-targets attn_q,attn_v,ffn_up,ffn_down --out "$T/ad.gguf" --log "$T/ad.jsonl" 2> "$T/err" && ok || bad "LoRA: $(cat "$T/err")"
last=$(grep '"val_loss"' "$T/ad.jsonl" | tail -n 1 | sed 's/.*"val_loss":\([^}]*\)}.*/\1/')
awk -v b="$last" 'BEGIN { exit !(b < 1.0) }' && ok || bad "LoRA val loss $last"
np=$("$GPTC" info "$T/ad.gguf" | sed -n 's/.* tensors, \([0-9]*\) parameters.*/\1/p'); nb=$("$GPTC" info "$M" | sed -n 's/.* tensors, \([0-9]*\) parameters.*/\1/p')
[ -n "$np" ] && [ -n "$nb" ] && [ $((np * 20)) -lt "$nb" ] && ok || bad "LoRA trains $np of $nb parameters"
"$GPTC" info "$T/ad.gguf" > "$T/info" 2>&1
grep -q 'general.type .*"adapter"' "$T/info" && grep -q 'adapter.type .*"lora"' "$T/info" && grep -q 'adapter.lora.alpha' "$T/info" &&
    grep -q 'blk.4.ffn_up.weight.lora_a' "$T/info" && grep -q 'blk.0.attn_q.weight.lora_b' "$T/info" && ok || bad "adapter keys: $(head -c 600 "$T/info")"
a1=$(echo "Where does Zorblax live?" | "$GPTC" chat "$M" --lora "$T/ad.gguf" --temp 0 -n 24 2> /dev/null)
case "$a1" in *Quenville*) ok;; *) bad "gptc chat --lora does not know the fact: '$a1'";; esac
"$GPTC" merge-lora "$M" "$T/ad.gguf" "$T/merged.gguf" 2> "$T/err" && ok || bad "merge-lora: $(cat "$T/err")"
a2=$(echo "Where does Zorblax live?" | "$GPTC" chat "$T/merged.gguf" --temp 0 -n 24 2> /dev/null)
[ "$a1" = "$a2" ] && ok || bad "--lora and merge-lora answer differently: '$a1' vs '$a2'"
a3=$("$GPTC" run "$M" --lora "$T/ad.gguf:0" -p "Once upon" -n 12 --temp 0 -q 2>&1); a4=$("$GPTC" run "$M" -p "Once upon" -n 12 --temp 0 -q 2>&1)
[ "$a3" = "$a4" ] && ok || bad "--lora FILE:0 changes the model: '$a3' vs '$a4'"
expect_fail "LoRA rank over the matrix" "lora-rank 100 is larger than" "$GPTC" train $FT --data "$T/fact.jsonl" --lora-rank 100 --out "$T/x.gguf"
expect_fail "unknown LoRA target" "unknown target 'attn_z'" "$GPTC" train $FT --data "$T/fact.jsonl" --lora-rank 2 --lora-targets attn_q,attn_z --out "$T/x.gguf"
expect_fail "LoRA without --init" "give it with --init" "$GPTC" train --data "$T/fact.jsonl" --lora-rank 2 --out "$T/x.gguf"
expect_fail "adapter of another model" "lora: adapter 1: 'blk.0.attn_q.weight' has lora_a \\[64, 2\\]" "$GPTC" run "$D/gguf/arch/rand-llama3-d256-F32.gguf" --lora "$T/ad.gguf" -p hi -n 1
expect_fail "a model as adapter" "not a LoRA adapter" "$GPTC" run "$M" --lora "$M" -p hi -n 1

# 3. masked tokens carry no gradient
i=0
while [ $i -lt 40 ]; do
    printf '{"messages":[{"role":"user","content":"Zorblax %d?"},{"role":"assistant","content":"Quenville."}]}\n' $i
    i=$((i + 1))
done > "$T/a.jsonl"
# a trailing user message and a weight-0 assistant reply after the last learned reply
sed 's/]}$/,{"role":"user","content":"And Blip?"},{"role":"assistant","content":"No.","weight":0}]}/' "$T/a.jsonl" > "$T/b.jsonl"
# a different context for the learned reply
sed 's/?"}/? Say."}/' "$T/a.jsonl" > "$T/c.jsonl"
for x in a b c; do
    mkdir "$T/$x"
    "$GPTC" train $FT --data "$T/$x.jsonl" --val-data "$T/a.jsonl" --steps 5 --out "$T/$x/m.gguf" 2> "$T/err" || bad "masked run $x: $(cat "$T/err")"
done
cmp -s "$T/a/m.gguf" "$T/b/m.gguf" && ok || bad "a trailing user message / weight-0 reply changed the weights"
cmp -s "$T/a/m.gguf" "$T/c/m.gguf" && bad "a different user message left the weights unchanged" || ok
# the masked differences are real input: the conversations are longer
[ "$(wc -c < "$T/b.jsonl")" -gt "$(wc -c < "$T/a.jsonl")" ] && ok || bad "b.jsonl is not longer"

# 4. data parallel and batched steps agree on fine-tuning data too (the same weights for any N)
if "$GPTC" train --help | grep -q "built with Open MPI" && command -v mpirun > /dev/null 2>&1; then
    mkdir "$T/w1" "$T/w2"
    "$GPTC" train $FT --data "$T/a.jsonl" --steps 3 --windowed --out "$T/w1/m.gguf" 2> "$T/err" || bad "windowed sft: $(cat "$T/err")"
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 timeout 120 \
        mpirun --oversubscribe --bind-to none -np 2 "$GPTC" train $FT --threads 1 --data "$T/a.jsonl" --steps 3 \
        --out "$T/w2/m.gguf" > "$T/err" 2>&1 || bad "2 ranks sft: $(tail -n 5 "$T/err")"
    cmp -s "$T/w1/m.gguf" "$T/w2/m.gguf" && ok || bad "fine-tuning: 2 ranks differ from 1"
fi

# 5. bad lines: reported by number and skipped, or --strict stops
cp "$T/a.jsonl" "$T/bad.jsonl"
cat >> "$T/bad.jsonl" << 'JSONL'
[1, 2, 3]
{"messages":[{"role":"user","content":"Hi"}]}
{"messages":[{"role":"wizard","content":"Hi"},{"role":"assistant","content":"Hello"}]}
{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello","weight":2}]}
not json at all
{"messages":[{"role":"user","content":"LONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONG"},{"role":"assistant","content":"ok"}]}
JSONL
"$GPTC" train $FT --data "$T/bad.jsonl" --steps 1 --out "$T/bad.gguf" 2> "$T/err"; rc=$?
[ $rc -eq 0 ] && ok || bad "bad lines without --strict: rc=$rc"
for pat in "bad.jsonl:41: not a JSON object" "bad.jsonl:42: no assistant message" "bad.jsonl:43: message 1 has the unknown role 'wizard'" \
    "bad.jsonl:44: message 2: \"weight\" must be 0 or 1" "bad.jsonl:45: not JSON" "bad.jsonl:46: the conversation is [0-9]* tokens, longer than the context (128 + 1)"; do
    grep -q "$pat" "$T/err" && ok || bad "no report '$pat' in: $(cat "$T/err")"
done
expect_fail "--strict" "bad.jsonl:41: not a JSON object" "$GPTC" train $FT --strict --data "$T/bad.jsonl" --steps 1 --out "$T/bad.gguf"
printf '{"messages":[{"role":"user","content":"Hi"}]}\n' > "$T/none.jsonl"
expect_fail "no usable conversation" "no usable conversation" "$GPTC" train $FT --data "$T/none.jsonl" --steps 1 --out "$T/x.gguf"
expect_fail "--init of another architecture" "architecture 'qwen2' cannot be trained" "$GPTC" train --init "$D/gguf/arch/rand-qwen2-d128-F32.gguf" --data "$T/a.jsonl" --out "$T/x.gguf"
expect_fail "--ctx over the model's" "longer than the model's context" "$GPTC" train --init "$M" --ctx 4096 --data "$T/a.jsonl" --out "$T/x.gguf"
expect_fail "sizes with --init" "sizes come from --init" "$GPTC" train --init "$M" --dim 64 --data "$T/a.jsonl" --out "$T/x.gguf"
expect_fail "checkpoint of another model" "was made for another model" "$GPTC" train --resume "$T/a/m.ckpt.gguf" --init "$D/gguf/arch/rand-llama3-d256-F32.gguf" --data "$T/a.jsonl" --out "$T/x.gguf"

summary
