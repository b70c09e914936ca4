#!/bin/sh
# gptc serve: tools through the real chat templates of ../shared/data/chat-templates/real (each
# family's own tool-call format): tool_choice "required" (or a named function) must give
# message.tool_calls whose arguments follow the schema, streamed or not; the reply is sent back
# as an assistant message with tool_calls plus a tool message, which the template must accept;
# and the validation errors of tools, tool_choice, parallel_tool_calls and tool messages.
# stories260K says anything; the grammar makes the calls valid.
. "$(dirname "$0")/lib/serve.sh"
post() { curl -s --max-time 300 -H 'content-type: application/json' -d "$2" "$URL$1"; }
RT="$D/chat-templates/real"

TOOLS='[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":10},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"],"additionalProperties":false}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"enum":["CET","UTC"]}},"required":["tz"]}}}]'
M='"messages":[{"role":"user","content":"Weather in Paris?"}]'
CHECK='m=r["choices"][0]["message"]
calls=m["tool_calls"]
assert len(calls) == 1, m
for c in calls:
    assert c["type"]=="function" and c["id"].startswith("call_"), c
    a=json.loads(c["function"]["arguments"])
    if c["function"]["name"]=="get_weather":
        assert isinstance(a["city"],str) and len(a["city"])<=10 and isinstance(a["days"],int) and 1<=a["days"]<=7, a
    else:
        assert c["function"]["name"]=="get_time" and a["tz"] in ("CET","UTC"), c
