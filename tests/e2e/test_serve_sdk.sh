#!/bin/sh
# Conformance of `gptc serve` with a real client: the official `openai` npm package, unchanged
# (tests/e2e/node/conformance.mjs), against the server on loopback with stories260K.
. "$(dirname "$0")/lib/serve.sh"
NODE_DIR=tests/e2e/node
if [ ! -d "$NODE_DIR/node_modules/openai" ]; then
    echo "test_serve_sdk: installing the openai package: npm ci --prefix $NODE_DIR"
    npm ci --prefix "$NODE_DIR" --no-audit --no-fund >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; }
fi
if ! command -v node >/dev/null || [ ! -d "$NODE_DIR/node_modules/openai" ]; then
    echo "FAIL: node or the openai package is missing (run scripts/deps.sh)"
    echo "0 passed, 1 failed"; exit 1
fi

KEY="sk-gptc-test-$$"
GREEDY=$("$GPTC" run "$MODEL" -p "Once upon a time" -n 24 --temp 0 -q --no-echo 2>/dev/null)
if ! serve_start --api-key "$KEY" --alias stories --parallel 4 --ctx-seq 512; then
    echo "0 passed, 1 failed"; exit 1
fi
GPTC_BASE_URL="$URL/v1" GPTC_API_KEY="$KEY" GPTC_MODEL_ID=stories GPTC_GREEDY="$GREEDY" GPTC_N_EMBD=64 \
    timeout 120 node "$NODE_DIR/conformance.mjs" > "$T/node.out" 2>&1
rc=$?
cat "$T/node.out"
pass=$(grep -c '^ok - ' "$T/node.out")
fail=$(grep -c '^not ok - ' "$T/node.out")
if [ $rc -ne 0 ] || [ $((pass + fail)) -eq 0 ]; then echo "FAIL: node exited $rc"; fail=$((fail + 1)); fi

# the key never reaches the log
if grep -q "$KEY" "$SERVER_LOG"; then echo "FAIL: the API key is in the server log"; fail=$((fail + 1)); else pass=$((pass + 1)); fi
serve_stop
if [ "$SERVER_RC" = 0 ]; then pass=$((pass + 1)); else echo "FAIL: server exit status $SERVER_RC"; tail -n 20 "$SERVER_LOG"; fail=$((fail + 1)); fi
summary
