#!/bin/sh
# gptc run --spec (docs/speculative.md) on stories260K: greedy text byte-identical with and
# without speculation on 20 prompts, with prompt lookup and with a draft model (stories260K as
# its own draft, and a random-weight model of the same vocabulary, whose drafts are all wrong);
# bad options are one "gptc: ..." line and exit 1.
. "$(dirname "$0")/lib/serve.sh" # common.sh, and serve_start / serve_stop
M="$D/gguf/stories260K.gguf"
R="$D/gguf/arch/rand-llama3-d256-F32.gguf"

i=0
while IFS= read -r P; do
    i=$((i + 1))
    $GPTC run "$M" -p "$P" --temp 0 -n 100 -t 1 -q > "$T/none.txt" 2>"$T/err.txt" ||
        bad "prompt $i: plain run failed: $(cat "$T/err.txt")"
    for opt in "--spec lookup" "--spec lookup --spec-ngram 1 --spec-n 3" "--draft $M" \
        "--spec draft --draft $R --spec-n 2"; do
        # shellcheck disable=SC2086
        if $GPTC run "$M" -p "$P" --temp 0 -n 100 -t 1 -q $opt > "$T/spec.txt" 2>"$T/err.txt" &&
            cmp -s "$T/none.txt" "$T/spec.txt"; then ok
        else bad "prompt $i ($P) $opt: the text differs or the run failed: $(cat "$T/err.txt")"; fi
    done
done <<'P'
Once upon a time
Lily and Ben went to the park. Lily and Ben
The cat sat on the mat. The dog sat on the
Tom had a red ball. He liked the red ball. One day the red
She said, "I am happy." He said, "I am
There was a big tree in the garden
The little bird could not fly
Mom made a cake for Sue. Sue ate the cake. Mom made a
One day, a boy named Tim found a box
The sun was hot and the sky was blue
Anna liked to draw. She drew a cat, a dog and a
Max was a good dog. Max was
The fish swam in the water. The fish
Sara and her mom went to the store to buy
It was a rainy day
Bob the bear was hungry. He looked for honey. Bob the bear
Once there was a girl who loved flowers
The toy car was fast. The toy car
Ben was sad because his toy was broken
A B C A B C A B
P
check "$i" 20 "20 prompts read"

# the timings line reports the drafts
$GPTC run "$M" -p "Lily and Ben went to the park. Lily and Ben" --temp 0 -n 60 --spec lookup \
    > /dev/null 2>"$T/err.txt"
if grep -Eq 'spec lookup: [0-9]+/[0-9]+ drafts accepted \([0-9.]+%\), [0-9.]+ tok/pass' "$T/err.txt"; then ok
else bad "timings line: $(cat "$T/err.txt")"; fi

# gptc chat: two turns, the replies identical with drafts (the second turn reuses the cache)
printf 'Lily and Ben went to the park. Lily and Ben\nTell me more about Ben\n' > "$T/turns.txt"
$GPTC chat "$M" --temp 0 -n 60 -t 1 < "$T/turns.txt" > "$T/c_none.txt" 2>/dev/null
for opt in "--spec lookup" "--draft $M"; do
    # shellcheck disable=SC2086
    $GPTC chat "$M" --temp 0 -n 60 -t 1 -v $opt < "$T/turns.txt" > "$T/c_spec.txt" 2>"$T/c_err.txt"
    if [ -s "$T/c_none.txt" ] && cmp -s "$T/c_none.txt" "$T/c_spec.txt" &&
        grep -q 'drafts accepted' "$T/c_err.txt"; then ok
    else bad "chat $opt: the replies differ or no draft statistics: $(cat "$T/c_err.txt")"; fi
done

# bad options: one line, exit 1
expect_err() { # WANT ARGS...
    want=$1
    shift
    "$GPTC" "$@" > "$T/o.txt" 2> "$T/e.txt"
    rc=$?
    # one error line (serve may log a line before it)
    if [ $rc -eq 1 ] && [ "$(grep -c '^gptc: ' "$T/e.txt")" -eq 1 ] && grep -q "^gptc: .*$want" "$T/e.txt"; then ok
    else bad "$* -> rc $rc: $(cat "$T/e.txt") (want '$want')"; fi
}
expect_err "'bogus' is not one of lookup, draft, none" run "$M" -p x --spec bogus
expect_err "spec-n" run "$M" -p x --spec lookup --spec-n 0
expect_err "spec-ngram" run "$M" -p x --spec lookup --spec-ngram 99
expect_err "needs a draft model" run "$M" -p x --spec draft
expect_err "not --spec lookup" run "$M" -p x --spec lookup --draft "$M"
expect_err "not --spec none" run "$M" -p x --spec none --draft "$M"
expect_err "vocabulary has 32000 tokens" run "$M" -p x --draft "$D/gguf/llama-2-tiny-random.gguf"
expect_err "not supported for lfm2 models" run "$D/gguf/arch/rand-lfm2-d64-F32.gguf" -p x --spec lookup
expect_err "not supported for qwen35 models" run "$D/gguf/arch/rand-qwen35-d128-F32.gguf" -p x --spec lookup
expect_err "" run "$M" -p x --draft /nonexistent.gguf
expect_err "not supported for lfm2 models" chat "$D/gguf/arch/rand-lfm2-d64-F32.gguf" --spec lookup
expect_err "not supported for lfm2 models" serve "$D/gguf/arch/rand-lfm2-d64-F32.gguf" --port 0 \
    --data-dir "$T/d" --spec lookup
expect_err "vocabulary has 32000 tokens" serve "$M" --port 0 --data-dir "$T/d" \
    --draft "$D/gguf/llama-2-tiny-random.gguf"

# gptc serve --spec lookup --draft MODEL: requests use lookup unless they ask for the draft
# model; the text is the plain text; /metrics counts the drafts
if serve_start --spec lookup --draft "$M" -t 1; then
    for mode in none lookup draft; do
        curl -s "$URL/v1/completions" -H 'Content-Type: application/json' \
            -d "{\"prompt\": \"Lily and Ben went to the park. Lily and Ben\", \"max_tokens\": 60, \"temperature\": 0, \"speculative\": \"$mode\"}" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])' > "$T/s_$mode.txt"
    done
    if [ -s "$T/s_none.txt" ] && cmp -s "$T/s_none.txt" "$T/s_lookup.txt" && cmp -s "$T/s_none.txt" "$T/s_draft.txt"; then ok
    else bad "serve: texts differ: $(cat "$T/s_none.txt") / $(cat "$T/s_lookup.txt") / $(cat "$T/s_draft.txt")"; fi
    acc=$(curl -s "$URL/metrics" | sed -n 's/^gptc_spec_accepted_tokens_total \([0-9]*\)$/\1/p')
    if [ "${acc:-0}" -gt 0 ]; then ok; else bad "serve: /metrics accepted drafts '$acc'"; fi
    serve_stop
else
    bad "serve --spec lookup --draft did not start"
fi
summary
