#!/bin/sh
# soak.sh — a bounded mixed-load run of `gptc serve` (issue 10): streaming and plain completions
# and chat, clients that cancel a stream half way, clients that disconnect at once or send half a
# request, clients that stop reading, bad requests, health and metrics polls, all at once for
# DURATION seconds. Then the server must still answer, stop cleanly on SIGTERM (exit 0) and its
# log must hold no sanitizer report. Run it on a sanitized build:
#
#   make CC=clang BUILD=build-san OPT=-O1 SANFLAGS="-fsanitize=address,undefined \
#        -fno-sanitize-recover=all -fno-omit-frame-pointer" build-san/gptc     # as make san builds
#   GPTC=build-san/gptc sh scripts/soak.sh --duration 600                       # ASan + UBSan
#   make CC=clang BUILD=build-tsan OPT=-O1 SANFLAGS="-fsanitize=thread \
#        -fno-omit-frame-pointer" build-tsan/gptc                               # as make tsan builds
#   GPTC=build-tsan/gptc sh scripts/soak.sh --duration 600                      # TSan
#
# Options: --duration S (default 600), --clients N (load threads, default 8), --model FILE
# (default ../shared/data/gguf/stories260K.gguf), --parallel N (server slots, default 4).
# Prints "N passed, N failed" last, like the tests; exit 0 when clean.
GPTC=${GPTC:-build/gptc}
D=${GPTC_DATA:-../shared/data}
DURATION=600
CLIENTS=8
PARALLEL=4
MODEL="$D/gguf/stories260K.gguf"
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --parallel) PARALLEL=$2; shift 2 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
T=$(mktemp -d)
LOG="$T/server.log"
PID=""
trap '[ -n "$PID" ] && kill -9 $PID 2> /dev/null; rm -rf "$T"' EXIT INT TERM
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# sanitizers: report into the log and keep going (a report is a failure of the soak, counted at
# the end); leaks are checked at exit
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:suppressions=$(pwd)/tests/tsan.supp}"

"$GPTC" serve "$MODEL" --host 127.0.0.1 --port 0 --alias soak --parallel "$PARALLEL" \
    --data-dir "$T/data" --write-timeout 3000 --max-conns 64 --max-conns-per-client 0 \
    2> "$LOG" &
PID=$!
PORT=""
i=0
while [ $i -lt 600 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -n 1)
    kill -0 $PID 2> /dev/null || break
    [ -z "$PORT" ] && sleep 0.1
    i=$((i + 1))
done
[ -n "$PORT" ] || { cat "$LOG"; echo "soak.sh: the server did not start"; exit 1; }
echo "soak: server pid $PID on port $PORT, $CLIENTS clients for $DURATION s ($(uptime))"

/usr/bin/python3 - "$PORT" "$DURATION" "$CLIENTS" > "$T/load.out" 2>&1 << 'EOF'
import json, random, socket, sys, threading, time
port, duration, clients = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
end = time.time() + duration
counts = {}
errors = []
lock = threading.Lock()

def note(k):
    with lock:
        counts[k] = counts.get(k, 0) + 1

