#!/bin/sh
# gptc's greedy output for prompts of our own, against an independent numpy (float64) llama
# written from the architecture's definition: scripts/llama_ref.py made the fixture by hand.
# Checked for the llama2.c checkpoint, llama.cpp's GGUF of it, and gptc convert's GGUF.
. "$(dirname "$0")/lib/common.sh"
FIX=tests/fixtures/llama_ref_greedy.tsv
$GPTC convert "$D/llama2c/stories260K.bin" "$D/llama2c/tok512.bin" "$T/conv.gguf" 2>/dev/null
while IFS='	' read -r prompt n want; do
    p=$(printf '%b' "$prompt")
    for model in bin gguf conv; do
        case $model in
        bin) got=$($GPTC run "$D/llama2c/stories260K.bin" --tokenizer "$D/llama2c/tok512.bin" -p "$p" -n "$n" --temp 0 -q 2>&1) ;;
        gguf) got=$($GPTC run "$D/gguf/stories260K.gguf" -p "$p" -n "$n" --temp 0 -q 2>&1) ;;
        conv) got=$($GPTC run "$T/conv.gguf" -p "$p" -n "$n" --temp 0 -q 2>&1) ;;
        esac
        # the fixture escapes \n and \ ; gptc ends the text with a blank line
        w=$(printf '%b' "$want")
        if [ "$got" = "$w" ]; then pass=$((pass + 1)); else
            fail=$((fail + 1)); echo "FAIL ($model) '$p'"; printf '  got:  %s\n  want: %s\n' "$got" "$w"; fi
    done
done < "$FIX"
summary
