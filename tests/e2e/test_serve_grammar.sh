#!/bin/sh
# gptc serve: response_format (json_object, json_schema), the grammar and json_schema
# extensions, and the 400 unsupported_parameter for fields the server does not implement.
# stories260K says anything; the grammar makes the reply valid.
. "$(dirname "$0")/lib/serve.sh"

serve_start --ctx-seq 512 || { echo "server did not start"; cat "$SERVER_LOG"; echo "0 passed, 1 failed"; exit 1; }

post() { curl -s --max-time 60 -H 'content-type: application/json' -d "$2" "$URL$1"; }

SCHEMA='{"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer","minimum":0,"maximum":120},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2},"when":{"type":"string","format":"date"}},"required":["name","age","tags","when"],"additionalProperties":false}'
check_py() { # $1: python body, reads the reply JSON from stdin as r
    python3 -c "import json,sys
r=json.load(sys.stdin)
$1" 2>"$T/py.txt"
}
VALID='c=json.loads(r["choices"][0]["message"]["content"])
assert list(c)==["name","age","tags","when"], c
assert isinstance(c["name"],str) and len(c["name"])<=6
assert isinstance(c["age"],int) and 0<=c["age"]<=120
assert all(t in ("a","b") for t in c["tags"]) and len(c["tags"])<=2
import re; assert re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", c["when"]), c["when"]
assert r["choices"][0]["finish_reason"]=="stop", r["choices"][0]["finish_reason"]'

for seed in 1 2 3; do
    R=$(post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"seed\":$seed,\"max_tokens\":300,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"strict\":true,\"schema\":$SCHEMA}}}")
    if printf '%s' "$R" | check_py "$VALID"; then ok; else bad "json_schema seed $seed: $R $(cat "$T/py.txt")"; fi
done

R=$(post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"seed\":5,\"max_tokens\":300,\"json_schema\":$SCHEMA,\"user\":\"u1\",\"metadata\":{\"k\":\"v\"}}")
if printf '%s' "$R" | check_py "$VALID"; then ok; else bad "top-level json_schema: $R $(cat "$T/py.txt")"; fi

R=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"seed":7,"max_tokens":200,"response_format":{"type":"json_object"}}')
if printf '%s' "$R" | check_py 'c=r["choices"][0]["message"]["content"]
fr=r["choices"][0]["finish_reason"]
assert fr=="length" or isinstance(json.loads(c),dict), c'; then ok; else bad "json_object: $R $(cat "$T/py.txt")"; fi

R=$(post /v1/completions '{"prompt":"Once","seed":3,"max_tokens":50,"grammar":"root ::= \" upon a \" (\"time\" | \"day\") \".\""}')
if printf '%s' "$R" | check_py 't=r["choices"][0]["text"]
assert t in (" upon a time."," upon a day."), t
assert r["choices"][0]["finish_reason"]=="stop"'; then ok; else bad "completions grammar: $R $(cat "$T/py.txt")"; fi

# streaming: the pieces join to a valid object
curl -s -N --max-time 60 -H 'content-type: application/json' -d "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"seed\":9,\"max_tokens\":300,\"stream\":true,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"schema\":$SCHEMA}}}" "$URL/v1/chat/completions" > "$T/sse.txt"
if python3 -c '
import json,sys
parts=[]
for line in open(sys.argv[1]):
    line=line.strip()
    if not line.startswith("data: ") or line=="data: [DONE]": continue
    d=json.loads(line[6:])
    for ch in d["choices"]:
        parts.append(ch["delta"].get("content") or "")
c=json.loads("".join(parts))
assert list(c)==["name","age","tags","when"]' "$T/sse.txt" 2>"$T/py.txt"; then ok; else bad "stream: $(head -c 600 "$T/sse.txt") $(cat "$T/py.txt")"; fi

# errors
err() { # $1 body, $2 expected code, $3 expected param
    R=$(curl -s -o "$T/e.json" -w '%{http_code}' --max-time 30 -H 'content-type: application/json' -d "$1" "$URL/v1/chat/completions")
    if [ "$R" = 400 ] && python3 -c "import json,sys
e=json.load(open('$T/e.json'))['error']
assert e['code']=='$2', e
assert e['param']=='$3', e" 2>"$T/py.txt"; then ok; else bad "error $2 $3: $R $(cat "$T/e.json") $(cat "$T/py.txt")"; fi
}
M='"messages":[{"role":"user","content":"Hi"}]'
err "{$M,\"frobnicate\":1}" unsupported_parameter frobnicate
err "{$M,\"tools\":[]}" invalid_value tools
err "{$M,\"functions\":[]}" unsupported_parameter functions
err "{$M,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"string\",\"format\":\"email\"}}}}" unsupported_parameter response_format.json_schema.schema
err "{$M,\"response_format\":{\"type\":\"xml\"}}" invalid_value response_format.type
err "{$M,\"grammar\":\"root ::= foo\"}" invalid_value grammar
err "{$M,\"grammar\":\"root ::= \\\"a\\\"\",\"json_schema\":{}}" invalid_value json_schema
grep -q "format" "$T/e.json" 2>/dev/null || true

serve_stop
summary
