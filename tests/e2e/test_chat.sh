#!/bin/sh
# End-to-end tests of `gptc template` and of `gptc chat` with stdin not a terminal (one user
# message per line, one reply per message), on stories260K (a GGUF without a chat template:
# ChatML fallback; its vocabulary spells <|im_start|> as plain text, which is fine here).
. "$(dirname "$0")/lib/common.sh"
M="$D/gguf/stories260K.gguf"
export HOME="$T" GPTC_HISTORY="$T/history"
expect() { if eval "$1"; then ok; else bad "$2"; fi; }

# --- gptc template -----------------------------------------------------------------------------
cat > "$T/m1.json" <<'EOF'
[{"role": "user", "content": "Hello, how are you?"}]
EOF
cat > "$T/m3.json" <<'EOF'
[{"role": "system", "content": "You are a helpful assistant."},
 {"role": "user", "content": "Hello, how are you?"},
 {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
 {"role": "user", "content": "I'd like to show off how chat templating works!"}]
EOF
$GPTC template --template chatml --messages "$T/m1.json" --add-generation-prompt > "$T/o1.txt" 2>"$T/e.txt"
expect 'cmp -s "$T/o1.txt" "$D/chat-templates/chatml/user.txt"' "template chatml = Ollama's user.txt"
$GPTC template --template chatml --messages "$T/m3.json" --add-generation-prompt > "$T/o3.txt" 2>"$T/e.txt"
expect 'cmp -s "$T/o3.txt" "$D/chat-templates/chatml/system-user-assistant-user.txt"' "template chatml, four messages"
# the model has no template: ChatML with a one-line warning
$GPTC template "$M" --messages "$T/m1.json" --add-generation-prompt > "$T/o4.txt" 2>"$T/e.txt"
expect 'cmp -s "$T/o4.txt" "$D/chat-templates/chatml/user.txt"' "template MODEL falls back to ChatML"
expect '[ "$(wc -l < "$T/e.txt")" -eq 1 ] && grep -q "no chat template; using ChatML" "$T/e.txt"' "one-line fallback warning"
# a real template file, the model's BOS, a fixed date, a conversation object on stdin
printf '{"messages": [{"role": "user", "content": "Hi"}]}' |
    $GPTC template "$M" --template "$D/chat-templates/real/llama-3.2-3b-instruct.jinja" --messages - \
        --date 2024-07-26 > "$T/o5.txt" 2>"$T/e.txt"
expect 'grep -q "^Today Date: 26 Jul 2024$" "$T/o5.txt" && head -c 3 "$T/o5.txt" | grep -q "<s>"' "real template, --date, model BOS"
GPTC_DATE=2025-01-02 $GPTC template --template "$D/chat-templates/real/llama-3.2-3b-instruct.jinja" --messages "$T/m1.json" > "$T/o6.txt"
expect 'grep -q "^Today Date: 02 Jan 2025$" "$T/o6.txt"' "GPTC_DATE"
# no trailing newline is added; add_generation_prompt off by default
$GPTC template --template chatml --messages "$T/m1.json" > "$T/o7.txt"
printf '<|im_start|>user\nHello, how are you?<|im_end|>\n' > "$T/w7.txt"
expect 'cmp -s "$T/o7.txt" "$T/w7.txt"' "exact output without a generation prompt"
# extra variables
printf '{{ enable_thinking }}|{{ messages|length }}' > "$T/t.jinja"
expect '[ "$($GPTC template --template "$T/t.jinja" --messages "$T/m3.json" --var enable_thinking=false)" = "False|4" ]' "--var"
# errors: exit 1 and one line starting with gptc:
$GPTC template --template "$D/chat-templates/real/gemma-7b-it.jinja" --messages "$T/m3.json" > /dev/null 2>"$T/e.txt"; rc=$?
expect '[ $rc -eq 1 ] && grep -q "^gptc: template: .*System role not supported" "$T/e.txt"' "raise_exception message ($(cat "$T/e.txt"))"
printf '[{"role":' > "$T/bad.json"
$GPTC template --template chatml --messages "$T/bad.json" > /dev/null 2>"$T/e.txt"; rc=$?
expect '[ $rc -eq 1 ] && grep -q "^gptc: .*invalid JSON" "$T/e.txt"' "bad JSON"
printf '{%% if x %%}' > "$T/bad.jinja"
$GPTC template --template "$T/bad.jinja" --messages "$T/m1.json" > /dev/null 2>"$T/e.txt"; rc=$?
expect '[ $rc -eq 1 ] && grep -q "line 1 col" "$T/e.txt"' "template syntax error names the position"
$GPTC template --template nosuch --messages "$T/m1.json" > /dev/null 2>"$T/e.txt"; rc=$?
expect '[ $rc -eq 1 ]' "unknown template name"
$GPTC template --messages "$T/m1.json" > /dev/null 2>"$T/e.txt"; rc=$?
expect '[ $rc -eq 1 ]' "no model and no template"

# --- gptc chat, stdin not a terminal -------------------------------------------------------------
# three messages, a command, and /save: three replies, the conversation in JSON
printf 'Hello there\n/set temp 0\nOnce upon a time\n\nTell me more\n/save %s\n' "$T/c.json" |
    $GPTC chat "$M" --ctx 2048 -n 24 --seed 1 -v > "$T/out.txt" 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ]' "chat exits 0 at the end of input ($(tail -3 "$T/err.txt"))"
