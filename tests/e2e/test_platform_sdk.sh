#!/bin/sh
# Files and Batches (and the Responses/Anthropic endpoints) of `gptc serve` with the official
# `openai` and `@anthropic-ai/sdk` npm packages, unchanged (tests/e2e/node-platform), against
# the server on loopback with stories260K and a fresh data directory.
. "$(dirname "$0")/lib/serve.sh"
NODE_DIR=tests/e2e/node-platform
if [ ! -d "$NODE_DIR/node_modules/openai" ] || [ ! -d "$NODE_DIR/node_modules/@anthropic-ai/sdk" ]; then
    echo "test_platform_sdk: npm ci --prefix $NODE_DIR"
    npm ci --prefix "$NODE_DIR" --no-audit --no-fund >"$T/npm.log" 2>&1 || cat "$T/npm.log"
fi
if ! command -v node >/dev/null || [ ! -d "$NODE_DIR/node_modules/openai" ]; then
    echo "FAIL: node or the npm packages are missing (run scripts/deps.sh)"
    echo "0 passed, 1 failed"; exit 1
fi
KEY="sk-gptc-platform-$$"
run_node() { # script [env...]
    s=$1; shift
    env GPTC_BASE_URL="$URL/v1" GPTC_API_KEY="$KEY" GPTC_MODEL_ID=stories GPTC_URL="$URL" "$@" \
        timeout 400 node "$NODE_DIR/$s" > "$T/node.out" 2>&1
    rc=$?
    cat "$T/node.out"
    p=$(grep -c '^ok - ' "$T/node.out"); f=$(grep -c '^not ok - ' "$T/node.out")
    pass=$((pass + p)); fail=$((fail + f))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL: node $s exited $rc"; fail=$((fail + 1)); fi
}
if ! serve_start --api-key "$KEY" --alias stories --parallel 4 --ctx-seq 512; then
    echo "0 passed, 1 failed"; exit 1
fi
run_node batches.mjs
if [ -f "$NODE_DIR/responses.mjs" ]; then
    run_node responses.mjs GPTC_PHASE=before GPTC_STATE_FILE="$T/resp.json"
    serve_stop
    [ "$SERVER_RC" = 0 ] && pass=$((pass + 1)) || { echo "FAIL: server exit $SERVER_RC"; fail=$((fail + 1)); }
    # the same data directory: stored responses survive the restart
    serve_start --api-key "$KEY" --alias stories --parallel 4 --ctx-seq 512 || { echo "$pass passed, $((fail + 1)) failed"; exit 1; }
    run_node responses.mjs GPTC_PHASE=after GPTC_STATE_FILE="$T/resp.json"
fi
if [ -f "$NODE_DIR/anthropic.mjs" ]; then run_node anthropic.mjs; fi

