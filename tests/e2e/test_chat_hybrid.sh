#!/bin/sh
# `gptc chat` on a hybrid model (lfm2: short convolutions with a recurrent state per sequence)
# with the LFM2.5 chat template: later turns reuse the cache up to the checkpoint saved before
# each prompt's last token, and a reply with a reused cache equals the reply of a fresh session
# on the same history (greedy).
. "$(dirname "$0")/lib/common.sh"
M="$D/gguf/arch/rand-lfm2-d64-F32.gguf"
TPL="$D/chat-templates/real/lfm2.5-instruct.jinja"
export HOME="$T" GPTC_HISTORY="$T/history"
expect() { if eval "$1"; then ok; else bad "$2"; fi; }
if [ ! -r "$M" ] || [ ! -r "$TPL" ]; then echo "  (skipped: $M or $TPL not found)"; echo "0 passed, 0 failed"; exit 0; fi

run() { $GPTC chat "$M" --chat-template "$TPL" --temp 0 --ctx 1024 -n 16 "$@"; }
printf 'Hello there\nOnce upon a time\nTell me more\n' | run -v > "$T/long.txt" 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ] && ! grep -q "^gptc: .*position" "$T/err.txt"' "three turns on lfm2 ($(tail -2 "$T/err.txt"))"
expect '[ "$(grep -c "prompt [0-9]* tokens ([1-9][0-9]* from the cache" "$T/err.txt")" -eq 2 ]' "turns 2 and 3 reuse the cache"
printf 'Hello there\nOnce upon a time\n/save %s\n' "$T/two.json" | run > /dev/null 2>&1
printf '/load %s\nTell me more\n' "$T/two.json" | run > "$T/fresh.txt" 2>/dev/null
expect '[ -s "$T/fresh.txt" ] && [ "$(tail -c "$(wc -c < "$T/fresh.txt")" "$T/long.txt")" = "$(cat "$T/fresh.txt")" ]' "reply with a reused recurrent state = reply from scratch"
# the template renders as the model's own would: BOS, <|im_start|> turns
printf '[{"role": "user", "content": "Hi"}]' > "$T/m.json"
$GPTC template "$M" --template "$TPL" --messages "$T/m.json" --add-generation-prompt > "$T/p.txt" 2>/dev/null
expect 'grep -q "<|im_start|>assistant" "$T/p.txt" && head -c 3 "$T/p.txt" | grep -q "<s>"' "LFM2.5 template renders"

summary