expect '[ "$(grep -c "\"role\": \"assistant\"" "$T/c.json")" -eq 3 ] && [ "$(grep -c "\"role\": \"user\"" "$T/c.json")" -eq 3 ]' "three turns saved"
expect 'grep -q "Set parameter .temperature. to .0." "$T/err.txt"' "/set feedback on stderr"
expect '! grep -q "Set parameter" "$T/out.txt"' "stdout holds only replies"
expect '[ "$(grep -c "no chat template; using ChatML" "$T/err.txt")" -eq 1 ]' "ChatML fallback warned once"
# the cache is reused across turns
expect 'grep -q "prompt [0-9]* tokens ([1-9][0-9]* from the cache" "$T/err.txt"' "KV cache reused across turns"
# and reuse changes nothing: the third reply equals a fresh session's on the same history
printf '/load %s\n/clear\n' "$T/c.json" | $GPTC chat "$M" > /dev/null 2>"$T/e2.txt"
expect 'grep -q "Loaded 6 messages" "$T/e2.txt" && grep -q "Cleared the conversation" "$T/e2.txt"' "/load and /clear"
printf 'Hello there\n/set temp 0\nOnce upon a time\n' | $GPTC chat "$M" --ctx 2048 -n 24 --seed 1 > "$T/a.txt" 2>/dev/null
printf 'Hello there\n/set temp 0\nOnce upon a time\n/save %s\n' "$T/two.json" | $GPTC chat "$M" --ctx 2048 -n 24 --seed 1 > /dev/null 2>&1
printf '/load %s\n/set temp 0\nTell me more\n' "$T/two.json" | $GPTC chat "$M" --ctx 2048 -n 24 --seed 1 > "$T/fresh.txt" 2>/dev/null
printf 'Hello there\n/set temp 0\nOnce upon a time\nTell me more\n' | $GPTC chat "$M" --ctx 2048 -n 24 --seed 1 > "$T/long.txt" 2>/dev/null
expect '[ -s "$T/fresh.txt" ] && [ "$(tail -c "$(wc -c < "$T/fresh.txt")" "$T/long.txt")" = "$(cat "$T/fresh.txt")" ]' "reply with a reused cache = reply from scratch"

# a small context: old turns are dropped with a note, never a crash
printf 'one\ntwo\nthree\nfour\nfive\n/save %s\n' "$T/small.json" | $GPTC chat "$M" --ctx 128 -n 40 --seed 2 > "$T/out.txt" 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ] && grep -q "the context is full: dropped the" "$T/err.txt"' "context full: oldest turns dropped ($(tail -2 "$T/err.txt"))"
expect 'grep -q "\"content\": \"five\"" "$T/small.json" && ! grep -q "\"content\": \"one\"" "$T/small.json"' "the newest turns stay"
# a system prompt survives the dropping
printf 'one\ntwo\nthree\nfour\n/save %s\n' "$T/sys.json" | $GPTC chat "$M" --ctx 128 -n 40 --seed 2 --system "Be nice." > /dev/null 2>&1
expect 'grep -q "\"content\": \"Be nice.\"" "$T/sys.json"' "system prompt kept"
# a message longer than the context: an error line, the session goes on
long=$(head -c 3000 /dev/zero | tr '\0' 'a')
printf '%s\nhi\n/save %s\n' "$long" "$T/l.json" | $GPTC chat "$M" --ctx 128 -n 8 > "$T/out.txt" 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ] && grep -q "does not fit in the context" "$T/err.txt" && grep -q "\"content\": \"hi\"" "$T/l.json"' "oversize message refused"
# a template that refuses the conversation: the error, an empty reply line, the session goes on
printf 'hi\n' | $GPTC chat "$M" --chat-template "$D/chat-templates/real/gemma-7b-it.jinja" --system "S" -n 4 > "$T/out.txt" 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ] && grep -q "System role not supported" "$T/err.txt" && [ "$(cat "$T/out.txt")" = "" ] && [ "$(wc -c < "$T/out.txt")" -eq 1 ]' "template error in chat"
# multi-line input, /system, /show, unknown commands, bad /set values, /bye
printf '"""first\nsecond"""\n/system Be brief.\n/show system\n/show parameters\n/nosuch\n/set temp abc\n/set top_k 5\n/bye\nnot read\n/save %s\n' "$T/x.json" |
    $GPTC chat "$M" --ctx 1024 -n 8 > "$T/out.txt" 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ] && [ ! -e "$T/x.json" ]' "/bye leaves"
