#!/bin/sh
# The web pages: `gptc serve`'s chat page as HTTP (types, gzip, ETag/304, CSP, --no-ui, --ui-dir
# without path traversal, the key on /ui/config.json), `gptc plot`, then the browser tests
# (tests/e2e/node-web/web.mjs: Debian's chromium + playwright-core + axe-core; skipped with a
# notice when chromium or the npm packages are missing). Screenshots go to build/web/.
. "$(dirname "$0")/lib/serve.sh"
hdr() { curl -s -D - -o /dev/null "$@" | tr -d '\r'; }

if serve_start -q; then
    h=$(hdr --compressed "$URL/")
    echo "$h" | grep -q '^HTTP/1.1 200' && ok || bad "GET / is 200: $h"
    echo "$h" | grep -qi '^content-type: text/html; charset=utf-8' && ok || bad "/ is text/html"
    echo "$h" | grep -qi '^content-encoding: gzip' && ok || bad "/ gzip-compressed"
    echo "$h" | grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" && ok || bad "/ has a strict CSP"
    curl -s "$URL/" | grep -q '<script src="chat.js"' && ok || bad "plain body without Accept-Encoding"
    hdr --compressed "$URL/chat.js" | grep -qi '^content-type: text/javascript' && ok || bad "chat.js type"
    hdr --compressed "$URL/style.css" | grep -qi '^content-type: text/css' && ok || bad "style.css type"
    etag=$(hdr "$URL/md.js" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
    [ -n "$etag" ] && ok || bad "md.js has an ETag"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/md.js")
    [ "$code" = 304 ] && ok || bad "If-None-Match gets 304, not $code"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "other"' "$URL/md.js")
    [ "$code" = 200 ] && ok || bad "another ETag gets 200, not $code"
    # nothing but the page's own files: no traversal, no hidden files, no API path
    for p in "/../Makefile" "/..%2fMakefile" "/%2e%2e/Makefile" "/.hidden" "/web/index.html" "/index.html/x" "/nope.js"; do
        code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL$p")
        [ "$code" = 404 ] && ok || bad "GET $p is 404, not $code"
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/index.html")
    [ "$code" = 405 ] && ok || bad "POST a page is 405, not $code"
    curl -s "$URL/ui/config.json" | grep -q '"model":"stories260K.gguf","n_ctx":' && ok || bad "ui/config.json"
    curl -s "$URL/metrics" | grep -q '^gptc_requests_cancelled_total 0' && ok || bad "metrics: cancelled counter"
    serve_stop
else bad "server did not start"; fi

# with a key: the files are public (the page asks for the key), /ui/config.json and the API are not
if serve_start -q --api-key k123; then
    code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/")
    [ "$code" = 200 ] && ok || bad "with a key: the page is public, got $code"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/ui/config.json")
    [ "$code" = 401 ] && ok || bad "with a key: ui/config.json needs it, got $code"
    curl -s -H 'Authorization: Bearer k123' "$URL/ui/config.json" | grep -q '"auth":true' && ok || bad "ui/config.json with the key"
    serve_stop
else bad "server with a key did not start"; fi

# --no-ui: the API only
if serve_start -q --no-ui; then
    code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/")
    [ "$code" = 404 ] && ok || bad "--no-ui: / is 404, not $code"
    curl -s "$URL/health" | grep -q '"ok"' && ok || bad "--no-ui: the API still works"
    serve_stop
else bad "server --no-ui did not start"; fi

# --ui-dir: files from a directory, nothing outside it (not even through a symlink)
mkdir -p "$T/ui" && echo '<p>mine</p>' > "$T/ui/index.html" && echo 'secret' > "$T/secret.txt"
ln -s "$T/secret.txt" "$T/ui/link.txt"
if serve_start -q --ui-dir "$T/ui"; then
    curl -s "$URL/" | grep -q 'mine' && ok || bad "--ui-dir serves its index.html"
    hdr "$URL/" | grep -qi '^content-security-policy:' && ok || bad "--ui-dir: CSP too"
    for p in "/../secret.txt" "/..%2fsecret.txt" "/link.txt" "/chat.js"; do
        code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL$p")
        [ "$code" = 404 ] && ok || bad "--ui-dir: GET $p is 404, not $code"
    done
    serve_stop
else bad "server --ui-dir did not start"; fi
"$GPTC" serve "$MODEL" --port 0 --ui-dir "$T/none" 2> "$T/err"; [ $? -eq 1 ] && grep -q "^gptc: .*--ui-dir" "$T/err" && ok || bad "--ui-dir missing: one gptc: line"
"$GPTC" serve "$MODEL" --port 0 --train-ui "javascript:x" 2> "$T/err"; [ $? -eq 1 ] && grep -q "^gptc: .*--train-ui" "$T/err" && ok || bad "--train-ui not http: refused"

# gptc plot: SVG from a log; PNG refused; bad lines named
cat > "$T/l.jsonl" <<'L'
{"config":{"arch":"llama","params":35104,"steps":4}}
{"step":1,"loss":5.5,"lr":0.001,"tok_s":100,"grad_norm":1,"eta_s":3}
{"step":2,"loss":4.0,"lr":0.001,"tok_s":100,"grad_norm":1,"eta_s":2}
{"step":2,"val_loss":4.2}
{"step":3,"loss":3.0,"lr":0.001,"tok_s":100,"grad_norm":1,"eta_s":1}
{"step":2,"loss":3.9,"lr":0.001,"tok_s":100,"grad_norm":1,"eta_s":2}
{"step":4,"sample":"<b>x</b>"}
L
"$GPTC" plot "$T/l.jsonl" -o "$T/loss.svg" 2> "$T/err" && ok || bad "plot: $(cat "$T/err")"
grep -q '^<svg xmlns' "$T/loss.svg" && grep -q 'id="loss"' "$T/loss.svg" && grep -q 'id="val_loss"' "$T/loss.svg" && ok || bad "plot: an SVG with both curves"
[ "$(sed -n 's/.*id="loss"[^>]*points="\([^"]*\)".*/\1/p' "$T/loss.svg" | wc -w)" -eq 3 ] && ok || bad "plot: a repeated step counts once"
"$GPTC" plot "$T/l.jsonl" --log-scale -o "$T/log.svg" 2> /dev/null && grep -q 'log scale' "$T/log.svg" && ok || bad "plot --log-scale"
"$GPTC" plot "$T/l.jsonl" -o "$T/loss.png" 2> "$T/err"; [ $? -eq 1 ] && grep -q '^gptc: plot: PNG output is not supported' "$T/err" && ok || bad "plot: .png refused clearly"
printf '{"step":1,"loss":2}\nnot json\n' > "$T/bad.jsonl"
"$GPTC" plot "$T/bad.jsonl" -o "$T/b.svg" 2> "$T/err"; [ $? -eq 1 ] && grep -q '^gptc: plot: .*bad.jsonl:2: not a JSON object' "$T/err" && ok || bad "plot: a bad line named: $(cat "$T/err")"
printf '{"step":"x","loss":2}\n' > "$T/bad2.jsonl"
"$GPTC" plot "$T/bad2.jsonl" -o "$T/b.svg" 2> "$T/err"; [ $? -eq 1 ] && ok || bad "plot: a non-numeric step refused"
: > "$T/empty.jsonl"
"$GPTC" plot "$T/empty.jsonl" -o "$T/b.svg" 2> "$T/err"; [ $? -eq 1 ] && grep -q 'no loss records' "$T/err" && ok || bad "plot: an empty log refused"

# the browser tests
if ! command -v node > /dev/null 2>&1 || [ ! -d tests/e2e/node-web/node_modules/playwright-core ]; then
    echo "SKIP: browser tests: node or tests/e2e/node-web/node_modules missing (make deps installs them)"
elif [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "SKIP: browser tests: chromium is not installed (apt-get install chromium; make deps does)"
else
    out=$(WEB_SHOTS="${WEB_SHOTS:-$(dirname "$GPTC")/web}" node tests/e2e/node-web/web.mjs 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed/\1/p')
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
    [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && bad "browser tests exited $rc"
fi

summary
