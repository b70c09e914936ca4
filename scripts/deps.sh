#!/bin/sh
# Install the Debian packages gptc needs to build and test, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
PKGS="gcc make clang libclang-rt-14-dev pkg-config libjansson-dev libedit-dev libpcre2-dev libmicrohttpd-dev tmux python3-jinja2"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
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
