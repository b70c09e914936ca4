#!/bin/sh
# Files and Batches (and the Responses/Anthropic endpoints) of `gptc serve` with the official
# `openai` and `@anthropic-ai/sdk` npm packages, unchanged (tests/e2e/node-platform), against
# the server on loopback with stories260K and a fresh data directory.
. tests/e2e/lib/serve.sh
pass=0; fail=0
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
if grep -q "$KEY" "$SERVER_LOG"; then echo "FAIL: the API key is in the server log"; fail=$((fail + 1)); else pass=$((pass + 1)); fi
serve_stop
if [ "$SERVER_RC" = 0 ]; then pass=$((pass + 1)); else echo "FAIL: server exit status $SERVER_RC"; tail -n 20 "$SERVER_LOG"; fail=$((fail + 1)); fi
# the database is sound
if sqlite3 "$T/data/gptc.db" "PRAGMA integrity_check" | grep -qx ok; then pass=$((pass + 1)); else echo "FAIL: integrity_check"; fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
