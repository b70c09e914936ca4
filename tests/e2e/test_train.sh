#!/bin/sh
# End-to-end tests of `gptc train`: tiny models of both architectures train on the fortunes,
# their GGUF loads in `gptc run`; a run killed with SIGKILL during checkpoint writes resumes and
# reproduces the uninterrupted loss curve exactly; bad input gets one clear line and exit code 1,
# and a checkpoint that cannot be written (file-size limit, as a full disk) leaves the previous
# one intact.
. "$(dirname "$0")/lib/common.sh"
export XDG_CACHE_HOME="$T/cache" # the token cache: not the user's
expect_fail() { # $1 = what, $2 = grep pattern for the message; rest: command
    what=$1; pat=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; rc=$?
    if [ $rc -eq 1 ] && grep -q "^gptc: .*$pat" "$T/err" && [ "$(wc -l < "$T/err")" -le 2 ]; then ok; else
        bad "$what: rc=$rc, stderr: $(head -c 400 "$T/err")"; fi
}
# the loss of each step in a --log file, last line per step wins (a resumed run repeats steps)
curve() { grep '"loss"' "$1" | sed 's/.*"step":\([0-9]*\),"loss":\([^,]*\),.*/\1 \2/' | sort -n -k1,1 -s | awk '{a[$1]=$2} END {for (k in a) print k, a[k]}' | sort -n; }

cp "$D/corpora/fortunes-min/fortunes" "$T/corpus.txt"
: > "$T/empty0.txt"
SMALL="--data $T/corpus.txt --dim 32 --layers 2 --heads 4 --ctx 32 --batch 4 -q --threads 2"

# 1. llama (GQA) and gpt2 train, write GGUF that gptc run loads; the loss falls
$GPTC train $SMALL --kv-heads 2 --steps 30 --lr 3e-3 --warmup 5 --eval-every 15 --out "$T/l.gguf" --log "$T/l.jsonl" 2> "$T/err"
[ $? -eq 0 ] && [ -s "$T/l.gguf" ] && ok || bad "llama train: $(cat "$T/err")"
$GPTC train $SMALL --arch gpt2 --steps 30 --lr 3e-3 --warmup 5 --eval-every 15 --out "$T/g.gguf" --log "$T/g.jsonl" 2> "$T/err"
[ $? -eq 0 ] && [ -s "$T/g.gguf" ] && ok || bad "gpt2 train: $(cat "$T/err")"
for m in l g; do
    first=$(curve "$T/$m.jsonl" | head -n 1 | cut -d' ' -f2); last=$(curve "$T/$m.jsonl" | tail -n 1 | cut -d' ' -f2)
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }' && ok || bad "$m: loss did not fall ($first -> $last)"
    grep -q '"val_loss"' "$T/$m.jsonl" && ok || bad "$m: no val_loss in the log"
    out=$($GPTC run "$T/$m.gguf" -p "The " -n 20 --seed 3 -q 2>&1)
    case "$out" in "The "*) ok;; *) bad "$m: gptc run: $out";; esac
done
$GPTC info "$T/g.gguf" > "$T/info" 2>&1
grep -q 'general.architecture .*"gpt2"' "$T/info" && grep -q "position_embd.weight" "$T/info" && grep -q "blk.1.attn_qkv.bias" "$T/info" && ok || bad "gpt2 info"
# the byte tokenizer: one token per byte, a space is the token 259 (U+2581)
ids=$($GPTC tokenize "$T/l.gguf" "Hi é" --ids)
[ "$ids" = "75 108 259 198 172" ] && ok || bad "byte tokenizer ids: $ids"
# the token cache: in $XDG_CACHE_HOME/gptc, never beside the corpus (issue 10, defect 6)
[ ! -e "$T/corpus.txt.tokens" ] && ok || bad "a token cache beside the corpus"
[ "$(ls "$T/cache/gptc" | grep -c '\.tokens$')" -ge 1 ] && ok || bad "no token cache in \$XDG_CACHE_HOME/gptc: $(ls -la "$T/cache/gptc" 2>&1)"
# --chat-template FILE is stored as tokenizer.chat_template
printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}' > "$T/tmpl.jinja"
$GPTC train $SMALL --steps 2 --chat-template "$T/tmpl.jinja" --out "$T/c.gguf" 2> "$T/err" && ok || bad "train --chat-template: $(cat "$T/err")"
$GPTC info "$T/c.gguf" 2>&1 | grep -q 'tokenizer.chat_template' && ok || bad "no chat template in the model"
# --tokenizer FILE.gguf: the model carries that file's tokenizer (stories260K's 512 pieces)
$GPTC train $SMALL --steps 3 --tokenizer "$D/gguf/stories260K.gguf" --out "$T/s.gguf" 2> "$T/err" && ok || bad "train with a GGUF tokenizer: $(cat "$T/err")"
a=$($GPTC tokenize "$T/s.gguf" "Once upon a time" --ids); b=$($GPTC tokenize "$D/gguf/stories260K.gguf" "Once upon a time" --ids)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "GGUF tokenizer ids: '$a' vs '$b'"

