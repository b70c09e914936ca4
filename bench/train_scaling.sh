#!/bin/sh
# train_scaling.sh — data-parallel scaling and fine-tuning throughput of `gptc train`
# (docs/train-distributed.md, "Scaling"; docs/finetune.md, "Benchmarks"). `make bench-train`.
#
#   1. GPT-2 124M (gpt2-124m preset, GPT-2's 50257-token vocabulary) at B=4, T=64 on tiny
#      Shakespeare: tokens/s of one process with 2 threads (plain and --windowed, the job's
#      arithmetic) against 2 ranks x 1 thread under mpirun, ZeRO-0 and ZeRO-1; the time each rank
#      spends exchanging gradients and parameters per step (the "comm_ms" of --log) in ms and as
#      a share of the step; and the step time projected for 8 and 64 ranks from the measured
#      exchange cost and the gradient size (the model is in docs/train-distributed.md).
#   2. Fine-tuning throughput on the 110M shape: full vs LoRA r=16 (build/bench/bench_finetune).
#
#   sh bench/train_scaling.sh [steps]      (default 8 steps per run; the first 3 are warm-up)
#
# A benchmark, not a test: `make test` never runs it. It needs ../shared/data (GPTC_DATA) for
# the corpus and the GPT-2 vocabulary, and Open MPI for the 2-rank runs. On a shared machine the
# numbers move with the load, which it prints (uptime) before and after.
GPTC=${GPTC:-build/gptc}
D=${GPTC_DATA:-../shared/data}
STEPS=${1:-8}
SKIP=3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp "$D/corpora/tinyshakespeare/input.txt" "$T/input.txt" || exit 1
VOCAB="$D/gguf/ggml-vocab-gpt-2.gguf"
[ -f "$VOCAB" ] || { echo "train_scaling: $VOCAB is missing"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
COMMON="--data $T/input.txt --tokenizer $VOCAB --preset gpt2-124m --ctx 64 --batch 4 --steps $STEPS
    --warmup 2 --eval-every 0 --ckpt-every 0 --eval-batches 1 -q"
echo "load before: $(uptime)"
echo "cores: $(nproc); GPT-2 124M, B=4, T=64 (256 tokens per step); median of steps $((SKIP + 1))..$STEPS"

# median of a field of the step records of a log after the warm-up steps
med() { # $1 log, $2 field
    grep '"tok_s"' "$1" | awk -v s=$SKIP 'NR > s' | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# tokenize once (the cache is written beside the corpus), so no run pays for it
$GPTC train $COMMON --steps 1 --out "$T/warm.gguf" > /dev/null 2>&1 || {
    echo "train_scaling: gptc train failed:"; $GPTC train $COMMON --steps 1 --out "$T/warm.gguf"; exit 1; }

run1() { # $1 name, rest: extra options
    name=$1; shift
    $GPTC train $COMMON --threads 2 "$@" --out "$T/$name.gguf" --log "$T/$name.jsonl" 2> "$T/$name.err" ||
        { echo "$name failed: $(tail -n 3 "$T/$name.err")"; return 1; }
}
runN() { # $1 name, $2 ranks, rest: extra options
    name=$1; n=$2; shift 2
    timeout 1200 mpirun --oversubscribe --bind-to none -np "$n" $GPTC train $COMMON --threads 1 "$@" \
        --out "$T/$name.gguf" --log "$T/$name.jsonl" > "$T/$name.err" 2>&1 ||
        { echo "$name failed: $(tail -n 3 "$T/$name.err")"; return 1; }
}
run1 p1 || exit 1
run1 w1 --windowed || exit 1
have_mpi=0
if $GPTC train --help | grep -q "built with Open MPI" && command -v mpirun > /dev/null 2>&1; then
    have_mpi=1
    runN r2z0 2 --zero 0 || exit 1
    runN r2z1 2 --zero 1 || exit 1
fi
echo "load after: $(uptime)"
echo
echo "| run | tok/s | step ms | exchange ms per step | exchange share |"
echo "|---|---|---|---|---|"
for r in p1 w1 r2z0 r2z1; do
    [ -f "$T/$r.jsonl" ] || continue
    tok=$(med "$T/$r.jsonl" tok_s)
    comm=$(med "$T/$r.jsonl" comm_ms)
    case $r in
        p1) label="1 process x 2 threads";;
        w1) label="1 process x 2 threads, --windowed";;
        r2z0) label="2 ranks x 1 thread, ZeRO-0";;
        r2z1) label="2 ranks x 1 thread, ZeRO-1";;
    esac
    awk -v l="$label" -v t="$tok" -v c="$comm" 'BEGIN {
        ms = 256 / t * 1000
        if (c == "nan" || c == "") printf "| %s | %.1f | %.0f | - | - |\n", l, t, ms
        else printf "| %s | %.1f | %.0f | %.0f | %.1f%% |\n", l, t, ms, c, 100 * c / ms }'
done
if [ $have_mpi = 1 ]; then
    p=$(med "$T/p1.jsonl" tok_s); r=$(med "$T/r2z0.jsonl" tok_s); c=$(med "$T/r2z0.jsonl" comm_ms)
    awk -v p="$p" -v r="$r" -v c="$c" 'BEGIN {
        printf "\n2 ranks x 1 thread vs 1 process x 2 threads: %+.1f%% tokens/s (goal: lose under 10%%)\n", 100 * (r / p - 1)
        # gradient (and parameter) size: 124.4M floats
        S = 124439808 * 4
        # measured: at N = 2 each rank moves S/2 out and S/2 in for the reduce-scatter and again for
        # the all-gather: 2 (N-1)/N S = S bytes in c ms -> an effective rate per rank
        beta = S / (c / 1000)
        step2 = 256 / r * 1000; comp = step2 - c
        printf "exchange rate measured: %.2f GB/s per rank (%.0f MB moved per step per rank in %.0f ms)\n", beta / 1e9, S / 1e6, c
        printf "projection (weak scaling: each rank keeps B=4, T=64; compute per step %.0f ms as measured):\n", comp
        printf "| ranks | bytes per rank per step | exchange at the measured rate | step | exchange at 100 Gb/s (12.5 GB/s) | step |\n|---|---|---|---|---|---|\n"
        n = split("2 8 64", R, " ")
        for (i = 1; i <= n; i++) {
            N = R[i]; by = 2 * (N - 1) / N * S; t1 = by / beta * 1000; t2 = by / 12.5e9 * 1000
            printf "| %d | %.0f MB | %.0f ms | %.0f ms | %.0f ms | %.0f ms |\n", N, by / 1e6, t1, comp + t1, t2, comp + t2
        }
    }'
fi
echo
echo "== fine-tuning throughput, 110M shape (bench/bench_finetune)"
B=$(dirname "$GPTC")/bench/bench_finetune
[ -x "$B" ] || { echo "build it first: make $B"; exit 1; }
"$B" 2 5
echo "load at the end: $(uptime)"
