#!/bin/sh
# gptc embed and /v1/embeddings on an embedding model (bert): the vectors against llama.cpp's
# (../shared/data/gguf/arch/reference/rand-bert-d128-F32.*), generation refused with a clear
# error, bad input.
. "$(dirname "$0")/lib/serve.sh"
B="$D/gguf/arch/rand-bert-d128-F32.gguf"
R="$D/gguf/arch/reference"
PY=/usr/bin/python3

# the CLI, raw (TSV) against llama.cpp's default-run embedding, normalised (JSON) against
# llama-embedding's output
"$GPTC" embed "$B" "Once upon a time" --format tsv > "$T/raw.tsv" 2>"$T/err" || bad "embed tsv: $(cat "$T/err")"
"$GPTC" embed "$B" "Once upon a time" "a second input" --normalize > "$T/unit.json" 2>"$T/err" || bad "embed json: $(cat "$T/err")"
out=$($PY - "$T/raw.tsv" "$R/rand-bert-d128-F32.embd.tsv" "$T/unit.json" "$R/rand-bert-d128-F32.embedding.json" <<'PYEOF'
import json, sys
raw = [float(x) for x in open(sys.argv[1]).read().split()]
ref = [float(l.split("\t")[1]) for l in open(sys.argv[2]) if not l.startswith("#")]
got = json.load(open(sys.argv[3]))
want = json.load(open(sys.argv[4]))["data"][0]["embedding"]
d1 = max(abs(a - b) for a, b in zip(raw, ref))
u = got["data"][0]["embedding"]
d2 = max(abs(a - b) for a, b in zip(u, want))
n2 = sum(x * x for x in got["data"][1]["embedding"])
print(len(raw), len(got["data"]), got["usage"]["prompt_tokens"], "%.1e" % d1, "%.1e" % d2,
      int(d1 < 2e-3), int(d2 < 2e-4), int(abs(n2 - 1) < 1e-5), got["object"])
PYEOF
)
set -- $out
[ "$1" = 128 ] && ok || bad "tsv has 128 values ($out)"
[ "$2" = 2 ] && ok || bad "json has 2 vectors ($out)"
[ "$6" = 1 ] && ok || bad "raw embedding within 2e-3 of llama.cpp's ($4)"
[ "$7" = 1 ] && ok || bad "normalised embedding within 2e-4 of llama-embedding's ($5)"
[ "$8" = 1 ] && ok || bad "second vector has unit length ($out)"
[ "$9" = list ] && ok || bad "json object is a list ($out)"

# inputs from a file and from stdin give the same vectors as arguments
printf 'Once upon a time\n\na second input\n' > "$T/in.txt"
"$GPTC" embed "$B" -f "$T/in.txt" --normalize > "$T/file.json" 2>&1
cmp -s "$T/file.json" "$T/unit.json" && ok || bad "-f FILE equals TEXT arguments"
"$GPTC" embed "$B" --normalize < "$T/in.txt" > "$T/stdin.json" 2>&1
cmp -s "$T/stdin.json" "$T/unit.json" && ok || bad "stdin equals TEXT arguments"

# bad input: one line, exit 1
expect_fail() {
    what=$1; shift
    "$@" > "$T/out" 2>"$T/err"; rc=$?
    n=$(wc -l < "$T/err")
    if [ $rc -eq 1 ] && [ "$n" -eq 1 ] && grep -q "$what" "$T/err"; then ok; else
        bad "'$*': want one line with '$what' and exit 1, got rc=$rc: $(head -c 300 "$T/err")"; fi
}
expect_fail "embedding model" "$GPTC" run "$B" -p "hi"
expect_fail "embedding model" "$GPTC" chat "$B"
expect_fail "embedding model" "$GPTC" bench "$B"
expect_fail "no model given" "$GPTC" embed
expect_fail "json or tsv" "$GPTC" embed "$B" x --format xml
expect_fail "not both" "$GPTC" embed "$B" x -f "$T/in.txt"
: > "$T/empty.txt"
expect_fail "no input" "$GPTC" embed "$B" -f "$T/empty.txt"
expect_fail "No such file" "$GPTC" embed "$B" -f "$T/missing.txt"
expect_fail "unknown option" "$GPTC" embed "$B" x --pool cls
$PY -c "print(' '.join(['once'] * 600))" > "$T/long.txt"
expect_fail "tokens;" "$GPTC" embed "$B" -f "$T/long.txt"

# the server: /v1/embeddings equals the CLI's normalised vector; generation is a 400
MODEL="$B"
if serve_start --parallel 2; then
    r=$(curl -s "$URL/v1/embeddings" -H 'Content-Type: application/json' \
        -d '{"input": ["Once upon a time", "a second input"]}')
    v=$(printf '%s' "$r" | $PY -c "
import json, sys
got = json.load(sys.stdin); cli = json.load(open('$T/unit.json'))
d = max(abs(a - b) for k in range(2) for a, b in zip(got['data'][k]['embedding'], cli['data'][k]['embedding']))
print(len(got['data']), got['usage']['prompt_tokens'], int(d < 1e-5))" 2>&1)
    [ "$v" = "2 $(grep -o '"prompt_tokens": [0-9]*' "$T/unit.json" | grep -o '[0-9]*$') 1" ] && ok || bad "server embeddings equal the CLI's ($v; $r)"
    code=$(curl -s -o "$T/chat.json" -w '%{http_code}' "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
        -d '{"messages": [{"role": "user", "content": "hi"}]}')
    [ "$code" = 400 ] && grep -q model_not_supported "$T/chat.json" && ok || bad "chat on an embedding model: 400 ($code $(cat "$T/chat.json"))"
    code=$(curl -s -o "$T/long.json" -w '%{http_code}' "$URL/v1/embeddings" -H 'Content-Type: application/json' \
        -d "{\"input\": \"$(cat "$T/long.txt")\"}")
    [ "$code" = 400 ] && grep -q context_length_exceeded "$T/long.json" && ok || bad "too long input: 400 ($code $(head -c 200 "$T/long.json"))"
    serve_stop
else
    bad "server did not start: $(tail -n 3 "$SERVER_LOG")"
fi
summary
