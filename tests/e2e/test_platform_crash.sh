#!/bin/sh
# Crash safety of the Batch API: `gptc serve` is killed with SIGKILL at random moments (during
# uploads, while batches run, while they finalize) at least 20 times and restarted on the same
# data directory; then every batch must complete with each custom_id exactly once in its
# output, the database must pass PRAGMA integrity_check, and no file may be left without its
# record. Then the same for `gptc batch` (offline) killed and rerun. Loopback only.
. "$(dirname "$0")/lib/serve.sh"
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
SERVE_DATA="$T/crashdata"; export SERVE_DATA
N=40
rand_ms() { # 0..$1 ms, from /dev/urandom
    echo $(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $1 ))
}
python3 - "$T" "$N" <<'PY'
import json, sys
t, n = sys.argv[1], int(sys.argv[2])
with open(f"{t}/in.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
                            "body": {"model": "stories", "messages": [{"role": "user", "content": f"Story {i}"}],
                                     "max_tokens": 24 + i % 16, "temperature": 0}}) + "\n")
with open(f"{t}/big.jsonl", "w") as f:
    for k in range(60):
        for i in range(n):
            f.write(json.dumps({"custom_id": f"b{k}-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "stories", "messages": [{"role": "user", "content": "x" * 200}], "max_tokens": 4}}) + "\n")
PY
kills=0
it=0  # (serve_start uses $i)
while [ $it -lt ${CRASH_ITERS:-24} ]; do
    it=$((it + 1))
    serve_start --alias stories --parallel 4 --ctx-seq 256 -q >/dev/null || { bad "start $it"; break; }
    case $((it % 3)) in
    0)  # kill during an upload of a larger file
        curl -s -o /dev/null --limit-rate 200k -F purpose=batch -F "file=@$T/big.jsonl" "$URL/v1/files" &
        CURL=$!
        sleep 0.$(rand_ms 900 | awk '{printf "%03d", $1}')
        ;;
    *)  # upload and start a batch, kill while it runs or finalizes
        fid=$(curl -s -F purpose=batch -F "file=@$T/in.jsonl" "$URL/v1/files" | sed -n 's/.*"id":"\(file-[A-Za-z0-9_-]*\)".*/\1/p')
        if [ -n "$fid" ]; then
            curl -s -o /dev/null -H 'Content-Type: application/json' \
                -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}" "$URL/v1/batches"
        fi
        CURL=""
        sleep 0.$(rand_ms 900 | awk '{printf "%03d", $1}')
        ;;
    esac
    serve_kill
    kills=$((kills + 1))
    [ -n "$CURL" ] && { kill "$CURL" 2>/dev/null; wait "$CURL" 2>/dev/null; }
done
[ $kills -ge ${CRASH_ITERS:-24} ] && [ $kills -ge 20 -o -n "$CRASH_ITERS" ] && ok || bad "only $kills kills"
echo "test_platform_crash: $kills SIGKILLs"

# restart and let everything finish
serve_start --alias stories --parallel 4 --ctx-seq 256 -q >/dev/null || bad "final start"
end=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt $end ]; do
    curl -s "$URL/v1/batches?limit=100" > "$T/list.json"
    python3 -c "
import json,sys
d=json.load(open('$T/list.json'))
sys.exit(0 if all(b['status'] in ('completed','failed','cancelled','expired') for b in d['data']) else 1)" && break
    sleep 0.5
done
python3 - "$T" "$URL" "$N" > "$T/check.out" <<'PY'
import json, sys, urllib.request
t, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(f"{t}/list.json"))
print("batches", len(d["data"]))
bad = 0
for b in d["data"]:
    if b["status"] != "completed":
        print("not completed:", b["id"], b["status"]); bad += 1; continue
    rc = b["request_counts"]
    if rc["total"] != n or rc["completed"] != n or rc["failed"] != 0:
        print("counts", b["id"], rc); bad += 1
    body = urllib.request.urlopen(f"{url}/v1/files/{b['output_file_id']}/content").read().decode()
    ids = [json.loads(l)["custom_id"] for l in body.splitlines() if l]
    if len(ids) != n or len(set(ids)) != n:
        print("output", b["id"], len(ids), len(set(ids))); bad += 1
