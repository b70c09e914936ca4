#!/bin/sh
# Structured outputs through real clients, unchanged (tests/e2e/node-agents/agents.mjs): the
# official openai package (ajv validation, zod parse, stream helper, BadRequestError) and the
# Vercel AI SDK (generateObject), against `gptc serve` on loopback with stories260K.
. "$(dirname "$0")/lib/serve.sh"
NODE_DIR=tests/e2e/node-agents
if [ ! -d "$NODE_DIR/node_modules/openai" ] || [ ! -d "$NODE_DIR/node_modules/ai" ]; then
    echo "test_serve_agents: installing: npm ci --prefix $NODE_DIR"
    npm ci --prefix "$NODE_DIR" --no-audit --no-fund >"$T/npm.log" 2>&1 || { cat "$T/npm.log"; }
fi
if ! command -v node >/dev/null || [ ! -d "$NODE_DIR/node_modules/openai" ]; then
    echo "FAIL: node or the npm packages are missing (run scripts/deps.sh)"
    echo "0 passed, 1 failed"; exit 1
fi
if ! serve_start --parallel 2 --ctx-seq 512 --alias m; then
    echo "0 passed, 1 failed"; exit 1
fi
GPTC_BASE_URL="$URL/v1" timeout 300 node "$NODE_DIR/agents.mjs" > "$T/node.out" 2>&1
rc=$?
cat "$T/node.out"
pass=$(grep -c '^ok - ' "$T/node.out")
fail=$(grep -c '^not ok - ' "$T/node.out")
if [ $rc -ne 0 ] && [ $fail -eq 0 ]; then echo "FAIL: node exited $rc"; fail=$((fail + 1)); fi
if [ $((pass + fail)) -eq 0 ]; then fail=$((fail + 1)); fi
serve_stop
summary