# gptc train-tokenizer: learned BPE merges, used by gptc train, loaded by gptc run
$GPTC train-tokenizer --vocab 400 "$T/corpus.txt" "$T/tok.gguf" -q 2> "$T/err" && ok || bad "train-tokenizer: $(cat "$T/err")"
n=$($GPTC tokenize "$T/tok.gguf" "What is the meaning of life?" --ids | wc -w)
[ "$n" -ge 4 ] && [ "$n" -lt 20 ] && ok || bad "learned tokenizer: $n tokens for 28 bytes"
$GPTC train $SMALL --steps 3 --tokenizer "$T/tok.gguf" --out "$T/bpe.gguf" 2> "$T/err" && ok || bad "train with the learned tokenizer: $(cat "$T/err")"
out=$($GPTC run "$T/bpe.gguf" -p "The " -n 8 --seed 1 -q 2>&1)
case "$out" in "The "*) ok;; *) bad "run with the learned tokenizer: $out";; esac
expect_fail "train-tokenizer without --vocab" "no --vocab" $GPTC train-tokenizer "$T/corpus.txt" "$T/t2.gguf"
expect_fail "train-tokenizer vocab too small" "out of range" $GPTC train-tokenizer --vocab 100 "$T/corpus.txt" "$T/t2.gguf"
expect_fail "train-tokenizer empty corpus" "empty" $GPTC train-tokenizer --vocab 300 "$T/empty0.txt" "$T/t2.gguf"

# 2. SIGKILL during checkpoint writes (a checkpoint every step, so most of the time goes to
#    writing one; a kill that leaves the temporary file behind landed mid-write). Kill at
#    several points until two kills landed mid-write; every time the checkpoint left is whole,
#    and the resumed run's loss curve and model equal the uninterrupted run's bit for bit, also
#    when the resumed runs use another thread count.
RUN="$SMALL --steps 150 --eval-every 50 --lr 2e-3"
mkdir "$T/a" "$T/b"
$GPTC train $RUN --out "$T/a/m.gguf" --log "$T/ref.jsonl" 2> "$T/err" || bad "reference run: $(cat "$T/err")"
: > "$T/k.jsonl"
$GPTC train $RUN --out "$T/b/m.gguf" --log "$T/k.jsonl" --ckpt-every 1 2> /dev/null &
pid=$!
kills=0; mid=0
for target in 10 25 40 55 70 85 100 115; do
    [ $mid -ge 2 ] && [ $kills -ge 3 ] && break
    while kill -0 $pid 2> /dev/null && [ "$(grep -c '"loss"' "$T/k.jsonl")" -lt $target ]; do sleep 0.01; done
    i=0; while [ ! -e "$T/b/m.ckpt.gguf.tmp" ] && [ $i -lt 20000 ]; do i=$((i + 1)); done # the next write
    kill -9 $pid 2> /dev/null && kills=$((kills + 1)) && [ -e "$T/b/m.ckpt.gguf.tmp" ] && mid=$((mid + 1))
    wait $pid 2> /dev/null
    $GPTC info "$T/b/m.ckpt.gguf" > /dev/null 2> "$T/err" && ok || bad "checkpoint unreadable after kill -9: $(cat "$T/err")"
    th=$((kills % 2 + 1)) # resume with 1 or 2 threads: the results do not depend on it
    $GPTC train $RUN --threads $th --out "$T/b/m.gguf" --log "$T/k.jsonl" --ckpt-every 1 --resume "$T/b/m.ckpt.gguf" 2> /dev/null &
    pid=$!
done
wait $pid; rc=$?
[ $rc -eq 0 ] && [ $kills -ge 3 ] && [ $mid -ge 1 ] && ok || bad "resumed run: rc=$rc, $kills kills, $mid during a write"
curve "$T/ref.jsonl" > "$T/ref.curve"; curve "$T/k.jsonl" > "$T/k.curve"
[ "$(wc -l < "$T/ref.curve")" -eq 150 ] && cmp -s "$T/ref.curve" "$T/k.curve" && ok || bad "loss curve after kill -9 + resume differs: $(diff "$T/ref.curve" "$T/k.curve" | head -n 4)"
grep '"val_loss"' "$T/ref.jsonl" | tail -n 1 > "$T/va"; grep '"val_loss"' "$T/k.jsonl" | tail -n 1 > "$T/vb"
cmp -s "$T/va" "$T/vb" && ok || bad "final val loss differs after resume"
cmp -s "$T/a/m.gguf" "$T/b/m.gguf" && ok || bad "the resumed run's model differs from the uninterrupted one's"

