# serve.sh — sourced by tests/e2e/test_serve*.sh: start `$GPTC serve` on a free loopback port,
# wait for /health, and always stop it on exit.
#
#   serve_start [serve options...]   sets PORT, URL, SERVER_PID, SERVER_LOG; returns 1 on failure
#   serve_stop                       SIGTERM, wait (bounded), then SIGKILL if needed; sets SERVER_RC
# It sources common.sh first (GPTC, D, T, ok/bad/check/summary); its exit trap also stops the
# server.
. "$(dirname "$0")/lib/common.sh"
MODEL="$D/gguf/stories260K.gguf"
SERVER_PID=""
SERVER_LOG="$T/server.log"
trap 'serve_kill; rm -rf "$T"' EXIT INT TERM

serve_kill() {
    [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

# --port 0: the kernel picks a free port and the server prints it; retried in case the
# start itself fails (a port race cannot happen, but a slow sanitized start may time out).
serve_start() {
    for attempt in 1 2 3; do
        : > "$SERVER_LOG"
        "$GPTC" serve "$MODEL" --host 127.0.0.1 --port 0 --data-dir "${SERVE_DATA:-$T/data}" "$@" 2>"$SERVER_LOG" &
        SERVER_PID=$!
        i=0
        PORT=""
        while [ $i -lt 200 ]; do
            PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SERVER_LOG" | head -n 1)
            [ -n "$PORT" ] && break
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1; i=$((i + 1))
        done
        if [ -n "$PORT" ]; then
            URL="http://127.0.0.1:$PORT"
            i=0
            while [ $i -lt 100 ]; do
                curl -s -o /dev/null --max-time 2 "$URL/health" && return 0
                sleep 0.1; i=$((i + 1))
            done
        fi
        echo "serve_start: attempt $attempt failed:"; cat "$SERVER_LOG"
        serve_kill
    done
    return 1
}

serve_stop() {
    SERVER_RC=""
    [ -z "$SERVER_PID" ] && return
    kill -TERM "$SERVER_PID" 2>/dev/null
    i=0
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        serve_kill
        SERVER_RC=killed
    else
        wait "$SERVER_PID"; SERVER_RC=$?
        SERVER_PID=""
    fi
}