# bad input over raw HTTP
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
H="Authorization: Bearer $KEY"
code() { curl -s -o "$T/body" -w '%{http_code}' -H "$H" "$@"; }
[ "$(code --path-as-is "$URL/v1/files/../gptc.db")" = 404 ] && ok || bad "raw ../ in a file id"
[ "$(code --path-as-is "$URL/v1/files/file-..%2F..%2Flock/content")" = 404 ] && ok || bad "%2F in a file id"
[ "$(code "$URL/v1/files/file-nothere/content")" = 404 ] && ok || bad "unknown file content"
[ "$(code -X POST "$URL/v1/batches/batch_nothere/cancel")" = 404 ] && ok || bad "cancel an unknown batch"
[ "$(code -X POST -H 'Content-Type: application/json' -d '{}' "$URL/v1/files")" = 400 ] && ok || bad "a non-multipart upload"
[ "$(code -F purpose=batch "$URL/v1/files")" = 400 ] && grep -q '"param":"file"' "$T/body" && ok || bad "an upload without a file"
[ "$(code -F "file=@$NODE_DIR/package.json" "$URL/v1/files")" = 400 ] && grep -q '"param":"purpose"' "$T/body" && ok || bad "an upload without a purpose"
[ "$(code -H 'Content-Type: application/json' -d '{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"1h"}' "$URL/v1/batches")" = 400 ] && grep -q completion_window "$T/body" && ok || bad "completion_window 1h"
[ "$(code -H 'Content-Type: application/json' -d '{"input_file_id":"file-x","endpoint":"/v1/moderations","completion_window":"24h"}' "$URL/v1/batches")" = 400 ] && ok || bad "an unknown endpoint"
[ "$(code -H 'Content-Type: application/json' -d '{"input_file_id":"file-nothere","endpoint":"/v1/completions","completion_window":"24h"}' "$URL/v1/batches")" = 404 ] && ok || bad "an unknown input file"
[ "$(code -H 'Content-Type: application/json' -d '{"content":"Once upon a time"}' "$URL/tokenize")" = 200 ] && grep -q '"tokens":\[' "$T/body" && ok || bad "/tokenize"
toks=$(sed 's/.*"tokens":\(\[[^]]*\]\).*/\1/' "$T/body")
[ "$(code -H 'Content-Type: application/json' -d "{\"tokens\":$toks}" "$URL/detokenize")" = 200 ] && grep -q '"content":" \{0,1\}Once upon a time"' "$T/body" && ok || bad "/detokenize gives the text back: $(cat "$T/body")"
[ "$(code -H 'Content-Type: application/json' -d '{"tokens":[-1]}' "$URL/detokenize")" = 400 ] && ok || bad "/detokenize of a bad id"
[ "$(code -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"Hi"}]}' "$URL/apply-template")" = 200 ] && grep -q 'im_start' "$T/body" && ok || bad "/apply-template: $(cat "$T/body")"
[ "$(code -H 'Content-Type: application/json' -d '{"model":"stories","max_tokens":4,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}' "$URL/v1/messages")" = 400 ] && grep -q '"type":"error"' "$T/body" && ok || bad "/v1/messages image block: $(cat "$T/body")"
[ "$(code -H 'Content-Type: application/json' -d '{"model":"stories","messages":[{"role":"user","content":"x"}]}' "$URL/v1/messages")" = 400 ] && grep -q max_tokens "$T/body" && ok || bad "/v1/messages without max_tokens"
[ "$(code -H 'Content-Type: application/json' -d '{"model":"stories","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}' "$URL/v1/responses")" = 400 ] && grep -q unsupported_parameter "$T/body" && ok || bad "/v1/responses function_call_output"
[ "$(code -H 'Content-Type: application/json' -d '{"model":"stories","input":"x","frobnicate":1}' "$URL/v1/responses")" = 400 ] && grep -q frobnicate "$T/body" && ok || bad "/v1/responses unknown field"
if grep -q "$KEY" "$SERVER_LOG"; then echo "FAIL: the API key is in the server log"; fail=$((fail + 1)); else pass=$((pass + 1)); fi
serve_stop
if [ "$SERVER_RC" = 0 ]; then pass=$((pass + 1)); else echo "FAIL: server exit status $SERVER_RC"; tail -n 20 "$SERVER_LOG"; fail=$((fail + 1)); fi
# a file over the cap: 413, nothing left behind
serve_start --api-key "$KEY" --alias stories --max-file-size 2000 >/dev/null || bad "start with a small cap"
head -c 5000 /dev/zero | tr '\0' x > "$T/big.txt"
[ "$(code -F purpose=user_data -F "file=@$T/big.txt" "$URL/v1/files")" = 413 ] && ok || bad "a file over the cap is 413"
head -c 1500 /dev/zero | tr '\0' x > "$T/ok.txt"
[ "$(code -F purpose=user_data -F "file=@$T/ok.txt" "$URL/v1/files")" = 200 ] && ok || bad "a file under the cap"
serve_stop
[ -z "$(ls -A "$T/data/tmp")" ] && ok || bad "an upload over the cap left a temporary"
# a full disk: a small tmpfs as the data directory, filled up, where mount is allowed (root);
# elsewhere (or with GPTC_TEST_ENOSPC_SHIM=1) the LD_PRELOAD shim tests/e2e/lib/enospc.c makes
# every write under the data directory fail with ENOSPC while a flag file exists
FULL="$T/full"; mkdir -p "$FULL"
if [ -z "$GPTC_TEST_ENOSPC_SHIM" ] && mount -t tmpfs -o size=8m tmpfs "$FULL" 2>/dev/null; then
    FULL_MODE=tmpfs
elif ${CC:-cc} -shared -fPIC -o "$T/enospc.so" tests/e2e/lib/enospc.c -ldl 2>"$T/cc.err"; then
    FULL_MODE=shim
else
    FULL_MODE=""; bad "no tmpfs mount and the ENOSPC shim does not build: $(cat "$T/cc.err")"
fi
disk_full() {
    if [ $FULL_MODE = tmpfs ]; then dd if=/dev/zero of="$FULL/filler" bs=64k 2>/dev/null; else : > "$T/enospc.flag"; fi
}
disk_free() { rm -f "$FULL/filler" "$T/enospc.flag"; }
if [ -n "$FULL_MODE" ]; then
    echo "test_platform_sdk: full disk by $FULL_MODE"
    if [ $FULL_MODE = shim ]; then
        export LD_PRELOAD="$T/enospc.so" GPTC_ENOSPC_DIR="$FULL" GPTC_ENOSPC_FLAG="$T/enospc.flag"
    fi
    SERVE_DATA="$FULL"; serve_start --api-key "$KEY" --alias stories --parallel 2 >/dev/null || bad "start on the small disk"
    unset SERVE_DATA LD_PRELOAD GPTC_ENOSPC_DIR GPTC_ENOSPC_FLAG
    # an upload: 507, nothing half-written listed or left
    head -c 100000 /dev/zero | tr '\0' y > "$T/fill.txt"
    disk_full
    st=$(code -F purpose=user_data -F "file=@$T/fill.txt" "$URL/v1/files")
    { [ "$st" = 507 ] || [ "$st" = 500 ]; } && grep -q '"error"' "$T/body" && ok || bad "a full disk: $st $(cat "$T/body")"
    [ "$(code "$URL/v1/files")" = 200 ] && ! grep -q 'fill.txt' "$T/body" && ok || bad "nothing half-written is listed"
    [ -z "$(ls -A "$FULL/tmp")" ] && [ -z "$(ls -A "$FULL/files")" ] && ok || bad "a failed upload left files behind"
    disk_free
    # a batch while the disk fills up: results that cannot be written or committed stay pending
    # and run again once there is room; the output has each custom_id once, every line whole
    python3 -c "
import json
for i in range(200):
    print(json.dumps({'custom_id': f'f{i}', 'method': 'POST', 'url': '/v1/completions',
                      'body': {'model': 'stories', 'prompt': 'Once', 'max_tokens': 64, 'ignore_eos': True}}))" > "$T/full.jsonl"
    fid=$(curl -s -H "$H" -F purpose=batch -F "file=@$T/full.jsonl" "$URL/v1/files" | sed -n 's/.*"id":"\(file-[A-Za-z0-9_-]*\)".*/\1/p')
    bid=$(curl -s -H "$H" -H 'Content-Type: application/json' -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/completions\",\"completion_window\":\"24h\"}" "$URL/v1/batches" | sed -n 's/.*"id":"\(batch_[A-Za-z0-9_-]*\)".*/\1/p')
    k=0
    while [ $k -lt 300 ] && ! { code "$URL/v1/batches/$bid" >/dev/null; grep -q '"completed":[1-9]' "$T/body"; }; do sleep 0.1; k=$((k + 1)); done
    disk_full
    k=0
    while [ $k -lt 300 ] && ! grep -q 'cannot write a result\|cannot commit a result' "$SERVER_LOG"; do sleep 0.1; k=$((k + 1)); done
    grep -q 'cannot write a result\|cannot commit a result' "$SERVER_LOG" && ok || bad "the full disk was not hit while the batch ran: $(cat "$T/body")"
    [ "$(code "$URL/v1/batches/$bid")" = 200 ] && grep -q '"status":"in_progress"' "$T/body" && ok || bad "the batch waits on a full disk: $(cat "$T/body")"
    sleep 1
    disk_free
    k=0
    while [ $k -lt 600 ] && ! { code "$URL/v1/batches/$bid" >/dev/null; grep -q '"status":"completed"' "$T/body"; }; do sleep 0.2; k=$((k + 1)); done
    grep -q '"status":"completed"' "$T/body" && grep -q '"request_counts":{"total":200,"completed":200,"failed":0}' "$T/body" && ok ||
        bad "the batch completes once there is room: $(cat "$T/body")"
    ofid=$(sed -n 's/.*"output_file_id":"\([^"]*\)".*/\1/p' "$T/body")
    code "$URL/v1/files/$ofid/content" >/dev/null
    python3 - "$T/body" <<'PY' && ok || bad "the output after a full disk: each custom_id once, whole lines"
import json, sys
ids = [json.loads(l)["custom_id"] for l in open(sys.argv[1]) if l.strip()]
print("full-disk batch output:", len(ids), "lines,", len(set(ids)), "custom_ids")
sys.exit(0 if len(ids) == 200 == len(set(ids)) else 1)
PY
    serve_stop
    [ -z "$(ls -A "$FULL/tmp")" ] && [ -z "$(ls -A "$FULL/batches")" ] &&
        [ "$(sqlite3 "$FULL/gptc.db" 'PRAGMA integrity_check')" = ok ] &&
        [ "$(sqlite3 "$FULL/gptc.db" 'SELECT count(*) FROM files')" = "$(ls "$FULL/files" | wc -l)" ] && ok ||
        bad "a full disk left files behind or a bad database"
    [ $FULL_MODE = tmpfs ] && umount "$FULL"
fi
# expiry: a 2-second completion window (--batch-window, for tests); requests not run by then
# go to the error file as batch_expired, and the batch ends expired
serve_start --api-key "$KEY" --alias stories --parallel 2 --batch-window 2 >/dev/null || bad "start with a short window"
python3 -c "
import json
for i in range(40):
    print(json.dumps({'custom_id': f'e{i}', 'method': 'POST', 'url': '/v1/completions',
                      'body': {'model': 'stories', 'prompt': 'Once', 'max_tokens': 400, 'ignore_eos': True}}))" > "$T/exp.jsonl"
fid=$(curl -s -H "$H" -F purpose=batch -F "file=@$T/exp.jsonl" "$URL/v1/files" | sed -n 's/.*"id":"\(file-[A-Za-z0-9_-]*\)".*/\1/p')
bid=$(curl -s -H "$H" -H 'Content-Type: application/json' -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/completions\",\"completion_window\":\"24h\"}" "$URL/v1/batches" | sed -n 's/.*"id":"\(batch_[A-Za-z0-9_-]*\)".*/\1/p')
k=0
while [ $k -lt 300 ]; do
    code "$URL/v1/batches/$bid" >/dev/null
    grep -q '"status":"expired"' "$T/body" && break
    sleep 0.2; k=$((k + 1))
done
grep -q '"status":"expired"' "$T/body" && grep -q '"expired_at":[0-9]' "$T/body" && ok || bad "the batch expired: $(cat "$T/body")"
efid=$(sed -n 's/.*"error_file_id":"\([^"]*\)".*/\1/p' "$T/body")
code "$URL/v1/files/$efid/content" >/dev/null
n_exp=$(grep -c '"code":"batch_expired"' "$T/body")
[ "$n_exp" -ge 1 ] && ok || bad "expired requests are in the error file ($n_exp)"
serve_stop

# a data directory whose database is not SQLite, or from a newer gptc: refused at start
mkdir -p "$T/notdb" && head -c 4096 /dev/urandom > "$T/notdb/gptc.db"
"$GPTC" serve "$MODEL" --port 0 --data-dir "$T/notdb" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "^gptc: .*not an SQLite database" "$T/err" && ok || bad "a non-SQLite gptc.db: $(cat "$T/err")"
mkdir -p "$T/future" && sqlite3 "$T/future/gptc.db" "PRAGMA user_version=42"
"$GPTC" serve "$MODEL" --port 0 --data-dir "$T/future" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "^gptc: .*schema version 42" "$T/err" && ok || bad "a future schema: $(cat "$T/err")"

# the database is sound
if sqlite3 "$T/data/gptc.db" "PRAGMA integrity_check" | grep -qx ok; then pass=$((pass + 1)); else echo "FAIL: integrity_check"; fail=$((fail + 1)); fi
summary
