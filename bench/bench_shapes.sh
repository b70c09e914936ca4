#!/bin/sh
# bench_shapes.sh — gptc on random-weight files in the shapes of real models (bench_shapes.c):
# prefill (-p 128) and decode (-n 64) tok/s with 1 and 2 threads, at context position 0 and
# 4096 (dense; 8192 for the qwen35 hybrid), next to the bandwidth bound (bytes a token reads:
# an MoE counts its active experts), with resident memory and the machine's load at each run.
# Prints one markdown table (also written to $SHAPES_DIR/results.md). Each file is deleted after
# its runs unless KEEP=1.
#
#   sh bench/bench_shapes.sh [SHAPE[:MIX]...]          (default: every shape bench_shapes knows)
#   env: GPTC (build/gptc), WRITER (build/bench/bench_shapes), SHAPES_DIR (/tmp/gptc-shapes),
#        REPS (3), THREADS ("1 2"), DEPTH (4096), DEPTH_HYBRID (8192),
#        DEPTH_THREADS (threads for the depth runs: $THREADS), DEPTH_MIXES (mixes measured at
#        depth too, e.g. "q4_k_m": all), KEEP (0)
GPTC=${GPTC:-build/gptc}
WRITER=${WRITER:-build/bench/bench_shapes}
DIR=${SHAPES_DIR:-/tmp/gptc-shapes}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
DEPTH=${DEPTH:-4096}
DEPTH_HYBRID=${DEPTH_HYBRID:-8192}
DEPTH_THREADS=${DEPTH_THREADS:-$THREADS}
DEPTH_MIXES=${DEPTH_MIXES:-all}
KEEP=${KEEP:-0}
mkdir -p "$DIR" || exit 1
OUT="$DIR/results.md"
[ $# -eq 0 ] && set -- $("$WRITER" --list | awk '{ n = split($3, m, ","); for (i = 1; i <= n; i++) print $1 ":" m[i] }')

load() { cut -d' ' -f1 /proc/loadavg; }

# Bandwidth once per thread count (gptc bench's probe), passed to every run with --bw.
first=$1
"$WRITER" --dir "$DIR" "$first" > /dev/null || exit 1
f1=$(ls -t "$DIR"/*.gguf | head -1)
for t in $THREADS; do
    bw=$("$GPTC" bench "$f1" -p 0 -n 1 -r 1 -t "$t" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bandwidth_gb_s"])')
    eval "BW_$t=$bw"
done

# llama.cpp (upstream 82bb485, CPU build, llama-bench -p 128 -n 64) on the Llama-3.2-1B and
# stories110M shapes, from issues 15 and 18 (measured on an idle machine of this kind): prefill /
# decode tok/s.
ref() {
    case "$1:$2" in
    llama-3.2-1b:q8_0:1) echo "56 / 11.8" ;;
    llama-3.2-1b:q8_0:2) echo "112 / 22.1" ;;
    llama-3.2-1b:q4_k_m:1) echo "68 / 23.4" ;;
    llama-3.2-1b:q4_k_m:2) echo "124 / 37.1" ;;
    llama-3.2-1b:q4_0:1) echo "114 / 25.1" ;;
    llama-3.2-1b:q4_0:2) echo "214 / 40.9" ;;
    stories-110m:q8_0:1) echo "613 / 178" ;;
    stories-110m:q8_0:2) echo "1169 / 185" ;;
    stories-110m:q4_0:1) echo "1210 / 254" ;;
    stories-110m:q4_0:2) echo "1943 / 259" ;;
    stories-110m:q4_k_m:1) echo "740 / 232" ;;
    stories-110m:q4_k_m:2) echo "1183 / 250" ;;
    *) echo "" ;;
    esac
}

{
    echo "Started $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load at start $(load)."
    for t in $THREADS; do eval "echo \"bandwidth, $t threads: \$BW_$t GB/s\""; done
    echo
    echo "| model | arch | mix | resident | read/token | threads | depth | prefill tok/s | decode tok/s | bound tok/s | % of bound | load (1 min) | llama.cpp prefill / decode |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
} | tee "$OUT"

for sel in "$@"; do
    name=${sel%%:*}
    mix=${sel#*:}
    [ "$sel" = "$first" ] || "$WRITER" --dir "$DIR" "$sel" > /dev/null || { echo "write $sel failed" >&2; continue; }
    up=$(echo "$mix" | tr a-z A-Z)
    f="$DIR/$name-$up.gguf"
    mem=$("$GPTC" info --mem "$f") || { echo "| $name | | $mix | not runnable by gptc | | | | | | | | | |" | tee -a "$OUT"; rm -f "$f"; continue; }
    arch=$(echo "$mem" | sed -n 's/^model: .* (\(.*\))$/\1/p')
    res=$(echo "$mem" | awk '/^resident:/ {printf "%.2f GB", $2 / 1e9}')
    rpt=$(echo "$mem" | awk '/^read per token:/ {printf "%.2f GB", $4 / 1e9}')
    depths="0 $DEPTH"
    case "$arch" in qwen3moe | gpt-oss | qwen35moe) depths=0 ;; qwen35) depths="0 $DEPTH_HYBRID" ;; esac
    case " $DEPTH_MIXES " in *" all "* | *" $mix "*) ;; *) depths=0 ;; esac
    for d in $depths; do
        ths=$THREADS
        [ "$d" != 0 ] && ths=$DEPTH_THREADS
        for t in $ths; do
            eval "bw=\$BW_$t"
            l=$(load)
            json=$("$GPTC" bench "$f" -p 128 -n 64 -d "$d" -t "$t" -r "$REPS" --bw "$bw" --json) || json='{}'
            row=$(echo "$json" | python3 -c 'import json,sys
j = json.load(sys.stdin)
if not j: print("failed | | | |")
else: print("%.1f | %.1f | %.1f | %.0f%%" % (j["prefill_tok_s"], j["decode_tok_s"], j["decode_bound_tok_s"], j["decode_pct_of_bound"]))')
            r=""
            [ "$d" = 0 ] && r=$(ref "$name:$mix" "$t")
            echo "| $name | $arch | $mix | $res | $rpt | $t | $d | $row | $l | $r |" | tee -a "$OUT"
        done
    done
    [ "$KEEP" = 1 ] || rm -f "$f"
done
echo | tee -a "$OUT"
echo "Finished $(date -u '+%Y-%m-%d %H:%M UTC'); load at end $(load)." | tee -a "$OUT"