print("bad", bad)
PY
cat "$T/check.out"
grep -q "^bad 0$" "$T/check.out" && ok || bad "every batch completed with each custom_id once"
nb=$(sed -n 's/^batches //p' "$T/check.out")
[ "${nb:-0}" -ge $(( ${CRASH_ITERS:-24} / 4 )) ] && ok || bad "at least 5 batches were created ($nb)"
serve_stop
[ "$SERVER_RC" = 0 ] && ok || bad "server exit $SERVER_RC"
DB="$SERVE_DATA/gptc.db"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] && ok || bad "PRAGMA integrity_check"
# no orphans: every file has its row and every row its file; no temporaries, no batch leftovers
orph=0
for f in "$SERVE_DATA"/files/*; do
    [ -e "$f" ] || continue
    id=$(basename "$f")
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM files WHERE id='$id'")" = 1 ] || { echo "orphan bytes $id"; orph=$((orph + 1)); }
done
for id in $(sqlite3 "$DB" "SELECT id FROM files"); do
    [ -f "$SERVE_DATA/files/$id" ] || { echo "row without bytes $id"; orph=$((orph + 1)); }
done
[ $orph -eq 0 ] && ok || bad "$orph orphans"
[ -z "$(ls -A "$SERVE_DATA/tmp")" ] && ok || bad "temporaries left: $(ls "$SERVE_DATA/tmp")"
[ -z "$(ls -A "$SERVE_DATA/batches")" ] && ok || bad "batch leftovers: $(ls "$SERVE_DATA/batches")"

# finalizing interrupted at each of its steps (white box: the states a kill -9 inside the
# finalize step leaves, made exactly, since the step is too short for a random kill to land in
# each one): status finalizing with the results (a) still in batches/, (b) renamed into files/
# without their row, (c) registered as a file but the batch not yet completed
for stage in unrenamed renamed adopted; do
    SERVE_DATA="$T/fin-$stage"
    serve_start --alias stories --parallel 4 --ctx-seq 256 -q >/dev/null || { bad "start ($stage)"; continue; }
    fid=$(curl -s -F purpose=batch -F "file=@$T/in.jsonl" "$URL/v1/files" | sed -n 's/.*"id":"\(file-[A-Za-z0-9_-]*\)".*/\1/p')
    bid=$(curl -s -H 'Content-Type: application/json' \
        -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}" \
        "$URL/v1/batches" | sed -n 's/.*"id":"\(batch_[A-Za-z0-9_-]*\)".*/\1/p')
    k=0
    while [ $k -lt 600 ] && ! curl -s "$URL/v1/batches/$bid" | grep -q '"status":"completed"'; do sleep 0.2; k=$((k + 1)); done
    serve_kill
    DB="$SERVE_DATA/gptc.db"
    oid="file-${bid#batch_}-output"
    [ -n "$bid" ] && [ -f "$SERVE_DATA/files/$oid" ] || { bad "$stage: the batch did not complete ($bid)"; continue; }
    case $stage in
    unrenamed)
        mv "$SERVE_DATA/files/$oid" "$SERVE_DATA/batches/$bid.out"
        sqlite3 "$DB" "DELETE FROM files WHERE id='$oid'; UPDATE batches SET status='finalizing', completed_at=NULL, output_file_id=NULL WHERE id='$bid'" ;;
    renamed)
        sqlite3 "$DB" "DELETE FROM files WHERE id='$oid'; UPDATE batches SET status='finalizing', completed_at=NULL, output_file_id=NULL WHERE id='$bid'" ;;
    adopted)
        sqlite3 "$DB" "UPDATE batches SET status='finalizing', completed_at=NULL WHERE id='$bid'" ;;
    esac
    [ "$(sqlite3 "$DB" "SELECT status FROM batches WHERE id='$bid'")" = finalizing ] && ok || bad "$stage: state made"
    serve_start --alias stories --parallel 4 --ctx-seq 256 -q >/dev/null || { bad "restart ($stage)"; continue; }
    k=0
    while [ $k -lt 100 ]; do
        curl -s "$URL/v1/batches/$bid" > "$T/fin.json"
        grep -q '"status":"completed"' "$T/fin.json" && break
        sleep 0.2; k=$((k + 1))
    done
    grep -q '"status":"completed"' "$T/fin.json" && grep -q "\"output_file_id\":\"$oid\"" "$T/fin.json" && ok ||
        bad "$stage: completed after the restart: $(cat "$T/fin.json")"
    curl -s "$URL/v1/files/$oid/content" > "$T/fin.out"
    python3 - "$T/fin.out" "$N" <<'PY' && ok || bad "$stage: each custom_id once in the output"
import json, sys
ids = [json.loads(l)["custom_id"] for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if len(ids) == int(sys.argv[2]) == len(set(ids)) else 1)
PY
    serve_stop
    [ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] && [ -z "$(ls -A "$SERVE_DATA/batches")" ] &&
        [ "$(sqlite3 "$DB" "SELECT count(*) FROM files")" = "$(ls "$SERVE_DATA/files" | wc -l)" ] && ok ||
        bad "$stage: integrity, leftovers or orphans"
done

# gptc batch (offline) under SIGKILL, rerun until it finishes
rm -f "$T/off.jsonl" "$T/off.err.jsonl"
k=0; finished=0
while [ $k -lt 12 ]; do
    "$GPTC" batch "$MODEL" "$T/in.jsonl" "$T/off.jsonl" --errors "$T/off.err.jsonl" --parallel 4 -q 2>"$T/off.log" &
    BP=$!
    if [ $k -lt 8 ]; then
        sleep 0.$(rand_ms 900 | awk '{printf "%03d", $1}')
        kill -9 $BP 2>/dev/null
    fi
    wait $BP; brc=$?
    k=$((k + 1))
    [ $brc -eq 0 ] && { finished=1; break; }
done
[ $finished = 1 ] && ok || { bad "gptc batch never finished"; cat "$T/off.log"; }
python3 - "$T/off.jsonl" "$N" <<'PY' && ok || bad "gptc batch output: each custom_id once"
import json, sys
ids = [json.loads(l)["custom_id"] for l in open(sys.argv[1]) if l.strip()]
print("offline lines", len(ids), "unique", len(set(ids)))
sys.exit(0 if len(ids) == int(sys.argv[2]) == len(set(ids)) else 1)
PY
[ ! -s "$T/off.err.jsonl" ] && ok || bad "gptc batch errors: $(head -c 300 "$T/off.err.jsonl")"
summary