def conn(timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s

def request(method, path, body=None, extra=""):
    b = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
           "Content-Length: %d\r\nConnection: close\r\n%s\r\n" % (method, path, len(b), extra)
    return head.encode() + b

def read_all(s, limit=1 << 24):
    data = b""
    while len(data) < limit:
        d = s.recv(65536)
        if not d:
            break
        data += d
    return data

def status(data):
    try:
        return int(data.split(b" ", 2)[1])
    except Exception:
        return 0

PROMPTS = ["Once upon a time", "The cat", "Lily and Tom went to the park", "One day, a little"]

def completion(stream):
    body = {"model": "soak", "prompt": random.choice(PROMPTS),
            "max_tokens": random.randint(1, 48), "stream": stream,
            "temperature": random.choice([0, 0.8])}
    s = conn()
    s.sendall(request("POST", "/v1/completions", body))
    data = read_all(s)
    s.close()
    st = status(data)
    if st not in (200, 503, 429):
        errors.append("completion %d %r" % (st, data[:200]))
    if stream and st == 200 and b"[DONE]" not in data:
        errors.append("stream without [DONE]: %r" % data[-200:])
    note("completion_stream" if stream else "completion")

def chat(stream):
    body = {"model": "soak", "messages": [{"role": "user", "content": random.choice(PROMPTS)}],
            "max_tokens": random.randint(1, 32), "stream": stream}
    s = conn()
    s.sendall(request("POST", "/v1/chat/completions", body))
    data = read_all(s)
    s.close()
    st = status(data)
    if st not in (200, 503, 429):
        errors.append("chat %d %r" % (st, data[:200]))
    note("chat_stream" if stream else "chat")

def cancel_stream():
    # read a few events, then close: the server must cancel the request and free the slot
    body = {"model": "soak", "prompt": random.choice(PROMPTS), "max_tokens": 200, "stream": True}
    s = conn()
    s.sendall(request("POST", "/v1/completions", body))
    got = b""
    want = random.randint(1, 2000)
    while len(got) < want:
        d = s.recv(512)
        if not d:
            break
        got += d
    s.close()
    note("cancel")

def disconnect():
    s = conn()
    r = random.random()
    if r < 0.3:
        pass  # connect and go
    elif r < 0.6:  # half a head
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le")
    else:  # the head and half a body
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 80\r\n\r\n{\"prompt\": \"Once")
    time.sleep(random.random() * 0.2)
    if random.random() < 0.5:  # a reset instead of a close
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    note("disconnect")

def slow_reader():
    # a long stream that is never read: the write timeout (3 s here) must cancel it
    body = {"model": "soak", "prompt": "Once", "max_tokens": 400, "stream": True}
    s = conn()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(request("POST", "/v1/completions", body))
    time.sleep(random.uniform(1, 5))
    s.close()
    note("slow_reader")

def bad_request():
    s = conn()
    s.sendall(random.choice([
        request("POST", "/v1/completions", {"prompt": 5}),
        request("POST", "/v1/chat/completions", {"messages": "x"}),
        b"GET /v1/models/x%00y HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 9\r\n\r\n{}",
        b"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n",
        request("POST", "/v1/completions", {"model": "gpt-4o", "prompt": "x"}),
    ]))
    data = read_all(s)
    s.close()
    st = status(data)
    if not (400 <= st < 500) and st != 503:
        errors.append("bad request got %d %r" % (st, data[:200]))
    note("bad")

def poll():
    s = conn()
    s.sendall(random.choice([b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                             b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                             b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]))
    data = read_all(s)
    s.close()
    if status(data) not in (200, 503):
        errors.append("poll %r" % data[:200])
    note("poll")

KINDS = [(lambda: completion(True), 4), (lambda: completion(False), 2), (lambda: chat(True), 3),
         (lambda: chat(False), 1), (cancel_stream, 3), (disconnect, 3), (slow_reader, 1),
         (bad_request, 2), (poll, 2)]
WEIGHTED = [k for k, w in KINDS for _ in range(w)]

def worker(seed):
    random.seed(seed)
    while time.time() < end:
        try:
            random.choice(WEIGHTED)()
        except (ConnectionError, socket.timeout, OSError) as e:
            note("client_error")  # resets on purpose (write timeout, refusals) are expected

threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
last = time.time()
while any(t.is_alive() for t in threads):
    time.sleep(1)
    if time.time() - last >= 60:
        last = time.time()
        with lock:
            print("soak: %.0f s left: %s" % (max(0, end - time.time()), json.dumps(counts)),
                  flush=True)
for t in threads:
    t.join()
print("soak: done: %s" % json.dumps(counts))
for e in errors[:20]:
    print("ERROR:", e)
print("errors: %d" % len(errors))
sys.exit(1 if errors else 0)
EOF
rc=$?
cat "$T/load.out"
[ $rc -eq 0 ] && ok || bad "the load saw unexpected answers"
# still serving, and the slots are free again (a short completion is answered)
out=$(curl -s --max-time 60 "http://127.0.0.1:$PORT/v1/completions" -H 'Content-Type: application/json' -d '{"prompt":"Once","max_tokens":4}')
case "$out" in *'"text"'*) ok ;; *) bad "after the soak: $out" ;; esac
kill -TERM $PID
i=0
while kill -0 $PID 2> /dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $PID 2> /dev/null; then
    bad "the server did not stop within 60 s of SIGTERM"
    kill -9 $PID
fi
wait $PID; src=$?
PID=""
[ $src -eq 0 ] && ok || bad "server exit code $src"
if grep -q -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer" "$LOG"; then
    bad "sanitizer reports: $(grep -c -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer" "$LOG")"
    grep -A 30 -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer" "$LOG" | head -n 120
    [ -n "$SOAK_KEEP_LOG" ] && cp "$LOG" "$SOAK_KEEP_LOG"
else
    ok
fi
echo "soak: server log $(wc -l < "$LOG") lines; $(uptime)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