# 3. bad input: one line on stderr, exit code 1
: > "$T/empty.txt"
expect_fail "empty corpus" "empty" $GPTC train --data "$T/empty.txt" --out "$T/x.gguf" -q
printf 'text\000\001\002binary\000' > "$T/bin.dat"; head -c 3000 "$GPTC" >> "$T/bin.dat"
expect_fail "binary corpus" "does not look like text" $GPTC train --data "$T/bin.dat" --out "$T/x.gguf" -q
printf 'a tiny corpus\n' > "$T/tiny.txt"
expect_fail "corpus smaller than a batch" "less than one batch" $GPTC train --data "$T/tiny.txt" --out "$T/x.gguf" -q
expect_fail "vocab larger than the tokenizer" "does not match the tokenizer" $GPTC train $SMALL --vocab 512 --out "$T/x.gguf"
expect_fail "dim not divisible by heads" "not divisible" $GPTC train $SMALL --dim 30 --out "$T/x.gguf"
expect_fail "heads not divisible by kv heads" "not divisible" $GPTC train $SMALL --kv-heads 3 --out "$T/x.gguf"
expect_fail "unwritable output" "cannot write" $GPTC train $SMALL --out /nonexistent-dir/x.gguf
expect_fail "output is a directory" "not a regular file" $GPTC train $SMALL --out "$T"
expect_fail "missing corpus" "No such file" $GPTC train --data "$T/nope.txt" --out "$T/x.gguf"
expect_fail "unknown option" "unknown option" $GPTC train --data "$T/corpus.txt" --out "$T/x.gguf" --bogus
expect_fail "resume with other data" "differs from the checkpoint" $GPTC train --data "$T/l.jsonl" --out "$T/x.gguf" --resume "$T/b/m.ckpt.gguf" -q
expect_fail "resume from a non-checkpoint" "not a gptc training checkpoint" $GPTC train $SMALL --out "$T/x.gguf" --resume "$T/l.gguf"
head -c 5000 "$T/b/m.ckpt.gguf" > "$T/trunc.gguf"
expect_fail "resume from a truncated checkpoint" "checkpoint" $GPTC train $SMALL --out "$T/x.gguf" --resume "$T/trunc.gguf"
expect_fail "resume from a missing checkpoint" "No such file" $GPTC train $SMALL --out "$T/x.gguf" --resume "$T/nope.gguf"

# 4. a checkpoint that cannot be written (file-size limit: EFBIG, as a full disk gives ENOSPC):
#    a clear error, exit 1, the previous checkpoint byte for byte intact and still resumable
cp "$T/b/m.ckpt.gguf" "$T/before.gguf"
(ulimit -f 64; exec $GPTC train $RUN --steps 170 --out "$T/b/m.gguf" --ckpt-every 5 --resume "$T/b/m.ckpt.gguf") > /dev/null 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^gptc: .*checkpoint .*not written.*intact" "$T/err" && ok || bad "full disk: rc=$rc $(cat "$T/err")"
cmp -s "$T/before.gguf" "$T/b/m.ckpt.gguf" && ok || bad "previous checkpoint changed by the failed write"
[ ! -e "$T/b/m.ckpt.gguf.tmp" ] && ok || bad "temporary file left behind"
$GPTC train $RUN --steps 155 --out "$T/k2.gguf" --resume "$T/b/m.ckpt.gguf" 2> "$T/err" && ok || bad "resume after failed write: $(cat "$T/err")"

