#!/bin/sh
# gptc serve --reasoning-budget N: DeepSeek-R1-distill's template opens <think> for the reply;
# after N tokens "</think>" is forced and the answer follows (message.reasoning_content short,
# content present), streamed or not; 0 also tells the template enable_thinking=false (Qwen3's
# template then writes an empty think block into the prompt: more prompt tokens).
. "$(dirname "$0")/lib/serve.sh"
post() { curl -s --max-time 120 -H 'content-type: application/json' -d "$1" "$URL/v1/chat/completions"; }
RT="$D/chat-templates/real"
M='"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":40,"seed":7'
check() { code=$1; shift; python3 -c "import json,sys
$code" "$@" 2>"$T/py.txt"; }

# without a budget the reply thinks for all its tokens; with 3 it thinks 3 and answers
serve_start --ctx-seq 1024 --parallel 1 --chat-template "$RT/deepseek-r1-distill-qwen-32b.jinja" || { echo "server did not start"; exit 1; }
post "{$M}" > "$T/free.json"
serve_stop
serve_start --ctx-seq 1024 --parallel 1 --reasoning-budget 3 --chat-template "$RT/deepseek-r1-distill-qwen-32b.jinja" || { echo "server did not start"; exit 1; }
post "{$M}" > "$T/b3.json"
post "{$M,\"stream\":true}" > "$T/b3.sse"
serve_stop
if check '
free = json.load(open(sys.argv[1]))["choices"][0]["message"]
b3 = json.load(open(sys.argv[2]))["choices"][0]["message"]
assert len(free["reasoning_content"]) > 40 and not (free["content"] or "").strip(), free
r = b3["reasoning_content"].strip()
assert r and free["reasoning_content"].strip().startswith(r) and len(r) < 30, b3
assert len(b3["content"].strip()) > 10 and "think>" not in b3["content"], b3
' "$T/free.json" "$T/b3.json"; then ok; else bad "budget 3: $(cat "$T/free.json" "$T/b3.json") $(cat "$T/py.txt")"; fi
if check '
rs, cs = "", ""
for l in open(sys.argv[1]):
    if not l.startswith("data: {"): continue
    d = json.loads(l[6:])["choices"][0]["delta"]
    rs += d.get("reasoning_content") or ""
    cs += d.get("content") or ""
assert rs.strip() and len(rs.strip()) < 30 and len(cs.strip()) > 10 and "think>" not in cs, (rs, cs)
' "$T/b3.sse"; then ok; else bad "budget 3 streamed: $(head -c 2000 "$T/b3.sse") $(cat "$T/py.txt")"; fi

# 0: enable_thinking false for Qwen3's template
ptoks() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['usage']['prompt_tokens'])" "$1" 2>/dev/null; }
serve_start --ctx-seq 1024 --parallel 1 --chat-template "$RT/qwen3-0.6b.jinja" || { echo "server did not start"; exit 1; }
post "{$M,\"max_tokens\":1}" > "$T/q.json"
serve_stop
serve_start --ctx-seq 1024 --parallel 1 --reasoning-budget 0 --chat-template "$RT/qwen3-0.6b.jinja" || { echo "server did not start"; exit 1; }
post "{$M,\"max_tokens\":1}" > "$T/q0.json"
post "{$M,\"max_tokens\":1,\"chat_template_kwargs\":{\"enable_thinking\":true}}" > "$T/q1.json"
serve_stop
A=$(ptoks "$T/q.json"); B=$(ptoks "$T/q0.json"); C=$(ptoks "$T/q1.json")
if [ -n "$A" ] && [ -n "$B" ] && [ "$B" -gt "$A" ] && [ "$C" = "$A" ]; then ok; else bad "budget 0: prompt tokens $A / $B / $C"; fi
"$GPTC" serve "$MODEL" --reasoning-budget -5 > /dev/null 2>"$T/e.txt"
rc=$?
if [ $rc -eq 1 ] && grep -q "^gptc: .*reasoning-budget" "$T/e.txt"; then ok; else bad "bad budget: rc=$rc $(cat "$T/e.txt")"; fi

summary
