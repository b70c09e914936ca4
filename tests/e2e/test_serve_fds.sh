#!/bin/sh
# `gptc serve` out of file descriptors (issue 10, defect 3): with `ulimit -n 64` and 100 clients
# connecting, the accept loop backs off instead of spinning, logs about it at most once per
# 10 s, and serves again once the clients leave. Also --max-conns and friends in --help.
. "$(dirname "$0")/lib/serve.sh"

"$GPTC" serve --help | grep -q -- "--max-conns-per-client" && ok || bad "serve --help lists --max-conns-per-client"
"$GPTC" serve --help | grep -q -- "--write-timeout" && ok || bad "serve --help lists --write-timeout"

# the hard limit too, so the server cannot raise it back
( ulimit -n 64; exec "$GPTC" serve "$MODEL" --host 127.0.0.1 --port 0 --data-dir "$T/data" --max-conns 500 \
      --max-conns-per-client 0 2>"$SERVER_LOG" ) &
SERVER_PID=$!
i=0; PORT=""
while [ $i -lt 100 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SERVER_LOG" | head -n 1)
    sleep 0.1; i=$((i + 1))
done
if [ -z "$PORT" ]; then
    bad "server did not start"; cat "$SERVER_LOG"
else
    out=$(python3 - "$PORT" "$SERVER_PID" <<'PY'
import socket, sys, time, os
port, pid = int(sys.argv[1]), sys.argv[2]
def cpu():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
socks = []
for i in range(100):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port)); socks.append(s)
    except OSError:
        s.close()
time.sleep(0.5)
c0 = cpu(); time.sleep(3); c1 = cpu()
for s in socks: s.close()
time.sleep(1.5)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
resp = b""
try:
    while True:
        d = s.recv(4096)
        if not d: break
        resp += d
except OSError:
    pass
print("cpu %.2f status %s" % (c1 - c0, resp.split(b"\r\n", 1)[0].decode(errors="replace")))
PY
)
    echo "test_serve_fds: $out"
    cpu=$(echo "$out" | sed -n 's/^cpu \([0-9.]*\).*/\1/p')
    [ -n "$cpu" ] && awk "BEGIN{exit !($cpu < 0.5)}" && ok || bad "accept loop spins out of fds: $out s of CPU in 3 s"
    echo "$out" | grep -q "status HTTP/1.1 200" && ok || bad "served again after the clients left: $out"
    n=$(grep -c "cannot accept connections" "$SERVER_LOG")
    [ "$n" -ge 1 ] && [ "$n" -le 3 ] && ok || bad "out-of-fds message rate-limited: $n lines"
    serve_stop
    [ "$SERVER_RC" = 0 ] && ok || bad "exit status $SERVER_RC"
fi
summary
