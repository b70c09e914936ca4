#!/bin/sh
# bench_train_shakespeare.sh — nanoGPT's CPU "baby" run, char-level on tiny Shakespeare:
# gpt2 arch, 4 layers, 4 heads, dim 128, ctx 64, batch 12, 2000 iterations, cosine lr 1e-3 -> 1e-4
# with 100 warmup steps, AdamW betas 0.9/0.99, weight decay 0.1 (embeddings too, as nanoGPT
# decays every 2-D tensor), clip 1.0, no dropout; validation on the last 10% with 20 batches.
# nanoGPT's README reports validation loss 1.88 for it; this prints ours and the wall time.
#
#   sh bench/bench_train_shakespeare.sh [threads]      (default: all cores)
#
# A benchmark, not a test: `make test` never runs it.
GPTC=${GPTC:-build/gptc}
D=${GPTC_DATA:-../shared/data}
TH=${1:-0}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp "$D/corpora/tinyshakespeare/input.txt" "$T/input.txt"
set -- --data "$T/input.txt" --out "$T/shakespeare.gguf" --preset baby --batch 12 --steps 2000 \
    --lr 1e-3 --min-lr 1e-4 --warmup 100 --beta1 0.9 --beta2 0.99 --wd 0.1 --wd-embeddings \
    --clip 1.0 --eval-every 250 --eval-batches 20 --seed 1337 --log "$T/log.jsonl"
[ "$TH" != 0 ] && set -- "$@" --threads "$TH"
start=$(date +%s.%N)
$GPTC train "$@" || exit 1
end=$(date +%s.%N)
val=$(grep '"val_loss"' "$T/log.jsonl" | tail -n 1 | sed 's/.*"val_loss":\([^}]*\)}.*/\1/')
secs=$(echo "$end - $start" | bc)
echo "tinyshakespeare baby run: val loss $val (nanoGPT reports 1.88), wall time ${secs}s"
$GPTC run "$T/shakespeare.gguf" -p "ROMEO:" -n 200 --seed 1 -q 2>/dev/null
awk -v v="$val" 'BEGIN { exit !(v <= 1.88) }' && echo "goal met: val loss <= 1.88" || echo "goal NOT met: val loss > 1.88"
