#!/bin/sh
# `gptc serve` as a process: options, the startup lines, SIGTERM with requests in flight (they
# finish and are answered, the process exits 0), and the warning for a public address without
# a key. Bad input and the API itself are covered by tests/test_server.c and test_serve_sdk.sh.
. "$(dirname "$0")/lib/serve.sh"

"$GPTC" serve --help | grep -q -- "--api-key" && ok || bad "serve --help"
"$GPTC" serve 2>/dev/null; [ $? -eq 1 ] && ok || bad "serve without a model exits 1"
"$GPTC" serve "$MODEL" --port 99999 2>/dev/null; [ $? -eq 1 ] && ok || bad "bad --port exits 1"
"$GPTC" serve "$MODEL" --host not-an-address --port 0 2>"$T/err"; [ $? -eq 1 ] && grep -q "^gptc: " "$T/err" && ok || bad "bad --host: one gptc: line, exit 1"

# SIGTERM while requests run and wait: all of them complete, the process exits 0
if serve_start --parallel 2 --queue 8 --ctx-seq 1024; then
    grep -q "context 1024 tokens per request (trained [0-9]*), 2048 cells for 2 slots: KV cache [0-9.]* MiB (f16 K, f16 V)" "$SERVER_LOG" && ok || bad "startup context line: $(grep context "$SERVER_LOG")"
    i=0
    while [ $i -lt 6 ]; do
        curl -s --max-time 120 "$URL/v1/completions" -H 'Content-Type: application/json' \
            -d '{"prompt": "Once", "max_tokens": 700, "ignore_eos": true}' > "$T/r$i.json" &
        i=$((i + 1))
    done
    # wait (bounded) until the server is busy, then ask it to stop
    i=0
    while [ $i -lt 200 ]; do
        curl -s "$URL/health" | grep -q '"slots_processing":[12]' && break
        sleep 0.02; i=$((i + 1))
    done
    serve_stop
    wait
    [ "$SERVER_RC" = 0 ] && ok || bad "exit status after SIGTERM: $SERVER_RC"
    done_ok=0
    i=0
    while [ $i -lt 6 ]; do
        grep -q '"completion_tokens":700' "$T/r$i.json" && done_ok=$((done_ok + 1))
        i=$((i + 1))
    done
    [ $done_ok -ge 2 ] && ok || bad "requests in flight at SIGTERM finished: $done_ok of 6"
    grep -q "SIGTERM: finishing" "$SERVER_LOG" && grep -q "stopped" "$SERVER_LOG" && ok || bad "shutdown lines in the log"
else
    bad "server did not start"
fi

# a public address without a key: a warning (the listener is only ever reached on loopback)
"$GPTC" serve "$MODEL" --host 0.0.0.0 --port 0 --data-dir "$T/pub-data" 2>"$T/pub.log" &
P=$!
i=0
while [ $i -lt 100 ] && ! grep -q "listening on" "$T/pub.log"; do sleep 0.1; i=$((i + 1)); done
kill -TERM $P 2>/dev/null; wait $P
grep -q "warning: listening on 0.0.0.0 without an API key" "$T/pub.log" && ok || bad "warning for 0.0.0.0 without a key"

summary