assert r["choices"][0]["finish_reason"]=="tool_calls", r["choices"][0]["finish_reason"]
assert m["content"] is None, m'
check_py() { python3 -c "import json,sys
r=json.load(sys.stdin)
$1" 2>"$T/py.txt"; }
# an SSE stream -> the message the deltas assemble, as a non-streamed reply
assemble() { python3 -c "import json,sys
calls={}; content=None; fin=None
for l in open(sys.argv[1]):
    if not l.startswith('data: {'): continue
    d=json.loads(l[6:])
    for ch in d['choices']:
        dl=ch['delta']; fin=ch['finish_reason'] or fin
        if dl.get('content'): content=(content or '')+dl['content']
        for tc in dl.get('tool_calls',[]):
            c=calls.setdefault(tc['index'],{'id':None,'type':'function','function':{'name':None,'arguments':''}})
            if 'id' in tc: c['id']=tc['id']; c['function']['name']=tc['function']['name']
            c['function']['arguments']+=tc['function'].get('arguments','')
if content is not None and not content.strip(): content=None
print(json.dumps({'choices':[{'message':{'content':content,'tool_calls':[calls[k] for k in sorted(calls)]},'finish_reason':fin}]}))" "$1"; }

for tpl in qwen2.5-7b-instruct qwen3-0.6b qwen3.5-4b hermes-3-llama-3.1-8b-tool_use llama-3.2-3b-instruct \
           mistral-nemo-instruct-2407 mistral-small-3.2-24b-instruct-2506 deepseek-r1 deepseek-v3.1 \
           deepseek-v3.2 c4ai-command-r7b-12-2024-tool_use functionary-medium-v3.2 granite-4.0 gpt-oss-120b; do
    if ! serve_start --ctx-seq 6144 --parallel 1 --chat-template "$RT/$tpl.jinja"; then bad "$tpl: server did not start: $(cat "$SERVER_LOG")"; continue; fi
    CHOICE='"required"'
    case $tpl in gpt-oss*|llama-3.2*) CHOICE='{"type":"function","function":{"name":"get_weather"}}' ;; esac
    R=$(post /v1/chat/completions "{$M,\"tools\":$TOOLS,\"tool_choice\":$CHOICE,\"seed\":3,\"max_tokens\":500,\"parallel_tool_calls\":false}")
    if printf '%s' "$R" | check_py "$CHECK"; then ok; else bad "$tpl required: $R $(cat "$T/py.txt")"; fi
    post /v1/chat/completions "{$M,\"tools\":$TOOLS,\"tool_choice\":$CHOICE,\"seed\":4,\"max_tokens\":500,\"parallel_tool_calls\":false,\"stream\":true}" > "$T/sse.txt"
    if assemble "$T/sse.txt" | check_py "$CHECK"; then ok; else bad "$tpl stream: $(head -c 1500 "$T/sse.txt") $(cat "$T/py.txt")"; fi
    # the round trip: the calls and a tool result go back through the template
    MSG=$(printf '%s' "$R" | python3 -c "import json,sys
r=json.load(sys.stdin); m=r['choices'][0]['message']; c=m['tool_calls'][0]
ids={'mistral':'abc123456'}
for k in ids:
    pass
if 'mistral' in sys.argv[1]: c['id']='abc123456'
m['tool_calls']=[c]
print(json.dumps([{'role':'user','content':'Weather in Paris?'},m,{'role':'tool','tool_call_id':c['id'],'content':'{\"temp\": 21}'}]))" "$tpl" 2>/dev/null)
    R2=$(post /v1/chat/completions "{\"messages\":$MSG,\"tools\":$TOOLS,\"tool_choice\":\"none\",\"seed\":5,\"max_tokens\":8}")
    if printf '%s' "$R2" | check_py 'm=r["choices"][0]["message"]; assert isinstance(m["content"],str) and "tool_calls" not in m, m'; then ok; else bad "$tpl round trip: $R2 $(cat "$T/py.txt")"; fi
    serve_stop
done

# chat_template_kwargs and reasoning_effort reach the template (the prompt grows or changes)
ptoks() { printf '%s' "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['usage']['prompt_tokens'])" 2>/dev/null; }
if serve_start --ctx-seq 6144 --parallel 1 --chat-template "$RT/qwen3-0.6b.jinja"; then
    A=$(ptoks "$(post /v1/chat/completions "{$M,\"max_tokens\":1}")")
    B=$(ptoks "$(post /v1/chat/completions "{$M,\"max_tokens\":1,\"chat_template_kwargs\":{\"enable_thinking\":false}}")")
    if [ -n "$A" ] && [ -n "$B" ] && [ "$B" -gt "$A" ]; then ok; else bad "enable_thinking false: $A -> $B tokens"; fi
    serve_stop
else bad "qwen3 server did not start"; fi
if serve_start --ctx-seq 6144 --parallel 1 --chat-template "$RT/gpt-oss-120b.jinja"; then
    A=$(ptoks "$(post /v1/chat/completions "{$M,\"max_tokens\":1,\"reasoning_effort\":\"low\"}")")
    B=$(ptoks "$(post /v1/chat/completions "{$M,\"max_tokens\":1,\"reasoning_effort\":\"high\"}")")
    if [ -n "$A" ] && [ -n "$B" ] && [ "$B" != "$A" ]; then ok; else bad "reasoning_effort low/high: $A / $B tokens"; fi
    # harmony channels without tools: analysis -> reasoning_content, final -> content (a
    # grammar makes stories260K write the reply gpt-oss would), whole and streamed
    H='"grammar":"root ::= \"<|channel|>analysis<|message|>Let me think.<|end|><|start|>assistant<|channel|>final<|message|>Hi there.\""'
    post /v1/chat/completions "{$M,\"max_tokens\":200,$H}" > "$T/h.json"
    if check_py 'm=r["choices"][0]["message"]
assert m["reasoning_content"]=="Let me think." and m["content"]=="Hi there.", m' < "$T/h.json"; then ok; else bad "harmony channels: $(cat "$T/h.json" "$T/py.txt")"; fi
    post /v1/chat/completions "{$M,\"max_tokens\":200,\"stream\":true,$H}" > "$T/h.sse"
    if python3 -c "import json,sys
r=c=''
for l in open(sys.argv[1]):
    if not l.startswith('data: {'): continue
    for ch in json.loads(l[6:])['choices']:
        r+=ch['delta'].get('reasoning_content') or ''; c+=ch['delta'].get('content') or ''
assert r=='Let me think.' and c=='Hi there.', (r, c)" "$T/h.sse" 2> "$T/py.txt"; then ok; else bad "harmony channels streamed: $(cat "$T/py.txt")"; fi
    serve_stop
else bad "gpt-oss server did not start"; fi

# validation, on the model's own template
serve_start --ctx-seq 512 || { echo "server did not start"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
err() { # $1 body, $2 expected code, $3 expected param
    R=$(curl -s -o "$T/e.json" -w '%{http_code}' --max-time 30 -H 'content-type: application/json' -d "$1" "$URL/v1/chat/completions")
    if [ "$R" = 400 ] && python3 -c "import json,sys
e=json.load(open('$T/e.json'))['error']
assert e['code']=='$2', e
assert e['param']=='$3', e" 2>"$T/py.txt"; then ok; else bad "error $2 $3: $R $(cat "$T/e.json") $(cat "$T/py.txt")"; fi
}
F='{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}'
err "{$M,\"tools\":{}}" invalid_type tools
err "{$M,\"tools\":[]}" invalid_value tools
err "{$M,\"tools\":[{\"type\":\"retrieval\"}]}" invalid_value "tools[0].type"
err "{$M,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}" invalid_value "tools[0].function.name"
err "{$M,\"tools\":[{\"type\":\"function\",\"function\":{}}]}" missing_required_parameter "tools[0].function.name"
err "{$M,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]}" invalid_type "tools[0].function.parameters"
err "{$M,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"frob\":1}}]}" unsupported_parameter "tools[0].function.frob"
err "{$M,\"tools\":[$F,$F]}" invalid_value "tools[1].function.name"
err "{$M,\"tools\":[$F],\"tool_choice\":\"always\"}" invalid_value tool_choice
err "{$M,\"tools\":[$F],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}" invalid_value tool_choice
err "{$M,\"tool_choice\":\"required\"}" invalid_value tool_choice
err "{$M,\"tools\":[$F],\"parallel_tool_calls\":\"yes\"}" invalid_type parallel_tool_calls
err "{$M,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}}}],\"tool_choice\":\"required\"}" unsupported_parameter tools
err "{$M,\"tools\":[$F],\"response_format\":{\"type\":\"json_object\"}}" invalid_value response_format
err "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"r\"}]}" missing_required_parameter "messages[1].tool_call_id"
err "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":3}}]}]}" invalid_value "messages[0].tool_calls[0]"
err "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}" invalid_value "messages[0].tool_calls"
err "{$M,\"chat_template_kwargs\":[1]}" invalid_type chat_template_kwargs
err "{$M,\"chat_template_kwargs\":{\"messages\":[]}}" invalid_value chat_template_kwargs.messages
err "{$M,\"reasoning_effort\":\"extreme\"}" invalid_value reasoning_effort
# tool_choice "auto": the calls' grammar waits for the opener (<tool_call> here), which
# stories260K does not write: the reply stays free text (engaging is tested in test_toolcall)
for st in false true; do
    post /v1/chat/completions "{$M,\"tools\":$TOOLS,\"seed\":2,\"max_tokens\":40,\"stream\":$st}" > "$T/auto.txt"
    [ $st = true ] && assemble "$T/auto.txt" > "$T/auto2.txt" && mv "$T/auto2.txt" "$T/auto.txt"
    if check_py 'm=r["choices"][0]["message"]; assert not m.get("tool_calls") and len(m["content"]) > 20 and "{" not in m["content"], m' < "$T/auto.txt"; then ok; else bad "auto stream=$st: $(head -c 800 "$T/auto.txt") $(cat "$T/py.txt")"; fi
done
# tool_choice "none" with tools and response_format: the format applies
R=$(post /v1/chat/completions "{$M,\"tools\":[$F],\"tool_choice\":\"none\",\"response_format\":{\"type\":\"json_object\"},\"max_tokens\":200,\"seed\":1}")
if printf '%s' "$R" | check_py 'm=r["choices"][0]["message"]; assert "tool_calls" not in m and m["content"].startswith("{"), m'; then ok; else bad "none + response_format: $R $(cat "$T/py.txt")"; fi
serve_stop
summary
