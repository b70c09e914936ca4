#!/bin/sh
# `gptc chat` in a real terminal, driven under tmux like a person at the keyboard: the prompt,
# /set, a reply, Ctrl-C during a long reply (the session goes on), Ctrl-C at the prompt,
# history recall with the up arrow, /bye, and history saved across sessions. Every wait polls
# the screen (capture-pane) until what it waits for appears, with a timeout; no fixed sleeps.
. "$(dirname "$0")/lib/common.sh"
SOCK="gptc-test-$$"
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
bad() { fail=$((fail + 1)); echo "FAIL: $*"; echo "--- screen:"; screen | grep -av "^ *$" | tail -n 10; echo "---"; }

if ! command -v tmux > /dev/null; then
    echo "FAIL: tmux is not installed (scripts/deps.sh installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi
abs() { (cd "$(dirname "$1")" && printf '%s/%s' "$(pwd)" "$(basename "$1")"); }
GPTC=$(abs "$GPTC")
M=$(abs "$D/gguf/stories260K.gguf")

S=chat
screen() { tmux -L "$SOCK" capture-pane -p -J -S -1000 -t "$S" 2>/dev/null; }
keys() { tmux -L "$SOCK" send-keys -t "$S" "$@"; }
# wait_for PATTERN [SECONDS]: poll the screen until grep -E finds PATTERN
wait_for() {
    _w=$(( ${2:-20} * 10 ))
    while [ "$_w" -gt 0 ]; do
        screen | grep -aEq -- "$1" && return 0
        sleep 0.1
        _w=$((_w - 1))
    done
    return 1
}
prompts() { screen | grep -ac '^>>>'; }
last_line() { screen | grep -av '^ *$' | tail -n 1; }
# wait_prompts N [SECONDS]: until N prompts are on the screen and the last one is empty
wait_prompts() {
    _p=$(( ${2:-30} * 10 ))
    while [ "$_p" -gt 0 ]; do
        if [ "$(prompts)" -ge "$1" ] && screen | grep -av '^ *$' | tail -n 1 | grep -Eq '^>>> ?$'; then
            return 0
        fi
        sleep 0.1
        _p=$((_p - 1))
    done
    return 1
}

# A long context so that a reply, which this small model never ends by itself at temperature 0,
# lasts long enough to be interrupted.
tmux -L "$SOCK" new-session -d -s chat -x 200 -y 50 \
    "env HOME='$T' GPTC_HISTORY='$T/history' '$GPTC' chat '$M' --ctx 60000 --seed 1; echo GPTC-EXITED-\$?; sleep 600"

wait_for '^>>> ' 30 && ok || bad "no prompt"
wait_for 'no chat template; using ChatML' 1 && ok || bad "no fallback warning"

keys '/set temp 0' Enter
wait_for "^Set parameter 'temperature' to '0'" && ok || bad "/set temp"
keys '/set num_predict 16' Enter
wait_for "^Set parameter 'num_predict' to '16'" && ok || bad "/set num_predict"

# a reply: a new empty prompt comes back, and there is text between the two prompts
wait_prompts 1; n=$(prompts)  # the screen is settled on an empty prompt first
keys 'Hello' Enter
wait_prompts $((n + 1)) && ok || bad "no prompt after the reply"
reply=$(screen | sed -n '/^>>> Hello$/,/^>>> *$/p' | sed '1d;$d' | tr -d '\n ')
[ -n "$reply" ] && ok || bad "empty reply"

# Ctrl-C during a long reply: it stops with a note, the prompt comes back
keys '/set num_predict -1' Enter
wait_for "^Set parameter 'num_predict' to '-1'" && ok || bad "/set num_predict -1"
wait_prompts 1; n=$(prompts)  # the screen is settled on an empty prompt first
keys 'Tell me a long story' Enter
streaming() { screen | sed -n '/^>>> Tell me a long story$/,$p' | sed '1d' | grep -aq '[a-z]'; }
k=300; while [ $k -gt 0 ] && ! streaming; do sleep 0.1; k=$((k - 1)); done
[ $k -gt 0 ] && ok || bad "the reply did not start"
keys C-c
wait_for 'reply stopped: interrupted' && ok || bad "Ctrl-C did not stop the reply"
wait_prompts $((n + 1)) && ok || bad "no prompt after Ctrl-C"
screen | grep -aq 'GPTC-EXITED' && bad "gptc exited on Ctrl-C" || ok

# the session goes on
keys '/set num_predict 8' Enter
wait_for "^Set parameter 'num_predict' to '8'" && ok || bad "/set after Ctrl-C"
keys '/show info' Enter
wait_for 'template chatml' && ok || bad "/show info"
wait_prompts 1; n=$(prompts)  # the screen is settled on an empty prompt first
keys 'Hi again' Enter
wait_prompts $((n + 1)) && ok || bad "no reply after Ctrl-C"

# Ctrl-C at the prompt does not leave
keys C-c
wait_for 'Use Ctrl \+ d or /bye to exit' && ok || bad "Ctrl-C at the prompt"
screen | grep -aq 'GPTC-EXITED' && bad "gptc exited on Ctrl-C at the prompt" || ok

# history: the up arrow brings back the last message (on the current prompt line)
wait_prompts 1; n=$(prompts)  # the screen is settled on an empty prompt first
wait_prompts "$n"
keys Up
k=100; while [ $k -gt 0 ] && [ "$(last_line)" != ">>> Hi again" ]; do sleep 0.1; k=$((k - 1)); done
[ $k -gt 0 ] && ok || bad "up arrow recall"
keys C-c
wait_prompts $((n + 1)) && ok || bad "no prompt after Ctrl-C on a recalled line"

keys '/bye' Enter
wait_for 'GPTC-EXITED-0' 20 && ok || bad "/bye did not leave with status 0"
# (libedit's history format escapes spaces as \040)
grep -q '^Hello$' "$T/history" 2>/dev/null && grep -q 'Tell.*long.*story' "$T/history" && ok || bad "history not saved ($(cat "$T/history" 2>&1 | head -5))"

# a second session sees the history of the first (started before the first one is closed, so
# the tmux server stays up)
S=chat2
tmux -L "$SOCK" new-session -d -s chat2 -x 200 -y 50 \
    "env HOME='$T' GPTC_HISTORY='$T/history' '$GPTC' chat '$M'; echo GPTC-EXITED-\$?; sleep 600"
tmux -L "$SOCK" kill-session -t chat
wait_prompts 1 30 && ok || bad "no prompt (second session)"
keys Up
k=100; while [ $k -gt 0 ] && [ "$(last_line)" != ">>> /bye" ]; do sleep 0.1; k=$((k - 1)); done
[ $k -gt 0 ] && ok || bad "history across sessions"
keys C-c
wait_prompts 2 && ok || bad "no prompt after Ctrl-C (second session)"
keys C-d
wait_for 'GPTC-EXITED-0' 20 && ok || bad "Ctrl-D did not leave"

summary
