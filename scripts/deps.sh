#!/bin/sh
# Install the Debian packages gptc needs to build and test, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
PKGS="gcc make clang libclang-rt-14-dev pkg-config libjansson-dev libedit-dev libpcre2-dev libmicrohttpd-dev libsqlite3-dev sqlite3 tmux python3-jinja2 python3-numpy clang-format curl chromium openmpi-bin libopenmpi-dev"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# The server's conformance tests use the official openai npm package (tests/e2e/node); the
# structured-output tests use openai, ajv, zod and the Vercel AI SDK (tests/e2e/node-agents).
# Exact versions are pinned by each folder's package-lock.json.
# GPTC_DEPS_BUILD_ONLY=1 (make demo): only what building needs, not the test tools from npm.
node_deps() {
    [ -n "$GPTC_DEPS_BUILD_ONLY" ] && return 0
    node_platform || return 1
    [ -d tests/e2e/node/node_modules/openai ] && [ -d tests/e2e/node-web/node_modules/playwright-core ] &&
        [ -d tests/e2e/node-agents/node_modules/ai ] && return 0
    if ! command -v npm >/dev/null 2>&1; then
        echo "deps: npm is missing: install Node.js 20 and npm for the server's SDK tests" >&2
        return 1
    fi
    if [ ! -d tests/e2e/node/node_modules/openai ]; then
        echo "deps: npm ci --prefix tests/e2e/node (the openai package for the server's SDK tests)"
        npm ci --prefix tests/e2e/node --no-audit --no-fund >/dev/null || {
            echo "deps: npm ci --prefix tests/e2e/node failed" >&2; return 1; }
    fi
    # the web pages' browser tests: playwright-core drives Debian's chromium, axe-core audits
    if [ ! -d tests/e2e/node-web/node_modules/playwright-core ]; then
        echo "deps: npm ci --prefix tests/e2e/node-web (playwright-core and axe-core for the browser tests)"
        npm ci --prefix tests/e2e/node-web --no-audit --no-fund >/dev/null || {
            echo "deps: npm ci --prefix tests/e2e/node-web failed" >&2; return 1; }
    fi
    # structured outputs through real clients: openai, ajv, zod, the Vercel AI SDK
    if [ ! -d tests/e2e/node-agents/node_modules/ai ]; then
        echo "deps: npm ci --prefix tests/e2e/node-agents (openai, ajv, zod, ai for the structured-output tests)"
        npm ci --prefix tests/e2e/node-agents --no-audit --no-fund >/dev/null || {
            echo "deps: npm ci --prefix tests/e2e/node-agents failed" >&2; return 1; }
    fi
}
# The platform tests (files, batches, responses, Anthropic messages) have their own folder:
# tests/e2e/node-platform (openai and @anthropic-ai/sdk, pinned by its package-lock.json).
node_platform() {
    [ -d tests/e2e/node-platform/node_modules/openai ] &&
        [ -d tests/e2e/node-platform/node_modules/@anthropic-ai/sdk ] && return 0
    command -v npm >/dev/null 2>&1 || {
        echo "deps: npm is missing: install Node.js 20 and npm for the platform SDK tests" >&2
        return 1; }
    echo "deps: npm ci --prefix tests/e2e/node-platform (openai, @anthropic-ai/sdk)"
    npm ci --prefix tests/e2e/node-platform --no-audit --no-fund >/dev/null || {
        echo "deps: npm ci --prefix tests/e2e/node-platform failed" >&2; return 1; }
}
[ -z "$missing" ] && { node_deps; exit $?; }
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
        echo "deps: apt-get install$missing failed" >&2; exit 1; }
else
    echo "deps: missing Debian packages. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
node_deps
