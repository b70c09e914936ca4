#!/bin/sh
# gptc run --grammar / --json-schema on stories260K: whatever the model says, the output
# matches the grammar; bad grammars and schemas are one "gptc: ..." line and exit 1.
. "$(dirname "$0")/lib/common.sh"
M="$D/gguf/stories260K.gguf"

printf 'root ::= "Once upon a time, " [a-z ]{5,40} "." | "The end."\n' > "$T/g.gbnf"
for seed in 1 2 3 4 5; do
    $GPTC run "$M" -p "Hi" --grammar "$T/g.gbnf" -n 80 -s $seed --no-echo -q > "$T/out.txt" 2>"$T/err.txt"
    rc=$?
    out=$(head -n 1 "$T/out.txt")
    if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -Eqx 'Once upon a time, [a-z ]{5,40}\.|The end\.'; then ok
    else bad "grammar seed $seed: rc=$rc '$out' $(cat "$T/err.txt")"; fi
done

cat > "$T/s.json" <<'J'
{"type":"object","properties":{"name":{"type":"string","maxLength":12},
 "age":{"type":"integer","minimum":1,"maximum":99},"pet":{"enum":["cat","dog"]}},
 "required":["name","age","pet"],"additionalProperties":false}
J
for seed in 1 2 3; do
    $GPTC run "$M" -p "Hi" --json-schema "$T/s.json" -n 200 -s $seed --no-echo -q > "$T/out.txt" 2>"$T/err.txt"
    rc=$?
    if [ $rc -eq 0 ] && python3 -c '
import json,sys
o=json.loads(open(sys.argv[1]).read())
assert list(o)==["name","age","pet"], o
assert isinstance(o["name"],str) and len(o["name"])<=12
assert isinstance(o["age"],int) and 1<=o["age"]<=99
assert o["pet"] in ("cat","dog")' "$T/out.txt" 2>"$T/py.txt"; then ok
    else bad "json schema seed $seed: rc=$rc $(cat "$T/out.txt") $(cat "$T/py.txt" "$T/err.txt")"; fi
done

printf 'root ::= foo\n' > "$T/bad.gbnf"
$GPTC run "$M" -p "Hi" --grammar "$T/bad.gbnf" -n 5 > "$T/out.txt" 2>"$T/err.txt"
rc=$?
if [ $rc -eq 1 ] && grep -q "^gptc: .*undefined rule 'foo'" "$T/err.txt" && [ $(wc -l < "$T/err.txt") -eq 1 ]; then ok
else bad "bad grammar: rc=$rc $(cat "$T/err.txt")"; fi
printf '{"type":"string","format":"email"}' > "$T/bad.json"
$GPTC run "$M" -p "Hi" --json-schema "$T/bad.json" -n 5 > "$T/out.txt" 2>"$T/err.txt"
rc=$?
if [ $rc -eq 1 ] && grep -q "^gptc: .*format" "$T/err.txt"; then ok; else bad "bad schema: rc=$rc $(cat "$T/err.txt")"; fi

# --reasoning-budget: the prompt opened <think>; after N tokens "</think>" is forced
$GPTC run "$M" -p "Once<think>" -n 20 -s 4 --no-echo -q > "$T/free.txt" 2>&1
$GPTC run "$M" -p "Once<think>" -n 20 -s 4 --no-echo -q --reasoning-budget 3 > "$T/b3.txt" 2>&1
$GPTC run "$M" -p "Once<think>" -n 20 -s 4 --no-echo -q --reasoning-budget 0 > "$T/b0.txt" 2>&1
if python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
free, b3, b0 = (open(f"{t}/{n}.txt", encoding="utf-8", errors="replace").read() for n in ("free", "b3", "b0"))
assert "</think>" not in free, free
head, sep, tail = b3.partition("\n</think>\n\n")
assert sep and 0 < len(head) < 40 and free.startswith(head) and "</think>" not in tail, repr(b3)
assert b0.strip().startswith("</think>") and b0.count("</think>") == 1, repr(b0)
PY
then ok; else bad "reasoning budget: $(cat "$T/free.txt" "$T/b3.txt" "$T/b0.txt")"; fi
$GPTC run "$M" -p x --reasoning-budget -2 > "$T/out.txt" 2>"$T/err.txt"
rc=$?
if [ $rc -eq 1 ] && grep -q "^gptc: .*reasoning-budget" "$T/err.txt"; then ok; else bad "bad budget: rc=$rc $(cat "$T/err.txt")"; fi

summary
