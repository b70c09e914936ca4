#!/bin/sh
# demo.sh — `make demo`: train a small GPT on the Debian fortune cookies for a few minutes on the
# CPU, then let it write new fortunes.
#
#   sh scripts/demo.sh [GPTC]       (make demo builds first and passes build/gptc)
#
# Environment: DEMO_STEPS (default 1500), DEMO_THREADS (default: all cores), FORTUNES_DIR
# (default /usr/share/games/fortunes, from the Debian package `fortunes`).
GPTC=${1:-build/gptc}
STEPS=${DEMO_STEPS:-1500}
DIR=${FORTUNES_DIR:-/usr/share/games/fortunes}
OUT=build/demo
set -e

# 1. the corpus: Debian's fortunes (public quotations and jokes, 431 + thousands of cookies)
if [ ! -d "$DIR" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "demo: installing the Debian package 'fortunes' (the training text)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes > /dev/null 2>&1 ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes > /dev/null; }
    else
        echo "demo: the training text is the Debian package 'fortunes'. Install it with:" >&2
        echo "  sudo apt-get install -y fortunes" >&2
        exit 1
    fi
fi
mkdir -p "$OUT"
: > "$OUT/fortunes.txt.new"
for f in "$DIR"/*; do
    case "$f" in *.dat|*.u8|*.gz) continue;; esac
    [ -f "$f" ] && [ ! -L "$f" ] && cat "$f" >> "$OUT/fortunes.txt.new"
done
# keep the old file (and so its token cache) when nothing changed
if cmp -s "$OUT/fortunes.txt.new" "$OUT/fortunes.txt"; then rm "$OUT/fortunes.txt.new"; else mv "$OUT/fortunes.txt.new" "$OUT/fortunes.txt"; fi
n=$(grep -c '^%$' "$OUT/fortunes.txt" || true)
echo "demo: $(wc -c < "$OUT/fortunes.txt") bytes of fortunes ($n cookies) from $DIR"

# 2. train: llama architecture, dim 128, 4 layers, byte-level tokens, context 128
set -- --data "$OUT/fortunes.txt" --out "$OUT/fortunes.gguf" --preset tiny --steps "$STEPS" \
    --lr 2e-3 --min-lr 2e-4 --warmup 100 --batch 16 --eval-every 500 --sample-every 500 \
    --sample-len 160 --sample-prompt "%
" --log "$OUT/train.jsonl"
[ -n "$DEMO_THREADS" ] && set -- "$@" --threads "$DEMO_THREADS"
echo "demo: $GPTC train $*"
"$GPTC" train "$@"

# 3. new fortunes: each sampled after a "%" separator, up to the next one
echo
echo "demo: three new fortunes from $OUT/fortunes.gguf:"
for seed in 1 2 3; do
    echo "---"
    printf '%%\n' > "$OUT/prompt.txt"
    "$GPTC" run "$OUT/fortunes.gguf" -f "$OUT/prompt.txt" -n 400 --temp 0.8 --seed $seed --no-echo -q 2> /dev/null |
        awk '/^%$/ { exit } { print }'
done
echo "---"
echo
echo "demo: next, try"
next() { printf '  %-72s # %s\n' "$1" "$2"; }
next "$GPTC run $OUT/fortunes.gguf -p \"The \" -n 200" "more text"
next "$GPTC chat $OUT/fortunes.gguf" "interactive"
next "$GPTC serve $OUT/fortunes.gguf --port 8080" "OpenAI-compatible API"
next "$GPTC train --data FILE.txt --out my.gguf" "your own text (gptc train --help)"
next "$GPTC train --resume $OUT/fortunes.ckpt.gguf --data $OUT/fortunes.txt --out $OUT/fortunes.gguf --steps 3000" "keep training"
