#!/bin/sh
# gptc train stopped by SIGINT, SIGTERM or SIGHUP (issue 10, defect 14: SIGHUP did not
# checkpoint): each writes a checkpoint, says where, and exits 130.
. "$(dirname "$0")/lib/common.sh"
export XDG_CACHE_HOME="$T/cache" # the token cache: not the user's
cp "$D/corpora/fortunes-min/fortunes" "$T/corpus.txt"
for sig in INT TERM HUP; do
    mkdir -p "$T/$sig"
    $GPTC train --data "$T/corpus.txt" --dim 32 --layers 2 --heads 4 --ctx 32 --batch 4 -q \
        --threads 1 --steps 100000 --out "$T/$sig/m.gguf" --log "$T/$sig/log.jsonl" 2> "$T/$sig/err" &
    pid=$!
    i=0
    while [ $i -lt 300 ]; do
        n=$(grep -c '"loss"' "$T/$sig/log.jsonl" 2>/dev/null)
        [ "${n:-0}" -ge 3 ] && break
        sleep 0.1; i=$((i + 1))
    done
    kill -$sig $pid
    wait $pid; rc=$?
    [ $rc -eq 130 ] && ok || bad "SIG$sig: exit status $rc, want 130 ($(cat "$T/$sig/err"))"
    grep -q "stopped at step" "$T/$sig/err" && ls "$T/$sig"/*.ckpt* >/dev/null 2>&1 && ok ||
        bad "SIG$sig: no checkpoint ($(cat "$T/$sig/err"); $(ls "$T/$sig"))"
done
summary