# 5a. private data: a 0600 corpus in a read-only directory. Nothing is written beside it; the
#     cache is 0600 in a 0700 directory, keyed by the contents (a copy elsewhere hits it, a change
#     misses it); with no XDG_CACHE_HOME it goes to ~/.cache/gptc
mkdir -p "$T/ro" "$T/home"
cp "$T/corpus.txt" "$T/ro/secret.txt"; chmod 600 "$T/ro/secret.txt"; chmod 500 "$T/ro"
before=$(ls -A "$T/ro")
P="--dim 32 --layers 2 --heads 4 --ctx 32 --batch 4 --threads 2 --steps 1 --eval-every 0 --out $T/p.gguf"
(umask 022; HOME="$T/home" XDG_CACHE_HOME= $GPTC train --data "$T/ro/secret.txt" $P) 2> "$T/err" || bad "train on a read-only dir: $(cat "$T/err")"
[ "$(ls -A "$T/ro")" = "$before" ] && ok || bad "written beside the input: $(ls -A "$T/ro")"
c=$(ls "$T/home/.cache/gptc"/*.tokens 2> /dev/null | head -n 1)
[ -n "$c" ] && [ "$(stat -c %a "$c")" = 600 ] && [ "$(stat -c %a "$T/home/.cache/gptc")" = 700 ] && ok || bad "cache modes: $(ls -la "$T/home/.cache/gptc" 2>&1)"
grep -q "tokenized" "$T/err" && ok || bad "first run: $(cat "$T/err")"
cp "$T/ro/secret.txt" "$T/copy.txt"
HOME="$T/home" XDG_CACHE_HOME= $GPTC train --data "$T/copy.txt" $P 2> "$T/err"
grep -q "(cached)" "$T/err" && ok || bad "same contents elsewhere: not cached: $(cat "$T/err")"
echo "one more line" >> "$T/copy.txt"
HOME="$T/home" XDG_CACHE_HOME= $GPTC train --data "$T/copy.txt" $P 2> "$T/err"
grep -q "(tokenized)" "$T/err" && ok || bad "changed contents: the cache was used: $(cat "$T/err")"
chmod 700 "$T/ro"
# a cache directory open to others is made private first
mkdir -p "$T/c2/gptc"; chmod 777 "$T/c2/gptc"
XDG_CACHE_HOME="$T/c2" $GPTC train --data "$T/copy.txt" $P 2> "$T/err" || bad "open cache dir: $(cat "$T/err")"
[ "$(stat -c %a "$T/c2/gptc")" = 700 ] && ok || bad "cache dir left $(stat -c %a "$T/c2/gptc")"

# 5. --resume keeps the run's schedule (--ckpt-every, --eval-every, --sample-every,
#    --sample-len come from the checkpoint unless given again; issue 10, defect 4: a resumed run
#    wrote 1 checkpoint in 189 steps instead of 38). Counted from the {"checkpoint"} records.
mkdir "$T/s"
SCH="$SMALL --lr 2e-3 --out $T/s/m.gguf"
$GPTC train $SCH --steps 10 --ckpt-every 2 --eval-every 5 --sample-every 4 --sample-len 3 --log "$T/s1.jsonl" 2> "$T/err" || bad "schedule run: $(cat "$T/err")"
[ "$(grep -c '"checkpoint"' "$T/s1.jsonl")" -eq 5 ] && ok || bad "first run: $(grep -c '"checkpoint"' "$T/s1.jsonl") checkpoints, expected 5"
$GPTC train $SCH --steps 30 --resume "$T/s/m.ckpt.gguf" --log "$T/s2.jsonl" 2> "$T/err" || bad "schedule resume: $(cat "$T/err")"
n=$(grep -c '"checkpoint"' "$T/s2.jsonl"); v=$(grep -c '"val_loss"' "$T/s2.jsonl"); sm=$(grep -c '"sample"' "$T/s2.jsonl")
# steps 11..30: checkpoints at 12, 14, ..., 28 and the last (10); evaluations at 15, 20, 25, 30
# (4); samples at 12, 16, 20, 24, 28 (5)
[ "$n" -eq 10 ] && [ "$v" -eq 4 ] && [ "$sm" -eq 5 ] && ok || bad "resumed run: $n checkpoints (10), $v evaluations (4), $sm samples (5)"
grep '"config"' "$T/s2.jsonl" | grep -q '"ckpt_every":2,' && ok || bad "resumed config: $(grep '"config"' "$T/s2.jsonl")"
# given again, an option wins over the checkpoint's, and is kept by the next resume
$GPTC train $SCH --steps 40 --ckpt-every 5 --resume "$T/s/m.ckpt.gguf" --log "$T/s3.jsonl" 2> "$T/err" || bad "schedule resume 2: $(cat "$T/err")"
[ "$(grep -c '"checkpoint"' "$T/s3.jsonl")" -eq 2 ] && ok || bad "resume --ckpt-every 5: $(grep -c '"checkpoint"' "$T/s3.jsonl") checkpoints, expected 2 (35, 40)"
$GPTC train $SCH --steps 50 --resume "$T/s/m.ckpt.gguf" --log "$T/s4.jsonl" 2> "$T/err" || bad "schedule resume 3: $(cat "$T/err")"
[ "$(grep -c '"checkpoint"' "$T/s4.jsonl")" -eq 2 ] && ok || bad "second resume: $(grep -c '"checkpoint"' "$T/s4.jsonl") checkpoints, expected 2 (45, 50)"
# a --seed given on resume cannot apply (the random state is the checkpoint's): said, not ignored
$GPTC train $SCH --steps 51 --seed 9 --resume "$T/s/m.ckpt.gguf" 2> "$T/err"
grep -q "note: resuming: --seed is ignored" "$T/err" && ok || bad "resume --seed: $(cat "$T/err")"

summary