expect 'grep -q "Be brief." "$T/err.txt" && grep -q "top_k 40" "$T/err.txt"' "/system and /show"
expect 'grep -q "unknown command ./nosuch" "$T/err.txt" && grep -q "not a number" "$T/err.txt" && grep -q "Set parameter .top_k. to .5." "$T/err.txt"' "command errors"
printf '"""a\nb\nc"""\n/save %s\n' "$T/ml.json" | $GPTC chat "$M" --ctx 1024 -n 4 > /dev/null 2>&1
expect 'grep -q "\"content\": \"a\\\\nb\\\\nc\"" "$T/ml.json"' "multi-line message"
# built-in templates by name, and a bad one
printf 'hi\n' | $GPTC chat "$M" --chat-template llama3 -n 4 > /dev/null 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 0 ] && ! grep -q "no chat template" "$T/err.txt"' "--chat-template NAME"
$GPTC chat "$M" --chat-template nosuch < /dev/null > /dev/null 2>"$T/err.txt"; rc=$?
expect '[ $rc -eq 1 ] && grep -q "^gptc: chat: --chat-template" "$T/err.txt"' "unknown --chat-template"
$GPTC chat < /dev/null > /dev/null 2>&1; rc=$?
expect '[ $rc -eq 1 ]' "chat without a model"
# no history file is written when stdin is not a terminal
expect '[ ! -e "$T/history" ]' "no history in pipe mode"

# --- reasoning: DeepSeek-R1-distill's template opens <think> for the reply -----------------------
R1="$D/chat-templates/real/deepseek-r1-distill-qwen-32b.jinja"
printf 'hi\n' | $GPTC chat "$M" --chat-template "$R1" -s 1 -n 40 > "$T/r_free.txt" 2>"$T/e.txt"
printf 'hi\n' | $GPTC chat "$M" --chat-template "$R1" -s 1 -n 40 --reasoning-budget 3 > "$T/r_b3.txt" 2>"$T/e.txt"
# plain when stdout is not a terminal: no tags, no ANSI; with the budget the thinking is the
# first 3 tokens of the free reply, then the answer
expect 'python3 - "$T" <<PY
import sys
t = sys.argv[1]
free = open(t + "/r_free.txt", encoding="utf-8", errors="replace").read()
b3 = open(t + "/r_b3.txt", encoding="utf-8", errors="replace").read()
for x in (free, b3):
    assert "think>" not in x and "\033" not in x, repr(x)
head = b3.split("\n")[0]
assert head and free.startswith(head) and len(head) < len(free.split("\n")[0]) and len(b3) > len(head) + 4, (free, b3)
PY' "chat --reasoning-budget 3: $(cat "$T/r_free.txt" "$T/r_b3.txt")"
# dimmed on a terminal (script gives stdout a pty)
if command -v script > /dev/null; then
    script -qc "printf 'hi\n' | $GPTC chat '$M' --chat-template '$R1' -s 1 -n 12 2>/dev/null" /dev/null > "$T/r_tty.txt"
    expect 'grep -q "$(printf "\033\\[2m")" "$T/r_tty.txt" && grep -q "$(printf "\033\\[0m")" "$T/r_tty.txt"' "chat: thinking dimmed on a terminal: $(od -c "$T/r_tty.txt" | head -3)"
fi
printf 'hi\n' | $GPTC chat "$M" --reasoning-budget x > /dev/null 2>"$T/e.txt"
expect '[ $? -eq 1 ] && grep -q "^gptc: .*reasoning-budget" "$T/e.txt"' "chat: bad --reasoning-budget: $(cat "$T/e.txt")"

summary
